"""Models of a photo's backdrop seen from its border: a robust low-order colour surface, each pixel's distance to
it, the border's noise level, and the soft shadows the product casts on it. Pure array functions."""
from __future__ import annotations

import cv2
import numpy as np

INLIER_SHARE = 0.6  # the share of border pixels closest to the border's median colour that seed the fit


def border_ring(height: int, width: int, thickness: int) -> np.ndarray:
    ring = np.zeros((height, width), bool)
    ring[:thickness], ring[-thickness:], ring[:, :thickness], ring[:, -thickness:] = True, True, True, True
    return ring


def _poly_design(xs: np.ndarray, ys: np.ndarray, degree: int) -> np.ndarray:
    terms = [xs ** i * ys ** j for i in range(degree + 1) for j in range(degree + 1 - i)]
    return np.stack(terms, axis=-1)


def fit_color_surface(image: np.ndarray, sample_mask: np.ndarray, degree: int = 2) -> np.ndarray:
    """Least-squares low-order polynomial colour surface through the pixels in `sample_mask`, evaluated everywhere.
    Plain studio backdrops (flat, vignetted or swept gradients) are well described by it. The fit starts from the
    samples nearest the median colour and reweights, so an object covering part of the samples (a product touching
    the border) does not drag it."""
    height, width = sample_mask.shape
    ys, xs = np.nonzero(sample_mask)
    scale = float(max(height, width))
    design = _poly_design(xs / scale, ys / scale, degree)
    values = image[ys, xs].reshape(len(ys), -1).astype(np.float64)
    from_median = np.linalg.norm(values - np.median(values, axis=0), axis=1)
    weights = (from_median <= np.quantile(from_median, INLIER_SHARE)).astype(np.float64) + 1e-3
    for _ in range(4):
        coef, *_ = np.linalg.lstsq(design * weights[:, None], values * weights[:, None], rcond=None)
        residual = np.linalg.norm(values - design @ coef, axis=1)
        cutoff = 3.0 * np.median(residual[weights > 0.5]) + 1e-3
        weights = (residual < cutoff).astype(np.float64) + 1e-3
    grid_y, grid_x = np.mgrid[0:height, 0:width]
    full = _poly_design(grid_x.ravel() / scale, grid_y.ravel() / scale, degree) @ coef
    return full.reshape(height, width, -1).astype(np.float32)


def to_lab(rgb_u8: np.ndarray) -> np.ndarray:
    """CIE Lab with L in 0..100 and a, b centred on 0."""
    return cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2LAB).astype(np.float32) * np.array([100 / 255, 1, 1], np.float32) \
        - np.array([0, 128, 128], np.float32)


def backdrop_distance(rgb_u8: np.ndarray, ring_px: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-pixel Lab distance to a colour surface fitted on the border ring, the fitted surface, and the ring's
    residual spread (a texture measure: low on plain backdrops)."""
    lab = to_lab(rgb_u8)
    ring = border_ring(*rgb_u8.shape[:2], ring_px)
    surface = fit_color_surface(lab, ring)
    distance = np.linalg.norm(lab - surface, axis=2)
    spread = float(np.median(distance[ring]) * 1.4826 + 1e-3)
    return distance, surface, spread


def local_detail(lab: np.ndarray) -> np.ndarray:
    """Fine-scale texture energy of the lightness: what a printed, woven or grained surface has and a smooth backdrop
    or a soft shadow lacks."""
    lightness = lab[..., 0]
    high = lightness - cv2.GaussianBlur(lightness, (0, 0), 1.5)
    return np.sqrt(cv2.GaussianBlur(high * high, (0, 0), 2.0))


def shadow_colour(lab: np.ndarray, surface_lab: np.ndarray, hue_shift_per_darkening: float = 0.2) -> np.ndarray:
    """Pixels whose colour alone a soft shadow could explain: darker than the backdrop with about its hue (a deeper
    shadow may shift it by `hue_shift_per_darkening` Lab units per unit of lightness lost)."""
    darker = surface_lab[..., 0] - lab[..., 0]
    chroma_shift = np.linalg.norm(lab[..., 1:] - surface_lab[..., 1:], axis=2)
    ratio = lab[..., 0] / np.maximum(surface_lab[..., 0], 1.0)
    return (darker > 1.0) & (ratio > 0.4) & (chroma_shift < 3.0 + hue_shift_per_darkening * darker)


def shadow_like(lab: np.ndarray, surface_lab: np.ndarray, detail: np.ndarray, noise_detail: float) -> np.ndarray:
    """Pixels a soft shadow could explain: darker than the backdrop with about its hue, and as smooth as it."""
    return shadow_colour(lab, surface_lab) & (detail < 2.0 * noise_detail + 0.3)


def trusted_border(lab: np.ndarray, ring_px: int, segments: int = 48) -> np.ndarray:
    """The border ring without the stretches an object covers (a product touching the border): the ring is cut
    into pieces, and a piece whose colour histogram differs from most other pieces' is left out."""
    height, width = lab.shape[:2]
    ring = border_ring(height, width, ring_px)
    ys, xs = np.nonzero(ring)
    # position along the perimeter, clockwise from the top-left corner
    along = np.select([ys < ring_px, xs >= width - ring_px, ys >= height - ring_px],
                      [xs, width + ys, 2 * width + height - xs], 2 * (width + height) - ys)
    piece = np.minimum((along * segments) // (2 * (width + height)), segments - 1)
    coarse = np.clip((lab[ys, xs] - (0, -64, -64)) / (100, 128, 128) * 8, 0, 7).astype(np.int32)
    bins = (coarse[:, 0] * 8 + coarse[:, 1]) * 8 + coarse[:, 2]
    hists = np.zeros((segments, 512), np.float32)
    np.add.at(hists, (piece, bins), 1.0)
    hists /= np.maximum(hists.sum(axis=1, keepdims=True), 1.0)
    overlap = np.minimum(hists[:, None, :], hists[None, :, :]).sum(axis=2)  # histogram intersection
    typical = np.median(overlap, axis=1)
    cutoff = min(0.5 * np.median(typical), np.median(typical) - 3 * np.median(np.abs(typical - np.median(typical))))
    trusted = np.zeros_like(ring)
    trusted[ys, xs] = (typical >= cutoff)[piece]
    return trusted
