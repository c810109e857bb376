"""Fitting a driving clip's figure onto the product: the clip frame whose silhouette best matches the product's
matte (over mirrors and scales) becomes the reference pose, with the map from clip pixels to crop pixels; a
statue's plinth-like base is found here too, and which clip frame drives each output frame."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.motion.driving import DrivingAnalysis


@dataclass(frozen=True)
class Alignment:
    matrix: np.ndarray  # 3x3: driving analysis pixels -> product crop pixels
    mirrored: bool
    iou: float


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


@dataclass(frozen=True)
class Fit:
    """How the clip's figure may be fitted onto the product. `anisotropies`: 0 keeps one scale for both axes
    (rotations stay rotations), 1 fits the box exactly; `stretch_penalty`: overlap score given up per unit of
    log aspect change, since a stretch turns the clip's rotations into shears."""
    anisotropies: tuple[float, ...]
    stretch_penalty: float


# "shape": an articulated figure (animal, doll) keeps its proportions; "box": a generic motion's stand-in
# object (sway, bounce) is fitted to whatever box the product has
FITS = {"shape": Fit((0.25, 1.0), 0.3), "box": Fit((1.0,), 0.0)}
ALIGN_SIDE = 128  # silhouettes are matched at this size; the search is cheap there
SCALE_STEPS = tuple(np.round(np.arange(0.55, 1.051, 0.05), 2))  # relative to fitting the clip's box onto the product's box


def _scaled_mask(mask: np.ndarray, scale_x: float, scale_y: float, mirrored: bool) -> np.ndarray:
    """The clip's silhouette cropped to its box and resized (and mirrored)."""
    x0, y0, x1, y1 = (int(v) for v in _box(mask))
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    size = (max(1, round((x1 - x0) * scale_x)), max(1, round((y1 - y0) * scale_y)))
    resized = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return resized[:, ::-1] if mirrored else resized


FIT_BETA = 0.5  # F-beta of the overlap: below 1 it weighs "the clip's figure lies on the product" above
# "the product is covered", so a statue's plinth or a held accessory does not stretch the figure to cover it


def _best_placement(product: np.ndarray, template: np.ndarray) -> tuple[float, int, int]:
    """Overlap score (F-beta of precision and recall) and top-left offset of the placement of `template` over
    `product` that fits it best."""
    th, tw = template.shape
    padded = cv2.copyMakeBorder(product, th, th, tw, tw, cv2.BORDER_CONSTANT, value=0)
    intersection = cv2.matchTemplate(padded, template, cv2.TM_CCORR)
    precision = intersection / max(float(template.sum()), 1e-6)
    recall = intersection / max(float(product.sum()), 1e-6)
    beta_sq = FIT_BETA * FIT_BETA
    score = (1 + beta_sq) * precision * recall / np.maximum(beta_sq * precision + recall, 1e-6)
    y, x = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(score[y, x]), int(x - tw), int(y - th)


REFINE_SIDE = 256  # the best coarse placement is refined at this size
REFINE_STEPS = (-0.03, -0.015, 0.0, 0.015, 0.03)  # relative scale changes tried per axis when refining


@dataclass(frozen=True)
class Candidate:
    score: float
    mirrored: bool
    scale_x: float  # crop pixels per driving pixel
    scale_y: float
    matrix: np.ndarray


