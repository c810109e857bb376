"""Pixel helpers: premultiplied colour (layers are warped and stacked premultiplied so soft edges pick up no dark
fringe) and looking images up at float points."""
from __future__ import annotations

import numpy as np


def premultiply(rgba: np.ndarray) -> np.ndarray:
    return np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], axis=2).astype(np.float32)


def unpremultiply(premultiplied: np.ndarray) -> np.ndarray:
    alpha = np.clip(premultiplied[..., 3:4], 0.0, 1.0)
    colour = np.where(alpha > 1e-4, premultiplied[..., :3] / np.maximum(alpha, 1e-4), 0.0)
    return np.concatenate([np.clip(colour, 0, 1), alpha], axis=2).astype(np.float32)


def pixel_at(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The image's values at the pixels nearest to (N, 2) float (x, y) points, clamped to the image."""
    xs = np.clip(np.round(points[:, 0]).astype(int), 0, image.shape[1] - 1)
    ys = np.clip(np.round(points[:, 1]).astype(int), 0, image.shape[0] - 1)
    return image[ys, xs]
