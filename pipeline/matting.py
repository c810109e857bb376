"""Classical product matting: a router between a border-colour background model (plain studio backdrops)
and mask-initialised GrabCut (textured backdrops), refined by closed-form matting on an automatic trimap.
Works on RGB uint8 arrays; no file access."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

PROCESS_SIDE = 640  # matting runs at this long side; the matte is resized back
PLAIN_RING_TEXTURE = 6.0  # Lab residual std in the border ring below which the backdrop counts as plain


@dataclass
class MatteResult:
    alpha: np.ndarray  # HxW float32 in [0,1] at the input's size
    shadow: np.ndarray  # HxW bool: soft shadow cast by the product (not part of it; inpainted away)
    method: str  # "alpha-channel" | "plain-backdrop" | "grabcut"
    backdrop: str  # "plain" | "textured" | "given"
    notes: list[str] = field(default_factory=list)


def _border_ring(height: int, width: int, thickness: int) -> np.ndarray:
    ring = np.zeros((height, width), bool)
    ring[:thickness], ring[-thickness:], ring[:, :thickness], ring[:, -thickness:] = True, True, True, True
    return ring


def _poly_design(xs: np.ndarray, ys: np.ndarray, degree: int) -> np.ndarray:
    terms = [xs ** i * ys ** j for i in range(degree + 1) for j in range(degree + 1 - i)]
    return np.stack(terms, axis=-1)


def fit_color_surface(image: np.ndarray, sample_mask: np.ndarray, degree: int = 2) -> np.ndarray:
    """Least-squares low-order polynomial colour surface through the pixels in `sample_mask`, evaluated everywhere.
    Plain studio backdrops (flat, vignetted or swept gradients) are well described by it."""
    height, width = sample_mask.shape
    ys, xs = np.nonzero(sample_mask)
    scale = float(max(height, width))
    design = _poly_design(xs / scale, ys / scale, degree)
    values = image[ys, xs].reshape(len(ys), -1).astype(np.float64)
    weights = np.ones(len(ys))
    for _ in range(3):  # reweighting drops outliers such as a product touching the border
        coef, *_ = np.linalg.lstsq(design * weights[:, None], values * weights[:, None], rcond=None)
        residual = np.linalg.norm(values - design @ coef, axis=1)
        cutoff = 3.0 * np.median(residual) + 1e-3
        weights = (residual < cutoff).astype(np.float64) + 1e-3
    grid_y, grid_x = np.mgrid[0:height, 0:width]
    full = _poly_design(grid_x.ravel() / scale, grid_y.ravel() / scale, degree) @ coef
    return full.reshape(height, width, -1).astype(np.float32)


def _lab(rgb_u8: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2LAB).astype(np.float32) * np.array([100 / 255, 1, 1], np.float32) \
        - np.array([0, 128, 128], np.float32)


def backdrop_distance(rgb_u8: np.ndarray, ring_px: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-pixel Lab distance to a colour surface fitted on the border ring, the fitted surface, and the ring's
    residual spread (a texture measure: low on plain backdrops)."""
    lab = _lab(rgb_u8)
    ring = _border_ring(*rgb_u8.shape[:2], ring_px)
    surface = fit_color_surface(lab, ring)
    distance = np.linalg.norm(lab - surface, axis=2)
    ring_residual = distance[ring]
    spread = float(np.median(ring_residual) * 1.4826 + 1e-3)
    return distance, surface, spread


