"""Binary object masks from a backdrop model, one function per kind of backdrop. Pure array functions.

Plain backdrops: seeds where the photo clearly departs from the backdrop (strong colour distance or fine texture,
never shadow-like), then a watershed flooded from the seeds and from the backdrop: it stops at the sharpest edge
between them, which is the object's outline and not the soft edge of its shadow, and it holds for a white product
on a white sweep, whose interior barely differs from the backdrop.
Textured backdrops: seeds where colours are unlikely under the border's colour distribution, then GrabCut."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.backdrop import shadow_like

HIST_BINS = 16  # per Lab channel, for the border's colour distribution on textured backdrops


@dataclass(frozen=True)
class Segmentation:
    mask: np.ndarray  # HxW bool: the object (every blob found; picking the one to animate comes later)
    shadow: np.ndarray  # HxW bool: soft shadow on the backdrop, not part of the object
    backdrop_like: np.ndarray  # HxW bool: pixels that look like the backdrop (enclosed ones stay holes)
    sure_backdrop: np.ndarray  # HxW bool: pixels no refinement may give to the object


def _open(mask: np.ndarray, size: int = 3) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def segment_plain(rgb_u8: np.ndarray, lab: np.ndarray, distance: np.ndarray, surface: np.ndarray,
                  spread: float, ring: np.ndarray, detail: np.ndarray) -> Segmentation:
    """The object and its shadow on a plain backdrop (`detail`: backdrop.local_detail of `lab`)."""
    noise_detail = float(np.median(detail[ring]))
    shadowish = shadow_like(lab, surface, detail, noise_detail)
    strong = distance > max(8.0, 5.0 * spread)
    textured = (detail > 3.0 * noise_detail + 0.6) & (distance > 3.0 * spread + 1.0)
    # the detail measure spreads a few pixels past an edge; pull its seeds back inside
    textured = cv2.erode(textured.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    seeds = _open((strong | textured) & ~shadowish)
    calm_distance = cv2.GaussianBlur(distance, (0, 0), 1.2)  # sensor and JPEG noise would leave gaps in the marker
    backdrop = (ring & (distance < 3.0 * spread + 1.0)) | _open(
        (calm_distance < 2.5 * spread + 1.0) & (detail < 2.0 * noise_detail + 0.3))
    # the shadow's body is backdrop too: without this marker the object's flood can leak into it at the feet
    backdrop |= _open(shadowish, 5) & ~_dilate(seeds, 1)
    backdrop &= ~_dilate(seeds, 2)
    markers = np.zeros(distance.shape, np.int32)
    markers[backdrop] = 1
    sure_backdrop = backdrop.copy()
    markers[seeds] = 2
    backdrop_like = distance < 3.0 * spread + 1.5
    if not seeds.any():
        return Segmentation(seeds, np.zeros_like(seeds), backdrop_like, backdrop)
    smoothed = cv2.GaussianBlur(rgb_u8, (0, 0), 0.8)
    cv2.watershed(np.ascontiguousarray(smoothed[..., ::-1]), markers)
    obj = markers == 2
    shadow = _open(shadowish & ~obj & (distance > 2.0 * spread + 0.5), 5)
    return Segmentation(obj, shadow, backdrop_like, sure_backdrop)


def _colour_bins(lab: np.ndarray) -> np.ndarray:
    lo, hi = np.array([0, -64, -64], np.float32), np.array([100, 64, 64], np.float32)
    scaled = np.clip((lab - lo) / (hi - lo) * HIST_BINS, 0, HIST_BINS - 1).astype(np.int32)
    return (scaled[..., 0] * HIST_BINS + scaled[..., 1]) * HIST_BINS + scaled[..., 2]


def unlikely_under_border(lab: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """How unlikely each pixel's neighbourhood is under the border's colour distribution (0 = typical of it)."""
    bins = _colour_bins(lab)
    hist = np.bincount(bins[ring], minlength=HIST_BINS ** 3).astype(np.float32).reshape((HIST_BINS,) * 3)
    hist = cv2.GaussianBlur(hist.reshape(HIST_BINS, -1), (3, 3), 0.7).reshape((HIST_BINS,) * 3)  # share mass
    probability = hist.ravel() / hist.sum()
    surprise = -np.log(probability[bins] + 1e-6)
    surprise -= np.median(surprise[ring])
    return cv2.blur(np.maximum(surprise, 0), (9, 9))


def segment_textured(rgb_u8: np.ndarray, lab: np.ndarray, ring: np.ndarray) -> Segmentation:
    """The object on a textured backdrop: GrabCut seeded by colours the border does not have (`ring`: the border
    pixels known to show the backdrop)."""
    surprise = unlikely_under_border(lab, ring)
    ring_level = float(np.quantile(surprise[ring], 0.95))
    seeds = _open(surprise > max(2.0, 2.0 * ring_level), 5)
    no_shadow = np.zeros_like(seeds)
    if not seeds.any():
        return Segmentation(seeds, no_shadow, ~seeds, no_shadow)
    ys, xs = np.nonzero(_largest_with_neighbours(seeds))
    height, width = seeds.shape
    pad = round(0.06 * max(np.ptp(ys), np.ptp(xs)))
    box = np.zeros_like(seeds)
    box[max(0, ys.min() - pad): ys.max() + pad + 1, max(0, xs.min() - pad): xs.max() + pad + 1] = True
    labels = np.where(box, cv2.GC_PR_BGD, cv2.GC_BGD).astype(np.uint8)
    labels[box & (surprise > ring_level)] = cv2.GC_PR_FGD
    sure_fg = cv2.erode(seeds.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    labels[sure_fg] = cv2.GC_FGD
    labels[ring & (surprise <= ring_level) & ~box] = cv2.GC_BGD
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(rgb_u8[..., ::-1]), labels, None, np.zeros((1, 65)), np.zeros((1, 65)), 5,
                cv2.GC_INIT_WITH_MASK)
    return Segmentation(np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)), no_shadow, surprise <= ring_level, no_shadow)


def _largest_with_neighbours(mask: np.ndarray) -> np.ndarray:
    """The largest blob plus the blobs close to it (parts of one object split by a thin gap)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    main = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    near = _dilate(labels == main, max(3, round(0.03 * max(mask.shape))))
    keep = np.unique(labels[near & mask])
    return np.isin(labels, keep[keep > 0])


def fill_enclosed(mask: np.ndarray, keep_open: np.ndarray) -> np.ndarray:
    """Fill holes enclosed by the object unless they look like the backdrop (`keep_open`: a mug handle's opening
    shows the backdrop; a white product's pale interior does not quite)."""
    inverse = (~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inverse, connectivity=4)
    height, width = mask.shape
    filled = mask.copy()
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        if x == 0 or y == 0 or x + w == width or y + h == height:
            continue
        hole = labels == index
        if keep_open[hole].mean() < 0.5:
            filled[hole] = True
    return filled
