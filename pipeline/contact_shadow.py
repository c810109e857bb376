"""Contact shadows for the animation's plate. The inpaint stage removes the product's shadow with the product, so
without one the feet float. `redraw` renders, for every frame, a soft shadow under the frame's lowest points: each
column of the product that comes near the ground darkens the plate below it, less the higher it is lifted, so the
shadow moves with the feet and fades as a hop lifts the product. Its strength is what localize's shadow mask shows
of the photographed shadow. A contact that never moves (a statue's plinth) is not redrawn: its photographed shadow
is put back as it was. `keep` puts back the whole photographed shadow (it stays where it was), `off` draws none.
Pure arrays."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_STRENGTH = 0.3  # darkening at a contact when localize found no shadow to measure
MIN_SHADOW_PX = 50  # a shadow mask smaller than this is too little to measure the strength on
STRENGTH_RANGE = (0.08, 0.7)
FADE_SHARE = 0.06  # of the product's height: a column lifted this far casts 1/e of a touching column's shadow
SPREAD_SHARE = 0.04  # of the product's width: the shadow's horizontal softness (Gaussian sigma)
SQUASH = 0.35  # the shadow's vertical softness as a share of its horizontal one (it lies flat on the floor)
STATIC_TOLERANCE_PX = 1  # a column whose lowest point stays this close to the photo's in every frame is static
OPAQUE = 0.5  # alpha above which a pixel is the product's
PRODUCT_GAP_PX = 4  # the gap localize leaves between the product and its shadow mask
KEEP_FEATHER_PX = 4.0  # px (Gaussian sigma): how far the photographed shadow's darkening is carried past its mask


@dataclass(frozen=True)
class ShadowSetup:
    photo: np.ndarray  # HxWx3 uint8: the photo (its shadow as photographed)
    plate: np.ndarray  # HxWx3 uint8: the clean plate (no shadow)
    shadow: np.ndarray  # HxW bool: localize's shadow mask, without the product
    product: np.ndarray  # HxW bool: the product in the photo (its matte)
    ground_y: float  # photo row the product stands on (its lowest row in the photo)
    strength: float  # darkening where a column touches the ground
    fade_px: float
    spread_px: float
    static: np.ndarray  # W bool: columns whose contact never moves (a plinth)


def lowest_rows(alpha: np.ndarray) -> np.ndarray:
    """Per column of an HxW alpha: the lowest row that is the product's, -1 where none is."""
    solid = alpha > OPAQUE
    height = alpha.shape[0]
    last = height - 1 - np.argmax(solid[::-1], axis=0)
    return np.where(solid.any(axis=0), last, -1)


def shadow_strength(photo: np.ndarray, plate: np.ndarray, shadow: np.ndarray) -> float:
    """How much the photographed shadow darkens the backdrop at its core (the 90th percentile of 1 - photo/plate
    over localize's shadow mask)."""
    if shadow.sum() < MIN_SHADOW_PX:
        return DEFAULT_STRENGTH
    darkening = 1 - photo[shadow].astype(np.float32).mean(axis=1) / np.maximum(
        plate[shadow].astype(np.float32).mean(axis=1), 1.0)
    return float(np.clip(np.percentile(darkening, 90), *STRENGTH_RANGE))


