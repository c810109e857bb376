"""Product matting: the one object to animate as an alpha matte, with its soft shadow kept apart.
A router picks the backdrop model (a colour surface + watershed on plain backdrops, GrabCut on textured ones,
pipeline/segmentation.py), or takes a saliency map from a model (rembg) instead; the object is then chosen among
the blobs (pipeline/object_pick.py) and its edges refined by closed-form matting. Works on arrays; no file access."""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.backdrop import (backdrop_distance, border_ring, fit_color_surface, local_detail, shadow_like, to_lab,
                               trusted_border)
from pipeline.object_pick import Detection, pick_object
from pipeline.segmentation import (WORKING_SIDE, Segmentation, fill_enclosed, recut_textured, segment_plain,
                                   segment_textured, whitened_colours)

__all__ = ["MatteResult", "backdrop_distance", "estimate_foreground_colors", "estimate_matte", "fit_color_surface",
           "refine_alpha"]

PROCESS_SIDE = WORKING_SIDE  # segmentation runs at this long side (its thresholds are tuned to it)
REFINE_SIDE = 1600  # the outline is refined again at up to this long side (the full photo when smaller)
PLAIN_RING_TEXTURE = 6.0  # Lab residual spread in the border ring below which the backdrop counts as plain
PLAIN_RING_DETAIL = 0.6  # ... and fine-texture energy (brick, wood grain), L units; JPEG'd studio shots give ~0.2
OPAQUE_ALPHA = 250  # an alpha channel whose every value is at least this carries no cut-out


@dataclass
class MatteResult:
    alpha: np.ndarray  # HxW float32 in [0,1] at the input's size
    shadow: np.ndarray  # HxW bool: soft shadow cast by the product (not part of it; inpainted away)
    method: str  # "alpha-channel" | "plain-backdrop" | "grabcut" | "saliency-model"
    backdrop: str  # "plain" | "textured" | "given"
    notes: list[str] = field(default_factory=list)
    picked: str = "given"  # how the object was chosen: "detector" | "largest-near-centre" | "none" | "given"


