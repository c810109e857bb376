"""The textured-backdrop fill: texture continues into the hole (no smooth blob), it beats cv2.inpaint TELEA inside
the hole, it touches nothing outside the hole, and equal inputs give equal plates."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.inpainting import border_band, inpaint_plate, texture_gain


def _wood_with_hole() -> tuple[np.ndarray, np.ndarray]:
    """A wood-like backdrop (wavy grain lines, noise, a lighting gradient), 360x480, and a round hole."""
    height, width = 360, 480
    rng = np.random.default_rng(5)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    grain = np.sin(ys / 3.0 + 2.0 * np.sin(xs / 40.0)) * 25
    noise = cv2.GaussianBlur(rng.normal(0, 12, (height, width)).astype(np.float32), (0, 0), 0.8)
    light = 1.0 - 0.2 * xs / width
    grey = (120 + grain + noise) * light
    wood = np.clip(np.stack([grey * 0.55, grey * 0.7, grey * 1.1], axis=-1), 0, 255).astype(np.uint8)
    hole = np.zeros((height, width), np.uint8)
    cv2.circle(hole, (240, 180), 70, 1, -1)
    return wood, hole.astype(bool)


def _detail(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return grey - cv2.GaussianBlur(grey, (0, 0), 2.0)


def _psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    error = a[mask].astype(np.float64) - b[mask].astype(np.float64)
    return float(10 * np.log10(255.0 ** 2 / np.mean(error ** 2)))


def test_textured_fill_keeps_texture_and_beats_telea() -> None:
    truth, hole = _wood_with_hole()
    photo = truth.copy()
    photo[hole] = (200, 60, 40)  # the object
    result = inpaint_plate(photo, hole)
    assert result.method in ("lattice", "exemplar") and result.quality == "low"
    inner = cv2.erode(hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    kept = _detail(result.plate_u8)[inner].std() / _detail(truth)[inner].std()
    assert kept > 0.3  # TELEA keeps about 0.2 here
    telea = inpaint_plate(photo, hole, "telea").plate_u8
    assert _detail(telea)[inner].std() / _detail(truth)[inner].std() < 0.25
    assert _psnr(result.plate_u8, truth, hole) > _psnr(telea, truth, hole)
    assert np.array_equal(result.plate_u8[~hole], photo[~hole])
    assert np.array_equal(inpaint_plate(photo, hole).plate_u8, result.plate_u8)


def _brick_wall() -> np.ndarray:
    """Flat 64x32 bricks in staggered courses with 3 px mortar lines, 240x320: the lines cover so little of the
    wall that a median of the ring's residuals sees only the flat bricks."""
    height, width = 240, 320
    rng = np.random.default_rng(3)
    wall = np.zeros((height, width, 3), np.float32)
    mortar = (205, 200, 190)
    for course, top in enumerate(range(0, height, 32)):
        for left in range(-(course % 2) * 32, width, 64):
            wall[top:top + 32, max(0, left):left + 64] = np.array([160, 70, 50]) + rng.normal(0, 3, 3)
            wall[top:top + 32, max(0, left):max(0, left) + 3] = mortar
        wall[top:top + 3] = mortar
    return np.clip(wall + rng.normal(0, 1.5, wall.shape), 0, 255).astype(np.uint8)


def test_a_brick_wall_gets_the_textured_fill_not_a_smooth_surface() -> None:
    wall = _brick_wall()
    hole = np.zeros(wall.shape[:2], np.uint8)
    cv2.circle(hole, (160, 120), 45, 1, -1)
    hole = hole.astype(bool)
    photo = wall.copy()
    photo[hole] = (40, 160, 60)
    result = inpaint_plate(photo, hole)
    assert result.method in ("lattice", "exemplar") and result.quality == "low"
    inner = cv2.erode(hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert _detail(result.plate_u8)[inner].std() > 0.4 * _detail(wall)[inner].std()  # mortar lines, not a blob


def test_the_fill_keeps_full_contrast_near_the_border_and_half_deep_inside() -> None:
    truth, hole = _wood_with_hole()
    gain = texture_gain(border_band(hole))
    depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    assert np.allclose(gain[hole & (depth < 5)], 1.0) and np.allclose(gain[depth > 40], 0.5)
    photo = truth.copy()
    photo[hole] = (200, 60, 40)
    plate = inpaint_plate(photo, hole, "exemplar").plate_u8
    band, core = hole & (depth > 3) & (depth < 9), hole & (depth > 40)
    truth_detail, plate_detail = _detail(truth), _detail(plate)
    assert plate_detail[band].std() > 0.7 * truth_detail[band].std()
    assert plate_detail[core].std() < plate_detail[band].std()
