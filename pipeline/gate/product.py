"""The gate on one finished product folder: read what the stages wrote, measure, compare with the thresholds, and
keep the result in `<product>/gate.json`. Measurements are cached under a key made of the stage manifests they
read, so a rerun (or a nightly run that reused the stages from an earlier run) does not measure again."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from pipeline.atomic import atomic_write_json
from pipeline.config import PipelineConfig
from pipeline.gate import measures
from pipeline.gate.checks import PLATE_QUALITY, Check, evaluate, measured, not_measured
from pipeline.imageio import read_png
from pipeline.manifest import MANIFEST_NAME, code_version, sha256_bytes
from pipeline.stages.fusion import FusionStage
from pipeline.stages.inpaint import InpaintStage
from pipeline.stages.localize import LocalizeStage
from pipeline.motion.stage import MotionStage, frame_paths

GATE_FILE = "gate.json"
GATE_CODE = ("pipeline.gate.product", "pipeline.gate.measures", "pipeline.gate.rigidity")
RIGID = "rigid"


class StageFolders:
    """Where the gate reads each stage's output: taken from the stage classes, so a reordered pipeline moves
    them along."""

    def __init__(self, product_dir: Path) -> None:
        self.localize = product_dir / LocalizeStage().folder
        self.motion = product_dir / MotionStage().folder
        self.inpaint = product_dir / InpaintStage().folder
        self.fusion = product_dir / FusionStage().folder

    def all(self) -> tuple[Path, ...]:
        return self.localize, self.motion, self.inpaint, self.fusion


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def measurement_key(folders: StageFolders) -> str | None:
    """What the measurements depend on: the stage manifests (content keys of everything the stages read and
    wrote) and the gate's code. None when a stage folder has no manifest (nothing to key on: measure again)."""
    parts = [code_version(GATE_CODE)]
    for folder in folders.all():
        try:
            parts.append(sha256_bytes((folder / MANIFEST_NAME).read_bytes()))
        except OSError:
            return None
    return sha256_bytes("\n".join(parts).encode())


def _per_frame(values: Any) -> list[float] | None:
    if not isinstance(values, list) or not values or not all(isinstance(v, (int, float)) for v in values):
        return None
    return [float(v) for v in values]


