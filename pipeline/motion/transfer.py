"""The earlier classical motion transfer, kept for the benchmark's comparison: move each region of the product by the
clip's relative affine motion (FOMM's relative keypoints + Jacobians), blend the local affine maps into a dense
backward flow with soft region weights, and warp the RGBA crop."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.motion.alignment import (BASE_MARGIN, BASE_MIN_DEPTH, Alignment, base_rows, choose_reference,
                                       driving_index, labels_at)
from pipeline.motion.driving import DrivingAnalysis


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
