"""Stage 4: bring the motion frames to the crop's size with the `--sr-model` that pipeline/sr_choice.py resolves:
a Real-ESRGAN network (colour through the network, alpha by Lanczos: pipeline/upscaling.py) or a classical resize.
Frames already at the crop's size pass through."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.atomic import atomic_write_json
from pipeline.config import PipelineConfig
from pipeline.imageio import read_png, write_png
from pipeline.manifest import code_version, sha256_paths
from pipeline.stages.base import ProductJob, Stage
from pipeline.motion.stage import frame_paths
from pipeline.sr_choice import CLASSICAL, SRChoice, choose_sr_model, load_sr_handle, sr_settings
from pipeline.upscaling import upscale_rgba_classical, upscale_rgba_network

if TYPE_CHECKING:  # torch is imported only when a network runs
    from models.sr_handle import SRHandle, SRSettings

LOCALIZE_DIR, MOTION_DIR = "01_localize", "02_motion"
NETWORK_CODE = ("models.sr_handle", "models.archs.rrdbnet", "models.archs.srvgg", "models.ncnn_convert")


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class SuperresStage(Stage):
    name = "superres"
    number = 4
    code_modules = ("pipeline.stages.superres", "pipeline.upscaling")

    def __init__(self) -> None:
        # resolved and loaded once per run (per worker process), not per product
        self._choices: dict[tuple[str, str, Path], SRChoice] = {}
        self._handles: dict[tuple[str, str, SRSettings], SRHandle] = {}

    def _choice(self, config: PipelineConfig) -> SRChoice:
        key = (config.sr_model, config.device, Path(config.weights_dir))
        if key not in self._choices:
            self._choices[key] = choose_sr_model(config)
        return self._choices[key]

    def _handle(self, choice: SRChoice, config: PipelineConfig) -> SRHandle:
        settings = sr_settings(config)
        key = (choice.weights.digest, choice.device, settings)
        if key not in self._handles:
            self._handles[key] = load_sr_handle(choice, settings)
        return self._handles[key]

    def params(self, job: ProductJob) -> dict[str, Any]:
        c = job.config
        choice = self._choice(c)
        if choice.weights is None:
            return {"sr_model": choice.model}
        from models.sr_handle import precision

        # the batch size does not change the frames; tiling does (at the seams) and so does fp16
        return {"sr_model": choice.model, "weights": choice.weights.digest, "code": code_version(NETWORK_CODE),
                "tile": c.sr_tile, "tile_pad": c.sr_tile_pad, "precision": precision(choice.device, c.sr_fp32)}

    def input_hashes(self, job: ProductJob) -> dict[str, str]:
        crop_box = json.loads((job.product_dir / LOCALIZE_DIR / "localize.json").read_text())["crop_box"]
        return {"frames": sha256_paths(frame_paths(job.product_dir / MOTION_DIR)), "crop_side": str(crop_box[2])}

    def produce(self, job: ProductJob, out_dir: Path) -> dict[str, Any]:
        side = json.loads((job.product_dir / LOCALIZE_DIR / "localize.json").read_text())["crop_box"][2]
        paths = frame_paths(job.product_dir / MOTION_DIR)
        source_side = read_png(paths[0]).shape[0]
        facts: dict[str, Any] = {"from": source_side, "to": side, "frames": len(paths)}
        started = time.perf_counter()
        if source_side == side:
            for path in paths:
                _link_or_copy(path, out_dir / "frames" / path.name)
            facts["model"] = "passthrough"
        else:
            facts.update(self._upscale(job.config, paths, side, out_dir / "frames"))
        facts["seconds_per_frame"] = round((time.perf_counter() - started) / len(paths), 4)
        atomic_write_json(out_dir / "superres.json", facts)
        return facts

    def _upscale(self, config: PipelineConfig, paths: list[Path], side: int, frames_dir: Path) -> dict[str, Any]:
        choice = self._choice(config)
        if choice.weights is None:
            for path in paths:
                write_png(frames_dir / path.name, upscale_rgba_classical(read_png(path), (side, side),
                                                                         CLASSICAL[choice.model]))
            return {"model": choice.model}
        handle = self._handle(choice, config)
        frames = upscale_rgba_network((read_png(path) for path in paths), (side, side), handle, config.sr_batch)
        for path, frame in zip(paths, frames):
            write_png(frames_dir / path.name, frame)
        return {"model": choice.model, "weights": choice.weights.label, "device": choice.device,
                "precision": handle.precision, "tile": config.sr_tile}