def _deformation(motion: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deformation = motion.get("deformation")
    found = {}
    # the stretch 99 % of the mesh's area stays within, where the stage writes it: a bent joint's inner side
    # squeezes a few tiny triangles far beyond any visible stretch (facts with only max_stretch still work)
    stretch = "stretch_p99" if isinstance(deformation, dict) and "stretch_p99" in deformation else "max_stretch"
    for name, key in (("motion_stretch", stretch), ("motion_flipped_triangles", "flipped_triangles")):
        series = _per_frame(deformation.get(key)) if isinstance(deformation, dict) else None
        if series is None:
            found[name] = not_measured("the motion stage wrote no deformation facts")
        else:
            worst = measures.worst_of(series)
            found[name] = measured(worst.value, worst.frame)
    return found


def _plate(inpaint: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if inpaint is None:
        return {"plate_band_error": not_measured("no inpaint.json"), PLATE_QUALITY.name: not_measured("no inpaint.json")}
    error, band = inpaint.get("visible_band_error"), inpaint.get("visible_band_px")
    quality = inpaint.get("quality")
    band_px = int(band) if isinstance(band, (int, float)) else None
    if band_px == 0:
        band_error = measured(0.0)  # no frame uncovers the hole: nothing of the plate shows
    elif isinstance(error, (int, float)):
        band_error = measured(error)
    else:
        band_error = not_measured("the inpaint stage wrote no visible-band error estimate")
    plate_quality = ({"value": str(quality), "frame": None, "note": "", "visible_band_px": band_px}
                     if isinstance(quality, str) else not_measured("the inpaint stage wrote no quality flag"))
    return {"plate_band_error": band_error, PLATE_QUALITY.name: plate_quality}


def _frames(folder: Path) -> Iterator[np.ndarray]:
    for path in frame_paths(folder):
        yield read_png(path)


def _crop(frame: np.ndarray, box: list[int]) -> np.ndarray:
    x0, y0, side = box
    return frame[max(0, y0): max(0, y0 + side), max(0, x0): max(0, x0 + side)]


def measure(folders: StageFolders) -> dict[str, dict[str, Any]]:
    """Every measurement the stage outputs allow; a missing artifact or fact is "not measured", never an error."""
    motion = _read_json(folders.motion / "motion.json") or {}
    localize = _read_json(folders.localize / "localize.json") or {}
    found = {**_deformation(motion), **_plate(_read_json(folders.inpaint / "inpaint.json"))}

    motion_frames = [measures.shrunk(frame) for frame in _frames(folders.motion)]
    rgba = bool(motion_frames) and motion_frames[0].ndim == 3 and motion_frames[0].shape[2] == 4
    if not rgba:
        found["rigid_unexplained"] = not_measured("no RGBA motion frames")
    elif motion.get("kind") != RIGID:
        found["rigid_unexplained"] = not_measured(f"motion kind is {motion.get('kind') or 'not given'}, not rigid")
    else:
        worst = measures.rigid_unexplained(motion_frames)
        found["rigid_unexplained"] = measured(worst.value, worst.frame)
    crop_path = folders.localize / "crop.png"
    if rgba and crop_path.is_file():
        source_alpha = read_png(crop_path)[..., 3]
        alphas = [frame[..., 3] for frame in motion_frames]
        worst = measures.alpha_coverage(alphas, source_alpha)
        found["alpha_coverage"] = measured(worst.value, worst.frame)
        worst = measures.detached_pieces(alphas, cv2.resize(source_alpha, alphas[0].shape[::-1],
                                                            interpolation=cv2.INTER_AREA))
        found["detached_pieces"] = measured(worst.value, worst.frame)
    else:
        found["alpha_coverage"] = not_measured("no RGBA motion frames or crop")
        found["detached_pieces"] = not_measured("no RGBA motion frames or crop")

    box = localize.get("crop_box")
    if not (isinstance(box, list) and len(box) == 3) or not frame_paths(folders.fusion):
        found["background_flicker"] = not_measured("no fusion frames or crop box")
        found["loop_seam"] = not_measured("no fusion frames or crop box")
        return found
    crops: list[np.ndarray] = []

    def keep_crops() -> Iterator[np.ndarray]:
        for frame in _frames(folders.fusion):
            crops.append(measures.shrunk(_crop(frame, box)))
            yield frame

    worst = measures.background_flicker(keep_crops(), box)
    found["background_flicker"] = measured(worst.value, worst.frame)
    worst = measures.loop_seam(crops)
    found["loop_seam"] = measured(worst.value, worst.frame)
    return found


def run_gate(product_dir: Path, config: PipelineConfig) -> list[Check]:
    """The product's checks, from `gate.json` when its key still matches (here or in an earlier run's folder of
    the same product, `config.reuse_from`), else measured now. Writes gate.json when its content changes."""
    folders = StageFolders(product_dir)
    key = measurement_key(folders)
    path = product_dir / GATE_FILE
    current = _read_json(path)
    measurements = None
    if key is not None:
        for candidate in (current, *(_read_json(run / product_dir.name / GATE_FILE) for run in config.reuse_from)):
            if candidate is not None and candidate.get("key") == key and isinstance(candidate.get("measurements"), dict):
                measurements = candidate["measurements"]
                break
    if measurements is None:
        measurements = measure(folders)
    checks = evaluate(measurements, config)
    record = {"key": key, "mode": config.gate, "measurements": measurements,
              "checks": [check.to_dict() for check in checks], "failed": [c.name for c in checks if c.failed]}
    if record != current:
        atomic_write_json(path, record)
    return checks
