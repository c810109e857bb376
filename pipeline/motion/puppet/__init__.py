"""The puppet motion stage's algorithms: rig fit, parts, layers, mesh, ARAP, rendering.

`animate` turns a product crop into frames: the clip frame whose silhouette fits the product best is the reference
pose; the motion's rig (or, for a user's clip, its tracked regions) is placed there and moved onto the product's
limbs; pixels are given to parts by geodesic distance; parts that overlap go to separate depth layers; each layer
is a mesh deformed as rigidly as possible with the bones as handles and drawn back to front. Rigid motions move the
whole object as one body (`rigid.py`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt

from pipeline.motion.driving import DrivingAnalysis
from pipeline.motion.puppet.deform import LayerPuppet
from pipeline.motion.puppet.fit import fit_rig
from pipeline.motion.puppet.layers import JointZone, build_layers, conflicts, group_layers
from pipeline.motion.puppet.parts import assign_parts
from pipeline.motion.puppet.pixels import pixel_at, unpremultiply
from pipeline.motion.puppet.rigid import animate_rigid
from pipeline.motion.puppet.skeleton import Driver, Skeleton, region_skeleton
from pipeline.motion.rig import Rig
from pipeline.motion.alignment import base_rows, choose_reference, driving_index, labels_at

MESH_SPACING_SHARE = 1 / 64  # mesh vertex spacing, a share of the crop side
JOINT_RADIUS = (1.3, 2.5, 0.5, 0.15)  # a joint's zone: this many limb half-widths, at least this many mesh
# spacings and this share of the child bone's length, at most this share of the crop side
SEAM_SHARE = 0.03  # a user clip's regions bend within this share of the crop side of where they touch
CONFLICT_FRAME_STEP = 4  # driving frames sampled to find parts that overlap during the motion


@dataclass
class Animation:
    frames: list[np.ndarray]  # float32 RGBA at the crop's size
    facts: dict = field(default_factory=dict)  # for motion.json


def with_static_base(maps: np.ndarray, has_base: bool) -> np.ndarray:
    """The bones' maps followed by the identity of a static base part, when there is one."""
    return np.concatenate([maps, np.eye(3)[None]]) if has_base else maps


def _zones(skeleton: Skeleton, matte: np.ndarray, spacing: float) -> list[JointZone]:
    if not skeleton.rigged:
        return [JointZone(pair, None, 0.0) for pair in skeleton.joints]
    depth = cv2.distanceTransform(matte.astype(np.uint8), cv2.DIST_L2, 5)
    side = max(matte.shape)
    zones = []
    for parent, child in skeleton.joints:
        half_width = float(pixel_at(depth, skeleton.heads[child][None])[0])
        length = float(np.linalg.norm(skeleton.tails[child] - skeleton.heads[child]))
        radius = float(min(max(JOINT_RADIUS[0] * half_width, JOINT_RADIUS[1] * spacing, JOINT_RADIUS[2] * length),
                           JOINT_RADIUS[3] * side))
        zones.append(JointZone((parent, child), skeleton.heads[child].copy(), radius))
    return zones


def _seams(labels: np.ndarray, skeleton: Skeleton) -> dict[int, np.ndarray] | None:
    """Per region, the distance to it (user clips' regions bend along where they touch)."""
    if skeleton.rigged:
        return None
    return {k: distance_transform_edt(labels != k).astype(np.float32) for k in range(skeleton.count)}


def build_puppets(rgba: np.ndarray, skeleton: Skeleton, driver: Driver, base_row: int | None,
                  support: np.ndarray) -> tuple[list[LayerPuppet], np.ndarray]:
    """The product's layers as puppets, back to front, and its part labels."""
    labels = assign_parts(rgba, support, skeleton, base_row)
    has_base = base_row is not None
    depths = {k: float(skeleton.depths[k]) for k in range(skeleton.count)}
    if has_base:
        depths[skeleton.count] = min(depths.values()) - 1.0
    side = max(rgba.shape[:2])
    spacing = max(3.0, MESH_SPACING_SHARE * side)
    zones = _zones(skeleton, rgba[..., 3] > 0.5, spacing)
    joints = {z.parts: z.centre for z in zones if z.centre is not None}
    radius = max([z.radius for z in zones], default=0.0)
    sampled = [with_static_base(driver.bone_maps(skeleton, t), has_base)
               for t in range(0, driver.n_frames, CONFLICT_FRAME_STEP)]
    groups = group_layers(depths, conflicts(labels, sampled, joints, radius))
    seams = _seams(labels, skeleton)
    puppets = [LayerPuppet(layer, zones, spacing, seams, SEAM_SHARE * side)
               for layer in build_layers(rgba, labels, groups, skeleton.count if has_base else None, zones)]
    return puppets, labels


def animate(rgba: np.ndarray, analysis: DrivingAnalysis, rig: Rig | None, n_frames: int, fit: str = "shape",
            kind: str = "articulated", product_facing: str = "auto") -> Animation:
    """Animate a float32 RGBA crop (HxWx4, [0,1]) with the analysed clip and its rig (None for a user's clip)."""
    if kind == "rigid":
        return animate_rigid(rgba, analysis, rig, n_frames)
    alpha = rgba[..., 3]
    support = cv2.dilate((alpha > 0.01).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    base_row = base_rows(support)
    figure = alpha > 0.5
    if base_row is not None:
        figure[base_row:] = False
    if rig is not None:
        reference, alignment, skeleton, driver = fit_rig(rig, analysis, figure, rgba[..., :3], product_facing, fit)
    else:
        reference, alignment = choose_reference(analysis, figure.astype(np.float32), product_facing, fit)
        skeleton, driver = region_skeleton(analysis, labels_at(analysis, reference), alignment.matrix, reference)
    puppets, _ = build_puppets(rgba, skeleton, driver, base_row, support)
    frames, flipped, stretch, stretch_p99 = [], [], [], []
    out = np.empty(rgba.shape, np.float32)  # one canvas, cleared per frame: a fresh one per frame costs page faults
    for frame in range(n_frames):
        index = (reference + driving_index(frame, n_frames, driver.n_frames)) % driver.n_frames
        maps = with_static_base(driver.bone_maps(skeleton, index), base_row is not None)
        out.fill(0.0)
        stats = [puppet.draw(maps, out) for puppet in puppets]
        frames.append(unpremultiply(out))
        flipped.append(int(sum(s["flipped_triangles"] for s in stats)))
        stretch.append(round(float(max([s["max_stretch"] for s in stats], default=1.0)), 4))
        stretch_p99.append(round(float(max([s["stretch_p99"] for s in stats], default=1.0)), 4))
    facts = {"kind": kind, "rigged": rig is not None, "reference_frame": reference, "mirrored": alignment.mirrored,
             "alignment_iou": round(alignment.iou, 3), "bones": skeleton.count, "layers": len(puppets),
             "static_base": base_row is not None, "triangles": int(sum(len(p.mesh.triangles) for p in puppets)),
             "deformation": {"flipped_triangles": flipped, "max_stretch": stretch, "stretch_p99": stretch_p99}}
    return Animation(frames, facts)
