"""Premultiplied colour: layers are warped and stacked premultiplied so soft edges pick up no dark fringe."""
from __future__ import annotations

import numpy as np


def premultiply(rgba: np.ndarray) -> np.ndarray:
    return np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], axis=2).astype(np.float32)


def unpremultiply(premultiplied: np.ndarray) -> np.ndarray:
    alpha = np.clip(premultiplied[..., 3:4], 0.0, 1.0)
    colour = np.where(alpha > 1e-4, premultiplied[..., :3] / np.maximum(alpha, 1e-4), 0.0)
    return np.concatenate([np.clip(colour, 0, 1), alpha], axis=2).astype(np.float32)
