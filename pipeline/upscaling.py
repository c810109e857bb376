"""Bringing RGBA frames to a larger size: classical resizes and a super-resolution network. Colour is resized
premultiplied by alpha, so the transparent surroundings never bleed a halo into the object's edge."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np
import torch

ALPHA_EPS = 1e-3  # below this alpha a pixel is transparent and its colour meaningless
Size = tuple[int, int]  # (height, width)
Upscaler = Callable[[torch.Tensor], torch.Tensor]  # (N, 3, H, W) in [0, 1] -> (N, 3, H*s, W*s); an SRHandle


def premultiply(rgba_u8: np.ndarray) -> np.ndarray:
    rgba = rgba_u8.astype(np.float32) / 255.0
    return np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], axis=2)


def unpremultiply_u8(premultiplied: np.ndarray) -> np.ndarray:
    """Premultiplied float RGBA -> straight RGBA uint8; colour brighter than its alpha allows is clipped."""
    premultiplied = np.clip(premultiplied, 0, 1)
    alpha = premultiplied[..., 3:4]
    colour = np.where(alpha > ALPHA_EPS, premultiplied[..., :3] / np.maximum(alpha, ALPHA_EPS), 0.0)
    return np.clip(np.concatenate([np.minimum(colour, 1.0), alpha], axis=2) * 255 + 0.5, 0, 255).astype(np.uint8)


def resize(image: np.ndarray, size: Size, enlarge: int = cv2.INTER_LANCZOS4) -> np.ndarray:
    """HxWxC float image to `size`: area averaging when shrinking, `enlarge` interpolation when growing
    (Lanczos overshoots; the caller clips)."""
    interpolation = cv2.INTER_AREA if size[0] < image.shape[0] else enlarge
    resized = cv2.resize(image, (size[1], size[0]), interpolation=interpolation)
    return resized.reshape(*size, image.shape[2])  # cv2 drops a single channel axis


def upscale_rgba_classical(rgba_u8: np.ndarray, size: Size, enlarge: int = cv2.INTER_LANCZOS4) -> np.ndarray:
    return unpremultiply_u8(resize(premultiply(rgba_u8), size, enlarge))


def upscale_rgba_lanczos(rgba_u8: np.ndarray, side: int) -> np.ndarray:
    return upscale_rgba_classical(rgba_u8, (side, side))


def upscale_rgba_network(frames_u8: list[np.ndarray], size: Size, network: Upscaler, batch: int,
                         alpha_by_network: bool = False) -> Iterator[np.ndarray]:
    """RGBA frames of one size to `size`: premultiplied colour through the network (x scale, then area down to
    `size`, or Lanczos beyond it); alpha by Lanczos from the frame, or through the network as a grey image."""
    for start in range(0, len(frames_u8), batch):
        premultiplied = [premultiply(frame) for frame in frames_u8[start:start + batch]]
        planes = [p[..., :3] for p in premultiplied]
        if alpha_by_network:
            planes += [np.repeat(p[..., 3:], 3, axis=2) for p in premultiplied]
        x_bchw = torch.from_numpy(np.stack(planes).transpose(0, 3, 1, 2).copy())
        y_bhwc = network(x_bchw).numpy().transpose(0, 2, 3, 1)
        count = len(premultiplied)
        for index, frame in enumerate(premultiplied):
            colour = resize(np.ascontiguousarray(y_bhwc[index]), size)
            if alpha_by_network:
                alpha = resize(np.ascontiguousarray(y_bhwc[count + index].mean(axis=2, keepdims=True)), size)
            else:
                alpha = resize(np.ascontiguousarray(frame[..., 3:]), size)
            yield unpremultiply_u8(np.concatenate([colour, alpha], axis=2))
