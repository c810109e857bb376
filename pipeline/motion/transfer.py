"""Classical first-order motion transfer: align the best-fitting driving frame's shape to the product's matte,
move each region of the product by the clip's relative affine motion (FOMM's relative keypoints + Jacobians),
blend the local affine maps into a dense backward flow with soft region weights, and warp the RGBA crop."""
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
class _Candidate:
    score: float
    mirrored: bool
    scale_x: float  # crop pixels per driving pixel
    scale_y: float
    matrix: np.ndarray


def _search(product_mask: np.ndarray, driving_mask0: np.ndarray, side: int, mirrors: list[bool],
            scales: list[tuple[float, float]], stretch_penalty: float) -> _Candidate:
    """Best IoU placement of the clip's silhouette over the product's, over mirrors and (x, y) scales, matched
    at `side` pixels; the result's matrix maps driving pixels to full crop pixels."""
    factor = side / max(product_mask.shape)
    product_small = cv2.resize(product_mask, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    sx0, sy0, sx1, _ = _box(driving_mask0)
    best: _Candidate | None = None
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
            best = _Candidate(score, mirrored, scale_x, scale_y, matrix)
    return best


def _coarse_alignment(driving_mask: np.ndarray, product_mask: np.ndarray, mirrors: list[bool],
                      fit: Fit) -> _Candidate:
    sx0, sy0, sx1, sy1 = _box(driving_mask)
    dx0, dy0, dx1, dy1 = _box(product_mask > 0.5)
    ratio_x, ratio_y = (dx1 - dx0) / (sx1 - sx0), (dy1 - dy0) / (sy1 - sy0)
    mean = np.sqrt(ratio_x * ratio_y)
    shapes = [(mean * (ratio_x / mean) ** a, mean * (ratio_y / mean) ** a) for a in fit.anisotropies]
    return _search(product_mask, driving_mask, ALIGN_SIDE, mirrors,
                   [(bx * step, by * step) for (bx, by), step in itertools.product(shapes, SCALE_STEPS)],
                   fit.stretch_penalty)


def _refined_alignment(driving_mask: np.ndarray, product_mask: np.ndarray, coarse: _Candidate,
                       fit: Fit) -> Alignment:
    fine = _search(product_mask, driving_mask, REFINE_SIDE, [coarse.mirrored],
                   [(coarse.scale_x * (1 + ex), coarse.scale_y * (1 + ey))
                    for ex, ey in itertools.product(REFINE_STEPS, REFINE_STEPS)], fit.stretch_penalty)
    height, width = product_mask.shape
    warped = cv2.warpAffine(driving_mask.astype(np.uint8), fine.matrix[:2], (width, height),
                            flags=cv2.INTER_NEAREST).astype(bool)
    overlap = float((warped & (product_mask > 0)).sum() / max(1, (warped | (product_mask > 0)).sum()))
    return Alignment(fine.matrix, fine.mirrored, overlap)


def _mirror_options(driving_facing: str, product_facing: str) -> list[bool]:
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


def product_regions(labels0: np.ndarray, alignment: Alignment, support: np.ndarray, n_regions: int) -> np.ndarray:
    """The clip's first-frame regions carried onto the product; product pixels the clip's shape misses take the
    nearest region. A base stays put (the extra static region K): a plinth-like band at the product's bottom,
    or whatever reaches clearly below the clip's figure."""
    from scipy.ndimage import distance_transform_edt

    height, width = support.shape
    warped = cv2.warpAffine((labels0 + 1).astype(np.float32), alignment.matrix[:2], (width, height),
                            flags=cv2.INTER_NEAREST, borderValue=0).astype(np.int32) - 1
    _, (near_y, near_x) = distance_transform_edt(warped < 0, return_indices=True)
    regions = warped[near_y, near_x]
    figure_rows = np.nonzero((warped >= 0).any(axis=1))[0]
    product_rows = np.nonzero(support.any(axis=1))[0]
    side = max(height, width)
    if len(figure_rows) and product_rows[-1] - figure_rows[-1] > BASE_MIN_DEPTH * side:
        regions[figure_rows[-1] + int(round(BASE_MARGIN * side)):] = n_regions
    plinth = base_rows(support)
    if plinth is not None:
        regions[plinth:] = n_regions
    return np.where(support, regions, -1).astype(np.int16)


def soft_region_weights(regions: np.ndarray, n_regions: int, sigma_px: float) -> np.ndarray:
    """(K,H,W) float32 region memberships blurred across joints, so neighbouring regions blend smoothly;
    they sum to one on the product's support and are zero off it."""
    support = regions >= 0
    weights = np.zeros((n_regions,) + regions.shape, np.float32)
    for k in range(n_regions):
        member = (regions == k).astype(np.float32)
        if member.any():
            weights[k] = cv2.GaussianBlur(member, (0, 0), sigma_px)
    weights *= support[None]
    total = weights.sum(axis=0)
    return np.where(total > 1e-6, weights / np.maximum(total, 1e-6), 0.0).astype(np.float32)


def _homogeneous(affines: np.ndarray) -> np.ndarray:
    full = np.tile(np.eye(3), (affines.shape[0], 1, 1))
    full[:, :2] = affines
    return full


def relative_region_maps(driving: DrivingAnalysis, alignment: Alignment, frame_index: int,
                         reference: int = 0) -> np.ndarray:
    """(K+1,3,3) maps of product-crop pixels at the source pose to product-crop pixels at frame t:
    S . A_k(t) . A_k(r)^-1 . S^-1 for reference frame r, which equals FOMM's relative motion
    kp_s + J_d(t) J_d(r)^-1 (x - kp_s) after alignment, followed by the identity for the static region."""
    relative = _homogeneous(driving.affines[frame_index]) @ np.linalg.inv(_homogeneous(driving.affines[reference]))
    moving = alignment.matrix[None] @ relative @ np.linalg.inv(alignment.matrix)[None]
    return np.concatenate([moving, np.eye(3)[None]])  # the last one is the static region


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
    mirrors = _mirror_options(driving.facing, product_facing)
    best: tuple[float, int, _Candidate] | None = None
    for frame in range(0, driving.n_frames, REFERENCE_STEP):
        candidate = _coarse_alignment(driving.masks[frame], product_mask, mirrors, FITS[fit])
        score = candidate.score + (FIRST_FRAME_BONUS if frame == 0 else 0.0)
        if best is None or score > best[0]:
            best = (score, frame, candidate)
    _, frame, coarse = best
    return frame, _refined_alignment(driving.masks[frame], product_mask, coarse, FITS[fit])


def _wide_blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with a wide kernel, done at a quarter of the size: the result is smooth anyway and a
    full-size kernel of tens of pixels would dominate the stage's time."""
    factor = 4 if sigma_px >= 8 else 1
    if factor == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma_px)
    height, width = image.shape
    small = cv2.resize(image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma_px / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def backward_map(weights: np.ndarray, pieces: np.ndarray, maps: np.ndarray, gap_px: float,
                 background_weight: float = 1e-6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense backward flow for one output frame: each region's soft mask is pushed forward by its map to find
    where it lands, and the output pixel takes the weighted mean of the regions' inverse maps. The landed masks
    are blurred by `gap_px` before blending so a gap opening between two regions that move apart interpolates
    their maps instead of falling back to the identity. Pixels no region reaches keep the identity map.
    Also returns the coverage: where the hard region `pieces` land, with such gaps closed. It stops the
    product's old position from showing through where a part moved away; hard pieces, unlike the soft
    weights, keep it at one across joints that bend."""
    count, height, width = weights.shape
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    coverage = np.zeros((height, width), np.float32)
    total = np.full((height, width), background_weight, np.float32)
    sum_x, sum_y = background_weight * grid_x, background_weight * grid_y
    for k in range(count):
        if not weights[k].any():
            continue
        matrix = maps[k][:2].astype(np.float64)
        landed = cv2.warpAffine(weights[k], matrix, (width, height), flags=cv2.INTER_LINEAR)
        np.maximum(coverage, cv2.warpAffine(pieces[k], matrix, (width, height), flags=cv2.INTER_LINEAR), out=coverage)
        inverse = np.linalg.inv(maps[k])
        src_x = inverse[0, 0] * grid_x + inverse[0, 1] * grid_y + inverse[0, 2]
        src_y = inverse[1, 0] * grid_x + inverse[1, 1] * grid_y + inverse[1, 2]
        reach = _wide_blur(landed, gap_px)
        reach_sq = reach * reach  # sharpen ownership where regions overlap
        total += reach_sq
        sum_x += reach_sq * src_x
        sum_y += reach_sq * src_y
    radius = max(1, int(round(2 * gap_px)))
    closing = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    coverage = cv2.morphologyEx(np.clip(coverage, 0, 1), cv2.MORPH_CLOSE, closing)
    return (sum_x / total).astype(np.float32), (sum_y / total).astype(np.float32), coverage


def warp_rgba(rgba: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Warp float RGBA with premultiplied colour so edges do not pick up dark fringes."""
    premultiplied = np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], axis=2)
    warped = cv2.remap(premultiplied, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = warped[..., 3:4]
    colour = np.where(alpha > 1e-4, warped[..., :3] / np.maximum(alpha, 1e-4), 0.0)
    return np.concatenate([np.clip(colour, 0, 1), np.clip(alpha, 0, 1)], axis=2).astype(np.float32)


def driving_index(frame: int, n_frames: int, n_driving: int) -> int:
    """Which clip frame drives output frame `frame` of `n_frames`: fewer frames than the clip sample its whole
    cycle evenly (so the output still loops); more frames loop the clip (the shipped clips are seamless loops)."""
    if n_frames <= n_driving:
        return frame * n_driving // n_frames
    return frame % n_driving


def transfer_motion(rgba: np.ndarray, driving: DrivingAnalysis, n_frames: int, product_facing: str = "auto",
                    fit: str = "shape", blend_sigma_fraction: float = 0.03) -> tuple[list[np.ndarray], Alignment, int]:
    """Animate a float32 RGBA crop (HxWx4, [0,1]) with the analysed clip (`fit`: a key of FITS). Returns RGBA
    frames at the crop's size, the alignment and the clip frame the loop starts from (the one matching the
    product's pose)."""
    alpha = rgba[..., 3]
    reference, alignment = choose_reference(driving, alpha, product_facing, fit)
    n_regions = driving.affines.shape[1]
    # a 2 px margin around the matte keeps full coverage under its soft edge
    support = cv2.dilate((alpha > 0.01).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    regions = product_regions(labels_at(driving, reference), alignment, support, n_regions)
    sigma = max(1.5, blend_sigma_fraction * max(alpha.shape))
    weights = soft_region_weights(regions, n_regions + 1, sigma)
    pieces = np.stack([(regions == k).astype(np.float32) for k in range(n_regions + 1)])
    frames = []
    for frame in range(n_frames):
        index = (reference + driving_index(frame, n_frames, driving.n_frames)) % driving.n_frames
        maps = relative_region_maps(driving, alignment, index, reference)
        map_x, map_y, coverage = backward_map(weights, pieces, maps, gap_px=sigma)
        warped = warp_rgba(rgba, map_x, map_y)
        warped[..., 3] *= coverage
        frames.append(warped)
    return frames, alignment, reference
