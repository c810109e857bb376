"""Calibrate the quality gate on outputs whose answer is known.

    python bench/gate_calibration.py [--size 160] [--frames 24] [--doc docs/quality_gate.md] [--sheet SHEET.png]

Good outputs are the ground-truth motions of the synthetic articulated figures (pipeline/synthetic/articulated.py,
the motion bench's target figures): true motion, rendered, over a plate the real inpainting filled. Broken outputs
are the same figures with one fault built in: a stretched limb, a folded limb, a vanishing limb, a limb breaking
off, a rigid product that bends, a plate with a ghost of the product, a loop that pops, a background that flickers.
Each case is written as a product folder laid out as the stages write it (folders from the stage classes) and
measured by the gate's own code (pipeline.gate.product.measure), then checked against the default thresholds
(PipelineConfig).

The motion facts the puppet stage will write (motion.json `kind` and `deformation`) are synthesised the way the
contract defines them: the frame-0 matte is meshed (Delaunay on interior and contour points, triangles cut where
they would join parts that are not parent and child), every vertex moves with its part's true (or broken) motion,
and each triangle's stretch is max(s1, 1/s2) of its rest -> frame 2x2 map; flipped = negative determinant. The
plate's visible-band facts are measured against the true backdrop (what inpaint.json's estimate stands for).

Prints a markdown table; `--doc` rewrites the table between the calibration markers of that file.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from scipy import ndimage
from scipy.spatial import Delaunay

from pipeline.atomic import atomic_write_bytes, atomic_write_json
from pipeline.config import PipelineConfig
from pipeline.fusion import composite_frame, feather_ramp
from pipeline.gate.checks import RULES, PLATE_QUALITY, Check, evaluate
from pipeline.gate.product import StageFolders, measure
from pipeline.imageio import write_png
from pipeline.inpainting import inpaint_plate, make_hole
from pipeline.motion.groundtruth import CASES
from pipeline.synthetic import articulated as A

MARK_BEGIN, MARK_END = "<!-- calibration table: begin -->", "<!-- calibration table: end -->"
MARGIN = 0.3  # photo margin around the crop, as a share of the crop side
MESH_SPACING = 5.0  # px between mesh points
JOINT_ZONE = 0.08  # of the crop side: how far from a joint the mesh bends across it
MIN_ANGLE = 15.0  # degrees: thinner mesh triangles are dropped (a puppet's mesher would not make them)
HOLE_DILATE = 4  # px, as the inpaint stage dilates the matte at this photo size
OFF_CANVAS = np.array([[500.0, 500.0], [500.001, 500.0], [500.0, 500.001]])  # a part drawn nowhere
TARGETS = {case.name: case for case in CASES}

Affine = np.ndarray  # 3x3, pixel coordinates
LimbEdit = Callable[[float, np.ndarray, np.ndarray], Affine]  # (loop fraction, joint px, limb px) -> affine; the
# limb vector runs from the joint to the limb's next joint (hip to knee)


@dataclass(frozen=True)
class Spec:
    """One calibration case: a figure and motion, and the fault built into it (if any)."""
    name: str
    figure: str  # key of groundtruth's target figures
    kind: str  # motion.json kind
    expect: str  # the check meant to hold it; "" for a good output
    motion: Callable[[float], A.Pose] | None = None  # default: the figure's library motion
    loop_share: float = 1.0  # share of the motion's cycle the frames cover (below 1: the loop pops)
    limb: tuple[str, ...] = ()  # parts the limb edit moves (a limb and what hangs from it)
    limb_edit: LimbEdit | None = None
    limb_fade: bool = False  # the limb parts fade out mid-loop
    ghost: bool = False  # the plate keeps a ghost of the product
    flicker: float = 0.0  # amplitude (levels) of a brightness wobble outside the crop


def _bump(fraction: float) -> float:
    """0 at the loop's ends, 1 in its middle, smooth: faults that still loop."""
    return math.sin(math.pi * fraction) ** 2


def _axis_scale(joint: np.ndarray, axis: np.ndarray, factor: float) -> Affine:
    """Scale by `factor` along `axis` (its direction) through `joint` (negative: mirror across the perpendicular)."""
    axis = axis / max(float(np.linalg.norm(axis)), 1e-6)
    linear = np.eye(2) + (factor - 1.0) * np.outer(axis, axis)
    affine = np.eye(3)
    affine[:2, :2], affine[:2, 2] = linear, joint - linear @ joint
    return affine


