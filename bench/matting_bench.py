"""Matting and background-inpainting benchmark on ground-truth composites (bench/matting_scenes.py).

    python bench/matting_bench.py [--only NAME ...] [--picture docs/matting_worst.png] [--weights-dir weights]

Matting: IoU of alpha > 0.5 with the truth, SAD (sum of |alpha error| / 1000) and seconds per image, per method.
Inpainting (the scenes above plus figures on regular and stochastic textures, bench/matting_scenes.py
TEXTURE_SCENES): PSNR inside the hole (the true object + shadow, dilated 10 px) against the true background, the
share of the background's fine texture the fill keeps (1 = all of it, 0 = a smooth blob), the mean absolute error
in the hole and in the visible band (the part of the hole the object uncovers as it sways 6 degrees either way
about its base) per class (plain, regular, stochastic) against cv2.inpaint TELEA, OpenCV contrib's FSR and
shift-map (FSR_BEST only with --slow), and CPU seconds per image.
Methods that need model files run only when the files are in the weights folder.
Example catalog: the same matting methods on the photos `make demo` animates, against their drawn true alpha; "halo"
is the alpha the matte puts on backdrop more than 2 px from the product (in pixels).
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from matting_scenes import ExamplePhoto, Scene, all_scenes, example_photos, inpainting_scenes, swayed_visible_band
from models.weights import WEIGHTS_DIR, load_registry
from pipeline.inpainting import CLASSICAL_FILLS, inpaint_plate
from pipeline.matting import estimate_matte

MattingFn = Callable[[np.ndarray], np.ndarray]
HOLE_DILATE_PX = 10


def rect_grabcut(photo: np.ndarray) -> np.ndarray:
    """Baseline: GrabCut from a central rectangle, no backdrop model."""
    height, width = photo.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    cv2.setRNGSeed(0)
    cv2.grabCut(photo[..., ::-1].copy(), mask, (width // 10, height // 10, width * 8 // 10, height * 8 // 10),
                np.zeros((1, 65)), np.zeros((1, 65)), 5, cv2.GC_INIT_WITH_RECT)
    return np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)


def matting_methods(weights_dir: Path) -> dict[str, MattingFn]:
    def classical(force: str | None) -> MattingFn:
        return lambda photo: estimate_matte(photo, force=force).alpha

    methods: dict[str, MattingFn] = {"auto (router)": classical(None), "plain": classical("plain"),
                                     "grabcut": classical("grabcut"), "rect-grabcut (baseline)": rect_grabcut}
    for spec in load_registry().values():
        if spec.family == "rembg" and spec.present(weights_dir):
            from models.rembg_matting import load_rembg_session

            session = load_rembg_session(spec, weights_dir)
            methods[f"rembg:{spec.options['session']}"] = (
                lambda photo, s=session: estimate_matte(photo, saliency=s.predict(photo)).alpha)
    return methods


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    a, b = alpha > 0.5, truth > 0.5
    return float((a & b).sum() / max(1, (a | b).sum()))


def hole_of(scene: Scene) -> np.ndarray:
    core = (scene.alpha > 0.02) | (scene.shadow > 0.03)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HOLE_DILATE_PX + 1,) * 2)
    return cv2.dilate(core.astype(np.uint8), kernel).astype(bool)


def psnr(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    error = result[mask].astype(np.float64) - truth[mask].astype(np.float64)
    return float(10 * np.log10(255.0 ** 2 / max(np.mean(error ** 2), 1e-6)))


def detail(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return gray - cv2.GaussianBlur(gray, (0, 0), 2.0)


def texture_kept(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Fine-detail energy of the fill relative to the truth's, in the hole (capped at 1.5)."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    return float(min(1.5, detail(result)[inner].std() / max(detail(truth)[inner].std(), 1e-6)))


def run_matting(scenes: list[Scene], methods: dict[str, MattingFn]) -> dict[str, list[tuple[float, float, float]]]:
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for name, method in methods.items():
        for scene in scenes:
            started = time.perf_counter()
            alpha = method(scene.photo_u8)
            seconds = time.perf_counter() - started
            sad = float(np.abs(alpha - scene.alpha).sum() / 1000)
            rows.setdefault(name, []).append((iou(alpha, scene.alpha), sad, seconds))
    return rows


def halo(alpha: np.ndarray, truth: np.ndarray) -> float:
    """The alpha on backdrop more than 2 px from the object: backdrop carried along with it (pixels)."""
    near = cv2.dilate((truth > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return float(alpha[~near].sum())


def print_examples(photos: list[ExamplePhoto], methods: dict[str, MattingFn]) -> None:
    names = list(methods)
    print("\nExample catalog: matting IoU / halo px\n\n| product | backdrop | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for photo in photos:
        alphas = [method(photo.photo_u8) for method in methods.values()]
        cells = " | ".join(f"{iou(a, photo.alpha):.3f} / {halo(a, photo.alpha):.0f}" for a in alphas)
        print(f"| {photo.name} | {photo.backdrop} | {cells} |")


InpaintFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (photo, hole, visible band) -> plate


def xphoto_fill(algorithm: int) -> InpaintFn:
    """OpenCV contrib's cv2.xphoto.inpaint (mask: 0 = missing; shift-map wants Lab, FSR takes BGR)."""
    def fill(photo: np.ndarray, hole: np.ndarray, visible: np.ndarray) -> np.ndarray:
        shiftmap = algorithm == cv2.xphoto.INPAINT_SHIFTMAP
        src = cv2.cvtColor(photo, cv2.COLOR_RGB2LAB if shiftmap else cv2.COLOR_RGB2BGR)
        out = src.copy()
        cv2.xphoto.inpaint(src, (~hole).astype(np.uint8) * 255, out, algorithm)
        return cv2.cvtColor(out, cv2.COLOR_LAB2RGB if shiftmap else cv2.COLOR_BGR2RGB)
    return fill