def refine_alpha(rgb_u8: np.ndarray, mask: np.ndarray, band_px: int, sure_backdrop: np.ndarray | None = None
                 ) -> np.ndarray:
    """Closed-form matting on a trimap made by eroding/dilating the binary mask by `band_px`; pixels in
    `sure_backdrop` stay background (a narrow gap between a tail and a leg must not close)."""
    from pymatting import estimate_alpha_cf

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
    sure_fg = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
    maybe = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    if sure_backdrop is not None:
        maybe &= ~(sure_backdrop & ~mask)
    if sure_fg.sum() < 16:
        return mask.astype(np.float32)
    trimap = np.where(sure_fg, 1.0, np.where(maybe, 0.5, 0.0))
    # pymatting prints a "performance warning" when its incomplete Cholesky needs a diagonal shift (large flat
    # areas); the solve still converges, so keep batch logs clean
    with contextlib.redirect_stdout(io.StringIO()):
        alpha = estimate_alpha_cf(rgb_u8.astype(np.float64) / 255.0, trimap)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def _refine_large(rgb_u8: np.ndarray, alpha_small: np.ndarray, sure_backdrop_small: np.ndarray,
                  band_full: float, cut_labels: np.ndarray | None = None) -> np.ndarray:
    """The matte found at PROCESS_SIDE, refined again by closed-form matting at up to REFINE_SIDE (a band around
    its outline, on a crop around the object): the outline lands on the photo's own edges, not on an upsampled
    approximation of them. With `cut_labels` (textured backdrops) the binary outline is first cut again at that
    size (segmentation.recut_textured). Returns alpha at the photo's size."""
    height, width = rgb_u8.shape[:2]
    fine = min(1.0, REFINE_SIDE / max(height, width))
    size = (round(width * fine), round(height * fine))
    image = cv2.resize(rgb_u8, size, interpolation=cv2.INTER_AREA) if fine < 1 else rgb_u8
    coarse = cv2.resize(alpha_small, size, interpolation=cv2.INTER_LINEAR)
    mask = coarse > 0.5
    sure_backdrop = cv2.resize(sure_backdrop_small.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    band = max(2, round(band_full * fine))
    ys, xs = np.nonzero(coarse > 0.02)
    if not len(ys):
        return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR) if fine < 1 else coarse
    margin = 2 * band + 4
    y0, y1 = max(0, ys.min() - margin), min(size[1], ys.max() + margin + 1)
    x0, x1 = max(0, xs.min() - margin), min(size[0], xs.max() + margin + 1)
    if cut_labels is not None:
        mask, sure_backdrop = _recut(image, cut_labels, mask, sure_backdrop)
    refined = coarse.copy()
    crop = refine_alpha(image[y0:y1, x0:x1], mask[y0:y1, x0:x1], band, sure_backdrop[y0:y1, x0:x1])
    near = cv2.dilate(mask[y0:y1, x0:x1].astype(np.uint8), np.ones((2 * band + 3,) * 2, np.uint8)).astype(bool)
    refined[y0:y1, x0:x1] = np.where(near, crop, 0.0)
    if fine < 1:
        refined = cv2.resize(refined, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(refined, 0.0, 1.0).astype(np.float32)


def _recut(image: np.ndarray, cut_labels: np.ndarray, mask: np.ndarray, sure_backdrop: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """segmentation.recut_textured on a crop around the object (GrabCut's cost grows with the pixels it sees);
    the whitening is the whole photo's border's, as at the working size."""
    height, width = mask.shape
    px = max(height, width) / PROCESS_SIDE
    lab = to_lab(image)
    white = whitened_colours(lab, trusted_border(lab, max(4, round(0.02 * max(height, width)))))
    labels = cv2.resize(cut_labels, (width, height), interpolation=cv2.INTER_NEAREST)
    ys, xs = np.nonzero(labels != cv2.GC_BGD)
    margin = round(40 * px)
    y0, y1 = max(0, ys.min() - margin), min(height, ys.max() + margin + 1)
    x0, x1 = max(0, xs.min() - margin), min(width, xs.max() + margin + 1)
    crop = np.s_[y0:y1, x0:x1]
    found, sure = recut_textured(lab[crop], np.ascontiguousarray(white[crop]), np.ascontiguousarray(labels[crop]),
                                 mask[crop], sure_backdrop[crop], px)
    mask, sure_backdrop = np.zeros_like(mask), sure_backdrop.copy()
    mask[crop], sure_backdrop[crop] = found, sure
    return mask, sure_backdrop


def _shrink(image: np.ndarray, scale: float, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    height, width = image.shape[:2]
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=interpolation)


def _saliency_segmentation(saliency: np.ndarray, lab: np.ndarray, surface: np.ndarray, distance: np.ndarray,
                           spread: float, detail: np.ndarray, noise_detail: float, plain: bool) -> Segmentation:
    """A model's saliency map as the segmentation; on plain backdrops the soft shadow still comes from the
    backdrop model."""
    mask = saliency > 0.5
    if not plain:
        return Segmentation(mask, np.zeros_like(mask), saliency < 0.1, saliency < 0.02)
    shadowish = shadow_like(lab, surface, detail, noise_detail)
    return Segmentation(mask, shadowish & ~mask & (distance > 2.0 * spread + 0.5), distance < 3.0 * spread + 1.5,
                        saliency < 0.02)


def estimate_matte(rgb_u8: np.ndarray, alpha_u8: np.ndarray | None = None, refine: bool = True,
                   force: str | None = None, saliency: np.ndarray | None = None,
                   target: Detection | None = None) -> MatteResult:
    """Matte of the one object to animate. An input alpha channel with transparency is used as it is. `force`
    ("plain" or "grabcut") overrides the router's choice of backdrop model; `saliency` (HxW in [0,1], from a
    matting model) replaces the classical segmentation; `target` (the detector's box for the product's category)
    decides which blob is the object."""
    height, width = rgb_u8.shape[:2]
    if alpha_u8 is not None and alpha_u8.min() < OPAQUE_ALPHA:
        alpha = alpha_u8.astype(np.float32) / 255.0
        return MatteResult(alpha, np.zeros((height, width), bool), "alpha-channel", "given",
                           ["used the image's own alpha channel"])
    scale = min(1.0, PROCESS_SIDE / max(height, width))
    small = _shrink(rgb_u8, scale) if scale < 1 else rgb_u8
    ring_px = max(4, round(0.02 * max(small.shape[:2])))
    ring = border_ring(*small.shape[:2], ring_px)
    lab = to_lab(small)
    distance, surface, spread = backdrop_distance(small, ring_px)
    detail = local_detail(lab)
    ring_detail = float(np.median(detail[ring]))
    if force is None:
        plain = spread < PLAIN_RING_TEXTURE and ring_detail < PLAIN_RING_DETAIL
    else:
        plain = force == "plain"
    notes = [f"backdrop ring spread {spread:.1f}, fine texture {ring_detail:.2f} (plain below "
             f"{PLAIN_RING_TEXTURE} and {PLAIN_RING_DETAIL})"]
    if saliency is not None:
        small_saliency = _shrink(saliency.astype(np.float32), scale) if scale < 1 else saliency
        segmentation = _saliency_segmentation(small_saliency, lab, surface, distance, spread, detail, ring_detail,
                                              plain)
        method = "saliency-model"
    elif plain:
        segmentation, method = segment_plain(small, lab, distance, surface, spread, ring, detail), "plain-backdrop"
    else:
        segmentation, method = segment_textured(small, lab, trusted_border(lab, ring_px)), "grabcut"
    small_target = None if target is None else Detection(
        tuple(round(v * scale) for v in target.box), target.class_name, target.score)
    pick = pick_object(segmentation.mask, small_target)
    notes.append(pick.note)
    foreground = fill_enclosed(pick.mask, segmentation.backdrop_like)
    band = max(2, round(0.005 * max(small.shape[:2])))
    alpha_small = refine_alpha(small, foreground, band, segmentation.sure_backdrop) if refine and foreground.any() \
        else foreground.astype(np.float32)
    # keep the refined alpha to the object's neighbourhood: matting can leak onto other blobs
    near = cv2.dilate(foreground.astype(np.uint8), np.ones((2 * band + 3,) * 2, np.uint8)).astype(bool)
    alpha_small = np.where(near, alpha_small, 0.0).astype(np.float32)
    shadow = segmentation.shadow & ~near
    if scale < 1:
        alpha = _refine_large(rgb_u8, alpha_small, segmentation.sure_backdrop, band / scale,
                              segmentation.cut_labels) if refine and foreground.any() \
            else cv2.resize(alpha_small, (width, height), interpolation=cv2.INTER_LINEAR)
        shadow = cv2.resize(shadow.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    else:
        alpha = alpha_small
    return MatteResult(np.clip(alpha, 0, 1), shadow, method, "plain" if plain else "textured", notes, pick.how)


def estimate_foreground_colors(rgb_u8: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colours of the object alone along soft edges (no backdrop bleeding in), as float32 RGB in [0,1]."""
    from pymatting import estimate_foreground_ml

    foreground = estimate_foreground_ml(rgb_u8.astype(np.float64) / 255.0, alpha.astype(np.float64))
    return np.clip(foreground, 0.0, 1.0).astype(np.float32)