def stretch_limb(fraction: float, joint: np.ndarray, axis: np.ndarray) -> Affine:
    return _axis_scale(joint, axis, 1.0 + 0.9 * _bump(fraction))


def fold_limb(fraction: float, joint: np.ndarray, axis: np.ndarray) -> Affine:
    """Flattened across its axis and then folded over (mirrored) mid-loop, keeping its length."""
    across = np.array([-axis[1], axis[0]])
    return _axis_scale(joint, across, 1.0 - 1.7 * _bump(fraction))


def break_off(fraction: float, joint: np.ndarray, axis: np.ndarray) -> Affine:
    """The limb slides off its joint, down along itself and forward (for a right-facing figure), mid-loop by its
    upper bone's length: it floats apart from the body and the other legs (what a puppet does to feet it gave to
    the wrong parts)."""
    affine = np.eye(3)
    affine[:2, 2] = _bump(fraction) * (axis + np.array([axis[1], -axis[0]]))
    return affine


def rock(phase: float) -> A.Pose:
    """The sway motion as one rigid body: the column's whole bend taken as a turn about its base."""
    pose = A.sway(phase)
    return A.Pose(rotation=pose.rotation + sum(pose.angles.values()))


BEND = (0.07, 0.09, 0.12, 0.12)  # radians per segment above the base: how far the jelly bends at the sway's extremes


def bend_more(phase: float) -> A.Pose:
    """The rigid sway's rock with the column's segments bending on top of it: a rigid product that bends like
    jelly (what the old flow stage did to mugs)."""
    pose = A.sway(phase)
    swing = float(np.sin(2.0 * np.pi * phase))
    bends = {f"segment_{k + 1}": amplitude * swing for k, amplitude in enumerate(BEND)}
    return A.Pose(bends, offset=pose.offset, rotation=pose.rotation, scale=pose.scale, contact=pose.contact)


HIND_LEG = ("hind_near_upper", "hind_near_lower")  # a limb: the first part's joint and the second's are its axis
FORE_LEG = ("fore_near_upper", "fore_near_lower")
LEGS = HIND_LEG + FORE_LEG + ("hind_far_upper", "hind_far_lower", "fore_far_upper",
                   "fore_far_lower")
SPECS: tuple[Spec, ...] = (
    Spec("horse gallop", "horse_gallop", "articulated", ""),
    Spec("dino walk", "dino_walk", "articulated", ""),
    Spec("doll wave", "doll_wave", "articulated", ""),
    Spec("mug rocks (rigid)", "sway", "rigid", "", motion=rock),
    Spec("box bounces (rigid)", "bounce", "rigid", ""),
    Spec("stretched limb", "horse_gallop", "articulated", "motion_stretch", limb=HIND_LEG, limb_edit=stretch_limb),
    Spec("folded limb", "horse_gallop", "articulated", "motion_flipped_triangles", limb=HIND_LEG,
         limb_edit=fold_limb),
    Spec("vanishing legs", "horse_gallop", "articulated", "alpha_coverage", limb=LEGS, limb_fade=True),
    Spec("leg breaking off", "horse_gallop", "articulated", "detached_pieces", limb=FORE_LEG, limb_edit=break_off),
    Spec("bent rigid product", "sway", "rigid", "rigid_unexplained", motion=bend_more),
    Spec("plate with a ghost", "horse_gallop", "articulated", "plate_band_error", ghost=True),
    Spec("popping loop", "horse_gallop", "articulated", "loop_seam", loop_share=0.6),
    Spec("flickering background", "horse_gallop", "articulated", "background_flicker", flicker=6.0),
)


# ----------------------------------------------------------------------------- rendering the crop's frames


def _hidden(figure: A.Figure, names: set[str]) -> A.Figure:
    """The figure with the named parts drawn nowhere (their joints still carry their children)."""
    parts = tuple(replace(p, patches=(A.Patch(OFF_CANVAS),)) if p.name in names else p for p in figure.parts)
    return replace(figure, parts=parts)


