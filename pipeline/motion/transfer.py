"""Classical first-order motion transfer: align the driving clip's first-frame shape to the product's matte,
move each region of the product by the clip's relative affine motion (FOMM's relative keypoints + Jacobians),
blend the local affine maps into a dense backward flow with soft region weights, and warp the RGBA crop."""
from __future__ import annotations

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


ANISOTROPY = 0.25  # 0: one scale for both axes (rotations stay rotations); 1: fit the box exactly


def _box_map(src: tuple[float, ...], dst: tuple[float, ...], mirrored: bool,
             anisotropy: float = ANISOTROPY) -> np.ndarray:
    """Similarity-like map of the clip's box onto the product's: centres meet, scales are a blend between the
    geometric mean and the per-axis ratios, since a full stretch would turn the clip's rotations into shears."""
    sx0, sy0, sx1, sy1 = src
    dx0, dy0, dx1, dy1 = dst
    ratio_x, ratio_y = (dx1 - dx0) / (sx1 - sx0), (dy1 - dy0) / (sy1 - sy0)
    mean = np.sqrt(ratio_x * ratio_y)
    scale_x, scale_y = mean * (ratio_x / mean) ** anisotropy, mean * (ratio_y / mean) ** anisotropy
    flip = -1.0 if mirrored else 1.0
    src_cx, src_cy, dst_cx, dst_cy = (sx0 + sx1) / 2, (sy0 + sy1) / 2, (dx0 + dx1) / 2, (dy0 + dy1) / 2
    return np.array([[flip * scale_x, 0, dst_cx - flip * scale_x * src_cx],
                     [0, scale_y, dst_cy - scale_y * src_cy], [0, 0, 1]])


def align_to_product(driving_mask0: np.ndarray, product_alpha: np.ndarray, driving_facing: str,
                     product_facing: str = "auto") -> Alignment:
    """Map the clip's first-frame box onto the product's box; mirror when the product faces the other way
    (decided by silhouette overlap unless the facing is given)."""
    product_mask = product_alpha > 0.5
    src, dst = _box(driving_mask0), _box(product_mask)
    height, width = product_mask.shape
    candidates = []
    mirror_options = [False, True]
    if product_facing in ("left", "right") and driving_facing in ("left", "right"):
        mirror_options = [product_facing != driving_facing]
    for mirrored in mirror_options:
        matrix = _box_map(src, dst, mirrored)
        warped = cv2.warpAffine(driving_mask0.astype(np.uint8), matrix[:2], (width, height),
                                flags=cv2.INTER_NEAREST).astype(bool)
        iou = float((warped & product_mask).sum() / max(1, (warped | product_mask).sum()))
        candidates.append(Alignment(matrix, mirrored, iou))
    # prefer not mirroring on a near tie: symmetric products should keep the clip's own handedness
    candidates.sort(key=lambda a: a.iou + (0.01 if not a.mirrored else 0.0), reverse=True)
    return candidates[0]


def product_regions(labels0: np.ndarray, alignment: Alignment, support: np.ndarray) -> np.ndarray:
    """The clip's first-frame regions carried onto the product; product pixels the clip's shape misses take
    the nearest region."""
    from scipy.ndimage import distance_transform_edt

    height, width = support.shape
    warped = cv2.warpAffine((labels0 + 1).astype(np.float32), alignment.matrix[:2], (width, height),
                            flags=cv2.INTER_NEAREST, borderValue=0).astype(np.int32) - 1
    _, (near_y, near_x) = distance_transform_edt(warped < 0, return_indices=True)
    nearest = warped[near_y, near_x]
    return np.where(support, nearest, -1).astype(np.int16)


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
    """(K,3,3) maps of product-crop pixels at the source pose to product-crop pixels at frame t:
    S . A_k(t) . S^-1, which equals FOMM's relative motion kp_s + J_d(t) J_d(0)^-1 (x - kp_s) after alignment."""
    affines = driving.affines[frame_index]
    count = affines.shape[0]
    homogeneous = np.tile(np.eye(3), (count, 1, 1))
    homogeneous[:, :2] = affines
    inverse_s = np.linalg.inv(alignment.matrix)
    return alignment.matrix[None] @ homogeneous @ inverse_s[None]


def backward_map(weights: np.ndarray, maps: np.ndarray,
                 background_weight: float = 0.02) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense backward flow for one output frame: each region's soft mask is pushed forward by its map to find
    where it lands, and the output pixel takes the weighted mean of the regions' inverse maps. Pixels no region
    reaches keep the identity map. Also returns the coverage (how much of the product lands on each pixel),
    which stops the product's old position from showing through where a part moved away."""
    count, height, width = weights.shape
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    coverage = np.zeros((height, width), np.float32)
    total = np.full((height, width), background_weight, np.float32)
    sum_x, sum_y = background_weight * grid_x, background_weight * grid_y
    for k in range(count):
        if not weights[k].any():
            continue
        landed = cv2.warpAffine(weights[k], maps[k][:2].astype(np.float64), (width, height), flags=cv2.INTER_LINEAR)
        inverse = np.linalg.inv(maps[k])
        src_x = inverse[0, 0] * grid_x + inverse[0, 1] * grid_y + inverse[0, 2]
        src_y = inverse[1, 0] * grid_x + inverse[1, 1] * grid_y + inverse[1, 2]
        coverage += landed
        landed_sq = landed * landed  # sharpen ownership where regions overlap
        total += landed_sq
        sum_x += landed_sq * src_x
        sum_y += landed_sq * src_y
    return (sum_x / total).astype(np.float32), (sum_y / total).astype(np.float32), np.clip(coverage, 0, 1)


def warp_rgba(rgba: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Warp float RGBA with premultiplied colour so edges do not pick up dark fringes."""
    premultiplied = np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], axis=2)
    warped = cv2.remap(premultiplied, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = warped[..., 3:4]
    colour = np.where(alpha > 1e-4, warped[..., :3] / np.maximum(alpha, 1e-4), 0.0)
    return np.concatenate([np.clip(colour, 0, 1), np.clip(alpha, 0, 1)], axis=2).astype(np.float32)


def driving_index(frame: int, n_driving: int) -> int:
    """Runs longer than the clip loop it (the shipped clips are seamless loops)."""
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
    weights = soft_region_weights(regions, n_regions, sigma)
    frames = []
    for frame in range(n_frames):
        maps = relative_region_maps(driving, alignment, driving_index(frame, driving.n_frames))
        map_x, map_y, coverage = backward_map(weights, maps)
        warped = warp_rgba(rgba, map_x, map_y)
        warped[..., 3] *= coverage
        frames.append(warped)
    return frames, alignment