def inpainting_methods(slow: bool) -> dict[str, InpaintFn]:
    methods: dict[str, InpaintFn] = {
        name: (lambda photo, hole, visible, n=name: inpaint_plate(photo, hole, n).plate_u8)
        for name in ("auto", *CLASSICAL_FILLS)}
    methods["FSR_FAST"] = xphoto_fill(cv2.xphoto.INPAINT_FSR_FAST)
    methods["SHIFTMAP"] = xphoto_fill(cv2.xphoto.INPAINT_SHIFTMAP)
    if slow:  # about 90 s per scene
        methods["FSR_BEST"] = xphoto_fill(cv2.xphoto.INPAINT_FSR_BEST)
    return methods


def mean_error(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute error (0-255, over pixels and channels) inside `mask`."""
    return float(np.abs(result[mask].astype(np.float64) - truth[mask].astype(np.float64)).mean())


def run_inpainting(scenes: list[Scene], methods: dict[str, InpaintFn]) -> dict[str, list[tuple[float, ...]]]:
    """Per method and scene: PSNR in the hole, texture kept, seconds, error in the hole, error in the visible band."""
    rows: dict[str, list[tuple[float, ...]]] = {}
    for scene in scenes:
        hole = hole_of(scene)
        visible = swayed_visible_band(scene.alpha, hole)
        truth = scene.background_u8
        for name, method in methods.items():
            started = time.process_time()  # CPU seconds (all threads): other jobs on the machine do not count
            plate = method(scene.photo_u8, hole, visible)
            seconds = time.process_time() - started
            rows.setdefault(name, []).append((psnr(plate, truth, hole), texture_kept(plate, truth, hole), seconds,
                                              mean_error(plate, truth, hole), mean_error(plate, truth, visible)))
    return rows


def print_inpainting_classes(classes: list[str], rows: dict[str, list[tuple[float, ...]]]) -> None:
    """Mean absolute error in the hole and in the visible band per texture class, with the ratio to TELEA's."""
    print("\nInpainting mean abs error (0-255) per class: hole / visible band (band vs TELEA), seconds per image\n")
    print("| method | " + " | ".join(dict.fromkeys(classes)) + " |")
    print("|---|" + "---|" * len(set(classes)))
    for name, values in rows.items():
        cells = []
        for kind in dict.fromkeys(classes):
            picked = np.array([v for v, c in zip(values, classes) if c == kind])
            telea = np.array([v for v, c in zip(rows["telea"], classes) if c == kind])
            ratio = picked[:, 4].mean() / telea[:, 4].mean()
            cells.append(f"{picked[:, 3].mean():.1f} / {picked[:, 4].mean():.1f} ({ratio:.0%}), "
                         f"{picked[:, 2].mean():.2f} s")
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_per_scene(scenes: list[Scene], rows: dict[str, list[tuple[float, float, float]]], column: int,
                    title: str, fmt: str) -> None:
    names = list(rows)
    print(f"\n{title}\n\n| scene | backdrop | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for index, scene in enumerate(scenes):
        cells = " | ".join(format(rows[n][index][column], fmt) for n in names)
        print(f"| {scene.name} | {scene.backdrop} | {cells} |")


def print_summary(scenes: list[Scene], rows: dict[str, list[tuple[float, float, float]]], labels: tuple[str, ...],
                  fmts: tuple[str, ...], title: str) -> None:
    print(f"\n{title}\n\n| method | backdrop | " + " | ".join(labels) + " | s/image |")
    print("|---|---|" + "---|" * (len(labels) + 1))
    for name, values in rows.items():
        for kind in ("plain", "textured"):
            picked = np.array([v for v, s in zip(values, scenes) if s.backdrop == kind])
            if not len(picked):
                continue
            cells = [format(picked[:, i].mean(), f) for i, f in enumerate(fmts)]
            worst = format(picked[:, 0].min(), fmts[0])
            print(f"| {name} | {kind} | {cells[0]} (worst {worst}) | " + " | ".join(cells[1:])
                  + f" | {picked[:, 2].mean():.2f} |")


def worst_cases_picture(scenes: list[Scene], matting_rows: dict, fill_psnr: dict[str, float], path: Path) -> None:
    """For the default methods' three worst matting scenes and worst plain/textured inpainting scenes: the photo,
    the matte (green: truth only, red: ours only) and the plate. `fill_psnr`: the auto fill's PSNR per scene."""
    auto = matting_rows["auto (router)"]
    picks = sorted(range(len(scenes)), key=lambda i: auto[i][0])[:3]
    for kind in ("plain", "textured"):
        candidates = [i for i, s in enumerate(scenes) if s.backdrop == kind and i not in picks]
        if candidates:
            picks.append(min(candidates, key=lambda i: fill_psnr[scenes[i].name]))
    tiles = []
    for index in picks:
        scene = scenes[index]
        matte = estimate_matte(scene.photo_u8)
        ours, truth = matte.alpha > 0.5, scene.alpha > 0.5
        view = np.stack([ours, ours & truth, ours & truth], axis=2).astype(np.uint8) * 255
        view[truth & ~ours] = (0, 200, 0)
        plate = inpaint_plate(scene.photo_u8, hole_of(scene), "auto").plate_u8
        row = np.concatenate([scene.photo_u8, view, plate], axis=1)
        label = f"{scene.name}: IoU {auto[index][0]:.3f}, fill {fill_psnr[scene.name]:.1f} dB"
        cv2.putText(row, label, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 0, 255), 2, cv2.LINE_AA)
        tiles.append(cv2.resize(row, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(path), np.concatenate(tiles, axis=0)[..., ::-1])


def _labelled(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (10, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (255, 0, 255), 3, cv2.LINE_AA)
    return out


def inpainting_worst_picture(scenes: list[Scene], classes: list[str], rows: dict, path: Path) -> None:
    """The regular-texture scene where the auto fill's visible-band error is largest against TELEA's: the photo
    with the visible band outlined, the true background, the auto fill and TELEA's, each zoomed on the hole."""
    regular = [i for i, kind in enumerate(classes) if kind == "regular"]
    worst = max(regular, key=lambda i: rows["auto"][i][4] / rows["telea"][i][4])
    scene = scenes[worst]
    hole = hole_of(scene)
    visible = swayed_visible_band(scene.alpha, hole)
    ys, xs = np.nonzero(hole)
    y0, y1, x0, x1 = max(0, ys.min() - 30), ys.max() + 31, max(0, xs.min() - 30), xs.max() + 31
    outlined = scene.photo_u8.copy()
    contours, _ = cv2.findContours(visible.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(outlined, contours, -1, (255, 255, 0), 2)
    panels = [_labelled(outlined[y0:y1, x0:x1], f"{scene.name}: visible band"),
              _labelled(scene.background_u8[y0:y1, x0:x1], "truth")]
    for name in ("auto", "telea"):
        plate = inpaint_plate(scene.photo_u8, hole, name).plate_u8
        panels.append(_labelled(plate[y0:y1, x0:x1], f"{name}: band error {rows[name][worst][4]:.1f}"))
    row = np.concatenate(panels, axis=1)
    cv2.imwrite(str(path), cv2.resize(row, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)[..., ::-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="scene names (default: all)")
    parser.add_argument("--picture", type=Path, help="write the worst matting cases here (PNG)")
    parser.add_argument("--inpainting-picture", type=Path, help="write the worst regular-texture fill here (PNG)")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--skip-matting", action="store_true")
    parser.add_argument("--skip-inpainting", action="store_true")
    parser.add_argument("--slow", action="store_true", help="also run FSR_BEST (about 90 s per scene)")
    args = parser.parse_args()
    scenes = [s for s in all_scenes() if not args.only or s.name in args.only]
    methods = {} if args.skip_matting else matting_methods(args.weights_dir)
    matting_rows = run_matting(scenes, methods)
    if matting_rows:
        print_per_scene(scenes, matting_rows, 0, "Matting IoU per scene", ".3f")
        print_summary(scenes, matting_rows, ("IoU", "SAD"), (".3f", ".1f"), "Matting (mean over scenes)")
        if not args.only:
            print_examples(example_photos(), methods)
    fill_scenes = [(s, kind) for s, kind in ([] if args.skip_inpainting else inpainting_scenes())
                   if not args.only or s.name in args.only]
    fill_list, classes = [s for s, _ in fill_scenes], [kind for _, kind in fill_scenes]
    inpaint_rows = run_inpainting(fill_list, inpainting_methods(args.slow)) if fill_list else {}
    if inpaint_rows:
        print_per_scene(fill_list, inpaint_rows, 0, "Inpainting PSNR (dB) in the hole per scene", ".1f")
        print_per_scene(fill_list, inpaint_rows, 4, "Inpainting mean abs error in the visible band per scene", ".1f")
        print_summary(fill_list, inpaint_rows, ("PSNR dB", "texture kept"), (".1f", ".2f"),
                      "Inpainting (mean over scenes)")
        print_inpainting_classes(classes, inpaint_rows)
        if args.inpainting_picture and "regular" in classes:
            inpainting_worst_picture(fill_list, classes, inpaint_rows, args.inpainting_picture)
    if args.picture and matting_rows and inpaint_rows:
        fill_psnr = {s.name: row[0] for s, row in zip(fill_list, inpaint_rows["auto"])}
        worst_cases_picture(scenes, matting_rows, fill_psnr, args.picture)


if __name__ == "__main__":
    main()
