"""Spatial fusion: composite animated RGBA crops over the background plate and stitch them back into the photo
with a feathered edge. Pure array functions."""
from __future__ import annotations

import numpy as np


def feather_ramp(side: int, width_px: int) -> np.ndarray:
    """(side, side) weights: 1 inside, falling smoothly to 0 over `width_px` at the square's edges."""
    if width_px <= 0:
        return np.ones((side, side), np.float32)
    distance = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32)
    ramp_1d = np.clip((distance + 0.5) / width_px, 0, 1)
    ramp_1d = ramp_1d * ramp_1d * (3 - 2 * ramp_1d)  # smoothstep: no visible kink at the ramp's ends
    return np.minimum(ramp_1d[:, None], ramp_1d[None, :])


def composite_frame(plate_u8: np.ndarray, source_u8: np.ndarray, crop_rgba: np.ndarray,
                    box: tuple[int, int, int], feather: np.ndarray) -> np.ndarray:
    """One output frame at the photo's size. Inside the crop: the animated object over the plate; the crop's
    rim blends back to the untouched photo, so any seam disappears; outside the crop: the photo itself."""
    x0, y0, side = box
    height, width = plate_u8.shape[:2]
    out = source_u8.astype(np.float32)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side)
    if sx1 <= sx0 or sy1 <= sy0:
        return source_u8.copy()
    cy0, cx0 = sy0 - y0, sx0 - x0
    region = (slice(cy0, cy0 + sy1 - sy0), slice(cx0, cx0 + sx1 - sx0))
    rgba = crop_rgba[region]
    alpha = rgba[..., 3:4]
    plate = plate_u8[sy0:sy1, sx0:sx1].astype(np.float32) / 255.0
    inside = rgba[..., :3] * alpha + plate * (1.0 - alpha)
    # the object may touch the crop's rim (clipped by the photo's edge); keep it there at full strength
    weight = np.maximum(feather[region], alpha[..., 0])[..., None]
    original = out[sy0:sy1, sx0:sx1] / 255.0
    out[sy0:sy1, sx0:sx1] = (inside * weight + original * (1.0 - weight)) * 255.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
