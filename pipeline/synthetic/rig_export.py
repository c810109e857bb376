"""The skeleton track of a synthetic figure's motion as a Rig (pipeline/motion/rig.py): what `make motions`
writes beside each library clip, and the ground-truth bench's true bones.

Articulated rigs have one bone per part. A bone runs along the middle of its part, because the motion stage fits
it onto the product's limb by the limb's medial axis: from the part's pivot to its child's joint farthest from
it (upper leg -> knee), or for a leaf to its outline point farthest from the pivot (a hoof's bottom); the root
(body, torso) runs between the ends of its long axis instead. Rigid rigs have one bone, from the base's centre (the
contact point) to the top's centre, carrying the whole figure.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.motion.rig import Bone, Rig
from pipeline.synthetic.articulated import (BASE_TOLERANCE, Figure, Motion, apply_transform, canvas_to_pixels,
                                            part_transforms)

RIGID_BONE = "object"
IDENTICAL_MAPS_PX = 1e-3  # a rigid motion moves every part by the same map (to this many pixels per pixel)


def rig_from_figure(name: str, figure: Figure, motion: Motion, n_frames: int, size: int | tuple[int, int],
                    kind: str, phase_offset: float = 0.0) -> Rig:
    """The rig of `motion` on `figure` as `render_clip(figure, motion, n_frames, size, phase_offset=...)` draws it:
    frame t samples phase (t / n_frames + phase_offset)."""
    to_px = canvas_to_pixels(size)
    mats = np.stack([to_px @ part_transforms(figure, motion((t / n_frames + phase_offset) % 1.0))
                     for t in range(n_frames)])  # (T, P, 3, 3): part-local -> frame-t pixels
    moves = mats @ np.linalg.inv(mats[0])[None]  # frame-0 pixels -> frame-t pixels, per part
    width, height = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if kind == "rigid":
        bones, affines = _rigid_bone(figure, mats[0], moves, BASE_TOLERANCE * to_px[1, 1])
    else:
        bones = tuple(_part_bone(figure, index, mats[0], (width, height)) for index in range(len(figure.parts)))
        affines = moves[:, :, :2, :]
    return Rig(name, kind, (width, height), figure.facing, bones, affines.astype(np.float64))


def _outline(figure: Figure, index: int, local_to_px: np.ndarray) -> np.ndarray:
    return np.concatenate([apply_transform(local_to_px, patch.points) for patch in figure.parts[index].patches])


def _part_bone(figure: Figure, index: int, mats0: np.ndarray, size: tuple[int, int]) -> Bone:
    part = figure.parts[index]
    head = mats0[index][:2, 2]
    children = [k for k, other in enumerate(figure.parts) if other.parent == index]
    if part.parent < 0:
        head, tail = _long_axis(_outline(figure, index, mats0[index]), head, size)
    elif children:
        joints = np.array([mats0[k][:2, 2] for k in children])
        tail = joints[np.argmax(np.linalg.norm(joints - head, axis=1))]
    else:
        outline = _outline(figure, index, mats0[index])
        tail = outline[np.argmax(np.linalg.norm(outline - head, axis=1))]
    return Bone(part.name, part.parent, _point(head), _point(tail), float(part.depth))


def _long_axis(outline: np.ndarray, pivot: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The ends of a part's principal axis through its area's centroid, the end nearer its pivot first."""
    area = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillPoly(area, [np.round(outline).astype(np.int32)], 1)
    ys, xs = np.nonzero(area)
    pixels = np.stack([xs, ys], axis=1).astype(np.float64)
    centre = pixels.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((pixels - centre).T))
    axis = vectors[:, -1]  # eigh sorts eigenvalues ascending: the last vector is the long axis
    along = (pixels - centre) @ axis
    ends = centre + along.min() * axis, centre + along.max() * axis
    return ends if np.linalg.norm(ends[0] - pivot) <= np.linalg.norm(ends[1] - pivot) else ends[::-1]


def _rigid_bone(figure: Figure, mats0: np.ndarray, moves: np.ndarray,
                tolerance: float) -> tuple[tuple[Bone, ...], np.ndarray]:
    """One bone from the base's centre to the top's centre (the outline points within `tolerance` pixels of the
    lowest and the highest), moved by the root's map, which every part shares."""
    if np.abs(moves - moves[:, :1]).max() > IDENTICAL_MAPS_PX:
        raise ValueError("a rigid rig needs a motion that moves every part alike (nothing bends)")
    points = np.concatenate([_outline(figure, i, mats0[i]) for i, part in enumerate(figure.parts)
                             if not part.static])
    bottom, top = points[:, 1].max(), points[:, 1].min()
    base = points[points[:, 1] >= bottom - tolerance, 0]
    crown = points[points[:, 1] <= top + tolerance, 0]
    head = ((base.min() + base.max()) / 2.0, bottom)
    tail = ((crown.min() + crown.max()) / 2.0, top)
    return (Bone(RIGID_BONE, -1, _point(head), _point(tail), 0.0),), moves[:, :1, :2, :]


def _point(xy: np.ndarray | tuple[float, float]) -> tuple[float, float]:
    return float(xy[0]), float(xy[1])
