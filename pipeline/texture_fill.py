"""Exemplar-based hole filling for textured backdrops (coarse-to-fine patch search and voting, after Wexler et al.
2007 and PatchMatch, Barnes et al. 2009), vectorised in numpy. Each hole pixel is rebuilt from patches copied
from outside the hole, so wood grain, brick and gravel continue into it instead of blurring. Pure arrays."""
from __future__ import annotations

import cv2
import numpy as np

PATCH_RADIUS = 2  # 5x5 patches
COARSEST_SIDE = 24  # the pyramid stops when the crop's long side would drop below this
CROP_MARGIN = 48  # source pixels are taken from this far around the hole (at full size)
MIN_SOURCE_SHARE = 0.15  # a pyramid level needs at least this share of patch centres outside the hole


def _offsets() -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-PATCH_RADIUS, PATCH_RADIUS + 1) for dx in range(-PATCH_RADIUS, PATCH_RADIUS + 1)]


def _patch_distance(image: np.ndarray, ty: np.ndarray, tx: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Sum of squared differences between the patches centred on (ty, tx) and on (sy, sx); image is padded by
    PATCH_RADIUS so every centre's patch lies inside it."""
    total = np.zeros(ty.shape, np.float32)
    r = PATCH_RADIUS
    for dy, dx in _offsets():
        diff = image[ty + dy + r, tx + dx + r] - image[sy + dy + r, sx + dx + r]
        total += np.einsum("...c,...c->...", diff, diff)
    return total


class _Field:
    """Nearest-neighbour field: for each target centre (a pixel whose patch touches the hole), a source centre."""

    def __init__(self, ty: np.ndarray, tx: np.ndarray, sy: np.ndarray, sx: np.ndarray, valid: np.ndarray):
        self.ty, self.tx, self.sy, self.sx = ty, tx, sy, sx
        self.valid = valid  # HxW bool: centres whose whole patch is outside the hole
        self.cost = np.full(ty.shape, np.inf, np.float32)

    def try_candidates(self, image: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> None:
        height, width = self.valid.shape
        cy, cx = np.clip(cy, 0, height - 1), np.clip(cx, 0, width - 1)
        ok = self.valid[cy, cx]
        cost = np.where(ok, _patch_distance(image, self.ty, self.tx, cy, cx), np.inf)
        better = cost < self.cost
        self.sy, self.sx, self.cost = np.where(better, cy, self.sy), np.where(better, cx, self.sx), \
            np.where(better, cost, self.cost)


def _search(field: _Field, padded: np.ndarray, rng: np.random.Generator, rounds: int, radius: int) -> None:
    height, width = field.valid.shape
    index = -np.ones((height, width), np.int64)
    index[field.ty, field.tx] = np.arange(field.ty.size)
    field.try_candidates(padded, field.sy, field.sx)
    for _ in range(rounds):
        for step in (8, 4, 2, 1):  # propagation: a neighbour's match, shifted, is a good guess (jump-flood style)
            for dy, dx in ((step, 0), (-step, 0), (0, step), (0, -step)):
                ny, nx = np.clip(field.ty + dy, 0, height - 1), np.clip(field.tx + dx, 0, width - 1)
                neighbour = index[ny, nx]
                has = neighbour >= 0
                cy = np.where(has, field.sy[np.maximum(neighbour, 0)] - dy, field.sy)
                cx = np.where(has, field.sx[np.maximum(neighbour, 0)] - dx, field.sx)
                field.try_candidates(padded, cy, cx)
        reach = radius
        while reach >= 1:  # random search around the current match at shrinking radii
            cy = field.sy + rng.integers(-reach, reach + 1, field.sy.shape)
            cx = field.sx + rng.integers(-reach, reach + 1, field.sx.shape)
            field.try_candidates(padded, cy, cx)
            reach //= 2


def _vote(image: np.ndarray, field: _Field, hole: np.ndarray) -> np.ndarray:
    """Each hole pixel becomes the mean of what the overlapping target patches' matches put there."""
    height, width = hole.shape
    channels = image.shape[2]
    total = np.zeros((channels, height * width), np.float64)
    weight = np.zeros(height * width, np.float64)
    for dy, dx in _offsets():
        y, x = field.ty + dy, field.tx + dx
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        flat = y[inside] * width + x[inside]
        values = image[np.clip(field.sy[inside] + dy, 0, height - 1), np.clip(field.sx[inside] + dx, 0, width - 1)]
        weight += np.bincount(flat, minlength=height * width)
        for channel in range(channels):
            total[channel] += np.bincount(flat, weights=values[:, channel], minlength=height * width)
    voted = (total / np.maximum(weight, 1e-6)).T.reshape(height, width, channels).astype(np.float32)
    return np.where(hole[..., None] & (weight.reshape(height, width, 1) > 0), voted, image)


def _copy_centres(image: np.ndarray, field: _Field, hole: np.ndarray) -> np.ndarray:
    """Each hole pixel takes its match's centre pixel: sharp texture where averaging overlapping patches that
    disagree by a pixel or two would blur it."""
    copied = image.copy()
    inside = hole[field.ty, field.tx]
    copied[field.ty[inside], field.tx[inside]] = image[field.sy[inside], field.sx[inside]]
    return copied


def _sources(hole: np.ndarray) -> np.ndarray:
    """Centres whose whole patch lies outside the hole and inside the image."""
    size = 2 * PATCH_RADIUS + 1
    valid = ~cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
    valid[:PATCH_RADIUS], valid[-PATCH_RADIUS:], valid[:, :PATCH_RADIUS], valid[:, -PATCH_RADIUS:] = (False,) * 4
    return valid


def _level_field(hole: np.ndarray, previous: _Field | None, rng: np.random.Generator) -> _Field:
    height, width = hole.shape
    size = 2 * PATCH_RADIUS + 1
    touched = cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
    valid = _sources(hole)
    ty, tx = np.nonzero(touched)
    if previous is None:
        vy, vx = np.nonzero(valid)
        pick = rng.integers(0, vy.size, ty.size)
        return _Field(ty, tx, vy[pick], vx[pick], valid)
    # upsample the coarser field: a target inherits its parent's match, scaled, plus its own offset
    parent = -np.ones(((height + 1) // 2, (width + 1) // 2), np.int64)
    parent[previous.ty, previous.tx] = np.arange(previous.ty.size)
    owner = parent[np.minimum(ty // 2, parent.shape[0] - 1), np.minimum(tx // 2, parent.shape[1] - 1)]
    has = owner >= 0
    sy = np.where(has, 2 * previous.sy[np.maximum(owner, 0)] + ty % 2, ty)
    sx = np.where(has, 2 * previous.sx[np.maximum(owner, 0)] + tx % 2, tx)
    return _Field(ty, tx, np.clip(sy, 0, height - 1), np.clip(sx, 0, width - 1), valid)


def synthesize_fill(rgb_u8: np.ndarray, hole: np.ndarray, start_u8: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fill `hole` with texture from around it; `start_u8` is a smooth first guess for the coarsest level
    (e.g. a diffusion fill). Returns the image with only the hole changed."""
    ys, xs = np.nonzero(hole)
    height, width = hole.shape
    y0, y1 = max(0, ys.min() - CROP_MARGIN), min(height, ys.max() + CROP_MARGIN + 1)
    x0, x1 = max(0, xs.min() - CROP_MARGIN), min(width, xs.max() + CROP_MARGIN + 1)
    image = cv2.cvtColor(start_u8[y0:y1, x0:x1], cv2.COLOR_RGB2LAB).astype(np.float32)
    crop_hole = hole[y0:y1, x0:x1]
    levels = max(1, int(np.log2(max(image.shape[:2]) / COARSEST_SIDE)) + 1)
    images, holes = [image], [crop_hole]
    for _ in range(levels - 1):
        coarser_hole = cv2.pyrDown(holes[-1].astype(np.float32)) > 0.01  # a pixel touching the hole is in it
        if _sources(coarser_hole).mean() < MIN_SOURCE_SHARE:  # too little backdrop left to copy from
            break
        images.append(cv2.pyrDown(images[-1]))
        holes.append(coarser_hole)
    levels = len(images)
    if not _sources(holes[0]).any():
        return start_u8.copy()
    rng = np.random.default_rng(seed)
    # start the coarsest hole from randomly drawn backdrop pixels: a smooth start would match the backdrop's
    # smoothest patches and stay a blob
    coarsest, coarse_hole = images[-1].copy(), holes[-1]
    donors = np.flatnonzero(~coarse_hole)
    coarsest[coarse_hole] = coarsest.reshape(-1, 3)[rng.choice(donors, int(coarse_hole.sum()))]
    field, estimate = None, coarsest
    for level in range(levels - 1, -1, -1):
        known, level_hole = images[level], holes[level]
        if field is not None:  # carry the coarser estimate up inside the hole
            estimate = np.where(level_hole[..., None], cv2.resize(estimate, known.shape[1::-1],
                                                                  interpolation=cv2.INTER_LINEAR), known)
        field = _level_field(level_hole, field, rng)
        for _ in range(3 if level else 1):  # the full-size level only refines what the coarser ones found
            padded = np.pad(estimate, ((PATCH_RADIUS,) * 2, (PATCH_RADIUS,) * 2, (0, 0)), mode="edge")
            field.cost[:] = np.inf
            _search(field, padded, rng, rounds=2 if level else 1, radius=max(level_hole.shape) >> (0 if level else 3))
            estimate = _vote(estimate, field, level_hole) if level else _copy_centres(estimate, field, level_hole)
    filled = rgb_u8.copy()
    crop = cv2.cvtColor(np.clip(estimate, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    filled[y0:y1, x0:x1] = np.where(crop_hole[..., None], crop, rgb_u8[y0:y1, x0:x1])
    return filled
