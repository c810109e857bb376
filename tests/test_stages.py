"""Unit tests of the stages' image work on synthetic pictures: matting, inpainting, motion transfer, the
Lanczos super-resolution and the feathered fusion."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.fusion import composite_frame, feather_ramp
from pipeline.inpainting import inpaint_plate, make_hole
from pipeline.matting import estimate_matte
from pipeline.motion.driving import analyse_clip
from pipeline.motion.alignment import base_rows, driving_index
from pipeline.motion.transfer import transfer_motion
from pipeline.stages.localize import cut_square, square_crop_box
from pipeline.synthetic.articulated import render_motion
from pipeline.upscaling import upscale_rgba_lanczos


def _gradient_backdrop(height: int, width: int) -> np.ndarray:
    ys = np.linspace(0, 1, height)[:, None, None]
    top, bottom = np.array([236, 238, 242.0]), np.array([205, 208, 214.0])
    return np.broadcast_to(top + (bottom - top) * ys, (height, width, 3)).astype(np.float32)


def _product_photo(textured: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A textured orange bottle-like shape (body + neck + handle loop) on a backdrop, and its true mask."""
    height, width = 240, 320
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (160, 150), (55, 65), 0, 0, 360, 255, -1)
    cv2.rectangle(mask, (145, 50), (175, 100), 255, -1)
    cv2.ellipse(mask, (222, 150), (26, 30), 0, 0, 360, 255, 9)  # a handle with a see-through opening
    rng = np.random.default_rng(1)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 2.0)
    colour = np.array([200, 110, 40], np.float32) * (1 + 0.12 * grain[..., None])
    backdrop = _gradient_backdrop(height, width)
    if textured:
        stripes = 30 * np.sin(np.arange(width) / 3.0)[None, :, None] + 20 * rng.normal(0, 1, (height, width, 1))
        backdrop = np.clip(backdrop * np.array([0.55, 0.65, 0.85]) + stripes, 0, 255)
    photo = np.where(mask[..., None] > 0, colour, backdrop)
    return np.clip(photo, 0, 255).astype(np.uint8), mask > 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_matting_plain_backdrop_keeps_the_handle_opening() -> None:
    photo, truth = _product_photo()
    result = estimate_matte(photo)
    assert result.backdrop == "plain" and result.method == "plain-backdrop"
    assert _iou(result.alpha > 0.5, truth) > 0.95
    assert result.alpha[150, 222] < 0.1  # the hole inside the handle is background, not filled in


def test_matting_textured_backdrop_uses_grabcut() -> None:
    photo, truth = _product_photo(textured=True)
    result = estimate_matte(photo)
    assert result.backdrop == "textured" and result.method == "grabcut"
    assert _iou(result.alpha > 0.5, truth) > 0.9


def test_matting_uses_a_real_alpha_channel_as_given() -> None:
    photo, truth = _product_photo()
    alpha = truth.astype(np.uint8) * 255
    result = estimate_matte(photo, alpha)
    assert result.method == "alpha-channel" and np.array_equal(result.alpha > 0.5, truth)


def test_inpainting_plain_backdrop_restores_the_gradient() -> None:
    photo, truth = _product_photo()
    backdrop = _gradient_backdrop(*truth.shape)
    hole = make_hole(truth.astype(np.float32), np.zeros_like(truth), dilate_px=6)
    result = inpaint_plate(photo, hole)
    assert result.method == "surface+harmonic" and result.quality == "good"
    error = result.plate_u8[hole].astype(np.float32) - backdrop[hole]
    psnr = 10 * np.log10(255.0 ** 2 / np.mean(error ** 2))
    assert psnr > 38.0
    assert np.array_equal(result.plate_u8[~hole], photo[~hole])  # nothing outside the hole changes
    telea = inpaint_plate(photo, hole, method="telea").plate_u8[hole].astype(np.float32) - backdrop[hole]
    assert np.mean(error ** 2) < np.mean(telea ** 2)


def test_inpainting_flags_textured_backdrops_as_low_quality() -> None:
    photo, truth = _product_photo(textured=True)
    result = inpaint_plate(photo, make_hole(truth.astype(np.float32), np.zeros_like(truth), 6))
    assert result.quality == "low" and result.method == "exemplar"


