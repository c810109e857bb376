"""Stage 3: a clean background plate where the object (and its contact shadow) was, and where it shows: the
visible band, the part of the hole that some motion frame uncovers (pixels the animated object covers in every
frame never show)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.atomic import atomic_write_json
from pipeline.imageio import read_png, write_png
from pipeline.inpainting import PlateResult, fill_plate, inpaint_plate, keep_backdrop_in_margin, make_hole
from pipeline.manifest import sha256_file, sha256_paths
from pipeline.model_options import inpaint_spec, model_file_key
from pipeline.stages.base import ProductJob, Stage
from pipeline.stages.localize import load_localize
from pipeline.motion.stage import frame_paths

LOCALIZE_DIR, MOTION_DIR = "01_localize", "02_motion"
OPAQUE = 0.98  # alpha at which a frame hides the plate behind it


def always_covered(paths: list[Path], box: tuple[int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """HxW bool in photo pixels: where every motion frame (RGBA crops at `box` = (x0, y0, side); a neural model's
    256 px frames are resized to the side) is opaque."""
    x0, y0, side = box
    covered = np.ones((side, side), bool)
    for path in paths:
        alpha = read_png(path)[..., 3]
        if alpha.shape[0] != side:
            alpha = cv2.resize(alpha, (side, side), interpolation=cv2.INTER_LINEAR)
        covered &= alpha >= OPAQUE * 255
    height, width = shape
    out = np.zeros(shape, bool)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
    out[sy0:sy1, sx0:sx1] = covered[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    return out


def visible_band(hole: np.ndarray, covered: np.ndarray, box: tuple[int, int, int]) -> np.ndarray:
    """The part of `hole` inside the crop (fusion shows the plate nowhere else) that some frame leaves uncovered."""
    x0, y0, side = box
    crop = np.zeros(hole.shape, bool)
    crop[max(0, y0):max(0, y0 + side), max(0, x0):max(0, x0 + side)] = True
    return hole & crop & ~covered


class InpaintStage(Stage):
    name = "inpaint"
    number = 3
    code_modules = ("pipeline.stages.inpaint", "pipeline.inpainting", "pipeline.texture_fill",
                    "pipeline.lattice_fill", "pipeline.coherence_transport", "pipeline.backdrop", "models.lama")

    def params(self, job: ProductJob) -> dict[str, Any]:
        params = {"inpaint": job.config.inpaint, "hole_dilate": job.config.hole_dilate}
        spec = inpaint_spec(job.config.inpaint)
        if spec is not None:
            params["inpaint_file"] = model_file_key(spec, job.config.weights_dir)
        return params

    def input_hashes(self, job: ProductJob) -> dict[str, str]:
        folder = job.product_dir / LOCALIZE_DIR
        hashes = {name: sha256_file(folder / name) for name in ("source.png", "matte.png", "shadow.png",
                                                                "localize.json")}
        hashes["frames"] = sha256_paths(frame_paths(job.product_dir / MOTION_DIR))
        return hashes

    def produce(self, job: ProductJob, out_dir: Path) -> dict[str, Any]:
        local = load_localize(job.product_dir / LOCALIZE_DIR)
        source = local["source"]
        dilate_px = max(3, round(job.config.hole_dilate * max(source.shape[:2])))
        hole = make_hole(local["matte"], local["shadow"], dilate_px)
        box = tuple(json.loads((job.product_dir / LOCALIZE_DIR / "localize.json").read_text())["crop_box"])
        covered = always_covered(frame_paths(job.product_dir / MOTION_DIR), box, hole.shape)
        visible = visible_band(hole, covered, box)
        margin = hole & ~make_hole(local["matte"], local["shadow"], 0)
        plate, facts = self._fill(source, hole, margin, visible, job)
        facts.update({"hole_fraction": round(float(hole.mean()), 4), "hole_dilate_px": dilate_px})
        write_png(out_dir / "plate.png", plate)
        write_png(out_dir / "hole.png", hole.astype(np.uint8) * 255)
        write_png(out_dir / "visible.png", visible.astype(np.uint8) * 255)
        atomic_write_json(out_dir / "inpaint.json", facts)
        return facts

    @staticmethod
    def _fill(source: np.ndarray, hole: np.ndarray, margin: np.ndarray, visible: np.ndarray, job: ProductJob
              ) -> tuple[np.ndarray, dict]:
        spec = inpaint_spec(job.config.inpaint)
        if spec is None:
            return fill_plate(source, hole, visible, lambda rgb, mask: keep_backdrop_in_margin(
                rgb, inpaint_plate(rgb, mask, job.config.inpaint), margin))
        from models.lama import load_lama
        from models.weights import require
        from pipeline.device import resolve_device

        lama = load_lama(require(spec, job.config.weights_dir)["model"], resolve_device(job.config.device))
        return fill_plate(source, hole, visible,
                          lambda rgb, mask: PlateResult(lama(rgb, mask), mask, "lama", "good", 0.0))
