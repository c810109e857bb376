"""The visible band: the part of the hole some motion frame uncovers, computed from the motion stage's frames
(resized to the crop when a neural model wrote 256 px frames); its area and the fill's estimated error in it go to
inpaint.json; and the inpaint stage's content key covers the motion frames it read."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.catalog import CatalogItem
from pipeline.config import PipelineConfig
from pipeline.imageio import read_png, write_png
from pipeline.inpainting import fill_plate, inpaint_plate, keep_backdrop_in_margin, make_hole
from pipeline.motions_library import MotionSpec
from pipeline.stages.base import ProductJob
from pipeline.stages.inpaint import InpaintStage, always_covered, visible_band

PHOTO = (120, 160)
BOX = (40, 20, 80)  # x0, y0, side of the crop in the photo


def _frames(folder: Path, side: int, shifts: tuple[int, ...]) -> None:
    """RGBA frames of a square product 40% of the crop wide, moved sideways by `shifts` (in crop px at 80)."""
    scale = side / BOX[2]
    for index, shift in enumerate(shifts):
        frame = np.zeros((side, side, 4), np.uint8)
        x0, x1 = round((24 + shift) * scale), round((56 + shift) * scale)
        frame[round(24 * scale):round(70 * scale), x0:x1] = (200, 40, 40, 255)
        write_png(folder / f"{index:04d}.png", frame)


def test_the_band_is_the_hole_minus_what_every_frame_covers(tmp_path: Path) -> None:
    for side in (80, 256):  # the crop's size, or a neural model's 256 px frames
        folder = tmp_path / str(side) / "frames"
        _frames(folder, side, (-8, 0, 8))
        covered = always_covered(sorted(folder.glob("*.png")), BOX, PHOTO)
        ys, xs = np.nonzero(covered)
        assert (ys.min(), ys.max(), xs.min(), xs.max()) == (20 + 24, 20 + 69, 40 + 32, 40 + 47)
    hole = np.zeros(PHOTO, bool)
    hole[40:95, 55:110] = True
    band = visible_band(hole, covered, BOX)
    assert band.sum() == hole.sum() - covered.sum() and not (band & covered).any()


def _job(tmp_path: Path, backdrop: np.ndarray) -> ProductJob:
    item = CatalogItem(2, "sku", "sku.jpg", "mug", "", "", tmp_path)
    job = ProductJob(item, PipelineConfig(output=tmp_path / "out"), MotionSpec("still", tmp_path, 24.0, "right"),
                     tmp_path / "none.npz", "key")
    local = job.product_dir / "01_localize"
    matte = np.zeros(PHOTO, np.uint8)
    matte[44:90, 64:96] = 255
    photo = backdrop.copy()
    photo[matte > 0] = (200, 40, 40)
    write_png(local / "source.png", photo)
    write_png(local / "matte.png", matte)
    write_png(local / "shadow.png", np.zeros(PHOTO, np.uint8))
    write_png(local / "crop.png", np.zeros((BOX[2], BOX[2], 4), np.uint8))
    (local / "localize.json").write_text(json.dumps({"crop_box": list(BOX)}))
    _frames(job.product_dir / "02_motion" / "frames", 80, (-8, 0, 8))
    return job


def test_the_stage_reports_the_band_and_hashes_the_motion_frames(tmp_path: Path) -> None:
    backdrop = np.zeros((*PHOTO, 3), np.uint8) + np.array([150, 160, 170], np.uint8)
    job = _job(tmp_path, backdrop)
    stage = InpaintStage()
    stage.run(job)
    folder = job.product_dir / "03_inpaint"
    facts = json.loads((folder / "inpaint.json").read_text())
    visible = read_png(folder / "visible.png") > 127
    hole = read_png(folder / "hole.png") > 127
    assert facts["visible_band_px"] == int(visible.sum()) > 0 and (visible <= hole).all()
    assert visible.sum() < hole.sum()  # the middle of the product is covered in every frame
    assert facts["quality"] == "good" and facts["visible_band_error"] < 3.0  # a plain backdrop
    before = stage.input_hashes(job)["frames"]
    _frames(job.product_dir / "02_motion" / "frames", 80, (-12, 0, 12))  # another motion
    assert stage.input_hashes(job)["frames"] != before


def test_the_margin_keeps_the_textured_backdrop_but_not_a_fringe() -> None:
    """The hole's margin past the product shows in every frame: on a texture the photo is put back there, except
    where the product left a fringe (a dark rim beside it), which stays filled."""
    rng = np.random.default_rng(5)
    noise = np.clip(rng.normal(128, 30, (*PHOTO, 3)), 0, 255).astype(np.uint8)
    product = np.zeros(PHOTO, np.float32)
    product[44:90, 64:96] = 1.0
    rim = (make_hole(product, np.zeros(PHOTO, bool), 2) & (product == 0))
    rim[:, :80] = False  # a dark fringe on the product's right side only
    photo = noise.copy()
    photo[product > 0] = (200, 40, 40)
    photo[rim] = 30
    hole = make_hole(product, np.zeros(PHOTO, bool), 4)
    margin = hole & (product == 0)
    filled = inpaint_plate(photo, hole)
    kept = keep_backdrop_in_margin(photo, filled, margin).plate_u8
    assert filled.quality == "low"
    restored = (kept == photo).all(axis=2) & margin
    assert restored[:, :70].sum() > 0.5 * margin[:, :70].sum()  # the clean left side of the margin
    assert not (restored & rim).any()  # the fringe stays filled
    assert (kept[product > 0] == filled.plate_u8[product > 0]).all()
    plain = np.zeros((*PHOTO, 3), np.uint8) + 140
    plain_fill = inpaint_plate(plain, hole)
    assert keep_backdrop_in_margin(plain, plain_fill, margin) is plain_fill


def test_the_error_estimate_tells_a_textured_plate_from_a_plain_one() -> None:
    rng = np.random.default_rng(3)
    noise = np.clip(rng.normal(128, 35, (*PHOTO, 3)), 0, 255).astype(np.uint8)
    plain = np.zeros((*PHOTO, 3), np.uint8) + 140
    hole = make_hole(np.pad(np.ones((30, 30), np.float32), ((45, 45), (65, 65))), np.zeros(PHOTO, bool), 3)
    band = hole & ~np.pad(np.ones((20, 20), bool), ((50, 50), (70, 70)))
    _, plain_facts = fill_plate(plain, hole, band)
    _, noise_facts = fill_plate(noise, hole, band)
    assert plain_facts["visible_band_px"] == noise_facts["visible_band_px"] == int(band.sum())
    assert plain_facts["visible_band_error"] < 2.0 < 15.0 < noise_facts["visible_band_error"]
