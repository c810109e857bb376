"""Drawing a deformed mesh: per-triangle affine warps of a premultiplied RGBA image, and deformation facts.

Backward mapping: every output pixel whose centre lies in a deformed triangle takes the colour at its barycentric
position in that triangle's rest place, sampled bilinearly (premultiplied colour interpolates correctly across
the matte's edge). The scanline rasteriser shared with the mesher covers pixels on an edge shared by two
triangles from both, so no crack opens between them; where triangles overlap (fold-overs) the later one wins.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.motion.puppet.mesh import Mesh, rasterize, signed_areas

OUTSIDE = -16.0  # source coordinate for uncovered pixels: far enough off the image that bilinear reads only zeros
MIN_SINGULAR = 1e-6  # a collapsed triangle's stretch is reported as 1 / this, so the facts stay finite


def _linear_maps(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(M, 2, 2) linear part of the affine map taking each triangle (M, 3, 2) in `source` onto `target`."""
    def edges(corners: np.ndarray) -> np.ndarray:
        return np.stack([corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]], axis=2)  # edges as columns
    e = edges(source)
    det = e[:, 0, 0] * e[:, 1, 1] - e[:, 0, 1] * e[:, 1, 0]
    inverse = np.stack([np.stack([e[:, 1, 1], -e[:, 0, 1]], axis=1),
                        np.stack([-e[:, 1, 0], e[:, 0, 0]], axis=1)], axis=1) / det[:, None, None]
    return edges(target) @ inverse


def _inverse_affines(rest: np.ndarray, deformed: np.ndarray) -> np.ndarray:
    """(M, 2, 3) maps from each deformed triangle (M, 3, 2) back to its rest triangle (M, 3, 2)."""
    linear = _linear_maps(deformed, rest)
    shift = rest[:, 0] - np.einsum("mij,mj->mi", linear, deformed[:, 0])
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def render_mesh(premultiplied: np.ndarray, mesh: Mesh, deformed: np.ndarray, out_shape: tuple[int, int],
                out: np.ndarray | None = None) -> np.ndarray:
    """The image (H, W, C) float32 premultiplied RGBA (alpha last) drawn through the mesh deformed to `deformed`.

    Returns a new (oh, ow, C) float32 image, zero off the mesh; or, given `out` (oh, ow, C) float32 C-contiguous,
    draws over it in place (premultiplied "over": out = drawn + (1 - drawn alpha) * out, on the covered pixels
    only) and returns it, so a product's layers are drawn back to front into one canvas.
    """
    height, width = out_shape
    channels = premultiplied.shape[2]
    if out is None:
        canvas = np.zeros((height, width, channels), np.float32)
    elif out.shape != (height, width, channels) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"render_mesh: out must be a C-contiguous float32 array of shape {(height, width, channels)}")
    else:
        canvas = out
    deformed = np.asarray(deformed, np.float64)
    triangles = np.asarray(mesh.triangles)
    area = signed_areas(deformed, triangles)
    # a flipped triangle is drawn too (its corners reordered so the rasteriser sees a positive area)
    triangles = np.where((area < 0)[:, None], triangles[:, [0, 2, 1]], triangles)
    triangles = triangles[np.abs(area) > 1e-9]
    runs = rasterize(deformed, triangles, out_shape)
    count = int(runs.length.sum())
    if count == 0:
        return canvas
    # the source position is affine along a run: its value at the run's first pixel plus a step per pixel
    inverse = _inverse_affines(np.asarray(mesh.vertices)[triangles], deformed[triangles])[runs.triangle]  # (R, 2, 3)
    first = inverse[:, :, 0] * runs.x[:, None] + inverse[:, :, 1] * runs.y[:, None] + inverse[:, :, 2]
    pixels, offsets = runs.pixels(width)
    source = np.repeat(first.astype(np.float32), runs.length, axis=0)
    source += offsets.astype(np.float32)[:, None] * np.repeat(inverse[:, :, 0].astype(np.float32), runs.length, axis=0)
    drawn = _sample(premultiplied, source)
    flat = canvas.reshape(-1, channels)
    if out is not None:
        drawn += np.take(flat, pixels, axis=0) * (1.0 - drawn[:, -1:])
    pixel_type = np.dtype((np.void, drawn.itemsize * channels))  # whole pixels scatter faster than rows of floats
    flat.view(pixel_type).ravel()[pixels] = drawn.view(pixel_type).ravel()
    return canvas


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(P, C) bilinear samples of `image` at (P, 2) float32 points, zero off the image."""
    count = len(points)
    row = 4096  # cv2.remap takes maps under 32767 columns: lay the points out in rows
    maps = np.full((-(-count // row) * row, 2), OUTSIDE, np.float32)
    maps[:count] = points
    sampled = cv2.remap(image, maps.reshape(-1, row, 2), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                        borderValue=0)
    return sampled.reshape(-1, image.shape[2])[:count]


def deformation_stats(mesh: Mesh, deformed: np.ndarray) -> dict:
    """Facts about a deformation, for motion.json: flipped triangles (signed area turned negative, as
    `igl.flipped_triangles` counts them), and per-triangle stretch max(s1, 1/s2) of the rest-to-deformed linear
    map (singular values s1 >= s2): its maximum and its rest-area-weighted mean; 1 for a rigid motion."""
    rest = np.asarray(mesh.vertices, np.float64)
    deformed = np.asarray(deformed, np.float64)
    triangles = np.asarray(mesh.triangles)
    if len(triangles) == 0:
        return {"flipped_triangles": 0, "max_stretch": 1.0, "mean_stretch": 1.0}
    linear = _linear_maps(rest[triangles], deformed[triangles])
    a, b, c, d = linear[:, 0, 0], linear[:, 0, 1], linear[:, 1, 0], linear[:, 1, 1]
    # closed-form singular values of a 2x2 matrix: s1,2 = |q| +- |r| with q, r its conformal and anti-conformal parts
    conformal = np.hypot((a + d) / 2, (c - b) / 2)
    anticonformal = np.hypot((a - d) / 2, (c + b) / 2)
    largest = conformal + anticonformal
    smallest = np.abs(conformal - anticonformal)
    stretch = np.maximum(largest, 1.0 / np.maximum(smallest, MIN_SINGULAR))
    rest_area = signed_areas(rest, triangles)
    flipped = int(np.count_nonzero(signed_areas(deformed, triangles) < 0))
    return {"flipped_triangles": flipped, "max_stretch": float(stretch.max()),
            "mean_stretch": float(np.sum(stretch * rest_area) / np.sum(rest_area))}

