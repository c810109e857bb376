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
    """(M, 4) linear part [a, b, c, d] (row-major 2x2) of the affine map taking each triangle (M, 3, 2) in `source`
    onto `target`: [[a, b], [c, d]] @ [u v] = [p q] for the source edges u, v and target edges p, q."""
    u, v = source[:, 1] - source[:, 0], source[:, 2] - source[:, 0]
    p, q = target[:, 1] - target[:, 0], target[:, 2] - target[:, 0]
    det = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    return np.stack([p[:, 0] * v[:, 1] - q[:, 0] * u[:, 1], q[:, 0] * u[:, 0] - p[:, 0] * v[:, 0],
                     p[:, 1] * v[:, 1] - q[:, 1] * u[:, 1], q[:, 1] * u[:, 0] - p[:, 1] * v[:, 0]], axis=1) / det[:, None]


def _inverse_affines(rest: np.ndarray, deformed: np.ndarray) -> np.ndarray:
    """(M, 6) maps [a, b, c, d, e, f] from each deformed triangle (M, 3, 2) back to its rest triangle (M, 3, 2):
    rest x = a x + b y + c, rest y = d x + e y + f."""
    a, b, d, e = _linear_maps(deformed, rest).T
    x, y = deformed[:, 0, 0], deformed[:, 0, 1]
    return np.stack([a, b, rest[:, 0, 0] - a * x - b * y, d, e, rest[:, 0, 1] - d * x - e * y], axis=1)


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
    a, b, c, d, e, f = _inverse_affines(np.asarray(mesh.vertices)[triangles], deformed[triangles])[runs.triangle].T
    first = np.stack([a * runs.x + b * runs.y + c, d * runs.x + e * runs.y + f], axis=1).astype(np.float32)
    step = np.stack([a, d], axis=1).astype(np.float32)
    pixels, offsets = runs.pixels(width)
    source = np.repeat(first, runs.length, axis=0)
    source += offsets.astype(np.float32)[:, None] * np.repeat(step, runs.length, axis=0)
    drawn = _sample(np.ascontiguousarray(premultiplied, np.float32), source)
    flat = canvas.reshape(-1, channels)
    if out is not None:
        drawn += np.take(flat, pixels, axis=0) * (1.0 - drawn[:, -1:])
    pixel_type = np.dtype((np.void, 4 * channels))  # whole float32 pixels scatter faster than rows of floats
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
    map (singular values s1 >= s2; 1 for a rigid motion): its maximum, its rest-area-weighted mean, and the stretch
    that 99 % of the rest area stays within (the inner side of a bent joint squeezes a few small triangles hard,
    which sets the maximum; `stretch_p99` says how much of the layer does)."""
    rest = np.asarray(mesh.vertices, np.float64)
    deformed = np.asarray(deformed, np.float64)
    triangles = np.asarray(mesh.triangles)
    if len(triangles) == 0:
        return {"flipped_triangles": 0, "max_stretch": 1.0, "mean_stretch": 1.0, "stretch_p99": 1.0}
    a, b, c, d = _linear_maps(rest[triangles], deformed[triangles]).T
    # closed-form singular values of a 2x2 matrix: s1,2 = |q| +- |r| with q, r its conformal and anti-conformal parts
    conformal = np.hypot((a + d) / 2, (c - b) / 2)
    anticonformal = np.hypot((a - d) / 2, (c + b) / 2)
    largest = conformal + anticonformal
    smallest = np.abs(conformal - anticonformal)
    stretch = np.maximum(largest, 1.0 / np.maximum(smallest, MIN_SINGULAR))
    rest_area = signed_areas(rest, triangles)
    order = np.argsort(stretch)
    area_below = np.cumsum(rest_area[order]) / rest_area.sum()
    p99 = stretch[order][min(np.searchsorted(area_below, 0.99), len(order) - 1)]
    flipped = int(np.count_nonzero(signed_areas(deformed, triangles) < 0))
    return {"flipped_triangles": flipped, "max_stretch": float(stretch.max()),
            "mean_stretch": float(np.sum(stretch * rest_area) / rest_area.sum()), "stretch_p99": float(p99)}
