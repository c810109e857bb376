"""Stage 5: lay the frames over the clean plate, stitch them into the full photo, and encode the animation."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import atomic_write_json
from pipeline.contact_shadow import frame_plate, lowest_rows, place, setup_shadows
from pipeline.fusion import composite_frame, feather_ramp
from pipeline.imageio import read_png, resize_to_max_side, write_jpeg, write_png
from pipeline.manifest import sha256_file, sha256_paths
from pipeline.stages.base import ProductJob, Stage
from pipeline.motion.stage import frame_paths
from pipeline.video import encode_animated_image, encode_mp4

LOCALIZE_DIR, INPAINT_DIR, SUPERRES_DIR = "01_localize", "03_inpaint", "04_superres"
DEFAULT_FPS = 24.0
THUMB_NAME, THUMB_SIDE, THUMB_QUALITY = "poster_thumb.jpg", 200, 80  # a few KB: the review page's card image


def write_poster_thumb(path: Path, frame_u8: np.ndarray) -> Path:
    """The first frame, small: a review page of thousands of cards loads these, not the full-size posters."""
    return write_jpeg(path, resize_to_max_side(frame_u8, THUMB_SIDE), quality=THUMB_QUALITY)


def output_fps(job: ProductJob) -> float:
    return job.config.fps or job.motion.fps or DEFAULT_FPS


class FusionStage(Stage):
    name = "fusion"
    number = 5
    code_modules = ("pipeline.stages.fusion", "pipeline.fusion", "pipeline.contact_shadow", "pipeline.video")

    def params(self, job: ProductJob) -> dict[str, Any]:
        c = job.config
        return {"fps": output_fps(job), "formats": sorted(c.formats), "feather": c.feather, "crf": c.crf,
                "shadow": c.shadow}

    def input_hashes(self, job: ProductJob) -> dict[str, str]:
        return {
            "frames": sha256_paths(frame_paths(job.product_dir / SUPERRES_DIR)),
            "plate.png": sha256_file(job.product_dir / INPAINT_DIR / "plate.png"),
            **{name: sha256_file(job.product_dir / LOCALIZE_DIR / name)
               for name in ("source.png", "matte.png", "shadow.png")},
            "localize.json": sha256_file(job.product_dir / LOCALIZE_DIR / "localize.json"),
        }

    def produce(self, job: ProductJob, out_dir: Path) -> dict[str, Any]:
        facts_in = json.loads((job.product_dir / LOCALIZE_DIR / "localize.json").read_text())
        box = tuple(facts_in["crop_box"])
        source = read_png(job.product_dir / LOCALIZE_DIR / "source.png")
        plate = read_png(job.product_dir / INPAINT_DIR / "plate.png")
        feather = feather_ramp(box[2], max(1, round(job.config.feather * box[2])))
        paths = frame_paths(job.product_dir / SUPERRES_DIR)
        # each frame's lowest points (where its contact shadow goes), read before any frame is laid over the plate
        rows = [lowest_rows(place(read_png(path)[..., 3] / 255.0, box, source.shape[:2])) for path in paths]
        local = job.product_dir / LOCALIZE_DIR
        shadows = setup_shadows(source, plate, read_png(local / "matte.png").astype("float32") / 255.0,
                                read_png(local / "shadow.png") > 127, rows)
        frames = []
        for path, frame_rows in zip(paths, rows):
            crop = read_png(path).astype("float32") / 255.0
            frame = composite_frame(frame_plate(shadows, frame_rows, job.config.shadow), source, crop, box, feather)
            write_png(out_dir / "frames" / path.name, frame)
            frames.append(frame)
        fps = output_fps(job)
        outputs = {"mp4": "animation.mp4"}
        encode_mp4(frames, out_dir / "animation.mp4", round(fps), crf=job.config.crf)
        for fmt in job.config.formats:
            if fmt != "mp4":
                outputs[fmt] = f"animation.{fmt}"
                encode_animated_image(frames, out_dir / outputs[fmt], round(fps))
        write_jpeg(out_dir / "poster.jpg", frames[0])
        write_poster_thumb(out_dir / THUMB_NAME, frames[0])
        facts = {"frames": len(frames), "fps": fps, "size": [int(source.shape[1]), int(source.shape[0])],
                 "outputs": outputs, "shadow": job.config.shadow, "shadow_strength": round(shadows.strength, 3),
                 "static_contact_columns": int(shadows.static.sum())}
        atomic_write_json(out_dir / "fusion.json", facts)
        return facts
