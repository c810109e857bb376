"""Coherence transport, ring by ring (after Bornemann & März 2007): a hole is filled from its border inwards, each
pixel taking a weighted mean of the known or already filled pixels near it, weighted towards those lying along the
backdrop's own grain direction. Wood grain, plank seams and mortar courses run on into the hole instead of stopping
at its border. Pure arrays."""
from __future__ import annotations

import cv2
import numpy as np

RADIUS_PX = 5  # how far a pixel looks for known neighbours (the method's epsilon)
SHARPNESS = 25.0  # how strongly neighbours off the grain direction are discounted (the method's mu)
GRADIENT_SIGMA = 1.5  # px: the image's smoothing before its gradients are taken
GRADIENT_REACH_PX = 6  # how far from a pixel the values its gradient depends on lie (smoothing and Sobel)


def gradient_products(gray: np.ndarray) -> np.ndarray:
    """HxWx3: the gradient's outer product (gx², gx·gy, gy²), to be smoothed into the structure tensor."""
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), GRADIENT_SIGMA)
    gx, gy = cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    return np.stack([gx * gx, gx * gy, gy * gy], axis=-1)


def grain(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel of a smoothed structure tensor (HxWx3, as `gradient_products`) the grain direction (unit vector
    dy, dx: along the lines, across the strongest gradient) and its coherence in [0, 1] (1: one clear direction,
    0: none)."""
    jxx, jxy, jyy = tensor[..., 0], tensor[..., 1], tensor[..., 2]
    angle = 0.5 * np.arctan2(2 * jxy, jxx - jyy)  # the strongest gradient's direction
    spread = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2)
    coherence = spread / np.maximum(jxx + jyy, 1e-6)
    return np.cos(angle), -np.sin(angle), np.clip(coherence, 0, 1)


def _neighbour_offsets() -> tuple[np.ndarray, np.ndarray]:
    dy, dx = np.mgrid[-RADIUS_PX:RADIUS_PX + 1, -RADIUS_PX:RADIUS_PX + 1]
    keep = (dy * dy + dx * dx <= RADIUS_PX * RADIUS_PX) & ((dy != 0) | (dx != 0))
    return dy[keep], dx[keep]


def transport(values: np.ndarray, hole: np.ndarray, along_y: np.ndarray, along_x: np.ndarray,
              max_depth: float) -> tuple[np.ndarray, np.ndarray]:
    """Fill the pixels of `hole` up to `max_depth` px from its border (HxWxC float `values`; (along_y, along_x):
    the grain direction per pixel). Returns the values and per pixel how well the transport was supported, in
    [0, 1]: 1 where the grain crosses the border, so known pixels lie along it; near 0 where it runs along the
    border (the top and bottom of a hole in horizontal planks), where only a blur of the border row would come;
    0 beyond `max_depth` and outside the hole."""
    height, width = hole.shape
    depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)
    filled = ~hole
    out = values.astype(np.float32).copy()
    support = (~hole).astype(np.float32)
    offsets_y, offsets_x = _neighbour_offsets()
    length = np.hypot(offsets_y, offsets_x)
    for ring in range(1, int(np.ceil(max_depth)) + 1):
        py, px = np.nonzero(hole & (depth > ring - 1) & (depth <= ring))
        if not py.size:
            continue
        total = np.zeros((py.size, out.shape[2]), np.float32)
        weight, supported, possible = (np.zeros(py.size, np.float32) for _ in range(3))
        ay, ax = along_y[py, px], along_x[py, px]
        for dy, dx, distance in zip(offsets_y, offsets_x, length):
            qy, qx = py + dy, px + dx
            inside = (qy >= 0) & (qy < height) & (qx >= 0) & (qx < width)
            qy, qx = np.clip(qy, 0, height - 1), np.clip(qx, 0, width - 1)
            across = ax * dy - ay * dx  # the offset's component across the grain
            w = (np.exp(-0.5 * (SHARPNESS / RADIUS_PX) ** 2 * across ** 2) / distance).astype(np.float32)
            possible += w
            w = np.where(inside & filled[qy, qx], w, 0.0).astype(np.float32)
            total += w[:, None] * out[qy, qx]
            weight += w
            supported += w * support[qy, qx]
        reached = weight > 0
        out[py[reached], px[reached]] = total[reached] / weight[reached, None]
        # a straight border across the grain offers half the neighbourhood's weight
        share = np.minimum(1.0, weight / (0.5 * possible)) * supported / np.maximum(weight, 1e-12)
        support[py[reached], px[reached]] = share[reached]
        filled[py[reached], px[reached]] = True
    return out, np.where(hole, support, 0.0)
