"""The border band of a textured fill follows the backdrop's grain: plank seams and grain lines run on into the hole
where the grain crosses its border (what a swaying object uncovers), and the transport says where it had no
support (where the grain runs along the border)."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.coherence_transport import gradient_products, grain, transport
from pipeline.inpainting import inpaint_plate

SEAMS_EVERY = 90  # px


def _planks_with_hole() -> tuple[np.ndarray, np.ndarray]:
    """Horizontal planks 90 px wide with 3 px dark seams and grain streaks along them (600x800, the example
    catalog's size), and a round hole of radius 200 across four seams."""
    height, width = 600, 800
    rng = np.random.default_rng(7)
    streaks = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), sigmaX=30, sigmaY=1.0)
    grey = 140 + 18 * streaks / streaks.std()
    for row in range(45, height, SEAMS_EVERY):
        grey[row - 1:row + 2] *= 0.45
    planks = np.clip(np.stack([grey * 0.6, grey * 0.75, grey], axis=-1), 0, 255).astype(np.uint8)
    hole = np.zeros((height, width), np.uint8)
    cv2.circle(hole, (400, 300), 200, 1, -1)
    return planks, hole.astype(bool)


def _detail(image: np.ndarray) -> np.ndarray:
    grey = image.astype(np.float32).mean(axis=2)
    return grey - cv2.GaussianBlur(grey, (0, 0), 4.0)


def test_grain_and_seams_run_on_into_the_hole_where_they_cross_its_border() -> None:
    truth, hole = _planks_with_hole()
    photo = truth.copy()
    photo[hole] = (200, 60, 40)  # the object
    plate = inpaint_plate(photo, hole).plate_u8
    depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    sides = np.zeros(hole.shape, bool)
    sides[:, :300] = sides[:, 500:] = True  # where the grain crosses the border
    band = hole & sides & (depth > 1) & (depth <= 30)  # what a swaying object uncovers there
    correlation = np.corrcoef(_detail(plate)[band], _detail(truth)[band])[0, 1]
    assert correlation > 0.6  # 0.29 with the patch synthesis alone (0.58 in the first 10 px, 0.06 at 20-30)


def test_grain_points_along_stripes_and_is_coherent_only_on_them() -> None:
    rng = np.random.default_rng(1)
    stripes = np.tile((40 * np.sin(np.arange(200) / 3.0))[None, :], (200, 1)).astype(np.float32)  # vertical lines
    along_y, _, coherence = grain(cv2.GaussianBlur(gradient_products(stripes), (0, 0), 4.0))
    assert np.abs(along_y[50:150, 50:150]).min() > 0.99 and coherence[50:150, 50:150].min() > 0.9
    noise = cv2.GaussianBlur(rng.normal(0, 40, (200, 200)).astype(np.float32), (0, 0), 1.0)
    assert np.median(grain(cv2.GaussianBlur(gradient_products(noise), (0, 0), 4.0))[2]) < 0.5


def test_transport_has_support_where_the_grain_crosses_the_border_and_none_along_it() -> None:
    values = np.random.default_rng(2).normal(0, 1, (120, 120, 1)).astype(np.float32)
    hole = np.zeros((120, 120), bool)
    hole[40:80, 40:80] = True
    along_y, along_x = np.zeros((120, 120), np.float32), np.ones((120, 120), np.float32)  # horizontal grain
    carried, support = transport(values, hole, along_y, along_x, 10.0)
    assert support[60, 41] > 0.9 and support[60, 78] > 0.9  # left and right sides: the grain enters there
    assert support[41, 60] < 0.05 and support[78, 60] < 0.05  # top and bottom: it runs along the border
    assert support[60, 60] == 0 and not support[~hole].any()  # deeper than 10 px, and outside, nothing
    assert np.array_equal(carried[~hole], values[~hole])
    # the first ring takes the row beside it, nearer pixels counting more (the off-row neighbours weigh ~e-12.5)
    nearness = 1.0 / np.arange(1, 6)
    assert np.allclose(carried[60, 40], (values[60, 39:34:-1, 0] * nearness).sum() / nearness.sum(), atol=1e-3)
