"""The puppet's skeleton in the product crop's pixels: bones placed by the silhouette fit (and then refined onto the
product's limbs), and per driving frame each bone's map from the reference pose.

A shipped motion's rig gives a bone tree; bones then move by forward kinematics in the product's own space: each
bone turns by its clip bone's rotation since the reference frame, about its own joint, and its joint is carried by
its parent's map. So limbs keep the product's lengths and widths whatever the fit's aspect. A user's clip has no
rig: its tracked regions become free bones that move by their (conjugated) affine maps, joined where they touch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipeline.motion.driving import ANALYSIS_SIDE, DrivingAnalysis
from pipeline.motion.rig import Rig


def homogeneous(affine: np.ndarray) -> np.ndarray:
    """(..., 2, 3) -> (..., 3, 3)."""
    full = np.zeros(affine.shape[:-2] + (3, 3))
    full[..., :2, :] = affine
    full[..., 2, 2] = 1.0
    return full


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def _rotation_about(point: np.ndarray, angle: float, moved_to: np.ndarray) -> np.ndarray:
    """3x3 map turning by `angle` about `point` and carrying `point` to `moved_to`."""
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s], [s, c]])
    matrix = np.eye(3)
    matrix[:2, :2] = rotation
    matrix[:2, 2] = moved_to - rotation @ point
    return matrix


@dataclass(frozen=True)
class Skeleton:
    names: tuple[str, ...]
    parents: np.ndarray  # (K,) int, -1 for roots
    heads: np.ndarray  # (K, 2) joints in crop pixels at the reference pose
    tails: np.ndarray  # (K, 2) far ends
    depths: np.ndarray  # (K,) draw order, low is behind
    joints: tuple[tuple[int, int], ...]  # bone pairs joined at a joint (parent, child) or where regions touch
    rigged: bool  # True: forward kinematics from a rig; False: a user clip's regions as free bones
    laid: frozenset[int] = frozenset()  # bones laid along the product's own limbs (their placement is trusted)

    @property
    def count(self) -> int:
        return len(self.names)

    def with_bones(self, heads: np.ndarray, tails: np.ndarray, laid: frozenset[int] = frozenset()) -> "Skeleton":
        return replace(self, heads=heads, tails=tails, laid=laid)


@dataclass(frozen=True)
class Driver:
    """Maps the skeleton's bones from the reference pose to each driving frame."""
    relative: np.ndarray  # (T, K, 3, 3) clip-space maps from the reference frame, in analysis pixels
    alignment: np.ndarray  # 3x3 analysis pixels -> crop pixels

    @property
    def n_frames(self) -> int:
        return int(self.relative.shape[0])

    def conjugated(self, frame: int) -> np.ndarray:
        """(K, 3, 3) the clip's relative maps carried into crop pixels (S M S^-1)."""
        return self.alignment[None] @ self.relative[frame] @ np.linalg.inv(self.alignment)[None]

    def bone_maps(self, skeleton: Skeleton, frame: int) -> np.ndarray:
        """(K, 3, 3) crop pixels at the reference pose -> crop pixels at driving frame `frame`."""
        conjugated = self.conjugated(frame)
        if not skeleton.rigged:
            return conjugated
        mirror = -1.0 if np.linalg.det(self.alignment[:2, :2]) < 0 else 1.0
        maps = np.empty((skeleton.count, 3, 3))
        for k in range(skeleton.count):
            turn = self.relative[frame, k]
            angle = mirror * float(np.arctan2(turn[1, 0] - turn[0, 1], turn[0, 0] + turn[1, 1]))
            head = skeleton.heads[k]
            parent = int(skeleton.parents[k])
            carried = apply(conjugated[k] if parent < 0 else maps[parent], head[None])[0]
            maps[k] = _rotation_about(head, angle, carried)
        return maps


def _relative(affines: np.ndarray, reference: int) -> np.ndarray:
    full = homogeneous(affines)
    return full @ np.linalg.inv(full[reference])[None]


def rig_skeleton(rig: Rig, alignment: np.ndarray, reference: int) -> tuple[Skeleton, Driver]:
    """Bones of a shipped motion's rig at the reference frame, placed on the crop by the silhouette fit."""
    scale = ANALYSIS_SIDE / max(rig.size)  # the analysis (and the fit) works at ANALYSIS_SIDE
    to_analysis = np.diag([scale, scale, 1.0])
    relative = to_analysis[None, None] @ _relative(rig.affines, reference) @ np.linalg.inv(to_analysis)[None, None]
    at_reference = homogeneous(rig.affines[reference])
    place = np.array([alignment @ to_analysis @ m for m in at_reference])
    heads = np.array([apply(place[k], np.array([b.head]))[0] for k, b in enumerate(rig.bones)])
    tails = np.array([apply(place[k], np.array([b.tail]))[0] for k, b in enumerate(rig.bones)])
    parents = np.array([b.parent for b in rig.bones])
    skeleton = Skeleton(tuple(b.name for b in rig.bones), parents, heads, tails,
                        np.array([b.depth for b in rig.bones], np.float64),
                        tuple((int(p), k) for k, p in enumerate(parents) if p >= 0), rigged=True)
    return skeleton, Driver(relative, alignment)


def _principal_segment(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre = points.mean(axis=0)
    if len(points) < 2:
        return centre, centre
    _, _, axes = np.linalg.svd(points - centre, full_matrices=False)
    along = (points - centre) @ axes[0]
    low, high = np.quantile(along, [0.05, 0.95])
    return centre + low * axes[0], centre + high * axes[0]


def region_skeleton(analysis: DrivingAnalysis, labels: np.ndarray, alignment: np.ndarray,
                    reference: int) -> tuple[Skeleton, Driver]:
    """A user clip's tracked regions as free bones: each a segment along its region's principal axis (regions as
    they lie at the reference frame, `labels`), joined to the regions it touches."""
    count = int(analysis.affines.shape[1])
    heads, tails = np.zeros((count, 2)), np.zeros((count, 2))
    for k in range(count):
        ys, xs = np.nonzero(labels == k)
        if len(xs):
            head, tail = _principal_segment(np.stack([xs, ys], axis=1).astype(np.float64))
            heads[k], tails[k] = apply(alignment, head[None])[0], apply(alignment, tail[None])[0]
    touching = set()
    for shifted in (labels[1:, :], labels[:, 1:]):
        base = labels[:shifted.shape[0], :shifted.shape[1]]
        pairs = np.stack([base.ravel(), shifted.ravel()], axis=1)
        pairs = pairs[(pairs[:, 0] >= 0) & (pairs[:, 1] >= 0) & (pairs[:, 0] != pairs[:, 1])]
        touching.update((int(min(a, b)), int(max(a, b))) for a, b in np.unique(pairs, axis=0))
    skeleton = Skeleton(tuple(f"region_{k}" for k in range(count)), np.full(count, -1), heads, tails,
                        np.zeros(count), tuple(sorted(touching)), rigged=False)
    return skeleton, Driver(_relative(analysis.affines, reference), alignment)
