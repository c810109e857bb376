"""The lattice fill: on a regular backdrop (tiles) the repeat is found from the ring around the hole and the grout
lines run on straight through the hole, far closer to the truth than cv2.inpaint TELEA; a stochastic backdrop has
no lattice and keeps the patch synthesis."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.inpainting import REGULAR_MIN, inpaint_plate
from pipeline.lattice_fill import find_lattice

TILE, GROUT = 40, 3


def _tiles() -> tuple[np.ndarray, np.ndarray]:
    """240x320 square tiles with dark grout lines and a per-tile tint, the grout mask, and a round hole."""
    rng = np.random.default_rng(4)
    ys, xs = np.mgrid[0:240, 0:320]
    tint = rng.uniform(0.9, 1.1, (240 // TILE + 1, 320 // TILE + 1))[ys // TILE, xs // TILE]
    grout = ((ys % TILE) < GROUT) | ((xs % TILE) < GROUT)
    grey = np.where(grout, 70.0, 190.0 * tint) + rng.normal(0, 2, ys.shape)
    tiles = np.clip(np.stack([grey, grey * 0.95, grey * 0.85], axis=-1), 0, 255).astype(np.uint8)
    hole = np.zeros(ys.shape, np.uint8)
    cv2.circle(hole, (165, 118), 52, 1, -1)
    return tiles, grout, hole.astype(bool)


def test_the_lattice_is_found_from_the_ring_around_the_hole() -> None:
    tiles, _, hole = _tiles()
    lattice = find_lattice(tiles.astype(np.float32), hole)
    assert lattice.regularity > 0.8
    shortest = {tuple(np.abs(s)) for s in lattice.shifts[:4]}
    assert shortest == {(0, TILE), (TILE, 0)}


def test_grout_lines_continue_through_the_hole_and_beat_telea() -> None:
    tiles, grout, hole = _tiles()
    photo = tiles.copy()
    photo[hole] = (40, 160, 60)  # the object
    result = inpaint_plate(photo, hole)
    assert result.method == "lattice"
    error = np.abs(result.plate_u8[hole].astype(np.float32) - tiles[hole]).mean()
    telea = inpaint_plate(photo, hole, "telea").plate_u8
    assert error < 0.4 * np.abs(telea[hole].astype(np.float32) - tiles[hole]).mean()
    grey = result.plate_u8.astype(np.float32).mean(axis=2)
    inner = cv2.erode(hole.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    # the grout inside the hole is where the truth has it: dark lines on light tiles
    assert grey[inner & grout].mean() < 110 < 150 < grey[inner & ~grout].mean()
    assert np.array_equal(result.plate_u8[~hole], photo[~hole])


def test_a_stochastic_backdrop_has_no_lattice() -> None:
    rng = np.random.default_rng(8)
    gravel = cv2.GaussianBlur(rng.normal(128, 40, (200, 260)).astype(np.float32), (0, 0), 2.0)
    image = np.repeat(gravel[..., None], 3, axis=2)
    hole = np.zeros((200, 260), bool)
    hole[60:140, 90:170] = True
    assert find_lattice(image, hole).regularity < REGULAR_MIN
    photo = np.clip(image, 0, 255).astype(np.uint8)
    assert inpaint_plate(photo, hole).method == "exemplar"
