"""2D articulated figures: rigid textured parts in a joint tree, posed by periodic motions.

Used to render the shipped driving clips and, in tests and benchmarks, as ground truth for motion
transfer: the same motion drives figures of the same kind with other proportions and textures.

Coordinates: "canvas units" are fractions of the canvas height, x to the right, y down; a positive
angle turns clockwise on screen. Every part is drawn in its own local frame (origin = its joint), so
its texture moves rigidly with it and dense optical flow can follow it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Callable, Mapping, NamedTuple, Sequence

import cv2
import numpy as np

RGB = tuple[int, int, int]
BACKGROUND: RGB = (236, 236, 236)
TEXTURE_STYLES = ("mottled", "spots", "stripes")
TAU = 2.0 * math.pi

GROUND_Y = 0.88  # canvas units: where the lowest point of the rest pose stands
FIT_SIZE = 0.66  # the larger side of the rest pose's bounding box, in canvas units
TEXELS_PER_UNIT = 1024  # texture resolution, independent of the render size
SUPERSAMPLE = 2
BASE_TOLERANCE = 0.01  # canvas units: outline points this close to the lowest one stand on the ground
_SHIFT = 4  # fixed-point bits for sub-pixel polygon fills


# ----------------------------------------------------------------------------- data types


class Patch(NamedTuple):
    """One filled polygon of a part, in the part's local frame; color None means the part's colour."""

    points: np.ndarray
    color: RGB | None = None


@dataclass(frozen=True, eq=False)
class Part:
    name: str
    parent: int  # index into Figure.parts (parents come first); -1 for the root
    joint: tuple[float, float]  # pivot in the parent's local frame; the root's pivot is its origin
    patches: tuple[Patch, ...]
    depth: float  # draw order, low first
    color: RGB
    static: bool = False  # a root that never moves (a statue's plinth): it keeps the rest pose whatever the pose


@dataclass(frozen=True, eq=False)
class PartTexture:
    rgb: np.ndarray  # uint8 (h, w, 3) raster in the part's local frame
    origin: tuple[float, float]  # local coordinates of the raster's top-left corner


@dataclass(frozen=True, eq=False)
class Figure:
    kind: str
    facing: str  # 'right' | 'left' | 'front'
    parts: tuple[Part, ...]
    home: tuple[float, float]  # canvas position of the root pivot in the rest pose
    textures: tuple[PartTexture, ...]

    @property
    def part_names(self) -> list[str]:
        return [part.name for part in self.parts]

    @cached_property
    def base(self) -> tuple[float, float, float]:
        """(y, left x, right x) of the line the rest pose stands on, relative to the root's pivot in canvas units:
        the lowest outline points of the moving parts (within BASE_TOLERANCE of the lowest)."""
        mats = part_transforms(self, Pose())
        points = np.concatenate([apply_transform(mats[i], p.points) for i, part in enumerate(self.parts)
                                 if not part.static for p in part.patches]) - self.home
        bottom = points[:, 1].max()
        xs = points[points[:, 1] >= bottom - BASE_TOLERANCE, 0]
        return float(bottom), float(xs.min()), float(xs.max())


@dataclass(frozen=True)
class Pose:
    """Joint angles (radians, relative to the figure's design pose) keyed by part name, plus the root.

    The root turns by `rotation` (its own entry in `angles` is ignored), is scaled by `scale` (sx, sy in
    canvas axes; equal for a uniform scale) and moved by `offset` (canvas units). It turns and scales about its
    pivot, or, when `contact` is a number c, about a point of the figure's base line (Figure.base): c = 0 its
    centre, +1 its right end, -1 its left end (a product rocking on the edge of its base).
    """

    angles: Mapping[str, float] = field(default_factory=dict)
    offset: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    contact: float | None = None


Motion = Callable[[float], Pose]  # phase in [0, 1) -> pose; phase 1 wraps to phase 0


class Frame(NamedTuple):
    rgb: np.ndarray  # uint8 (H, W, 3)
    mask: np.ndarray  # bool (H, W), figure foreground
    labels: np.ndarray  # int16 (H, W), part index, -1 for background
    coverage: np.ndarray  # float32 (H, W) in [0, 1]: the figure's anti-aliased alpha (mask = coverage >= 0.5)


class Clip(NamedTuple):
    frames: np.ndarray  # uint8 (T, H, W, 3)
    masks: np.ndarray  # bool (T, H, W)
    labels: np.ndarray  # int16 (T, H, W)
    poses: list[Pose]
    coverages: np.ndarray  # float32 (T, H, W)


# ----------------------------------------------------------------------------- shapes


def ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, power: float = 2.0,
            n: int = 64) -> np.ndarray:
    """Superellipse outline (power 2 = ellipse, larger = boxier), turned by `angle`."""
    t = np.linspace(0.0, TAU, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = rx * np.sign(c) * np.abs(c) ** (2.0 / power)
    y = ry * np.sign(s) * np.abs(s) ** (2.0 / power)
    ca, sa = math.cos(angle), math.sin(angle)
    return np.stack([cx + ca * x - sa * y, cy + sa * x + ca * y], axis=1)


def capsule(p0: Sequence[float], p1: Sequence[float], r0: float, r1: float, n: int = 32) -> np.ndarray:
    """Tapered capsule: the convex hull of a circle of radius r0 at p0 and one of radius r1 at p1."""
    t = np.linspace(0.0, TAU, n, endpoint=False)
    ring = np.stack([np.cos(t), np.sin(t)], axis=1)
    points = np.concatenate([np.asarray(p0) + r0 * ring, np.asarray(p1) + r1 * ring]).astype(np.float32)
    return cv2.convexHull(points)[:, 0, :].astype(np.float64)


def polygon(*points: Sequence[float]) -> np.ndarray:
    return np.asarray(points, dtype=np.float64)


def _shade(color: RGB, factor: float) -> RGB:
    return tuple(int(np.clip(round(c * factor), 0, 255)) for c in color)  # type: ignore[return-value]


# ----------------------------------------------------------------------------- transforms


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _translation(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def _scaling(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def part_transforms(figure: Figure, pose: Pose) -> np.ndarray:
    """(P, 3, 3) homogeneous maps from each part's local frame to canvas units."""
    mats = np.empty((len(figure.parts), 3, 3))
    about = np.zeros(2)
    if pose.contact is not None:
        bottom, left, right = figure.base
        centre, half = (left + right) / 2.0, (right - left) / 2.0
        about = np.array([centre + pose.contact * half, bottom])
    for index, part in enumerate(figure.parts):
        if part.static:
            mats[index] = _translation(*figure.home)
        elif part.parent < 0:
            x = figure.home[0] + pose.offset[0]
            y = figure.home[1] + pose.offset[1]
            mats[index] = (_translation(x + about[0], y + about[1]) @ _scaling(*pose.scale) @ _rotation(pose.rotation)
                           @ _translation(-about[0], -about[1]))
        else:
            local = _translation(*part.joint) @ _rotation(pose.angles.get(part.name, 0.0))
            mats[index] = mats[part.parent] @ local
    return mats


def _canvas_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """(width, height) from an int (square) or a (width, height) pair."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def canvas_to_pixels(size: int | tuple[int, int], supersample: int = 1) -> np.ndarray:
    """Canvas units -> pixel coordinates (OpenCV convention: pixel centres at integers).

    One canvas unit is the canvas height; x is centred so wide canvases add room at the sides.
    """
    width, height = _canvas_size(size)
    unit = height * supersample
    x0 = (width - height) / 2.0 * supersample
    return np.array([[unit, 0.0, x0 - 0.5], [0.0, unit, -0.5], [0.0, 0.0, 1.0]])


def joint_positions(figure: Figure, pose: Pose, size: int | tuple[int, int] = 256) -> dict[str, np.ndarray]:
    """Pixel position (x, y) of every part's pivot, e.g. as ground-truth keypoints."""
    to_px = canvas_to_pixels(size)
    mats = part_transforms(figure, pose)
    return {part.name: (to_px @ mats[i])[:2, 2].copy() for i, part in enumerate(figure.parts)}


def part_flow(figure: Figure, pose_from: Pose, pose_to: Pose, labels_from: np.ndarray,
              size: int | tuple[int, int] = 256) -> np.ndarray:
    """Ground-truth forward flow (H, W, 2) in pixels of each labelled pixel; NaN on the background."""
    to_px = canvas_to_pixels(size)
    mats_from, mats_to = part_transforms(figure, pose_from), part_transforms(figure, pose_to)
    height, width = labels_from.shape
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([xs, ys], axis=-1).astype(np.float64)
    flow = np.full((height, width, 2), np.nan, dtype=np.float32)
    for index in np.unique(labels_from[labels_from >= 0]):
        moved = to_px @ mats_to[index] @ np.linalg.inv(to_px @ mats_from[index])
        inside = labels_from == index
        flow[inside] = apply_transform(moved, pixels[inside]) - pixels[inside]
    return flow


# ----------------------------------------------------------------------------- figure assembly


class _Builder:
    """Collects parts by name in design units before the figure is fitted to the canvas."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self._index: dict[str, int] = {}

    def add(self, name: str, parent: str | None, joint: Sequence[float], patches: Sequence[Patch],
            depth: float, color: RGB, static: bool = False) -> None:
        parent_index = -1 if parent is None else self._index[parent]
        joint_xy = (float(joint[0]), float(joint[1]))
        self._index[name] = len(self.parts)
        self.parts.append(Part(name, parent_index, joint_xy, tuple(patches), depth, color, static))


def _scaled(part: Part, factor: float) -> Part:
    patches = tuple(Patch(p.points * factor, p.color) for p in part.patches)
    joint = (part.joint[0] * factor, part.joint[1] * factor)
    return Part(part.name, part.parent, joint, patches, part.depth, part.color, part.static)


def _rest_bounds(parts: Sequence[Part]) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) corners of the rest pose's outline points, with the root's pivot at the origin."""
    probe = Figure("probe", "front", tuple(parts), (0.0, 0.0), ())
    mats = part_transforms(probe, Pose())
    points = np.concatenate([apply_transform(mats[i], p.points) for i, part in enumerate(parts) for p in part.patches])
    return points.min(axis=0), points.max(axis=0)


def _fit(parts: Sequence[Part]) -> tuple[list[Part], tuple[float, float]]:
    """Scale design units so the rest pose is FIT_SIZE tall or wide, centred, standing on GROUND_Y."""
    lo, hi = _rest_bounds(parts)
    factor = FIT_SIZE / float(max(hi - lo))
    home = (0.5 - factor * (lo[0] + hi[0]) / 2.0, GROUND_Y - factor * hi[1])
    return [_scaled(part, factor) for part in parts], home


def _assemble(kind: str, facing: str, builder: _Builder, texture: str, seed: int) -> Figure:
    if texture not in TEXTURE_STYLES:
        raise ValueError(f"unknown texture style {texture!r}; choose from {TEXTURE_STYLES}")
    parts, home = _fit(builder.parts)
    textures = tuple(_part_texture(part, texture, np.random.default_rng([seed, i])) for i, part in enumerate(parts))
    return Figure(kind, facing, tuple(parts), home, textures)


# ----------------------------------------------------------------------------- textures


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_units: float) -> np.ndarray:
    """White noise blurred to blobs of about 2.5 sigma, normalised to unit standard deviation."""
    sigma = sigma_units * TEXELS_PER_UNIT
    noise = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return noise / (noise.std() + 1e-6)


