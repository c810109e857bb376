"""Stage 2: animate the object's crop with the driving clip: the puppet (the motion's rig fitted to the product,
parts in depth layers, meshes deformed as rigidly as possible; rigid motions move the product as one body), or a
neural model (FOMM / TPSMM, `--motion-model`) that writes 256x256 frames for stage 4 to bring to the crop's size."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2

from pipeline.atomic import atomic_write_json
from pipeline.imageio import write_png
from pipeline.device import resolve_device
from pipeline.manifest import code_version, sha256_file
from pipeline.motion.driving import DrivingAnalysis
from pipeline.motion.model_choice import MotionModelFiles, resolve_motion_model
from pipeline.motion.puppet import animate
from pipeline.motion.rig import load_rig
from pipeline.stages.base import ProductJob, Stage
from pipeline.stages.localize import load_localize, to_u8

LOCALIZE_DIR = "01_localize"
NEURAL_CODE = ("pipeline.motion.neural", "models.keypoints", "models.nn.grid", "models.nn.blocks",
               "models.nn.antialias", "models.nn.resnet", "models.fomm.keypoint_detector",
               "models.fomm.dense_motion", "models.fomm.generator", "models.tpsmm.keypoint_detector",
               "models.tpsmm.tps", "models.tpsmm.dense_motion", "models.tpsmm.inpainting")


PUPPET_MODULES = ("", ".skeleton", ".fit", ".parts", ".layers", ".deform", ".mesh", ".arap", ".render", ".rigid",
                  ".pixels", ".skinning")


def frame_count(job: ProductJob, analysis: DrivingAnalysis) -> int:
    return job.config.frames or analysis.n_frames


def working_side(crop_side: int, size: int | None) -> int:
    """The puppet renders at the crop's own size (full resolution), capped at --size."""
    return crop_side if size is None else min(crop_side, size)


class MotionStage(Stage):
    name = "motion"
    number = 2
    code_modules = ("pipeline.motion.stage", "pipeline.motion.alignment", "pipeline.motion.rig",
                    *(f"pipeline.motion.puppet{name}" for name in PUPPET_MODULES))

    def __init__(self) -> None:
        self._animators: dict[tuple[MotionModelFiles, str], Any] = {}  # loaded once per run, not per product

    def params(self, job: ProductJob) -> dict[str, Any]:
        c = job.config
        files = resolve_motion_model(c.motion_model, c.weights_dir)
        if files is not None:  # batch size and device do not change the frames (beyond float rounding)
            return {"motion_model": c.motion_model, "model_files": files.content_hashes(), "frames": c.frames,
                    "code": code_version(NEURAL_CODE)}
        return {"motion_model": c.motion_model, "frames": c.frames, "size": c.size, "keypoints": c.keypoints,
                "fit": job.motion.fit, "kind": job.motion.kind}

    def input_hashes(self, job: ProductJob) -> dict[str, str]:
        return {"crop.png": sha256_file(job.product_dir / LOCALIZE_DIR / "crop.png"), "driving": job.driving_key}

    def produce(self, job: ProductJob, out_dir: Path) -> dict[str, Any]:
        files = resolve_motion_model(job.config.motion_model, job.config.weights_dir)
        if files is not None:
            return self._produce_neural(job, files, out_dir)
        local = load_localize(job.product_dir / LOCALIZE_DIR)
        crop = local["crop"]
        side = working_side(crop.shape[0], job.config.size)
        if side != crop.shape[0]:
            crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        analysis = DrivingAnalysis.load(job.driving_analysis)
        rig = load_rig(job.motion.rig) if job.motion.rig is not None else None
        animation = animate(crop, analysis, rig, frame_count(job, analysis), fit=job.motion.fit, kind=job.motion.kind)
        for index, frame in enumerate(animation.frames):
            write_png(out_dir / "frames" / f"{index:04d}.png", to_u8(frame))
        facts = {"model": job.config.motion_model, "motion": job.motion.name, "frames": len(animation.frames),
                 "size": side, **animation.facts}
        atomic_write_json(out_dir / "motion.json", facts)
        return facts

    def _produce_neural(self, job: ProductJob, files: MotionModelFiles, out_dir: Path) -> dict[str, Any]:
        from pipeline.motion.neural import NeuralAnimator  # torch is imported only for neural runs
        from pipeline.video import read_clip

        device = resolve_device(job.config.device)
        if (files, device) not in self._animators:
            self._animators[(files, device)] = NeuralAnimator(files, device)
        animator = self._animators[(files, device)]
        driving, _ = read_clip(job.motion.path)
        n_frames = job.config.frames or len(driving)
        crop = load_localize(job.product_dir / LOCALIZE_DIR)["crop"]
        animation = animator.animate(crop, driving, job.driving_key, n_frames, job.config.batch_size)
        for index, frame in enumerate(animation.frames):
            write_png(out_dir / "frames" / f"{index:04d}.png", to_u8(frame))
        facts = {"model": job.config.motion_model, "family": animator.model.family, "motion": job.motion.name,
                 "frames": n_frames, "size": animator.side, "best_frame": animation.best_frame,
                 "movement_scale": round(animation.movement_scale, 4), "device": device}
        atomic_write_json(out_dir / "motion.json", facts)
        return facts


def frame_paths(stage_dir: Path) -> list[Path]:
    return sorted((stage_dir / "frames").glob("*.png"))