def test_square_crop_reaches_past_the_photo_edge_with_transparent_padding() -> None:
    alpha = np.zeros((100, 120), np.float32)
    alpha[0:40, 90:120] = 1.0  # an object touching the top-right corner
    x0, y0, side = square_crop_box(alpha, margin=0.25)
    assert side % 2 == 0 and x0 + side > 120 and y0 < 0
    crop = cut_square(alpha, (x0, y0, side))
    assert crop.shape == (side, side) and crop.sum() == alpha.sum()


@pytest.fixture(scope="module")
def sway_analysis():
    clip = render_motion("sway", n_frames=12, size=128)
    return analyse_clip(list(clip.frames), "front", n_regions=6), clip


def test_motion_moves_the_object_and_keeps_far_pixels_transparent(sway_analysis) -> None:
    analysis, clip = sway_analysis
    rgba = np.concatenate([clip.frames[0] / 255.0, clip.masks[0][..., None]], axis=2).astype(np.float32)
    frames, alignment, reference = transfer_motion(rgba, analysis, n_frames=12)
    assert len(frames) == 12 and frames[0].shape == rgba.shape and alignment.iou > 0.9 and reference == 0
    premultiplied = lambda f: f[..., :3] * f[..., 3:]  # noqa: E731 (colour under alpha 0 does not matter)
    assert np.abs(premultiplied(frames[0]) - premultiplied(rgba)).mean() < 0.01  # frame 0 is the source pose
    quarter = frames[3]  # the sway's extreme: the top has moved sideways
    assert np.abs(quarter[..., 3] - rgba[..., 3]).mean() > 0.005
    far = cv2.dilate(clip.masks[0].astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    assert all(f[..., 3][far].max() < 1e-3 for f in frames)


def test_fewer_frames_sample_the_whole_cycle_and_more_frames_loop() -> None:
    assert [driving_index(i, 4, 48) for i in range(4)] == [0, 12, 24, 36]
    assert [driving_index(i, 50, 48) for i in (47, 48, 49)] == [47, 0, 1]


def test_lanczos_upscale_keeps_transparent_pixels_free_of_colour_halos() -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[8:24, 8:24] = (255, 0, 0, 255)
    big = upscale_rgba_lanczos(rgba, 96)
    assert big.shape == (96, 96, 4)
    opaque = big[..., 3] > 200
    assert big[opaque][:, 0].min() > 240 and big[opaque][:, 1].max() < 15  # no dark or mixed fringe inside
    assert big[:10, :10, 3].max() == 0


def test_feather_ramp_is_one_inside_and_zero_at_the_rim() -> None:
    ramp = feather_ramp(40, 8)
    assert ramp[20, 20] == 1.0 and ramp[0, 20] < 0.05 and ramp[20, 39] < 0.05
    assert np.all(np.diff(ramp[20, :20]) >= 0)


def test_fusion_puts_the_object_over_the_plate_and_leaves_the_rest_of_the_photo() -> None:
    source = np.full((60, 80, 3), 100, np.uint8)
    plate = np.full((60, 80, 3), 200, np.uint8)
    crop = np.zeros((20, 20, 4), np.float32)
    crop[5:15, 5:15] = (1.0, 0.0, 0.0, 1.0)
    frame = composite_frame(plate, source, crop, (30, 20, 20), feather_ramp(20, 4))
    assert tuple(frame[30, 40]) == (255, 0, 0)  # the object
    assert tuple(frame[22, 32]) == (200, 200, 200) or frame[22, 32, 0] > 150  # the plate inside the crop
    assert np.array_equal(frame[:20], source[:20]) and np.array_equal(frame[:, :30], source[:, :30])


def test_a_plinth_under_a_statue_is_found_and_a_plain_column_has_none() -> None:
    statue = np.zeros((200, 200), bool)
    statue[40:80, 40:160] = True  # body
    for x in (50, 80, 120, 150):
        statue[80:160, x:x + 8] = True  # four legs
    statue[160:180, 20:180] = True  # plinth
    assert base_rows(statue) == 160
    statue[180:184, 70:130] = True  # the darkest middle of the plinth's contact shadow, left in the matte
    assert base_rows(statue) == 160
    column = np.zeros((200, 200), bool)
    column[30:180, 80:120] = True
    assert base_rows(column) is None
    walker = np.zeros((200, 200), bool)
    walker[60:100, 10:190] = True  # a dinosaur's body and tail
    walker[100:170, 70:85] = walker[100:170, 115:130] = True  # two legs
    walker[170:185, 60:140] = True  # two feet side by side, touching
    assert base_rows(walker) is None