def place(crop_alpha: np.ndarray, box: tuple[int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """A frame's crop alpha (any size; resized to the crop's side) in photo pixels."""
    x0, y0, side = box
    if crop_alpha.shape[0] != side:
        crop_alpha = cv2.resize(crop_alpha, (side, side), interpolation=cv2.INTER_LINEAR)
    height, width = shape
    out = np.zeros(shape, np.float32)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
    out[sy0:sy1, sx0:sx1] = crop_alpha[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    return out


def setup_shadows(photo: np.ndarray, plate: np.ndarray, matte: np.ndarray, shadow: np.ndarray,
                  frame_rows: list[np.ndarray]) -> ShadowSetup:
    """What every frame's shadow needs: the ground line and the product's size from the matte, the strength from
    the photographed shadow, and which columns' contact never moves over the frames (`frame_rows`: each frame's
    `lowest_rows` in photo pixels)."""
    rows = lowest_rows(matte)
    ys, xs = np.nonzero(matte > OPAQUE)
    ground_y = float(ys.max())
    fade_px = max(2.0, FADE_SHARE * (ys.max() - ys.min() + 1))
    spread_px = max(2.0, SPREAD_SHARE * (xs.max() - xs.min() + 1))
    # a column counts as contact only near the ground; it is static when every frame keeps its lowest point there
    static = (rows >= 0) & (ground_y - rows <= fade_px)
    for frame in frame_rows:
        static &= np.abs(frame - rows) <= STATIC_TOLERANCE_PX
    product = matte > 0.02
    outside_product = shadow & ~product
    return ShadowSetup(photo, plate, outside_product, product, ground_y, shadow_strength(photo, plate, outside_product),
                       fade_px, spread_px, static)


def contact_darkening(setup: ShadowSetup, rows: np.ndarray) -> np.ndarray:
    """HxW in [0, 1): how much the redrawn shadow darkens the plate under one frame's product (`rows`: the frame's
    `lowest_rows` in photo pixels)."""
    lift = np.maximum(setup.ground_y - rows, 0.0)
    weight = np.where((rows >= 0) & ~setup.static, np.exp(-lift / setup.fade_px), 0.0).astype(np.float32)
    along = cv2.GaussianBlur(weight[None, :], (0, 0), sigmaX=setup.spread_px, sigmaY=0.1,
                             borderType=cv2.BORDER_CONSTANT)[0]
    height = setup.plate.shape[0]
    across = np.exp(-0.5 * ((np.arange(height) - setup.ground_y) / (SQUASH * setup.spread_px)) ** 2)
    return (setup.strength * across[:, None] * along[None, :]).astype(np.float32)


def kept_shadow(setup: ShadowSetup, columns: np.ndarray) -> np.ndarray:
    """The plate darkened as the photo is in its photographed shadow, where that lies within reach of `columns`
    (W bool, the reach's ends ramped): the photo's darkening against the plate (never a brightening) on the shadow
    mask; around it, and under the product's photographed pixels that a moving frame may uncover, the mean
    darkening of the mask nearby, fading outwards, so that no edge of the mask or of the product shows."""
    reach = max(1, round(3 * setup.spread_px))
    near = cv2.dilate(columns.astype(np.uint8)[None, :], np.ones((1, 4 * reach + 1), np.uint8))[0]
    ramp = cv2.GaussianBlur(near.astype(np.float32)[None, :], (0, 0), sigmaX=reach / 2, sigmaY=0.1)[0]
    mask = setup.shadow & (near[None, :] > 0)
    ratio = setup.photo.astype(np.float32).mean(axis=2) / np.maximum(setup.plate.astype(np.float32).mean(axis=2), 1)
    darkening = np.where(mask, 1 - np.clip(ratio, 0.0, 1.0), 0.0).astype(np.float32)
    reached = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), KEEP_FEATHER_PX)
    nearby = cv2.GaussianBlur(darkening, (0, 0), KEEP_FEATHER_PX) / np.maximum(reached, 1e-6)
    # localize keeps its shadow mask a few px off the product: that gap, like the product, takes the nearby mean
    beside = cv2.dilate(setup.product.astype(np.uint8), np.ones((2 * PRODUCT_GAP_PX + 1,) * 2, np.uint8)) > 0
    around = np.where(beside, np.where(reached > 0.02, nearby, 0.0), nearby * reached)
    total = np.where(mask, darkening, around) * ramp[None, :]
    return np.clip(setup.plate.astype(np.float32) * (1 - total[..., None]) + 0.5, 0, 255).astype(np.uint8)


def frame_plate(setup: ShadowSetup, rows: np.ndarray, mode: str) -> np.ndarray:
    """The plate one frame is laid over (HxWx3 uint8) for `mode` redraw | keep | off; `rows`: the frame's
    `lowest_rows` in photo pixels."""
    if mode == "off":
        return setup.plate
    if mode == "keep":
        return kept_shadow(setup, np.ones(setup.static.shape, bool))
    base = kept_shadow(setup, setup.static) if setup.static.any() else setup.plate
    darkening = contact_darkening(setup, rows)
    return np.clip(base.astype(np.float32) * (1 - darkening[..., None]) + 0.5, 0, 255).astype(np.uint8)
