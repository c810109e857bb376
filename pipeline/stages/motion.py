"""Stage 3: animate the object's crop with the driving clip (classical first-order motion transfer)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.atomic import atomic_write_json
from pipeline.imageio import write_png
from pipeline.manifest import sha256_file
from pipeline.motion.driving import DrivingAnalysis
from pipeline.motion.transfer import transfer_motion
from pipeline.stages.base import ProductJob, Stage
from pipeline.stages.localize import load_localize, to_u8

LOCALIZE_DIR = "01_localize"


def frame_count(job: ProductJob, analysis: DrivingAnalysis) -> int:
    return job.config.frames or analysis.n_frames


def working_side(crop_side: int, size: int) -> int:
    """The motion stage renders at the crop's own size, capped at --size."""
    return min(crop_side, size)


class MotionStage(Stage):
    name = "motion"
    number = 3
    code_modules = ("pipeline.stages.motion", "pipeline.motion.transfer")

    def params(self, job: ProductJob) -> dict[str, Any]:
        c = job.config
        return {"motion_model": c.motion_model, "frames": c.frames, "size": c.size, "keypoints": c.keypoints}

    def input_hashes(self, job: ProductJob) -> dict[str, str]:
        return {"crop.png": sha256_file(job.product_dir / LOCALIZE_DIR / "crop.png"), "driving": job.driving_key}

    def produce(self, job: ProductJob, out_dir: Path) -> dict[str, Any]:
        local = load_localize(job.product_dir / LOCALIZE_DIR)
        crop = local["crop"]
        side = working_side(crop.shape[0], job.config.size)
        if side != crop.shape[0]:
            crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        analysis = DrivingAnalysis.load(job.driving_analysis)
        frames, alignment = transfer_motion(crop, analysis, frame_count(job, analysis))
        for index, frame in enumerate(frames):
            write_png(out_dir / "frames" / f"{index:04d}.png", to_u8(frame))
        facts = {"model": job.config.motion_model, "motion": job.motion.name, "frames": len(frames),
                 "size": side, "mirrored": alignment.mirrored, "alignment_iou": round(alignment.iou, 3),
                 "regions": int(analysis.affines.shape[1])}
        atomic_write_json(out_dir / "motion.json", facts)
        return facts


def frame_paths(stage_dir: Path) -> list[Path]:
    return sorted((stage_dir / "frames").glob("*.png"))
