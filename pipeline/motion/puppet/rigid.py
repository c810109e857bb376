"""Rigid motions (sway, bounce): the product moves as one body, nothing bends. Each frame's map of the clip's
one bone is carried onto the product about the matching point: a rock's pivot (the base corner it leans on) goes to
the same place on the product's box, a squash's centre (the base's middle) likewise; translations (a hop's lift)
scale with the product's height. The linear part (a rotation, or one area-keeping squash) is kept as it is, so
rotations stay rotations whatever the product's aspect."""
from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from pipeline.motion.driving import ANALYSIS_SIDE, DrivingAnalysis
from pipeline.motion.puppet.pixels import premultiply, unpremultiply
from pipeline.motion.puppet.skeleton import apply, homogeneous
from pipeline.motion.rig import Rig
from pipeline.motion.alignment import driving_index

if TYPE_CHECKING:
    from pipeline.motion.puppet import Animation

TURNING = 1e-3  # radians: below this a frame's map has no pivot worth carrying over


def _box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0])


def _box_point(point: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`point` at the same place relative to box `target` as it is relative to box `source` (x0, y0, x1, y1)."""
    share = (point - source[:2]) / (source[2:] - source[:2])
    return target[:2] + share * (target[2:] - target[:2])


def product_map(clip_map: np.ndarray, centre: np.ndarray, clip_box: np.ndarray, product_box: np.ndarray) -> np.ndarray:
    """3x3 map of the product for a clip frame's 3x3 map of the clip's object (both in their own pixels)."""
    linear = clip_map[:2, :2]
    angle = np.arctan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1])
    pivot = centre
    if abs(angle) > TURNING:
        pivot = np.linalg.solve(np.eye(2) - linear, clip_map[:2, 2])  # the point the rotation keeps
    scale = (product_box[3] - product_box[1]) / (clip_box[3] - clip_box[1])
    placed = _box_point(pivot, clip_box, product_box)
    moved = placed + scale * (apply(clip_map, pivot[None])[0] - pivot)
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = moved - linear @ placed
    return matrix


def stretch(matrix: np.ndarray) -> float:
    high, low = np.linalg.svd(matrix[:2, :2], compute_uv=False)
    return float(max(high, 1.0 / max(low, 1e-9)))


def animate_rigid(rgba: np.ndarray, analysis: DrivingAnalysis, rig: Rig | None, n_frames: int) -> "Animation":
    from pipeline.motion.puppet import Animation

    if rig is None or len(rig.bones) != 1:
        raise ValueError("a rigid motion needs its one-bone rig (motions/<name>.rig.json; run `make motions`)")
    to_analysis = np.diag([ANALYSIS_SIDE / max(rig.size)] * 2 + [1.0])
    clip_box = _box(analysis.masks[0])
    product_box = _box(rgba[..., 3] > 0.5)
    centre = apply(to_analysis, np.array([rig.bones[0].head]))[0]
    premultiplied = premultiply(rgba)
    height, width = rgba.shape[:2]
    frames, stretches = [], []
    for frame in range(n_frames):
        index = driving_index(frame, n_frames, rig.n_frames)
        clip_map = to_analysis @ homogeneous(rig.affines[index, 0]) @ np.linalg.inv(to_analysis)
        matrix = product_map(clip_map, centre, clip_box, product_box)
        warped = cv2.warpAffine(premultiplied, matrix[:2], (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        frames.append(unpremultiply(warped))
        stretches.append(round(stretch(matrix), 4))
    facts = {"kind": "rigid", "rigged": True, "reference_frame": 0, "bones": 1, "layers": 1,
             "deformation": {"flipped_triangles": [0] * n_frames, "max_stretch": stretches,
                             "stretch_p99": stretches}}
    return Animation(frames, facts)
