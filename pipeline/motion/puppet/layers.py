"""Depth layers: parts that overlap another part of other depth in the reference pose or during the motion are
drawn as separate layers, back to front (the far legs behind the body, the near ones in front). A layer also gets
the part of it that the layers in front hide in the photo (the body under a near thigh), filled from its own
pixels, so a limb that swings away uncovers body and not a hole."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from pipeline.motion.puppet.pixels import premultiply
from pipeline.motion.puppet.skeleton import apply

GRID_SIDE = 96  # overlaps during the motion are measured on a grid of this many cells across
OVERLAP_SHARE = 0.04  # of the smaller part's cells: more overlap than this, away from their joint, is a conflict
SAMPLE_POINTS = 4000  # pixels per part carried through the motion to measure overlaps
EXTENSION_SHARE = 0.06  # of the crop side: how far a layer is continued under the layers in front of it
BEHIND_SEAM_SHARE = 0.5  # of a joint zone's radius: how far a limb behind its parent continues under it along their seam
INTERIOR_SHARE = 0.2  # a layer's hidden continuation is coloured at least from its deepest fifth
SEAM_PX = 2  # every layer reaches this far under the layers in front: a mesh may leave its region's outermost
# pixel row uncovered, which would show as a crack between layers


@dataclass(frozen=True)
class JointZone:
    """Where two joined parts bend: around their joint, or for a user clip's regions along their whole seam."""
    parts: tuple[int, int]
    centre: np.ndarray | None  # the joint at the reference pose; None: the whole seam where two regions touch
    radius: float


@dataclass(frozen=True)
class Layer:
    parts: tuple[int, ...]  # part labels drawn by this layer
    own: np.ndarray  # (H, W) bool: the layer's pixels in the photo
    hidden: np.ndarray  # (H, W) bool: its continuation under the layers in front (filled, not photographed)
    labels: np.ndarray  # (H, W) int32: part per pixel of own | hidden, -1 elsewhere
    premultiplied: np.ndarray  # (H, W, 4) float32: the layer's image, colour premultiplied by alpha


def _cells(points: np.ndarray, factor: float, side: int) -> np.ndarray:
    cells = np.floor(points * factor).astype(int)
    keep = (cells[:, 0] >= 0) & (cells[:, 0] < side) & (cells[:, 1] >= 0) & (cells[:, 1] < side)
    return np.unique(cells[keep, 1] * side + cells[keep, 0])