def _search(product_mask: np.ndarray, driving_mask0: np.ndarray, side: int, mirrors: list[bool],
            scales: list[tuple[float, float]], stretch_penalty: float) -> Candidate:
    """Best IoU placement of the clip's silhouette over the product's, over mirrors and (x, y) scales, matched
    at `side` pixels; the result's matrix maps driving pixels to full crop pixels."""
    factor = side / max(product_mask.shape)
    product_small = cv2.resize(product_mask, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    sx0, sy0, sx1, _ = _box(driving_mask0)
    best: Candidate | None = None
    for mirrored, (scale_x, scale_y) in itertools.product(mirrors, scales):
        template = _scaled_mask(driving_mask0, scale_x * factor, scale_y * factor, mirrored)
        overlap, left, top = _best_placement(product_small, template)
        # prefer the clip's own handedness on a near tie (symmetric products should not be mirrored), and
        # shapes that are not stretched
        score = overlap + (0.01 if not mirrored else 0.0) - stretch_penalty * abs(np.log(scale_x / scale_y))
        if best is None or score > best.score:
            flip = -1.0 if mirrored else 1.0
            place_x = left / factor + (scale_x * (sx1 - sx0) if mirrored else 0.0)
            matrix = np.array([[flip * scale_x, 0.0, place_x - flip * scale_x * sx0],
                               [0.0, scale_y, top / factor - scale_y * sy0], [0.0, 0.0, 1.0]])
            best = Candidate(score, mirrored, scale_x, scale_y, matrix)
    return best


def coarse_alignment(driving_mask: np.ndarray, product_mask: np.ndarray, mirrors: list[bool],
                      fit: Fit) -> Candidate:
    sx0, sy0, sx1, sy1 = _box(driving_mask)
    dx0, dy0, dx1, dy1 = _box(product_mask > 0.5)
    ratio_x, ratio_y = (dx1 - dx0) / (sx1 - sx0), (dy1 - dy0) / (sy1 - sy0)
    mean = np.sqrt(ratio_x * ratio_y)
    shapes = [(mean * (ratio_x / mean) ** a, mean * (ratio_y / mean) ** a) for a in fit.anisotropies]
    return _search(product_mask, driving_mask, ALIGN_SIDE, mirrors,
                   [(bx * step, by * step) for (bx, by), step in itertools.product(shapes, SCALE_STEPS)],
                   fit.stretch_penalty)


def refined_alignment(driving_mask: np.ndarray, product_mask: np.ndarray, coarse: Candidate,
                       fit: Fit) -> Alignment:
    fine = _search(product_mask, driving_mask, REFINE_SIDE, [coarse.mirrored],
                   [(coarse.scale_x * (1 + ex), coarse.scale_y * (1 + ey))
                    for ex, ey in itertools.product(REFINE_STEPS, REFINE_STEPS)], fit.stretch_penalty)
    height, width = product_mask.shape
    warped = cv2.warpAffine(driving_mask.astype(np.uint8), fine.matrix[:2], (width, height),
                            flags=cv2.INTER_NEAREST).astype(bool)
    overlap = float((warped & (product_mask > 0)).sum() / max(1, (warped | (product_mask > 0)).sum()))
    return Alignment(fine.matrix, fine.mirrored, overlap)


def mirror_options(driving_facing: str, product_facing: str) -> list[bool]:
    if product_facing in ("left", "right") and driving_facing in ("left", "right"):
        return [product_facing != driving_facing]
    return [False, True]


BASE_MIN_DEPTH = 0.03  # of the crop side: how far the product must reach below the clip's figure to have a base
BASE_MARGIN = 0.01  # of the crop side: rows this far below the figure's lowest point belong to the base
BASE_STEP = 2.5  # a plinth is at least this many times wider than what stands on it
BASE_MIN_WIDTH = 0.6  # ... and at least this share of the product's widest row (a toy's two feet are narrower)
BASE_MAX_HEIGHT = 0.25  # ... and at most this share of the product's height


def base_rows(support: np.ndarray) -> int | None:
    """First row of a plinth-like base: a band at the bottom of the product that is wide, short, and clearly
    wider than what stands on it (a statue's legs on its plinth). None when there is no such band."""
    widths = support.sum(axis=1).astype(np.float64)
    rows = np.nonzero(widths)[0]
    if len(rows) < 10:
        return None
    top, bottom = rows[0], rows[-1]
    band_width = widths[bottom - max(1, (bottom - top) // 20): bottom + 1].max()
    if band_width < BASE_MIN_WIDTH * widths.max():
        return None
    # a few narrower rows may hang below the plinth (the darkest middle of its contact shadow): start above them
    row = int(rows[widths[rows] >= 0.6 * band_width][-1])
    while row > top and widths[row - 1] >= 0.6 * band_width:
        row -= 1
    above = widths[max(top, row - max(2, (bottom - top) // 20)): row]
    if bottom - row > BASE_MAX_HEIGHT * (bottom - top) or not len(above) or above.mean() * BASE_STEP > band_width:
        return None
    return int(row)



def labels_at(driving: DrivingAnalysis, reference: int) -> np.ndarray:
    """The regions as they lie in frame `reference`: first-frame pixels carried by their region's map, and
    foreground pixels nothing landed on given the nearest region."""
    from scipy.ndimage import distance_transform_edt

    if reference == 0:
        return driving.labels0
    height, width = driving.labels0.shape
    ys, xs = np.nonzero(driving.labels0 >= 0)
    labels = driving.labels0[ys, xs]
    maps = driving.affines[reference][labels]
    to_x = np.round(maps[:, 0, 0] * xs + maps[:, 0, 1] * ys + maps[:, 0, 2]).astype(int)
    to_y = np.round(maps[:, 1, 0] * xs + maps[:, 1, 1] * ys + maps[:, 1, 2]).astype(int)
    inside = (to_x >= 0) & (to_x < width) & (to_y >= 0) & (to_y < height)
    landed = np.full((height, width), -1, np.int32)
    landed[to_y[inside], to_x[inside]] = labels[inside]
    _, (near_y, near_x) = distance_transform_edt(landed < 0, return_indices=True)
    return np.where(driving.masks[reference], landed[near_y, near_x], -1).astype(np.int16)


REFERENCE_STEP = 4  # clip frames tried as the reference pose
FIRST_FRAME_BONUS = 0.03  # overlap score a later frame must gain over the clip's own first frame to replace it


def choose_reference(driving: DrivingAnalysis, product_alpha: np.ndarray, product_facing: str,
                     fit: str = "shape") -> tuple[int, Alignment]:
    """The clip frame whose silhouette best matches the product's (FOMM's best-frame idea, measured by the
    aligned silhouettes' overlap), so the motion starts from the pose the product is in. Frames are compared
    with the coarse search; only the winner is refined."""
    product_mask = (product_alpha > 0.5).astype(np.float32)
    mirrors = mirror_options(driving.facing, product_facing)
    best: tuple[float, int, Candidate] | None = None
    for frame in range(0, driving.n_frames, REFERENCE_STEP):
        candidate = coarse_alignment(driving.masks[frame], product_mask, mirrors, FITS[fit])
        score = candidate.score + (FIRST_FRAME_BONUS if frame == 0 else 0.0)
        if best is None or score > best[0]:
            best = (score, frame, candidate)
    _, frame, coarse = best
    return frame, refined_alignment(driving.masks[frame], product_mask, coarse, FITS[fit])


def driving_index(frame: int, n_frames: int, n_driving: int) -> int:
    """Which clip frame drives output frame `frame` of `n_frames`: fewer frames than the clip sample its whole
    cycle evenly (so the output still loops); more frames loop the clip (the shipped clips are seamless loops)."""
    if n_frames <= n_driving:
        return frame * n_driving // n_frames
    return frame % n_driving
