"""Super-resolution benchmark on the CPU: seconds per frame and peak memory per model at a given input size, against
the ncnn runtime (the `ncnn` wheel, its default options) running the wheel's own .param/.bin on the same input; and
the alpha study that chose how RGBA frames go through the network (pipeline/upscaling.py).

    .venv/bin/python bench/superres_bench.py                    # animevideov3 at 256 px, x4plus at 128 px
    .venv/bin/python bench/superres_bench.py --x4plus-size 256  # x4plus at 256 px (about a minute a run)
    .venv/bin/python bench/superres_bench.py --alpha-study OUT  # OUT: a finished run's folder (01_localize crops)

Each speed case runs in a fresh process, so its peak RSS is its own. Seconds are the median of --repeats runs after
one warm-up run (oneDNN builds its kernels on the first call); CPU seconds are reported beside wall seconds because
a shared machine stretches wall time."""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PHOTO = REPO / "examples" / "images" / "mug.jpg"
MiB = 1 << 20


def photo_input(side: int) -> np.ndarray:
    """A real photo, centre square, area-resized to side x side: float32 HxWx3 in [0, 1]."""
    rgb = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    height, width = rgb.shape[:2]
    square = min(height, width)
    top, left = (height - square) // 2, (width - square) // 2
    crop = rgb[top:top + square, left:left + square]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / MiB


def _timed(run, repeats: int) -> tuple[float, float]:
    run()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def measure(engine: str, model: str, side: int, batch: int, tile: int, repeats: int) -> dict:
    """One case in this process: load, warm up, time; seconds are per frame."""
    import torch

    from models.sr_sources import ncnn_files, find_sr_weights, load_sr_state

    weights = find_sr_weights(model)
    frames_chw = np.ascontiguousarray(np.stack([photo_input(side).transpose(2, 0, 1)] * batch))
    if engine == "torch":
        from models.sr_checkpoint import build_network
        from models.sr_handle import SRHandle, SRSettings

        handle = SRHandle(build_network(load_sr_state(weights), weights.arch), "cpu", SRSettings(tile=tile))
        images = torch.from_numpy(frames_chw)
        loaded = _rss_mib()
        wall, cpu = _timed(lambda: handle(images), repeats)
    else:
        import ncnn

        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = torch.get_num_threads()
        param, weights_bin = ncnn_files(weights.path)
        net.load_param(str(param))
        net.load_model(str(weights_bin))
        loaded = _rss_mib()

        def run() -> None:
            for frame in frames_chw:
                extractor = net.create_extractor()
                extractor.input("data", ncnn.Mat(frame))
                extractor.extract("output")

        wall, cpu = _timed(run, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"engine": engine, "model": model, "input": side, "batch": batch, "tile": tile,
            "threads": torch.get_num_threads(), "s_per_frame": wall / batch, "cpu_s_per_frame": cpu / batch,
            "peak_rss_mib": peak, "inference_mib": peak - loaded}


