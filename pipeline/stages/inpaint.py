"""Stage 2: a clean background plate where the object (and its contact shadow) was."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import atomic_write_json
from pipeline.imageio import write_png
from pipeline.inpainting import PlateResult, inpaint_plate, make_hole
from pipeline.manifest import sha256_file
from pipeline.model_options import inpaint_spec, model_file_key
from pipeline.stages.base import ProductJob, Stage
from pipeline.stages.localize import load_localize

LOCALIZE_DIR = "01_localize"


class InpaintStage(Stage):
    name = "inpaint"
    number = 2
    code_modules = ("pipeline.stages.inpaint", "pipeline.inpainting", "pipeline.texture_fill", "pipeline.backdrop",
                    "models.lama")

    def params(self, job: ProductJob) -> dict[str, Any]:
        params = {"inpaint": job.config.inpaint, "hole_dilate": job.config.hole_dilate}
        spec = inpaint_spec(job.config.inpaint)
        if spec is not None:
            params["inpaint_file"] = model_file_key(spec, job.config.weights_dir)
        return params

    def input_hashes(self, job: ProductJob) -> dict[str, str]:
        folder = job.product_dir / LOCALIZE_DIR
        return {name: sha256_file(folder / name) for name in ("source.png", "matte.png", "shadow.png")}

    def produce(self, job: ProductJob, out_dir: Path) -> dict[str, Any]:
        local = load_localize(job.product_dir / LOCALIZE_DIR)
        source = local["source"]
        dilate_px = max(3, round(job.config.hole_dilate * max(source.shape[:2])))
        hole = make_hole(local["matte"], local["shadow"], dilate_px)
        result = self._fill(source, hole, job)
        facts = {"method": result.method, "quality": result.quality, "ring_residual": round(result.ring_residual, 2),
                 "hole_fraction": round(float(hole.mean()), 4), "hole_dilate_px": dilate_px}
        write_png(out_dir / "plate.png", result.plate_u8)
        write_png(out_dir / "hole.png", hole.astype(np.uint8) * 255)
        atomic_write_json(out_dir / "inpaint.json", facts)
        return facts

    @staticmethod
    def _fill(source: np.ndarray, hole: np.ndarray, job: ProductJob) -> PlateResult:
        spec = inpaint_spec(job.config.inpaint)
        if spec is None:
            return inpaint_plate(source, hole, job.config.inpaint)
        from models.lama import load_lama
        from models.weights import require
        from pipeline.device import resolve_device

        lama = load_lama(require(spec, job.config.weights_dir)["model"], resolve_device(job.config.device))
        return PlateResult(lama(source, hole), hole, "lama", "good", 0.0)