def _pattern(style: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Zero-mean modulation around 1 with features of ~0.015-0.05 canvas units (4-12 px at 256 px)."""
    fine = _smooth_noise(rng, shape, 0.005)
    if style == "mottled":
        return 0.55 * fine + 0.45 * _smooth_noise(rng, shape, 0.012)
    if style == "spots":
        spots = np.zeros(shape, np.float32)
        count = int(shape[0] * shape[1] / (0.045 * TEXELS_PER_UNIT) ** 2)
        for _ in range(count):
            centre = (int(rng.integers(shape[1])), int(rng.integers(shape[0])))
            radius = int(rng.uniform(0.008, 0.02) * TEXELS_PER_UNIT)
            cv2.circle(spots, centre, radius, float(rng.choice([-1.6, 1.3])), -1, cv2.LINE_AA)
        return spots + 0.35 * fine
    # stripes: a random direction per part, bent by low-frequency noise so no two stripes are alike
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32) / TEXELS_PER_UNIT
    angle = rng.uniform(0.0, math.pi)
    along = xs * math.cos(angle) + ys * math.sin(angle) + 0.012 * _smooth_noise(rng, shape, 0.03)
    return 1.1 * np.sin(TAU * along / 0.04) + 0.45 * fine


def _part_texture(part: Part, style: str, rng: np.random.Generator) -> PartTexture:
    """Colours, pattern, edge shading and outline of one part, rasterised in its local frame."""
    points = np.concatenate([p.points for p in part.patches])
    pad = 4.0 / TEXELS_PER_UNIT
    origin = points.min(axis=0) - pad
    width, height = np.ceil((points.max(axis=0) + pad - origin) * TEXELS_PER_UNIT).astype(int)
    rgb = np.zeros((height, width, 3), np.float32)
    inside = np.zeros((height, width), np.uint8)
    for patch in part.patches:
        texels = np.round(((patch.points - origin) * TEXELS_PER_UNIT - 0.5) * (1 << _SHIFT)).astype(np.int32)
        color = np.array(patch.color or part.color, np.float32)
        cv2.fillPoly(rgb, [texels], color.tolist(), cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(inside, [texels], 255, cv2.LINE_8, _SHIFT)
    rgb *= 1.0 + 0.16 * np.clip(_pattern(style, rng, (height, width)), -2.5, 2.5)[..., None]
    # darken towards the silhouette (a rounded look) and draw a thin outline, both inside the part
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5) / TEXELS_PER_UNIT
    rim = np.clip(depth / 0.035, 0.0, 1.0)
    shade = 0.72 + 0.28 * rim * rim * (3.0 - 2.0 * rim)
    shade = np.where(depth < 0.006, 0.5, shade)
    rgb *= shade[..., None]
    return PartTexture(np.clip(rgb, 0, 255).astype(np.uint8), (float(origin[0]), float(origin[1])))


# ----------------------------------------------------------------------------- rendering


def _background_image(background: RGB | np.ndarray, width: int, height: int) -> np.ndarray:
    if isinstance(background, np.ndarray):
        if background.shape[:2] != (height, width):
            raise ValueError(f"background image is {background.shape[:2]}, canvas is {(height, width)}")
        return background[..., :3].astype(np.float32)
    return np.broadcast_to(np.array(background, np.float32), (height, width, 3))


def _draw_part(canvas: np.ndarray, labels: np.ndarray, index: int, part: Part, texture: PartTexture,
               local_to_px: np.ndarray) -> None:
    """Fill the part's silhouette with its texture warped into place (only a bounding box is warped)."""
    outlines = [apply_transform(local_to_px, p.points) for p in part.patches]
    corners = np.concatenate(outlines)
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 2, (canvas.shape[1], canvas.shape[0]))
    if x1 <= x0 or y1 <= y0:
        return
    silhouette = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for outline in outlines:
        fixed = np.round((outline - (x0, y0)) * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(silhouette, [fixed], 1, cv2.LINE_8, _SHIFT)
    texel_to_local = _translation(texture.origin[0] + 0.5 / TEXELS_PER_UNIT,
                                  texture.origin[1] + 0.5 / TEXELS_PER_UNIT) @ _scaling(
        1.0 / TEXELS_PER_UNIT, 1.0 / TEXELS_PER_UNIT)
    texel_to_roi = _translation(-x0, -y0) @ local_to_px @ texel_to_local
    warped = cv2.warpAffine(texture.rgb, texel_to_roi[:2], (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    inside = silhouette.astype(bool)
    canvas[y0:y1, x0:x1][inside] = warped[inside]
    labels[y0:y1, x0:x1][inside] = index


def _majority_labels(labels_2x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Most frequent part among each 2x2 block of supersampled labels; -1 outside the mask."""
    height, width = mask.shape
    blocks = labels_2x.reshape(height, 2, width, 2).transpose(0, 2, 1, 3).reshape(height, width, 4)
    votes = (blocks[..., :, None] == blocks[..., None, :]).sum(axis=-1)
    votes[blocks < 0] = -1
    winner = np.take_along_axis(blocks, votes.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    return np.where(mask, winner, -1).astype(np.int16)


def render(figure: Figure, pose: Pose, size: int | tuple[int, int] = 256,
           background: RGB | np.ndarray = BACKGROUND) -> Frame:
    """Render one pose, anti-aliased by drawing at 2x and area-downsampling.

    `size` is an int (square) or (width, height); `background` a colour or an (H, W, 3) image.
    """
    width, height = _canvas_size(size)
    canvas = np.zeros((height * SUPERSAMPLE, width * SUPERSAMPLE, 3), np.uint8)
    labels_2x = np.full(canvas.shape[:2], -1, np.int16)
    to_px = canvas_to_pixels(size, SUPERSAMPLE)
    mats = part_transforms(figure, pose)
    for index in sorted(range(len(figure.parts)), key=lambda i: figure.parts[i].depth):
        _draw_part(canvas, labels_2x, index, figure.parts[index], figure.textures[index], to_px @ mats[index])
    # the canvas is black outside the figure, so its area average is colour premultiplied by coverage
    premultiplied = cv2.resize(canvas.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    coverage = cv2.resize((labels_2x >= 0).astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    rgb = premultiplied + (1.0 - coverage[..., None]) * _background_image(background, width, height)
    mask = coverage >= 0.5
    return Frame(np.clip(np.round(rgb), 0, 255).astype(np.uint8), mask, _majority_labels(labels_2x, mask), coverage)


def render_clip(figure: Figure, motion: Motion, n_frames: int, size: int | tuple[int, int] = 256,
                background: RGB | np.ndarray = BACKGROUND, phase_offset: float = 0.0) -> Clip:
    """One loop of `motion` sampled at phases (i / n_frames + phase_offset), i = 0 .. n_frames-1."""
    poses = [motion((i / n_frames + phase_offset) % 1.0) for i in range(n_frames)]
    rendered = [render(figure, pose, size, background) for pose in poses]
    return Clip(np.stack([r.rgb for r in rendered]), np.stack([r.mask for r in rendered]),
                np.stack([r.labels for r in rendered]), poses, np.stack([r.coverage for r in rendered]))


# ----------------------------------------------------------------------------- figures


HORSE_COAT: RGB = (139, 88, 52)
HORSE_DARK: RGB = (56, 38, 28)
HOOF: RGB = (46, 44, 44)
EYE: RGB = (18, 16, 16)
FAR_SIDE = 0.72  # far-side limbs are darker so the two sides read apart


def _horse_leg(b: _Builder, name: str, joint: Sequence[float], hind: bool, leg_length: float,
               depth: float, color: RGB) -> None:
    upper, lower = 0.34 * leg_length, 0.30 * leg_length
    # the hind leg's hock sits behind the hip; the cannon bone below it is vertical
    knee = (-0.07, upper) if hind else (0.0, upper)
    thigh = capsule((0.0, 0.0), knee, 0.12 if hind else 0.085, 0.05)
    b.add(f"{name}_upper", "body", joint, [Patch(thigh)], depth, color)
    cannon = capsule((0.0, 0.0), (0.01, lower), 0.045, 0.038)
    hoof = polygon((-0.043, lower - 0.01), (0.048, lower - 0.01), (0.062, lower + 0.045), (-0.048, lower + 0.045))
    b.add(f"{name}_lower", f"{name}_upper", knee, [Patch(cannon), Patch(hoof, HOOF)], depth, color)


def horse(body_length: float = 1.0, body_depth: float = 1.0, leg_length: float = 1.0,
          neck_length: float = 1.0, head_size: float = 1.0, tail_length: float = 1.0,
          color: RGB = HORSE_COAT, mane_color: RGB = HORSE_DARK, plinth: bool = False, texture: str = "mottled",
          seed: int = 0) -> Figure:
    """Side-view horse facing right: body, neck, head, tail and four two-segment legs with hooves; with `plinth`
    a statue's base under the hooves, a static part behind the legs that the motion never moves."""
    b = _Builder()
    half, depth = 0.5 * body_length, 0.2 * body_depth
    body = [ellipse(0.0, 0.0, half, depth, power=2.3),
            ellipse(0.62 * half, 0.01, 0.2, depth * 0.98),
            ellipse(-0.62 * half, -0.015, 0.22, depth * 1.02)]
    b.add("body", None, (0.0, 0.0), [Patch(p) for p in body], 3, color)
    far, near = _shade(color, FAR_SIDE), color
    _horse_leg(b, "fore_far", (0.56 * half, 0.06), False, leg_length, 0, far)
    _horse_leg(b, "hind_far", (-0.68 * half, 0.03), True, leg_length, 0, far)
    _horse_leg(b, "fore_near", (0.64 * half, 0.07), False, leg_length, 6, near)
    _horse_leg(b, "hind_near", (-0.58 * half, 0.04), True, leg_length, 6, near)

    top = (0.22 * neck_length, -0.42 * neck_length)
    neck = capsule((0.0, 0.0), top, 0.14, 0.08)
    # the mane runs along the back edge of the neck, half outside it
    back = np.array([top[1], -top[0]]) / math.hypot(*top)
    mane = capsule(0.12 * back, np.array(top) + 0.07 * back, 0.045, 0.035)
    b.add("neck", "body", (0.76 * half, -0.07 * body_depth), [Patch(neck), Patch(mane, mane_color)], 4, color)

    s = head_size
    head = [capsule((0.0, 0.0), (0.3 * s, 0.2 * s), 0.095 * s, 0.062 * s),
            ellipse(0.03 * s, 0.03 * s, 0.11 * s, 0.085 * s)]
    ears = polygon((-0.05 * s, -0.04 * s), (-0.03 * s, -0.19 * s), (0.03 * s, -0.06 * s))
    eye = ellipse(0.07 * s, 0.0, 0.02 * s, 0.017 * s)
    nostril = ellipse(0.3 * s, 0.2 * s, 0.016 * s, 0.012 * s)
    patches = [Patch(ears), *(Patch(p) for p in head), Patch(eye, EYE), Patch(nostril, EYE)]
    b.add("head", "neck", top, patches, 5, color)

    t = tail_length
    tail = [capsule((0.0, 0.0), (-0.11 * t, 0.08 * t), 0.045, 0.06),
            capsule((-0.11 * t, 0.08 * t), (-0.15 * t, 0.44 * t), 0.06, 0.03)]
    b.add("tail", "body", (-0.95 * half, -0.1 * body_depth), [Patch(p) for p in tail], 2, mane_color)
    if plinth:
        _add_plinth(b, half)
    return _assemble("horse", "right", b, texture, seed)


PLINTH: RGB = (70, 64, 60)


def _add_plinth(b: _Builder, half: float) -> None:
    """A slab with a slightly wider top, its top edge where the rest pose's hooves stand."""
    lo, hi = _rest_bounds(b.parts)
    top, left, right = float(hi[1]), -0.85 * half - 0.06, 0.85 * half + 0.06
    slab = polygon((left, top), (right, top), (right, top + 0.05), (left, top + 0.05))
    block = polygon((left + 0.04, top + 0.05), (right - 0.04, top + 0.05), (right - 0.04, top + 0.2),
                    (left + 0.04, top + 0.2))
    b.add("plinth", None, (0.0, 0.0), [Patch(slab), Patch(block, _shade(PLINTH, 0.85))], -1, PLINTH, static=True)


DRESS: RGB = (168, 48, 72)
SKIN: RGB = (206, 150, 112)
HAIR: RGB = (84, 52, 32)
SHOE: RGB = (40, 40, 52)


def _doll_arm(b: _Builder, side: float, arm_length: float, dress: RGB, skin: RGB) -> None:
    name = "arm_left" if side > 0 else "arm_right"  # the doll's own left is on the viewer's right
    elbow = (0.05 * side, 0.2 * arm_length)
    sleeve = capsule((0.0, 0.0), elbow, 0.055, 0.045)
    b.add(f"{name}_upper", "torso", (0.15 * side, -0.38), [Patch(sleeve, dress)], 2, skin)
    wrist = (0.02 * side, 0.18 * arm_length)
    forearm = capsule((0.0, 0.0), wrist, 0.038, 0.032)
    hand = ellipse(wrist[0], wrist[1] + 0.02, 0.045, 0.05)
    b.add(f"{name}_lower", f"{name}_upper", elbow, [Patch(forearm), Patch(hand)], 2, skin)


def doll(height: float = 1.0, head_size: float = 1.0, arm_length: float = 1.0, leg_length: float = 1.0,
         skirt_width: float = 1.0, dress_color: RGB = DRESS, skin_color: RGB = SKIN,
         hair_color: RGB = HAIR, hair_length: float = 0.0, texture: str = "stripes", seed: int = 0) -> Figure:
    """Front-view doll: dress (torso + skirt), head with hair and face, two-segment arms, two legs.

    `hair_length` > 0 adds two long locks, patches of the head, hanging between the torso and the arms: at 1.0
    they reach about the elbows."""
    b = _Builder()
    h, w = height, skirt_width
    torso = ellipse(0.0, -0.22 * h, 0.15, 0.2 * h, power=3.0)
    skirt = polygon((-0.13, -0.06 * h), (0.13, -0.06 * h), (0.3 * w, 0.3 * h), (0.0, 0.33 * h), (-0.3 * w, 0.3 * h))
    b.add("torso", None, (0.0, 0.0), [Patch(torso), Patch(skirt)], 1, dress_color)

    for side, name in ((-1.0, "leg_right"), (1.0, "leg_left")):
        length = 0.34 * leg_length
        leg = capsule((0.0, 0.0), (0.01 * side, length), 0.05, 0.04)
        shoe = ellipse(0.03 * side, length + 0.02, 0.065, 0.035)
        b.add(name, "torso", (0.08 * side, 0.22 * h), [Patch(leg), Patch(shoe, SHOE)], 0, skin_color)
    _doll_arm(b, -1.0, arm_length, dress_color, skin_color)
    _doll_arm(b, 1.0, arm_length, dress_color, skin_color)

    s = head_size
    neck = capsule((0.0, 0.02), (0.0, -0.06 * s), 0.04, 0.04)
    hair = ellipse(0.0, -0.2 * s, 0.19 * s, 0.19 * s)
    hair_tails = [ellipse(-0.17 * s, -0.1 * s, 0.06 * s, 0.13 * s), ellipse(0.17 * s, -0.1 * s, 0.06 * s, 0.13 * s)]
    face = ellipse(0.0, -0.17 * s, 0.145 * s, 0.15 * s)
    fringe = ellipse(0.0, -0.3 * s, 0.15 * s, 0.07 * s)
    eyes = [ellipse(x * s, -0.17 * s, 0.022 * s, 0.028 * s) for x in (-0.055, 0.055)]
    mouth = ellipse(0.0, -0.085 * s, 0.035 * s, 0.012 * s)
    if hair_length > 0:
        # from the hair's sides down past the shoulders, a little inward so they hang in front of the arms' inner edge
        bottom = -0.1 * s + 0.42 * hair_length
        hair_tails += [capsule((x * s, -0.12 * s), (0.92 * x, bottom), 0.055 * s, 0.04) for x in (-0.16, 0.16)]
    patches = [Patch(hair, hair_color), *(Patch(p, hair_color) for p in hair_tails), Patch(neck), Patch(face),
               Patch(fringe, hair_color), *(Patch(e, EYE) for e in eyes), Patch(mouth, (150, 52, 60))]
    b.add("head", "torso", (0.0, -0.42 * h), patches, 3, skin_color)
    return _assemble("doll", "front", b, texture, seed)


DINO_SKIN: RGB = (74, 136, 70)
DINO_BELLY: RGB = (150, 170, 84)
DINO_PLATES: RGB = (44, 88, 52)


def _plates(start: Sequence[float], end: Sequence[float], count: int, size: float) -> list[Patch]:
    """Triangular back plates along a line (from start to end), tilted backwards."""
    patches = []
    for k in range(count):
        t = (k + 0.5) / count
        x = start[0] + t * (end[0] - start[0])
        y = start[1] + t * (end[1] - start[1])
        patches.append(Patch(polygon((x - size, y + 0.02), (x - 0.3 * size, y - 1.3 * size), (x + size, y + 0.02)),
                             DINO_PLATES))
    return patches


def _dino_leg(b: _Builder, name: str, joint: Sequence[float], leg_length: float, depth: float, color: RGB) -> None:
    knee = (0.08 * leg_length, 0.2 * leg_length)
    thigh = capsule((0.0, 0.0), knee, 0.13, 0.065)
    b.add(f"{name}_upper", "body", joint, [Patch(thigh)], depth, color)
    ankle = (-0.05 * leg_length, 0.2 * leg_length)
    shin = capsule((0.0, 0.0), ankle, 0.06, 0.045)
    foot = polygon((ankle[0] - 0.06, ankle[1] - 0.03), (ankle[0] + 0.03, ankle[1] - 0.03),
                   (ankle[0] + 0.13, ankle[1] + 0.035), (ankle[0] - 0.06, ankle[1] + 0.045))
    b.add(f"{name}_lower", f"{name}_upper", knee, [Patch(shin), Patch(foot)], depth, color)


def dino(body_length: float = 1.0, leg_length: float = 1.0, neck_length: float = 1.0,
         tail_length: float = 1.0, head_size: float = 1.0, color: RGB = DINO_SKIN, texture: str = "spots",
         seed: int = 0) -> Figure:
    """Side-view two-legged dinosaur facing right: body, 3-segment tail, neck, head, arms, legs."""
    b = _Builder()
    half = 0.32 * body_length
    body = ellipse(0.0, 0.0, half, 0.19, angle=-0.2, power=2.2)
    belly = ellipse(0.05 * half, 0.09, 0.7 * half, 0.08, angle=-0.2)
    b.add("body", None, (0.0, 0.0), [*_plates((-0.8 * half, -0.06), (0.7 * half, -0.3), 4, 0.05), Patch(body),
                                     Patch(belly, DINO_BELLY)], 3, color)
    far = _shade(color, FAR_SIDE)
    _dino_leg(b, "leg_far", (-0.15 * half, 0.05), leg_length, 0, far)
    _dino_leg(b, "leg_near", (-0.05 * half, 0.08), leg_length, 6, color)
    arms = (("arm_far", (0.62 * half, 0.1), 0, far), ("arm_near", (0.7 * half, 0.12), 6, color))
    for name, joint, depth, tone in arms:
        arm = [capsule((0.0, 0.0), (0.07, 0.07), 0.035, 0.025), capsule((0.07, 0.07), (0.11, 0.05), 0.022, 0.015)]
        b.add(name, "body", joint, [Patch(p) for p in arm], depth, tone)

    t = tail_length
    segments = [(0.26 * t, 0.15, 0.1, -0.02), (0.24 * t, 0.1, 0.06, 0.03), (0.22 * t, 0.06, 0.015, 0.05)]
    parent, joint = "body", (-0.85 * half, 0.0)
    for k, (length, r0, r1, drop) in enumerate(segments):
        name = f"tail_{k + 1}"
        shape = capsule((0.0, 0.0), (-length, drop), r0, r1)
        plates = _plates((0.0, drop - r0), (-length, 2 * drop - r1), 2, 0.8 * r1 + 0.01) if k < 2 else []
        b.add(name, parent, joint, [*plates, Patch(shape)], 2 - 0.1 * k, color)
        parent, joint = name, (-length, drop)

    top = (0.1 * neck_length, -0.2 * neck_length)
    neck = capsule((0.0, 0.0), top, 0.13, 0.09)
    b.add("neck", "body", (0.8 * half, -0.14), [*_plates((-0.05, -0.05), (top[0] - 0.05, top[1] - 0.05), 2, 0.04),
                                                 Patch(neck)], 4, color)
    s = head_size
    skull = capsule((-0.02 * s, -0.02 * s), (0.26 * s, 0.0), 0.11 * s, 0.075 * s)
    jaw = capsule((0.0, 0.05 * s), (0.22 * s, 0.07 * s), 0.07 * s, 0.045 * s)
    eye_white = ellipse(0.08 * s, -0.05 * s, 0.03 * s, 0.026 * s)
    pupil = ellipse(0.09 * s, -0.05 * s, 0.015 * s, 0.018 * s)
    mouth = polygon((0.05 * s, 0.04 * s), (0.31 * s, 0.03 * s), (0.31 * s, 0.042 * s), (0.05 * s, 0.052 * s))
    b.add("head", "neck", top, [Patch(skull), Patch(jaw), Patch(eye_white, (236, 226, 190)), Patch(pupil, EYE),
                                Patch(mouth, (60, 40, 36))], 5, color)
    return _assemble("dino", "right", b, texture, seed)


COLUMN_COLORS: tuple[RGB, ...] = ((52, 96, 150), (72, 124, 178))


def column(height: float = 1.0, width: float = 1.0, profile: Sequence[float] = (0.85, 1.0, 0.75, 0.5),
           colors: Sequence[RGB] = COLUMN_COLORS, texture: str = "mottled", seed: int = 0) -> Figure:
    """Front-view stack of rounded segments hinged at the base centre (a vase/bottle/mug-like product).

    `profile` gives each segment's relative width, bottom to top. Parts are `segment_0` (the root,
    pivot at the bottom centre) up to `segment_{len(profile)-1}`.
    """
    b = _Builder()
    step = height / len(profile)
    for k, relative_width in enumerate(profile):
        # each segment reaches a little below its hinge so bends never open a gap
        shape = ellipse(0.0, -0.5 * step, 0.22 * width * relative_width, 0.5 * step + 0.03, power=3.5)
        parent = None if k == 0 else f"segment_{k - 1}"
        joint = (0.0, 0.0) if k == 0 else (0.0, -step)
        b.add(f"segment_{k}", parent, joint, [Patch(shape)], k, colors[k % len(colors)])
    return _assemble("column", "front", b, texture, seed)


BLOB_COLORS: tuple[RGB, ...] = ((206, 104, 52), (180, 80, 44))
squat_column = partial(column, height=0.7, width=1.45, profile=(1.0, 0.9, 0.68), colors=BLOB_COLORS,
                       texture="spots")


# ----------------------------------------------------------------------------- motions


def _sin(phase: float, cycles: float = 1.0, lag: float = 0.0) -> float:
    return math.sin(TAU * (cycles * phase - lag))


def _stride(phase: float, lag: float) -> tuple[float, float]:
    """(swing, lift) of one leg: swing goes forward (-1) to back (+1) during stance and back again in
    the air, where lift rises smoothly from 0 to 1 and back (C1 continuous, periodic)."""
    q = (phase - lag) % 1.0
    lift = max(0.0, -math.sin(TAU * q))
    return -math.cos(TAU * q), lift * lift


# (leg, lag, hip amplitude, knee flex, knee direction): forelegs fold the hoof back, hind legs forward
_GALLOP_LEGS = (("hind_far", 0.0, 0.42, 0.6, -1.0), ("hind_near", 0.1, 0.42, 0.6, -1.0),
                ("fore_far", 0.45, 0.5, 1.0, 1.0), ("fore_near", 0.55, 0.5, 1.0, 1.0))


def gallop(phase: float) -> Pose:
    """Horse gallop on a treadmill: legs in a hind-hind-fore-fore sequence, body rocks, head nods."""
    p = phase % 1.0
    angles: dict[str, float] = {}
    for leg, lag, hip, flex, direction in _GALLOP_LEGS:
        swing, lift = _stride(p, lag)
        angles[f"{leg}_upper"] = hip * swing - 0.25 * direction * lift
        angles[f"{leg}_lower"] = direction * flex * lift
    rock = _sin(p, lag=0.3)
    angles["neck"] = -0.12 * rock
    angles["head"] = 0.1 * _sin(p, lag=0.45)
    angles["tail"] = 0.22 * _sin(p, lag=0.55)
    return Pose(angles, offset=(0.0, -0.015 * _sin(p, lag=0.05)), rotation=-0.06 * rock)


_RAISE = 0.2  # share of the loop spent raising (and, at the end, lowering) the arm


def _raised(phase: float) -> float:
    """0 with the arm down at the loop's start and end, 1 while it is up; eased in and out."""
    if phase < _RAISE:
        return _ease(0.0, 1.0, phase / _RAISE)
    if phase > 1.0 - _RAISE:
        return _ease(0.0, 1.0, (1.0 - phase) / _RAISE)
    return 1.0


def wave(phase: float) -> Pose:
    """Doll raising its left (viewer's right) arm from its side, waving twice, and lowering it, with the head
    tilting and the body swaying gently. It starts arms down because doll photos mostly show them so, and
    motion transfer is relative to the clip's first frame."""
    p = phase % 1.0
    up = _raised(p)
    angles = {
        "arm_left_upper": up * (-2.25 + 0.1 * _sin(p, 2.0, 0.1)),
        "arm_left_lower": up * (-0.3 + 0.5 * _sin(p, 2.0)),
        "arm_right_upper": 0.08 * _sin(p, lag=0.25),
        "arm_right_lower": -0.06 * _sin(p, lag=0.25),
        "head": 0.1 * _sin(p, lag=0.1),
        "leg_left": 0.03 * _sin(p),
        "leg_right": 0.03 * _sin(p),
    }
    return Pose(angles, rotation=-0.04 * _sin(p))


def walk(phase: float) -> Pose:
    """Dinosaur walking in place: legs alternate, body bobs twice a cycle, tail and head sway."""
    p = phase % 1.0
    angles: dict[str, float] = {}
    for leg, lag in (("leg_near", 0.0), ("leg_far", 0.5)):
        swing, lift = _stride(p, lag)
        angles[f"{leg}_upper"] = 0.38 * swing - 0.2 * lift
        angles[f"{leg}_lower"] = 0.7 * lift
    for k in range(1, 4):
        angles[f"tail_{k}"] = 0.1 * _sin(p, lag=0.12 * k)
    angles["neck"] = -0.06 * _sin(p, 2.0, 0.1)
    angles["head"] = 0.1 * _sin(p, 2.0, 0.2)
    angles["arm_near"] = 0.25 * _sin(p)
    angles["arm_far"] = -0.25 * _sin(p)
    return Pose(angles, offset=(0.0, 0.012 * math.cos(2.0 * TAU * p)), rotation=0.03 * _sin(p, 2.0, 0.1))


SWAY_DEGREES = 7.0


def sway(phase: float) -> Pose:
    """A rigid product rocking side to side on its base: it tips onto the bottom corner on the side it leans toward
    (+-SWAY_DEGREES) and turns about that corner. The lean follows sin * |sin|, so it settles upright with no
    jolt where the pivot changes corners; nothing bends."""
    s = _sin(phase % 1.0)
    lean = math.radians(SWAY_DEGREES) * s * abs(s)
    return Pose(rotation=lean, contact=1.0 if lean >= 0 else -1.0)


TILT_DEGREES = 8.0


def tilt(phase: float) -> Pose:
    """A rigid product leaning onto the right corner of its base by up to TILT_DEGREES and back upright, eased in
    and out with a short rest upright."""
    raised = max(0.0, 1.15 * (0.5 - 0.5 * math.cos(TAU * phase)) - 0.15)  # 0 around phase 0 (the rest), 1 at 0.5
    return Pose(rotation=math.radians(TILT_DEGREES) * raised * raised * (3.0 - 2.0 * raised), contact=1.0)


def _ease(a: float, b: float, t: float) -> float:
    return a + (b - a) * (0.5 - 0.5 * math.cos(math.pi * t))


# (phase, vertical scale) keys while on the ground: rest, anticipation squash, launch stretch,
# then after the flight: landing stretch, landing squash, overshoot, rest
_TAKE_OFF, _LAND = 0.24, 0.72
_GROUND_KEYS = ((0.0, 1.0), (0.13, 0.88), (_TAKE_OFF, 1.07), (_LAND, 1.07), (0.8, 0.86), (0.9, 1.03), (1.0, 1.0))


def bounce(phase: float) -> Pose:
    """A rigid product hopping with squash and stretch: one area-keeping scale (sx * sy = 1) about its base's
    centre, which stays horizontal."""
    p = phase % 1.0
    if _TAKE_OFF < p < _LAND:
        t = (p - _TAKE_OFF) / (_LAND - _TAKE_OFF)
        height = 0.09 * 4.0 * t * (1.0 - t)
        stretch = 1.0 + 0.07 * abs(1.0 - 2.0 * t)  # stretched while fast, round at the top
    else:
        height = 0.0
        keys = _GROUND_KEYS
        k = next(i for i in range(len(keys) - 1) if keys[i][0] <= p <= keys[i + 1][0])
        stretch = _ease(keys[k][1], keys[k + 1][1], (p - keys[k][0]) / (keys[k + 1][0] - keys[k][0]))
    return Pose(offset=(0.0, -height), scale=(1.0 / stretch, stretch), contact=0.0)


# ----------------------------------------------------------------------------- library


class MotionSpec(NamedTuple):
    make_figure: Callable[..., Figure]  # figure factory with its default proportions
    motion: Motion
    facing: str
    kind: str = "articulated"  # or "rigid": the whole figure moves as one body (pipeline.motion.rig.KINDS)


MOTIONS: dict[str, MotionSpec] = {
    "horse_gallop": MotionSpec(horse, gallop, "right"),
    "doll_wave": MotionSpec(doll, wave, "front"),
    "dino_walk": MotionSpec(dino, walk, "right"),
    "sway": MotionSpec(column, sway, "front", "rigid"),
    "bounce": MotionSpec(squat_column, bounce, "front", "rigid"),
    "tilt": MotionSpec(column, tilt, "front", "rigid"),
}


def render_motion(name: str, n_frames: int = 48, size: int | tuple[int, int] = 256,
                  background: RGB | np.ndarray = BACKGROUND, **figure_kwargs: object) -> Clip:
    """Render a library motion on its figure; `figure_kwargs` change proportions, texture or seed."""
    spec = MOTIONS[name]
    return render_clip(spec.make_figure(**figure_kwargs), spec.motion, n_frames, size, background)
