"""Bringing RGBA frames to a larger size: classical resizes and a super-resolution network. Colour is resized
premultiplied by alpha, so the transparent surroundings never bleed a halo into the object's edge."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # classical resizes never import torch
    import torch

ALPHA_EPS = 1e-3  # below this alpha a pixel is transparent and its colour meaningless
Size = tuple[int, int]  # (height, width)
Upscaler = Callable[["torch.Tensor"], "torch.Tensor"]  # (N, 3, H, W) in [0, 1] -> (N, 3, H*s, W*s); an SRHandle


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


def bleed_colour(rgba_u8: np.ndarray) -> np.ndarray:
    """Straight colour (float32 HxWx3) with every transparent pixel given the colour of the nearest visible one, so
    a filter that reaches past the object's outline finds the object's own colour there, not black."""
    visible = rgba_u8[..., 3] > 0
    colour = rgba_u8[..., :3].astype(np.float32) / 255.0
    if visible.all() or not visible.any():
        return colour
    _, nearest = cv2.distanceTransformWithLabels((~visible).astype(np.uint8), cv2.DIST_L2, 3,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    colour_of_label = np.zeros((int(nearest.max()) + 1, 3), np.float32)
    colour_of_label[nearest[visible]] = colour[visible]
    return colour_of_label[nearest]


def upscale_rgba_network(frames_u8: Iterable[np.ndarray], size: Size, network: Upscaler,
                         batch: int) -> Iterator[np.ndarray]:
    """RGBA frames of one size to `size`, read and run `batch` at a time. The network sees the straight colour
    bled outwards (bleed_colour); alpha is upscaled by Lanczos to the network's output size; the last resize to
    `size` (area, or Lanczos beyond the network's scale) is done premultiplied. Measured on real mattes
    (bench/superres_bench.py --alpha-study): premultiplied colour through the network sharpens its darkened rim into
    a dark fringe (-2.5 dB on the edge), transparent pixels left black leave a black rim where the Lanczos alpha
    reaches past the network's edge, and alpha run through the network as grey matches the colour less well."""
    import torch

    frames = iter(frames_u8)
    while chunk := list(islice(frames, batch)):
        colour_bchw = torch.from_numpy(np.stack([bleed_colour(frame) for frame in chunk]).transpose(0, 3, 1, 2))
        for frame, colour_big in zip(chunk, network(colour_bchw).numpy().transpose(0, 2, 3, 1)):
            alpha_big = np.clip(resize(frame[..., 3:].astype(np.float32) / 255.0, colour_big.shape[:2]), 0, 1)
            yield unpremultiply_u8(resize(np.concatenate([colour_big * alpha_big, alpha_big], axis=2), size))