def conflicts(labels: np.ndarray, part_maps: list[np.ndarray], joints: dict[tuple[int, int], np.ndarray],
              joint_radius: float) -> set[tuple[int, int]]:
    """Part pairs (a < b) that overlap in some frame: a part's pixels carried by its map, counted on a coarse grid;
    near the joint of a joined pair (a disk of `joint_radius` about it, carried by the child's map) overlap is
    expected and not counted. `part_maps`: per sampled frame a (P, 3, 3) map per part label, `joints`: per joined
    pair the joint's position at the reference pose."""
    factor = GRID_SIDE / max(labels.shape)
    rng = np.random.default_rng(0)
    points = {}
    for part in np.unique(labels[labels >= 0]):
        ys, xs = np.nonzero(labels == part)
        pick = rng.choice(len(xs), min(len(xs), SAMPLE_POINTS), replace=False)
        points[int(part)] = np.stack([xs[pick], ys[pick]], axis=1).astype(np.float64)
    found: set[tuple[int, int]] = set()
    parts = sorted(points)
    for maps in part_maps:
        cells = {p: _cells(apply(maps[p], points[p]), factor, GRID_SIDE) for p in parts}
        for i, a in enumerate(parts):
            for b in parts[i + 1:]:
                if (a, b) in found:
                    continue
                shared = np.intersect1d(cells[a], cells[b], assume_unique=True)
                pair = (a, b) if (a, b) in joints else (b, a)
                if pair in joints and len(shared):
                    joint = apply(maps[pair[1]], joints[pair][None])[0] * factor
                    centres = np.stack([shared % GRID_SIDE, shared // GRID_SIDE], axis=1) + 0.5
                    shared = shared[np.linalg.norm(centres - joint, axis=1) > joint_radius * factor]
                if len(shared) > OVERLAP_SHARE * min(len(cells[a]), len(cells[b])):
                    found.add((a, b))
    return found


def group_layers(depths: dict[int, float], conflicting: set[tuple[int, int]]) -> list[tuple[int, ...]]:
    """Parts grouped into layers back to front: taken in depth order, each part joins the frontmost layer unless
    it conflicts with a part there, else it starts a new layer in front."""
    layers: list[list[int]] = []
    for part in sorted(depths, key=lambda p: (depths[p], p)):
        if layers and not any((min(part, other), max(part, other)) in conflicting for other in layers[-1]):
            layers[-1].append(part)
        else:
            layers.append([part])
    return [tuple(sorted(layer)) for layer in layers]


def _nearest_fill(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """`values` with every pixel outside `known` taken from the nearest known pixel."""
    # OpenCV labels each known (zero) pixel in raster order and gives every other pixel its nearest one's label
    _, nearest = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    return values[known][nearest - 1]


def _closing(mask: np.ndarray, radius: float) -> np.ndarray:
    """Morphological closing by a disk, through two distance transforms (fast for large radii)."""
    grown = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5) <= radius
    return cv2.distanceTransform(grown.astype(np.uint8), cv2.DIST_L2, 5) > radius


def _interior(mask: np.ndarray, depth: float, alpha: np.ndarray) -> np.ndarray:
    """The opaque pixels of `mask` more than `depth` px inside it, or its deepest INTERIOR_SHARE if fewer."""
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    depth = min(depth, float(np.quantile(inside[mask], 1.0 - INTERIOR_SHARE)))
    interior = (inside >= depth) & (alpha > 0.9) & mask
    return interior if interior.any() else mask


def _across_joints(group: tuple[int, ...], labels: np.ndarray, zones: Sequence[JointZone]) -> np.ndarray:
    """The pixels of parts joined to the group's parts (but not in it) within their joint's zone: all of them for a
    parent behind its limb (what the limb uncovers when it turns), only those along their seam for a limb behind
    its parent."""
    height, width = labels.shape
    ys, xs = np.mgrid[0:height, 0:width]
    across = np.zeros(labels.shape, bool)
    for zone in zones:
        a, b = zone.parts
        if zone.centre is None or (a in group) == (b in group):
            continue
        other = b if a in group else a
        near = (xs - zone.centre[0]) ** 2 + (ys - zone.centre[1]) ** 2 <= zone.radius ** 2
        if other == a:
            # a limb behind its parent (a far leg behind the body) only along their seam: its whole disc under the
            # body would show where a near thigh swings away
            from_limb = cv2.distanceTransform((labels != b).astype(np.uint8), cv2.DIST_L2, 5)
            near &= from_limb <= BEHIND_SEAM_SHARE * zone.radius
        across |= near & (labels == other)
    return across


def build_layers(rgba: np.ndarray, labels: np.ndarray, groups: list[tuple[int, ...]],
                 static: int | None = None, zones: Sequence[JointZone] = ()) -> list[Layer]:
    """The layers' pixels, hidden continuations and premultiplied images. A layer's soft matte edge stays with it:
    background pixels beside it (alpha below one, no part) belong to the nearest layer. A layer is continued
    under the layers in front along its seam with them, where its outline is concave, and across each joint to a part in front, over that
    part's pixels in the joint's zone (`zones`): a tail turning behind the body, or a body under a turning neck,
    then shows its own colour where the joint opens, not a crack. The `static` part (a plinth) is continued under
    nothing: what stands on it never leaves it uncovered."""
    height, width = labels.shape
    radius = max(2.0, EXTENSION_SHARE * max(height, width))
    layer_of_part = {part: i for i, group in enumerate(groups) for part in group}
    layer_index = np.full(labels.shape, -1, np.int32)
    for part, i in layer_of_part.items():
        layer_index[labels == part] = i
    # soft edges: pixels with some alpha but no part join the nearest layer
    edge = (rgba[..., 3] > 0) & (layer_index < 0)
    if edge.any() and (layer_index >= 0).any():
        layer_index = np.where(edge, _nearest_fill(layer_index, layer_index >= 0), layer_index)
    premultiplied = premultiply(rgba)
    layers = []
    for i, group in enumerate(groups):
        own = layer_index == i
        if not own.any():
            continue
        front = layer_index > i
        seam = cv2.dilate(own.astype(np.uint8), np.ones((2 * SEAM_PX + 1,) * 2, np.uint8)).astype(bool)
        hidden = (_closing(own, radius) | _across_joints(group, labels, zones) | seam) & front
        hidden &= (rgba[..., 3] > 0.5) & (static not in group)
        grown = _nearest_fill(np.where(np.isin(labels, group), labels, -1), np.isin(labels, group))
        layer_labels = np.where(own | hidden, grown, -1).astype(np.int32)
        image = np.where(own[..., None], premultiplied, 0.0)
        if hidden.any():
            # coloured from the layer's interior: its outline is often shaded (a belly's underside) or dark (the
            # outline of an arm lying on the dress)
            colour = cv2.GaussianBlur(_nearest_fill(rgba[..., :3], _interior(own, radius, rgba[..., 3])), (0, 0), 1.5)
            image[hidden] = np.concatenate([colour[hidden], np.ones((int(hidden.sum()), 1), np.float32)], axis=1)
        layers.append(Layer(group, own, hidden, layer_labels, image.astype(np.float32)))
    return layers