def _case(engine: str, model: str, side: int, batch: int, tile: int, repeats: int) -> dict:
    command = [sys.executable, __file__, "--measure", engine, model, str(side), str(batch), str(tile), str(repeats)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def speed_table(args: argparse.Namespace) -> None:
    cases = [("animevideov3", args.size, 1, 0), ("animevideov3", args.size, 4, 0),
             ("x4plus", args.x4plus_size, 1, 0)]
    if args.x4plus_tile:
        cases.append(("x4plus", args.x4plus_size, 1, args.x4plus_tile))
    print("| model | input | batch | tile | threads | ours s/frame (CPU s) | ncnn s/frame (CPU s) "
          "| ours/ncnn wall (CPU) | ours peak RSS / inference MiB | ncnn peak RSS / inference MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model, side, batch, tile in cases:
        ours = _case("torch", model, side, batch, tile, args.repeats if model != "x4plus" else 1)
        ncnn = _case("ncnn", model, side, batch, 0, args.repeats if model != "x4plus" else 1)
        print(f"| {model} | {side} | {batch} | {tile or '-'} | {ours['threads']} "
              f"| {ours['s_per_frame']:.2f} ({ours['cpu_s_per_frame']:.2f}) "
              f"| {ncnn['s_per_frame']:.2f} ({ncnn['cpu_s_per_frame']:.2f}) "
              f"| {ours['s_per_frame'] / ncnn['s_per_frame']:.2f} "
              f"({ours['cpu_s_per_frame'] / ncnn['cpu_s_per_frame']:.2f}) "
              f"| {ours['peak_rss_mib']:.0f} / {ours['inference_mib']:.0f} "
              f"| {ncnn['peak_rss_mib']:.0f} / {ncnn['inference_mib']:.0f} |", flush=True)


def _variant(frame_u8: np.ndarray, size: tuple[int, int], handle, colour_mode: str,
             alpha_by_network: bool) -> np.ndarray:
    """Ways of sending RGBA through the network, for comparison with upscale_rgba_network (bled, Lanczos alpha):
    colour_mode "bled" (ours), "black" (transparent pixels black) or "premultiplied"."""
    import torch

    from pipeline.upscaling import bleed_colour, premultiply, resize, unpremultiply_u8

    rgba = premultiply(frame_u8)
    colour = {"bled": bleed_colour(frame_u8), "premultiplied": rgba[..., :3],
              "black": np.where(rgba[..., 3:] > 0, frame_u8[..., :3] / 255.0, 0.0)}[colour_mode]
    planes = [colour] + ([np.repeat(rgba[..., 3:], 3, axis=2)] if alpha_by_network else [])
    out = handle(torch.from_numpy(np.stack(planes).transpose(0, 3, 1, 2).astype(np.float32))).numpy()
    colour_big = out[0].transpose(1, 2, 0)
    big = colour_big.shape[:2]
    alpha_big = out[1].mean(axis=0)[..., None] if alpha_by_network else resize(rgba[..., 3:], big)
    alpha_big = np.clip(alpha_big, 0, 1)
    premultiplied_big = colour_big if colour_mode == "premultiplied" else colour_big * alpha_big
    return unpremultiply_u8(resize(np.concatenate([premultiplied_big, alpha_big], axis=2), size))


def _gradient(rgb: np.ndarray) -> np.ndarray:
    grey = rgb.astype(np.float32).mean(axis=2)
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def _scores(out_u8: np.ndarray, truth_u8: np.ndarray) -> dict[str, float]:
    """Edge band (9 px around the object's outline): composite PSNR over white and black, the mean composite error
    (negative: a dark fringe), alpha error; inside the object: 99th-percentile gradient against the truth's."""
    alpha_true = truth_u8[..., 3:].astype(np.float32) / 255
    alpha = out_u8[..., 3:].astype(np.float32) / 255
    solid = (alpha_true[..., 0] > 0.5).astype(np.uint8)
    band = cv2.morphologyEx(solid, cv2.MORPH_GRADIENT, np.ones((9, 9), np.uint8)) > 0
    inside = cv2.erode(solid, np.ones((15, 15), np.uint8)) > 0
    scores = {"alpha_err": float(np.abs(alpha - alpha_true)[band].mean() * 255)}
    for name, backdrop in (("white", 1.0), ("black", 0.0)):
        comp = out_u8[..., :3] / 255 * alpha + backdrop * (1 - alpha)
        comp_true = truth_u8[..., :3] / 255 * alpha_true + backdrop * (1 - alpha_true)
        error = (comp - comp_true)[band]
        scores[f"psnr_{name}"] = float(10 * np.log10(1 / np.mean(error ** 2)))
        scores[f"bias_{name}"] = float(error.mean() * 255)
    scores["sharpness"] = float(np.percentile(_gradient(out_u8[..., :3])[inside], 99)
                                / np.percentile(_gradient(truth_u8[..., :3])[inside], 99))
    return scores


def alpha_study(out_dir: Path, model: str) -> None:
    """Real crops with their mattes (a run's 01_localize/crop.png) as the truth; their 4x area downscale as the
    motion frame; every way of upscaling it back scored against the truth."""
    from models.sr_checkpoint import build_network
    from models.sr_handle import SRHandle
    from models.sr_sources import find_sr_weights, load_sr_state
    from pipeline.imageio import read_png
    from pipeline.upscaling import premultiply, resize, unpremultiply_u8, upscale_rgba_lanczos, upscale_rgba_network

    weights = find_sr_weights(model)
    handle = SRHandle(build_network(load_sr_state(weights), weights.arch), "cpu")
    crops = sorted(out_dir.glob("*/01_localize/crop.png"))
    if not crops:
        raise SystemExit(f"no */01_localize/crop.png under {out_dir}: run the pipeline into it first")
    methods = {"lanczos": lambda f, s: upscale_rgba_lanczos(f, s[0]),
               "ours: bled colour, Lanczos alpha": lambda f, s: next(upscale_rgba_network([f], s, handle, 1))}
    for colour_mode in ("bled", "black", "premultiplied"):
        for alpha_by_network in (False, True):
            if (colour_mode, alpha_by_network) != ("bled", False):  # that one is ours, above
                name = f"{colour_mode} colour, {'network' if alpha_by_network else 'Lanczos'} alpha"
                methods[name] = partial(_variant, handle=handle, colour_mode=colour_mode,
                                        alpha_by_network=alpha_by_network)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
    for path in crops:
        truth = read_png(path)
        side = truth.shape[0] - truth.shape[0] % 4
        truth = truth[:side, :side]
        small = unpremultiply_u8(resize(premultiply(truth), (side // 4, side // 4)))
        for name, method in methods.items():
            results[name].append(_scores(method(small, (side, side)), truth))
    print(f"alpha study, {model}, on {len(crops)} crops ({', '.join(p.parent.parent.name for p in crops)}), 4x:")
    print("| method | PSNR edge over white | over black | mean error white / black (x/255) | alpha error (x/255) "
          "| p99 gradient / truth |")
    print("|---|---|---|---|---|---|")
    for name, rows in results.items():
        mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
        print(f"| {name} | {mean['psnr_white']:.2f} | {mean['psnr_black']:.2f} | {mean['bias_white']:+.2f} / "
              f"{mean['bias_black']:+.2f} | {mean['alpha_err']:.2f} | {mean['sharpness']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="input side for animevideov3 (default 256)")
    parser.add_argument("--x4plus-size", type=int, default=128, help="input side for x4plus (default 128)")
    parser.add_argument("--x4plus-tile", type=int, default=0, help="also time x4plus in tiles of this size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--alpha-study", type=Path, help="score the RGBA variants on this run's crops instead")
    parser.add_argument("--alpha-model", default="animevideov3")
    parser.add_argument("--measure", nargs=6, help=argparse.SUPPRESS)  # one speed case, in a child process
    args = parser.parse_args()
    if args.measure:
        engine, model, side, batch, tile, repeats = args.measure
        print(json.dumps(measure(engine, model, int(side), int(batch), int(tile), int(repeats))))
    elif args.alpha_study:
        alpha_study(args.alpha_study, args.alpha_model)
    else:
        speed_table(args)


if __name__ == "__main__":
    main()