def shadow_mask(rgb_u8: np.ndarray, surface_lab: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Soft shadows darken the backdrop without changing its hue much: lower L, similar a/b, smooth."""
    lab = _lab(rgb_u8)
    darker = surface_lab[..., 0] - lab[..., 0]
    chroma_shift = np.linalg.norm(lab[..., 1:] - surface_lab[..., 1:], axis=2)
    gradient = cv2.Laplacian(cv2.GaussianBlur(lab[..., 0], (0, 0), 1.0), cv2.CV_32F)
    smooth = np.abs(gradient) < 1.5
    ratio = lab[..., 0] / np.maximum(surface_lab[..., 0], 1.0)
    return candidate & (darker > 2.0) & (ratio > 0.45) & (chroma_shift < 6.0 + 0.25 * darker) & smooth


def _components_near_centre(mask: np.ndarray) -> tuple[np.ndarray, str]:
    """Keep the largest salient blob near the centre, plus blobs that belong to it (inside its padded box)."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask, "no foreground found"
    height, width = mask.shape
    diag = np.hypot(height, width)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    offsets = np.hypot(centroids[1:, 0] - width / 2, centroids[1:, 1] - height / 2) / diag
    scores = areas * np.exp(-(offsets / 0.35) ** 2)
    main = int(np.argmax(scores)) + 1
    x, y, w, h = stats[main, :4]
    pad = int(0.05 * max(w, h))
    keep = np.zeros(count, bool)
    keep[main] = True
    for index in range(1, count):
        cx, cy = centroids[index]
        inside = x - pad <= cx <= x + w + pad and y - pad <= cy <= y + h + pad
        if inside and stats[index, cv2.CC_STAT_AREA] >= 0.002 * areas.max():
            keep[index] = True
    others = int(count - 1 - keep[1:].sum())
    note = f"picked the largest blob near the centre ({int(areas[main - 1])} px)" + (
        f"; ignored {others} other blob(s)" if others else "")
    return keep[labels], note


def _fill_small_holes(mask: np.ndarray, max_fraction: float = 0.01) -> np.ndarray:
    """Fill enclosed holes smaller than a fraction of the object; keep big ones (a mug handle's opening)."""
    inverse = (~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inverse, connectivity=4)
    height, width = mask.shape
    filled = mask.copy()
    limit = max_fraction * mask.sum()
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        touches_border = x == 0 or y == 0 or x + w == width or y + h == height
        if not touches_border and area <= limit:
            filled[labels == index] = True
    return filled


def _grabcut(rgb_u8: np.ndarray, initial: np.ndarray, ring_px: int) -> np.ndarray:
    gc_mask = np.where(initial, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    sure_fg = cv2.erode(initial.astype(np.uint8), np.ones((9, 9), np.uint8), iterations=2).astype(bool)
    gc_mask[sure_fg] = cv2.GC_FGD
    gc_mask[_border_ring(*initial.shape, ring_px)] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR), gc_mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    return np.isin(gc_mask, (cv2.GC_FGD, cv2.GC_PR_FGD))


def refine_alpha(rgb_u8: np.ndarray, mask: np.ndarray, band_px: int) -> np.ndarray:
    """Closed-form matting on a trimap made by eroding/dilating the binary mask by `band_px`."""
    from pymatting import estimate_alpha_cf

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
    sure_fg = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
    maybe = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    if sure_fg.sum() < 16:
        return mask.astype(np.float32)
    trimap = np.where(sure_fg, 1.0, np.where(maybe, 0.5, 0.0))
    alpha = estimate_alpha_cf(rgb_u8.astype(np.float64) / 255.0, trimap)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def estimate_matte(rgb_u8: np.ndarray, alpha_u8: np.ndarray | None = None, refine: bool = True,
                   force: str | None = None) -> MatteResult:
    """Matte of the one object to animate. An input alpha channel is used as it is. `force` ("plain" or
    "grabcut") overrides the router's choice of backdrop model."""
    height, width = rgb_u8.shape[:2]
    if alpha_u8 is not None:
        alpha = alpha_u8.astype(np.float32) / 255.0
        return MatteResult(alpha, np.zeros((height, width), bool), "alpha-channel", "given",
                           ["used the image's own alpha channel"])
    scale = min(1.0, PROCESS_SIDE / max(height, width))
    small = cv2.resize(rgb_u8, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA) \
        if scale < 1 else rgb_u8
    ring_px = max(4, round(0.02 * max(small.shape[:2])))
    distance, surface, spread = backdrop_distance(small, ring_px)
    plain = spread < PLAIN_RING_TEXTURE if force is None else force == "plain"
    threshold = max(10.0, 5.0 * spread)
    candidate = distance > threshold
    shadow = shadow_mask(small, surface, distance > 2.0) if plain else np.zeros_like(candidate)
    foreground = candidate & ~shadow
    open_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    foreground = cv2.morphologyEx(foreground.astype(np.uint8), cv2.MORPH_OPEN, open_kernel).astype(bool)
    method = "plain-backdrop"
    notes = [f"backdrop ring texture {spread:.1f} (plain below {PLAIN_RING_TEXTURE})"]
    if not plain:
        method = "grabcut"
        foreground = _grabcut(small, foreground if foreground.any() else _central_box(small.shape[:2]), ring_px)
    foreground, pick_note = _components_near_centre(foreground)
    notes.append(pick_note)
    foreground = _fill_small_holes(foreground)
    band = max(2, round(0.008 * max(small.shape[:2])))
    alpha_small = refine_alpha(small, foreground, band) if refine and foreground.any() else foreground.astype(np.float32)
    # keep the refined alpha to the object's neighbourhood: matting can leak onto other blobs
    near = cv2.dilate(foreground.astype(np.uint8), np.ones((2 * band + 3,) * 2, np.uint8)).astype(bool)
    alpha_small = np.where(near, alpha_small, 0.0).astype(np.float32)
    shadow = shadow & ~near
    if scale < 1:
        alpha = cv2.resize(alpha_small, (width, height), interpolation=cv2.INTER_LINEAR)
        shadow = cv2.resize(shadow.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    else:
        alpha = alpha_small
    return MatteResult(np.clip(alpha, 0, 1), shadow, method, "plain" if plain else "textured", notes)


def _central_box(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    box = np.zeros(shape, bool)
    box[height // 6: height - height // 6, width // 6: width - width // 6] = True
    return box


def estimate_foreground_colors(rgb_u8: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colours of the object alone along soft edges (no backdrop bleeding in), as float32 RGB in [0,1]."""
    from pymatting import estimate_foreground_ml

    foreground = estimate_foreground_ml(rgb_u8.astype(np.float64) / 255.0, alpha.astype(np.float64))
    return np.clip(foreground, 0.0, 1.0).astype(np.float32)