def _rgba(figure: A.Figure, pose: A.Pose, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(premultiplied RGB, alpha) in [0,1]: rendered over black and over white, the difference is coverage."""
    black = A.render(figure, pose, size, (0, 0, 0)).rgb.astype(np.float32) / 255.0
    white = A.render(figure, pose, size, (255, 255, 255)).rgb.astype(np.float32) / 255.0
    alpha = np.clip(1.0 - (white - black).mean(axis=2), 0.0, 1.0)
    return black, alpha


def _straight(premultiplied: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight-alpha float RGBA from premultiplied colour."""
    rgb = np.where(alpha[..., None] > 1e-4, premultiplied / np.maximum(alpha[..., None], 1e-4), 0.0)
    return np.concatenate([np.clip(rgb, 0, 1), alpha[..., None]], axis=2).astype(np.float32)


def _warp(image: np.ndarray, affine: Affine, size: int) -> np.ndarray:
    return cv2.warpAffine(image, affine[:2], (size, size), flags=cv2.INTER_LINEAR, borderValue=0)


def _part_maps(figure: A.Figure, pose: A.Pose, rest: A.Pose, size: int) -> np.ndarray:
    """(P, 3, 3) pixel maps of each part from the rest pose to `pose`."""
    to_px = A.canvas_to_pixels(size)
    now, before = A.part_transforms(figure, pose), A.part_transforms(figure, rest)
    return np.stack([to_px @ now[k] @ np.linalg.inv(to_px @ before[k]) for k in range(len(figure.parts))])


@dataclass
class Clip:
    frames: list[np.ndarray]  # straight-alpha float RGBA crops
    part_maps: list[np.ndarray]  # per frame (P, 3, 3): rest pixels -> frame pixels, faults included
    labels0: np.ndarray  # frame 0's part index per pixel (-1 outside)
    rest_pose: A.Pose  # frame 0's pose


def render_case(spec: Spec, size: int, n_frames: int) -> tuple[Clip, A.Figure]:
    motion_spec = A.MOTIONS[TARGETS[spec.figure].motion]
    figure = motion_spec.make_figure(**TARGETS[spec.figure].target)
    motion = spec.motion or motion_spec.motion
    limb = set(spec.limb)
    limb_index = [k for k, p in enumerate(figure.parts) if p.name in limb]
    rest_pose = motion(0.0)
    frames, maps = [], []
    for index in range(n_frames):
        fraction = index / n_frames
        pose = motion(fraction * spec.loop_share)
        part_maps = _part_maps(figure, pose, rest_pose, size)
        premultiplied, alpha = _rgba(figure, pose, size)
        if spec.limb_fade:  # a cross-fade to the figure without the limbs
            fade = min(1.0, 2.0 * _bump(fraction))
            without, without_alpha = _rgba(_hidden(figure, limb), pose, size)
            premultiplied = premultiplied * (1.0 - fade) + without * fade
            alpha = alpha * (1.0 - fade) + without_alpha * fade
        elif spec.limb_edit is not None:
            # the limb is its own layer, changed and laid over the rest (the near hind leg is frontmost)
            body, body_alpha = _rgba(_hidden(figure, limb), pose, size)
            leg, leg_alpha = _rgba(_hidden(figure, {p.name for p in figure.parts} - limb), pose, size)
            joints = A.joint_positions(figure, pose, size)
            head, knee = joints[spec.limb[0]], joints[spec.limb[1]]
            edit = spec.limb_edit(fraction, head, knee - head)
            leg, leg_alpha = _warp(leg, edit, size), _warp(leg_alpha, edit, size)
            part_maps[limb_index] = edit @ part_maps[limb_index]
            premultiplied = leg + body * (1.0 - leg_alpha[..., None])
            alpha = leg_alpha + body_alpha * (1.0 - leg_alpha)
        frames.append(_straight(premultiplied, alpha))
        maps.append(part_maps)
    labels0 = A.render(figure, rest_pose, size).labels
    return Clip(frames, maps, labels0, rest_pose), figure


# ----------------------------------------------------------------------------- the deformation facts


@dataclass
class Mesh:
    points: np.ndarray  # (V, 2) frame-0 pixels
    triangles: np.ndarray  # (F, 3)
    parts: np.ndarray  # (V,) the part each vertex belongs to
    blend: np.ndarray  # (V,) the weight of its joint partner's motion (0 away from joints, at most 0.5)
    partner: np.ndarray  # (V,) the part across the nearest joint (its own part away from joints)


def _min_angles(corners: np.ndarray) -> np.ndarray:
    """Smallest interior angle (degrees) of each triangle (F, 3, 2)."""
    angles = []
    for k in range(3):
        a, b = corners[:, (k + 1) % 3] - corners[:, k], corners[:, (k + 2) % 3] - corners[:, k]
        cos = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
        angles.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.min(angles, axis=0)


def mesh(mask: np.ndarray, labels: np.ndarray, figure: A.Figure, rest: A.Pose, zone: float) -> Mesh:
    """The matte's mesh as a puppet would build it: Delaunay on interior and contour points (no slivers), cut
    where parts meet. Parts at one depth share a layer: near their joint (within `zone` px) vertices take up to half
    of the other part's turn, fading with the distance, as a rigid-as-possible solve spreads a joint's turn over
    its neighbourhood. Parts at other depths are layers of their own and move rigidly."""
    height, width = mask.shape
    ys, xs = np.mgrid[MESH_SPACING / 2:height:MESH_SPACING, MESH_SPACING / 2:width:MESH_SPACING]
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    depth = ndimage.distance_transform_edt(mask)
    grid = grid[depth[grid[:, 1].astype(int), grid[:, 0].astype(int)] > MESH_SPACING / 2]
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = np.concatenate([c[::max(1, int(MESH_SPACING)), 0, :] for c in contours]).astype(np.float64)
    points = np.concatenate([grid, outline])
    triangles = Delaunay(points).simplices
    centres = points[triangles].mean(axis=1).round().astype(int)
    triangles = triangles[mask[centres[:, 1], centres[:, 0]] & (_min_angles(points[triangles]) >= MIN_ANGLE)]
    # a vertex takes the part of the nearest labelled pixel (contour points sit on the anti-aliased rim)
    _, (near_y, near_x) = ndimage.distance_transform_edt(labels < 0, return_indices=True)
    px = points.round().astype(int)
    parts = labels[near_y[px[:, 1], px[:, 0]], near_x[px[:, 1], px[:, 0]]].astype(int)
    triangles = triangles[np.all(parts[triangles] == parts[triangles][:, :1], axis=1)]
    blend, partner = np.zeros(len(points)), parts.copy()
    pivots = A.joint_positions(figure, rest, mask.shape[0])
    for child, part in enumerate(figure.parts):
        if part.parent < 0 or part.depth != figure.parts[part.parent].depth:
            continue  # parts drawn at other depths are separate layers: each moves rigidly with its bone
        share = 0.5 * np.clip(1.0 - np.linalg.norm(points - pivots[part.name], axis=1) / zone, 0.0, 1.0)
        mine = np.isin(parts, (child, part.parent)) & (share > blend)
        blend[mine] = share[mine]
        partner[mine] = np.where(parts[mine] == child, part.parent, child)
    return Mesh(points, triangles, parts, blend, partner)


def _towards(relative: Affine, share: float) -> Affine:
    """`share` of the rigid map `relative`: the same turn scaled by `share` about its fixed point (a straight blend
    of two turned maps would shrink the mesh between them, as linear blend skinning does)."""
    if share <= 0.0:
        return np.eye(3)
    angle = math.atan2(relative[1, 0], relative[0, 0])
    turned = np.eye(3)
    if abs(angle) < 1e-9:
        turned[:2, 2] = share * relative[:2, 2]
        return turned
    rotation = relative[:2, :2]
    fixed = np.linalg.solve(np.eye(2) - rotation, relative[:2, 2])
    c, s = math.cos(share * angle), math.sin(share * angle)
    turned[:2, :2] = [[c, -s], [s, c]]
    turned[:2, 2] = fixed - turned[:2, :2] @ fixed
    return turned


def deformation(body: Mesh, part_maps: list[np.ndarray]) -> dict[str, list]:
    """Per frame: the worst triangle stretch max(s1, 1/s2) and the count of flipped triangles."""
    homogeneous = np.concatenate([body.points, np.ones((len(body.points), 1))], axis=1)
    rest = body.points[body.triangles]
    rest_edges = np.stack([rest[:, 1] - rest[:, 0], rest[:, 2] - rest[:, 0]], axis=2)
    usable = np.abs(np.linalg.det(rest_edges)) > 1e-6
    inverse = np.linalg.inv(rest_edges[usable])
    stretch, flipped = [], []
    for maps in part_maps:
        moved = np.stack([(maps[own] @ _towards(np.linalg.inv(maps[own]) @ maps[other], share) @ point)[:2]
                          for own, other, share, point in zip(body.parts, body.partner, body.blend, homogeneous)])
        moved = moved[body.triangles][usable]
        edges = np.stack([moved[:, 1] - moved[:, 0], moved[:, 2] - moved[:, 0]], axis=2)
        jacobians = edges @ inverse
        singular = np.linalg.svd(jacobians, compute_uv=False)
        stretch.append(round(float(np.max(np.maximum(singular[:, 0], 1.0 / np.maximum(singular[:, 1], 1e-9)))), 4))
        flipped.append(int((np.linalg.det(jacobians) < 0).sum()))
    return {"max_stretch": stretch, "flipped_triangles": flipped}


# ----------------------------------------------------------------------------- the photo, plate and fusion


def backdrop(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A studio backdrop: the renderer's grey with a soft vertical gradient and a little sensor noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(-10.0, 8.0, height)[:, None, None]
    noise = rng.normal(0.0, 1.5, (height, width, 3))
    return np.clip(np.array(A.BACKGROUND, np.float64) + ramp + noise, 0, 255).astype(np.uint8)


def place(crop: np.ndarray, box: tuple[int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """A crop-sized array placed into a photo-sized zero array at the box."""
    x0, y0, side = box
    out = np.zeros(shape + crop.shape[2:], crop.dtype)
    out[y0:y0 + side, x0:x0 + side] = crop
    return out


@dataclass
class Product:
    """One case's stage outputs, as the gate reads them from a product folder."""
    crop0: np.ndarray  # uint8 RGBA, the source crop
    motion_frames: list[np.ndarray]  # uint8 RGBA crops
    motion_facts: dict
    inpaint_facts: dict
    fusion_frames: list[np.ndarray]  # uint8 RGB photos
    box: tuple[int, int, int]


def to_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def build(spec: Spec, size: int, n_frames: int) -> Product:
    clip, figure = render_case(spec, size, n_frames)
    margin = round(MARGIN * size)
    box = (margin, margin // 2, size)
    shape = (size + margin, size + 2 * margin)
    truth = backdrop(*shape)
    alpha0 = place(clip.frames[0][..., 3], box, shape)
    colour0 = place(clip.frames[0][..., :3], box, shape)
    photo = to_u8(colour0 * alpha0[..., None] + truth / 255.0 * (1.0 - alpha0[..., None]))
    hole = make_hole(alpha0, np.zeros(shape, bool), HOLE_DILATE)
    plate = inpaint_plate(photo, hole)
    plate_u8 = plate.plate_u8
    if spec.ghost:  # half of the product stays in the plate, as a poor fill leaves it
        plate_u8 = np.where(hole[..., None], to_u8((photo / 255.0 + truth / 255.0) / 2.0), plate_u8)
    uncovered = np.zeros(shape, bool)
    for frame in clip.frames:
        uncovered |= place(frame[..., 3], box, shape) < 0.5
    band = hole & uncovered
    band_error = float(np.abs(plate_u8.astype(np.float32) - truth.astype(np.float32))[band].mean()) if band.any() else 0.0
    feather = feather_ramp(size, max(1, round(0.04 * size)))
    fusion = []
    for index, frame in enumerate(clip.frames):
        out = composite_frame(plate_u8, photo, frame, box, feather)
        if spec.flicker:
            wobble = spec.flicker * math.sin(2.0 * math.pi * index / n_frames)
            inside = place(np.ones((size, size), bool), box, shape)
            out = np.where(inside[..., None], out, np.clip(out.astype(np.float32) + wobble, 0, 255)).astype(np.uint8)
        fusion.append(out)
    body = mesh(clip.frames[0][..., 3] > 0.5, clip.labels0, figure, clip.rest_pose, JOINT_ZONE * size)
    motion_facts = {"kind": spec.kind, "frames": n_frames, "deformation": deformation(body, clip.part_maps)}
    inpaint_facts = {"method": plate.method, "quality": plate.quality, "visible_band_px": int(band.sum()),
                     "visible_band_error": round(band_error, 2)}
    return Product(to_u8(clip.frames[0]), [to_u8(f) for f in clip.frames], motion_facts, inpaint_facts, fusion,
                   box)


def write_product(product: Product, folder: Path) -> StageFolders:
    """The files the gate reads, where the stages put them."""
    folders = StageFolders(folder)
    write_png(folders.localize / "crop.png", product.crop0)
    atomic_write_json(folders.localize / "localize.json", {"crop_box": list(product.box)})
    for index, frame in enumerate(product.motion_frames):
        write_png(folders.motion / "frames" / f"{index:04d}.png", frame)
    atomic_write_json(folders.motion / "motion.json", product.motion_facts)
    atomic_write_json(folders.inpaint / "inpaint.json", product.inpaint_facts)
    for index, frame in enumerate(product.fusion_frames):
        write_png(folders.fusion / "frames" / f"{index:04d}.png", frame)
    return folders


def gate_case(spec: Spec, size: int, n_frames: int, config: PipelineConfig,
              workdir: Path) -> tuple[list[Check], Product]:
    product = build(spec, size, n_frames)
    folders = write_product(product, workdir / spec.name.replace(" ", "_").replace("(", "").replace(")", ""))
    return evaluate(measure(folders), config), product


# ----------------------------------------------------------------------------- the table


COLUMNS = tuple(rule.name for rule in RULES) + (PLATE_QUALITY.name,)


def cell(check: Check, expect: str) -> str:
    if check.passed is None:
        return "–"
    shown = f"{check.value:.3g}" if isinstance(check.value, float) else str(check.value)
    shown = f"**{shown}** ✗" if check.failed else shown
    return f"{shown} ◀" if check.name == expect else shown


def table(rows: list[tuple[Spec, list[Check]]], config: PipelineConfig) -> str:
    thresholds = [f"≤ {getattr(config, rule.setting):g}" for rule in RULES] + ["not low"]
    lines = ["| case | kind | " + " | ".join(COLUMNS) + " | verdict |",
             "|---|---|" + "---|" * len(COLUMNS) + "---|",
             "| *threshold* | | " + " | ".join(thresholds) + " | |"]
    for spec, checks in rows:
        failed = [c.name for c in checks if c.failed]
        if spec.expect:
            verdict = ("held by " + ", ".join(failed)) if spec.expect in failed else "**MISSED**"
        else:
            verdict = "passes" if not failed else "**wrongly held** by " + ", ".join(failed)
        lines.append(f"| {spec.name} | {spec.kind} | " + " | ".join(cell(c, spec.expect) for c in checks)
                     + f" | {verdict} |")
    return "\n".join(lines)


def write_doc(path: Path, text: str) -> None:
    doc = path.read_text()
    start, end = doc.index(MARK_BEGIN) + len(MARK_BEGIN), doc.index(MARK_END)
    atomic_write_bytes(path, (doc[:start] + "\n" + text + "\n" + doc[end:]).encode())


def sheet(rows: list[tuple[Spec, Product, list[Check]]], path: Path) -> None:
    """Per case: the fusion frame the first failed check (else the loop's middle) points at, labelled."""
    tiles = []
    for spec, product, checks in rows:
        failed = [c for c in checks if c.failed]
        index = next((c.frame for c in failed if c.frame is not None), len(product.fusion_frames) // 2)
        tile = cv2.cvtColor(product.fusion_frames[index], cv2.COLOR_RGB2BGR).copy()
        label = f"{spec.name} t={index}"
        cv2.putText(tile, label, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(cv2.cvtColor(tile, cv2.COLOR_BGR2RGB))
    per_row = 4
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % per_row)
    grid = np.concatenate([np.concatenate(tiles[i:i + per_row], axis=1) for i in range(0, len(tiles), per_row)])
    write_png(path, grid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=160, help="crop side in px")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--doc", type=Path, help="rewrite the calibration table in this markdown file")
    parser.add_argument("--sheet", type=Path, help="write a PNG of each case's worst frame here")
    args = parser.parse_args()
    config = PipelineConfig()
    rows, products = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in SPECS:
            started = time.perf_counter()
            checks, product = gate_case(spec, args.size, args.frames, config, Path(tmp))
            rows.append((spec, checks))
            products.append((spec, product, checks))
            print(f"{spec.name}: {', '.join(c.describe() for c in checks if c.passed is not None)} "
                  f"({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)
    text = table(rows, config)
    print(text)
    if args.doc:
        write_doc(args.doc, text)
    if args.sheet:
        sheet(products, args.sheet)
    good = all(not any(c.failed for c in checks) for spec, checks in rows if not spec.expect)
    held = all(spec.expect in [c.name for c in checks if c.failed] for spec, checks in rows if spec.expect)
    return 0 if good and held else 1


if __name__ == "__main__":
    sys.exit(main())
