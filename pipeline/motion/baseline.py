"""Naive motion-transfer baseline the classical stage is measured against: the driving clip's dense optical flow
(frame t back to frame 0) moved onto the product by aligning the clip's first-frame bounding box with the
product's, then used directly as the product's backward warp. No regions, no keypoints, no occlusion handling."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.motion.alignment import driving_index
from pipeline.motion.transfer import warp_rgba


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def box_alignment(driving_mask0: np.ndarray, product_alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis (scale, offset) that map the driving first-frame box exactly onto the product matte's box:
    product = scale * driving + offset."""
    sx0, sy0, sx1, sy1 = _box(driving_mask0)
    dx0, dy0, dx1, dy1 = _box(product_alpha > 0.5)
    scale = np.array([(dx1 - dx0) / (sx1 - sx0), (dy1 - dy0) / (sy1 - sy0)])
    offset = np.array([dx0, dy0]) - scale * np.array([sx0, sy0])
    return scale, offset


def backward_flow(gray_t: np.ndarray, gray_0: np.ndarray) -> np.ndarray:
    """(H,W,2) flow from frame t to frame 0: pixel x of frame t came from x + flow(x) in frame 0."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(gray_t, gray_0, None)


def flow_on_product(flow: np.ndarray, scale: np.ndarray, offset: np.ndarray,
                    shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Backward sampling maps for the product: each product pixel looks up the clip's flow at its aligned clip
    position, and the flow vector is stretched by the same per-axis scale."""
    height, width = shape
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    clip_x = ((grid_x - offset[0]) / scale[0]).astype(np.float32)
    clip_y = ((grid_y - offset[1]) / scale[1]).astype(np.float32)
    # outside the clip's canvas the nearest border flow (the still backdrop) is the best guess
    sampled = cv2.remap(flow, clip_x, clip_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    map_x = grid_x + np.float32(scale[0]) * sampled[..., 0]
    map_y = grid_y + np.float32(scale[1]) * sampled[..., 1]
    return map_x, map_y


def naive_flow_transfer(rgba: np.ndarray, driving_frames_u8: list[np.ndarray], driving_mask0: np.ndarray,
                        n_frames: int) -> list[np.ndarray]:
    """Animate a float32 RGBA crop (HxWx4, [0,1]) with the clip's raw optical flow. `driving_mask0` is the
    clip's first-frame foreground at the frames' size. Returns RGBA frames at the crop's size."""
    scale, offset = box_alignment(driving_mask0, rgba[..., 3])
    grays = [cv2.cvtColor(np.ascontiguousarray(f[..., :3]), cv2.COLOR_RGB2GRAY) for f in driving_frames_u8]
    frames = []
    for frame in range(n_frames):
        flow = backward_flow(grays[driving_index(frame, n_frames, len(grays))], grays[0])
        map_x, map_y = flow_on_product(flow, scale, offset, rgba.shape[:2])
        frames.append(warp_rgba(rgba, map_x, map_y))
    return frames
