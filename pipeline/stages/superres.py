"""Stage 4: bring the motion frames to the crop's size (Lanczos); frames already that size pass through."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.atomic import atomic_write_json
from pipeline.imageio import read_png, write_png
from pipeline.manifest import sha256_paths
from pipeline.stages.base import ProductJob, Stage
from pipeline.stages.motion import frame_paths

LOCALIZE_DIR, MOTION_DIR = "01_localize", "03_motion"


def upscale_rgba_lanczos(rgba_u8: np.ndarray, side: int) -> np.ndarray:
    """Resize premultiplied so the transparent surroundings do not bleed a halo into the edge."""
    rgba = rgba_u8.astype(np.float32) / 255.0
    premultiplied = np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], axis=2)
    resized = np.clip(cv2.resize(premultiplied, (side, side), interpolation=cv2.INTER_LANCZOS4), 0, 1)
    alpha = resized[..., 3:4]
    colour = np.where(alpha > 1e-3, resized[..., :3] / np.maximum(alpha, 1e-3), 0.0)
    return np.clip(np.concatenate([colour, alpha], axis=2) * 255 + 0.5, 0, 255).astype(np.uint8)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class SuperresStage(Stage):
    name = "superres"
    number = 4
    code_modules = ("pipeline.stages.superres",)

    def params(self, job: ProductJob) -> dict[str, Any]:
        return {"sr_model": job.config.sr_model}

    def input_hashes(self, job: ProductJob) -> dict[str, str]:
        crop_box = json.loads((job.product_dir / LOCALIZE_DIR / "localize.json").read_text())["crop_box"]
        return {"frames": sha256_paths(frame_paths(job.product_dir / MOTION_DIR)), "crop_side": str(crop_box[2])}

    def produce(self, job: ProductJob, out_dir: Path) -> dict[str, Any]:
        side = json.loads((job.product_dir / LOCALIZE_DIR / "localize.json").read_text())["crop_box"][2]
        paths = frame_paths(job.product_dir / MOTION_DIR)
        source_side = read_png(paths[0]).shape[0]
        passthrough = source_side == side
        for path in paths:
            target = out_dir / "frames" / path.name
            if passthrough:
                _link_or_copy(path, target)
            else:
                write_png(target, upscale_rgba_lanczos(read_png(path), side))
        facts = {"model": "passthrough" if passthrough else job.config.sr_model, "from": source_side, "to": side,
                 "frames": len(paths)}
        atomic_write_json(out_dir / "superres.json", facts)
        return facts
