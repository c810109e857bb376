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


def _inverse_affines(rest: np.ndarray, deformed: np.ndarray) -> np.ndarray:
    """(M, 2, 3) maps from each deformed triangle (M, 3, 2) back to its rest triangle (M, 3, 2)."""
    homogeneous = np.concatenate([deformed, np.ones(deformed.shape[:2] + (1,))], axis=2)  # (M, 3, 3)
    return np.linalg.solve(homogeneous, rest).transpose(0, 2, 1)


def render_mesh(premultiplied: np.ndarray, mesh: Mesh, deformed: np.ndarray, out_shape: tuple[int, int],
                out: np.ndarray | None = None) -> np.ndarray:
    """The image (H, W, 4) float32 premultiplied RGBA drawn through the mesh deformed to `deformed` (N, 2).

    Returns a new (oh, ow, 4) float32 image, zero off the mesh; or, given `out` (oh, ow, 4) float32, draws the
    result over it in place (premultiplied "over": out = drawn + (1 - drawn alpha) * out) and returns it, so a
    product's layers are drawn back to front into one canvas, touching only each layer's bounding box.
    """
    height, width = out_shape
    canvas = np.zeros((height, width, premultiplied.shape[2]), np.float32) if out is None else out
    deformed = np.asarray(deformed, np.float64)
    triangles = np.asarray(mesh.triangles)
    area = signed_areas(deformed, triangles)
    # a flipped triangle is drawn too (its corners reordered so the rasteriser sees a positive area)
    triangles = np.where((area < 0)[:, None], triangles[:, [0, 2, 1]], triangles)
    triangles = triangles[np.abs(area) > 1e-9]
    pixels, owner = rasterize(deformed, triangles, out_shape)
    if len(pixels) == 0:
        return canvas
    ys, xs = np.divmod(pixels, width)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    inverse = _inverse_affines(np.asarray(mesh.vertices)[triangles], deformed[triangles])[owner]  # (P, 2, 3)
    source = inverse[:, :, 0] * xs[:, None] + inverse[:, :, 1] * ys[:, None] + inverse[:, :, 2]
    maps = np.full((bottom - top, right - left, 2), OUTSIDE, np.float32)
    maps[ys - top, xs - left] = source
    drawn = cv2.remap(premultiplied, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    box = canvas[top:bottom, left:right]
    if out is not None:
        box *= 1.0 - drawn[..., 3:4]
        box += drawn
    else:
        box[...] = drawn
    return canvas


def deformation_stats(mesh: Mesh, deformed: np.ndarray) -> dict:
    """Facts about a deformation, for motion.json: flipped triangles (signed area turned negative, as
    `igl.flipped_triangles` counts them), and per-triangle stretch max(s1, 1/s2) of the rest-to-deformed linear
    map (singular values s1 >= s2): its maximum and its rest-area-weighted mean; 1 for a rigid motion."""
    rest = np.asarray(mesh.vertices, np.float64)
    deformed = np.asarray(deformed, np.float64)
    triangles = np.asarray(mesh.triangles)
    if len(triangles) == 0:
        return {"flipped_triangles": 0, "max_stretch": 1.0, "mean_stretch": 1.0}
    linear = _linear_maps(rest, deformed, triangles)
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


def _linear_maps(rest: np.ndarray, deformed: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(M, 2, 2) linear part of each triangle's rest-to-deformed affine map (edge matrix times inverse rest edges)."""
    def edge_matrix(points: np.ndarray) -> np.ndarray:
        p = points[triangles]
        return np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]], axis=2)  # columns are the two edges
    return edge_matrix(deformed) @ np.linalg.inv(edge_matrix(rest))
