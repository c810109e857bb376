"""Stage 1: decode the photo, matte the object, and cut a square crop of it with a margin."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import atomic_write_json
from pipeline.config import PipelineConfig
from pipeline.errors import ProductError
from pipeline.imageio import decode_image, read_png, resize_to_max_side, write_png
from pipeline.matting import OPAQUE_ALPHA, estimate_foreground_colors, estimate_matte
from pipeline.model_options import detector_spec, matting_spec, model_file_key
from pipeline.object_pick import Detection, choose_detection
from pipeline.stages.base import ProductJob, Stage

MIN_OBJECT_FRACTION = 0.002  # a matte smaller than this share of the photo means nothing was found


def square_crop_box(alpha: np.ndarray, margin: float) -> tuple[int, int, int]:
    """(x0, y0, side) of a square around the matte's box with `margin` of its larger side on each side.
    The square may reach past the photo's edges; those pixels are transparent in the crop."""
    ys, xs = np.nonzero(alpha > 0.05)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    side = int(round(max(x1 - x0, y1 - y0) * (1 + 2 * margin)))
    side += side % 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def cut_square(image: np.ndarray, box: tuple[int, int, int], fill: float = 0.0) -> np.ndarray:
    """The square `box` of `image` (HxW or HxWxC), padded with `fill` where it leaves the image."""
    x0, y0, side = box
    height, width = image.shape[:2]
    out = np.full((side, side) + image.shape[2:], fill, image.dtype)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0: sy1 - y0, sx0 - x0: sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


class LocalizeStage(Stage):
    name = "localize"
    number = 1
    reads_source = True
    code_modules = ("pipeline.stages.localize", "pipeline.matting", "pipeline.backdrop", "pipeline.segmentation",
                    "pipeline.object_pick", "pipeline.imageio", "models.rembg_matting", "models.yolo")

    def params(self, job: ProductJob) -> dict[str, Any]:
        c = job.config
        params = {"matting": c.matting, "detector": c.detector, "crop_margin": c.crop_margin, "max_side": c.max_side}
        for option, spec in (("matting_file", matting_spec(c.matting)), ("detector_file", detector_spec(c.detector))):
            if spec is not None:
                params[option] = model_file_key(spec, c.weights_dir)
        return params

    def input_hashes(self, job: ProductJob) -> dict[str, str]:
        return {"image": job.source_hash}

    def produce(self, job: ProductJob, out_dir: Path) -> dict[str, Any]:
        decoded = decode_image(job.source_bytes, label=f"image {job.item.image!r}")
        rgb = resize_to_max_side(decoded.rgb_u8, job.config.max_side)
        alpha_in = None if decoded.alpha_u8 is None else resize_to_max_side(decoded.alpha_u8, job.config.max_side)
        detections = self._detect(rgb, job.config)
        target = choose_detection(detections, job.item.category)
        saliency = self._saliency(rgb, job.config) if alpha_in is None or alpha_in.min() >= OPAQUE_ALPHA else None
        force = job.config.matting if job.config.matting in ("plain", "grabcut") else None
        matte = estimate_matte(rgb, alpha_in, refine=True, force=force, saliency=saliency, target=target)
        if matte.alpha.mean() < MIN_OBJECT_FRACTION or (matte.alpha > 0.5).sum() < 64:
            raise ProductError("no object found in the photo (the matte is empty); check the image or pass "
                               "an RGBA image with the product's alpha")
        box = square_crop_box(matte.alpha, job.config.crop_margin)
        crop_alpha = cut_square(matte.alpha, box)
        crop_rgb = cut_square(rgb, box)
        colours = estimate_foreground_colors(crop_rgb, crop_alpha)
        crop_rgba = np.concatenate([colours, crop_alpha[..., None]], axis=2)
        ys, xs = np.nonzero(matte.alpha > 0.05)
        facts = {
            "image_size": [int(rgb.shape[1]), int(rgb.shape[0])],
            "source_mode": decoded.source_mode,
            "object_box": [int(xs.min()), int(ys.min()), int(xs.max() + 1), int(ys.max() + 1)],
            "crop_box": list(box),
            "method": matte.method, "backdrop": matte.backdrop, "notes": matte.notes, "picked": matte.picked,
            "detections": [{"class": d.class_name, "score": round(d.score, 3), "box": list(d.box)}
                           for d in detections[:10]],
            "object_fraction": round(float(matte.alpha.mean()), 4),
        }
        write_png(out_dir / "source.png", rgb)
        write_png(out_dir / "matte.png", to_u8(matte.alpha))
        write_png(out_dir / "shadow.png", matte.shadow.astype(np.uint8) * 255)
        write_png(out_dir / "crop.png", to_u8(crop_rgba))
        atomic_write_json(out_dir / "localize.json", facts)
        return facts

    @staticmethod
    def _detect(rgb: np.ndarray, config: PipelineConfig) -> list[Detection]:
        spec = detector_spec(config.detector)
        if spec is None:
            return []
        from models.weights import require
        from models.yolo import load_yolo

        return load_yolo(require(spec, config.weights_dir)["model"])(rgb)

    @staticmethod
    def _saliency(rgb: np.ndarray, config: PipelineConfig) -> np.ndarray | None:
        spec = matting_spec(config.matting)
        if spec is None:
            return None
        from models.rembg_matting import load_rembg_session

        return load_rembg_session(spec, config.weights_dir).predict(rgb)


def to_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def load_localize(stage_dir: Path) -> dict[str, Any]:
    """What later stages need from stage 1, read back from its artifacts."""
    return {
        "source": read_png(stage_dir / "source.png"),
        "matte": read_png(stage_dir / "matte.png").astype(np.float32) / 255.0,
        "shadow": read_png(stage_dir / "shadow.png") > 127,
        "crop": read_png(stage_dir / "crop.png").astype(np.float32) / 255.0,
        "facts": json.loads((stage_dir / "localize.json").read_text()),
    }
