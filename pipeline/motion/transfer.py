"""Classical first-order motion transfer: align the driving clip's first-frame shape to the product's matte,
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


ANISOTROPIES = (0.25, 1.0)  # 0: one scale for both axes (rotations stay rotations); 1: fit the box exactly
ALIGN_SIDE = 128  # silhouettes are matched at this size; the search is cheap there
SCALE_STEPS = tuple(np.round(np.arange(0.55, 1.051, 0.05), 2))  # relative to fitting the clip's box onto the product's box


def _scaled_mask(mask: np.ndarray, scale_x: float, scale_y: float, mirrored: bool) -> np.ndarray:
    """The clip's silhouette cropped to its box and resized (and mirrored)."""
    x0, y0, x1, y1 = (int(v) for v in _box(mask))
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    size = (max(1, round((x1 - x0) * scale_x)), max(1, round((y1 - y0) * scale_y)))
    resized = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return resized[:, ::-1] if mirrored else resized


def _best_placement(product: np.ndarray, template: np.ndarray) -> tuple[float, int, int]:
    """IoU and top-left offset of the placement of `template` over `product` that overlaps it best."""
    th, tw = template.shape
    padded = cv2.copyMakeBorder(product, th, th, tw, tw, cv2.BORDER_CONSTANT, value=0)
    intersection = cv2.matchTemplate(padded, template, cv2.TM_CCORR)
    union = product.sum() + template.sum() - intersection
    iou = intersection / np.maximum(union, 1e-6)
    y, x = np.unravel_index(int(np.argmax(iou)), iou.shape)
    return float(iou[y, x]), int(x - tw), int(y - th)


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
            scales: list[tuple[float, float]]) -> _Candidate:
    """Best IoU placement of the clip's silhouette over the product's, over mirrors and (x, y) scales, matched
    at `side` pixels; the result's matrix maps driving pixels to full crop pixels."""
    factor = side / max(product_mask.shape)
    product_small = cv2.resize(product_mask, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    sx0, sy0, sx1, _ = _box(driving_mask0)
    best: _Candidate | None = None
    for mirrored, (scale_x, scale_y) in itertools.product(mirrors, scales):
        template = _scaled_mask(driving_mask0, scale_x * factor, scale_y * factor, mirrored)
        iou, left, top = _best_placement(product_small, template)
        # prefer the clip's own handedness on a near tie: symmetric products should not be mirrored
        score = iou + (0.01 if not mirrored else 0.0)
        if best is None or score > best.score:
            flip = -1.0 if mirrored else 1.0
            place_x = left / factor + (scale_x * (sx1 - sx0) if mirrored else 0.0)
            matrix = np.array([[flip * scale_x, 0.0, place_x - flip * scale_x * sx0],
                               [0.0, scale_y, top / factor - scale_y * sy0], [0.0, 0.0, 1.0]])
            best = _Candidate(score, mirrored, scale_x, scale_y, matrix)
    return best


def align_to_product(driving_mask0: np.ndarray, product_alpha: np.ndarray, driving_facing: str,
                     product_facing: str = "auto") -> Alignment:
    """Place the clip's first-frame silhouette over the product's matte where they overlap most (IoU), searching
    scale and position coarsely and then finely, and mirroring when the product faces the other way. Searching
    rather than fitting boxes keeps a statue's plinth or a held accessory from stretching the clip's figure."""
    product_mask = (product_alpha > 0.5).astype(np.float32)
    sx0, sy0, sx1, sy1 = _box(driving_mask0)
    dx0, dy0, dx1, dy1 = _box(product_mask > 0.5)
    ratio_x, ratio_y = (dx1 - dx0) / (sx1 - sx0), (dy1 - dy0) / (sy1 - sy0)
    mean = np.sqrt(ratio_x * ratio_y)
    mirrors = [False, True]
    if product_facing in ("left", "right") and driving_facing in ("left", "right"):
        mirrors = [product_facing != driving_facing]
    shapes = [(mean * (ratio_x / mean) ** a, mean * (ratio_y / mean) ** a) for a in ANISOTROPIES]
    coarse = _search(product_mask, driving_mask0, ALIGN_SIDE, mirrors,
                     [(bx * step, by * step) for (bx, by), step in itertools.product(shapes, SCALE_STEPS)])
    fine = _search(product_mask, driving_mask0, REFINE_SIDE, [coarse.mirrored],
                   [(coarse.scale_x * (1 + ex), coarse.scale_y * (1 + ey))
                    for ex, ey in itertools.product(REFINE_STEPS, REFINE_STEPS)])
    height, width = product_mask.shape
    warped = cv2.warpAffine(driving_mask0.astype(np.uint8), fine.matrix[:2], (width, height),
                            flags=cv2.INTER_NEAREST).astype(bool)
    overlap = float((warped & (product_mask > 0)).sum() / max(1, (warped | (product_mask > 0)).sum()))
    return Alignment(fine.matrix, fine.mirrored, overlap)


BASE_MIN_DEPTH = 0.03  # of the crop side: how far the product must reach below the clip's figure to have a base
BASE_MARGIN = 0.01  # of the crop side: rows this far below the figure's lowest point belong to the base


def product_regions(labels0: np.ndarray, alignment: Alignment, support: np.ndarray) -> np.ndarray:
    """The clip's first-frame regions carried onto the product; product pixels the clip's shape misses take the
    nearest region. When the product reaches clearly below the clip's figure (a statue's plinth, a stand),
    what lies below the figure's lowest point is the extra static region K: the base stays put."""
    from scipy.ndimage import distance_transform_edt

    height, width = support.shape
    n_regions = int(labels0.max()) + 1
    warped = cv2.warpAffine((labels0 + 1).astype(np.float32), alignment.matrix[:2], (width, height),
                            flags=cv2.INTER_NEAREST, borderValue=0).astype(np.int32) - 1
    _, (near_y, near_x) = distance_transform_edt(warped < 0, return_indices=True)
    regions = warped[near_y, near_x]
    figure_rows = np.nonzero((warped >= 0).any(axis=1))[0]
    product_rows = np.nonzero(support.any(axis=1))[0]
    side = max(height, width)
    if len(figure_rows) and product_rows[-1] - figure_rows[-1] > BASE_MIN_DEPTH * side:
        base_top = figure_rows[-1] + int(round(BASE_MARGIN * side))
        regions[base_top:] = n_regions
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


def relative_region_maps(driving: DrivingAnalysis, alignment: Alignment, frame_index: int) -> np.ndarray:
    """(K+1,3,3) maps of product-crop pixels at the source pose to product-crop pixels at frame t:
    S . A_k(t) . S^-1, which equals FOMM's relative motion kp_s + J_d(t) J_d(0)^-1 (x - kp_s) after alignment,
    followed by the identity for the static region."""
    affines = driving.affines[frame_index]
    count = affines.shape[0]
    homogeneous = np.tile(np.eye(3), (count, 1, 1))
    homogeneous[:, :2] = affines
    inverse_s = np.linalg.inv(alignment.matrix)
    moving = alignment.matrix[None] @ homogeneous @ inverse_s[None]
    return np.concatenate([moving, np.eye(3)[None]])  # the last one is the static region


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
        reach = cv2.GaussianBlur(landed, (0, 0), gap_px)
        reach_sq = reach * reach  # sharpen ownership where regions overlap
        total += reach_sq
        sum_x += reach_sq * src_x
        sum_y += reach_sq * src_y
    radius = max(1, int(round(gap_px)))
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
                    blend_sigma_fraction: float = 0.03) -> tuple[list[np.ndarray], Alignment]:
    """Animate a float32 RGBA crop (HxWx4, [0,1]) with the analysed clip. Returns RGBA frames at the crop's size."""
    alpha = rgba[..., 3]
    alignment = align_to_product(driving.masks[0], alpha, driving.facing, product_facing)
    n_regions = driving.affines.shape[1]
    # a 2 px margin around the matte keeps full coverage under its soft edge
    support = cv2.dilate((alpha > 0.01).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    regions = product_regions(driving.labels0, alignment, support)
    sigma = max(1.5, blend_sigma_fraction * max(alpha.shape))
    weights = soft_region_weights(regions, n_regions + 1, sigma)
    pieces = np.stack([(regions == k).astype(np.float32) for k in range(n_regions + 1)])
    frames = []
    for frame in range(n_frames):
        maps = relative_region_maps(driving, alignment, driving_index(frame, n_frames, driving.n_frames))
        map_x, map_y, coverage = backward_map(weights, pieces, maps, gap_px=sigma)
        warped = warp_rgba(rgba, map_x, map_y)
        warped[..., 3] *= coverage
        frames.append(warped)
    return frames, alignment
