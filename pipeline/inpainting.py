"""Classical background-plate inpainting: a colour-surface fit plus Navier-Stokes inpainting of the residual on
plain backdrops; Navier-Stokes alone, flagged low quality, on textured ones. Works on arrays; no file access."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.matting import fit_color_surface

RING_PX = 40  # the ring around the hole whose texture tells plain from textured
PLAIN_RING_STD = 4.0  # RGB residual std (0-255) of the ring below which the surface fit is trusted
CLASSICAL_FILLS = ("surface", "ns", "telea")  # what `method` may name besides "auto"


@dataclass
class PlateResult:
    plate_u8: np.ndarray  # HxWx3 uint8: the photo with the object filled in
    hole: np.ndarray  # HxW bool: what was filled
    method: str  # "surface+ns" | "ns"
    quality: str  # "good" | "low": a textured backdrop that a classical fill only blurs
    ring_std: float


def make_hole(alpha: np.ndarray, shadow: np.ndarray, dilate_px: int) -> np.ndarray:
    """The product plus its contact shadow, dilated so no fringe of the object survives."""
    core = (alpha > 0.02) | shadow
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
    return cv2.dilate(core.astype(np.uint8), kernel).astype(bool)


def _inpaint_radius(hole: np.ndarray) -> int:
    return 5 if hole.mean() > 0.05 else 3


def inpaint_plate(rgb_u8: np.ndarray, hole: np.ndarray, method: str = "auto") -> PlateResult:
    """Fill `hole` in the photo. `method`: auto | surface | ns | telea."""
    if not hole.any():
        return PlateResult(rgb_u8.copy(), hole, "none", "good", 0.0)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING_PX + 1, 2 * RING_PX + 1))
    ring = cv2.dilate(hole.astype(np.uint8), kernel).astype(bool) & ~hole
    if ring.sum() < 50:  # the hole covers almost everything: sample the border instead
        ring = ~hole
    surface = fit_color_surface(rgb_u8.astype(np.float32), ring, degree=2)
    residual = rgb_u8.astype(np.float32) - surface
    ring_std = float(np.median(np.abs(residual[ring])) * 1.4826)
    plain = ring_std < PLAIN_RING_STD
    hole_u8 = hole.astype(np.uint8) * 255
    radius = _inpaint_radius(hole)
    chosen = method if method != "auto" else ("surface" if plain else "ns")
    if chosen == "surface":
        shifted = np.clip(residual + 128.0, 0, 255).astype(np.uint8)
        filled = cv2.inpaint(shifted, hole_u8, radius, cv2.INPAINT_NS).astype(np.float32) - 128.0
        plate = np.clip(surface + filled, 0, 255).astype(np.uint8)
        name = "surface+ns"
    else:
        flag = cv2.INPAINT_TELEA if chosen == "telea" else cv2.INPAINT_NS
        plate = cv2.inpaint(rgb_u8, hole_u8, radius, flag)
        name = chosen
    plate = np.where(hole[..., None], plate, rgb_u8)
    return PlateResult(plate, hole, name, "good" if plain else "low", ring_std)
