"""The inpainting bench's textured classes: the scene generators give the true background (the photo equals it away
from the object), the swayed visible band lies in the hole, and at half size the auto fill keeps the backdrop's
texture (TELEA keeps little) while its error in the visible band beats cv2.inpaint TELEA on a regular scene (tiles:
78 % of TELEA's; the issue's target, 60 %, is not reached: the glaze's mottle differs from tile to tile) and stays
within 10 % of it on a stochastic one (gravel, where no method predicts the stones: 98-102 % for all)."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.inpainting import inpaint_plate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from matting_bench import hole_of, mean_error, texture_kept  # noqa: E402
from matting_scenes import SCENES, TEXTURE_SCENES, render, swayed_visible_band, texture_class  # noqa: E402


def _half(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize(("name", "kind", "share"), [("cup-tiles", "regular", 0.85), ("horse-gravel-shadow",
                                                                                      "stochastic", 1.1)])
def test_a_textured_scene_has_its_truth_and_the_fill_beats_telea(name: str, kind: str, share: float) -> None:
    specs = (*SCENES, *TEXTURE_SCENES)
    spec = next(s for s in specs if s.name == name)
    scene = render(spec, specs.index(spec))
    assert texture_class(spec.backdrop) == kind
    hole = hole_of(scene)
    away = ~cv2.dilate(hole.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert mean_error(scene.photo_u8, scene.background_u8, away) < 1.5  # only JPEG blocks near the object differ
    assert mean_error(scene.photo_u8, scene.background_u8, scene.alpha > 0.9) > 20
    visible = swayed_visible_band(scene.alpha, hole)
    assert visible.any() and not (visible & ~hole).any() and visible.sum() < hole.sum()
    photo, truth = _half(scene.photo_u8), _half(scene.background_u8)
    small_hole = _half(hole.astype(np.uint8) * 255) > 0
    small_band = (_half(visible.astype(np.uint8) * 255) > 127) & small_hole
    plate, telea = inpaint_plate(photo, small_hole).plate_u8, inpaint_plate(photo, small_hole, "telea").plate_u8
    assert mean_error(plate, truth, small_band) < share * mean_error(telea, truth, small_band)
    assert texture_kept(plate, truth, small_hole) > 0.5 > texture_kept(telea, truth, small_hole)
