"""Exemplar-based hole filling for textured backdrops: coarse-to-fine patch search and voting (Wexler et al. 2007)
over a PatchMatch nearest-neighbour field (Barnes et al. 2009), vectorised in numpy. Patches are compared by PCA
descriptors (16 numbers instead of 7x7x3), so each search step is one gather. The coarsest level is filled from
the border inwards (onion peel), so lines and courses that reach the hole carry on into it. Pure arrays."""
from __future__ import annotations

import cv2
import numpy as np

PATCH_RADIUS = 3  # 7x7 patches
DESCRIPTOR_DIMS = 16  # PCA components kept per patch
PCA_SAMPLES = 4000  # source patches the PCA basis is fitted on
CROP_MARGIN = 64  # at least this much backdrop (full size) around the hole is kept as the patch source
MIN_COARSE_SIDE = 40  # the pyramid stops before the crop's short side drops below this
MIN_SOURCE_SHARE = 0.15  # ... or before less than this share of the crop holds whole source patches
BORDER_DECAY = 1.3  # Wexler's confidence: a patch centred d px deeper in the hole counts BORDER_DECAY**-d as much
EM_ITERATIONS = (2, 3, 4, 6)  # search + vote rounds per level, finest first; coarser levels take the last value


def _offsets() -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-PATCH_RADIUS, PATCH_RADIUS + 1) for dx in range(-PATCH_RADIUS, PATCH_RADIUS + 1)]


def _sources(hole: np.ndarray) -> np.ndarray:
    """Centres whose whole patch lies outside the hole and inside the image."""
    size = 2 * PATCH_RADIUS + 1
    valid = ~cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
    r = PATCH_RADIUS
    valid[:r], valid[-r:], valid[:, :r], valid[:, -r:] = (False,) * 4
    return valid


def _patches(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """N x (patch pixels * 3) patches centred on (ys, xs); the centres must lie PATCH_RADIUS inside the image."""
    return np.stack([image[ys + dy, xs + dx] for dy, dx in _offsets()], axis=1).reshape(ys.size, -1)


def _pca_basis(image: np.ndarray, valid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    vy, vx = np.nonzero(valid)
    pick = rng.choice(vy.size, min(PCA_SAMPLES, vy.size), replace=False)
    patches = _patches(image, vy[pick], vx[pick])
    centred = patches - patches.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # a 147x147 problem: cheaper than an SVD of the samples
    return np.ascontiguousarray(vectors[:, ::-1][:, :DESCRIPTOR_DIMS].T).astype(np.float32)


def _describe(image: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """HxWxK projection of every pixel's patch on the basis (filter2D correlates, as patches are read)."""
    size = 2 * PATCH_RADIUS + 1
    kernels = basis.reshape(len(basis), size, size, 3)
    channels = [np.ascontiguousarray(image[..., c]) for c in range(3)]
    out = np.empty((*image.shape[:2], len(basis)), np.float32)
    for k, kernel in enumerate(kernels):
        out[..., k] = sum(cv2.filter2D(channels[c], -1, np.ascontiguousarray(kernel[..., c]),
                                       borderType=cv2.BORDER_REFLECT) for c in range(3))
    return out


class _Level:
    """One pyramid level: the image (hole pixels hold the current estimate), its hole, the target patch centres
    (every patch touching the hole) and their nearest-neighbour field into the source centres."""

    def __init__(self, image: np.ndarray, hole: np.ndarray):
        self.image, self.hole = image, hole
        self.height, self.width = hole.shape
        self.valid = _sources(hole)
        size = 2 * PATCH_RADIUS + 1
        touched = cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
        self.ty, self.tx = np.nonzero(touched)
        self.index = -np.ones(hole.shape, np.int64)
        self.index[self.ty, self.tx] = np.arange(self.ty.size)
        self.depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)  # px inside the hole
        self.sy = self.sx = np.zeros(self.ty.size, np.int64)
        self.cost = np.zeros(self.ty.size, np.float32)

    def random_field(self, rng: np.random.Generator, where: np.ndarray | None = None) -> None:
        vy, vx = np.nonzero(self.valid)
        pick = rng.integers(0, vy.size, self.ty.size)
        where = np.ones(self.ty.size, bool) if where is None else where
        self.sy, self.sx = np.where(where, vy[pick], self.sy), np.where(where, vx[pick], self.sx)

    def upsample_field(self, coarse: _Level, rng: np.random.Generator) -> None:
        """A target inherits its parent's match, scaled, plus its own offset within the parent."""
        parent = coarse.index[np.minimum(self.ty // 2, coarse.height - 1), np.minimum(self.tx // 2, coarse.width - 1)]
        safe = np.maximum(parent, 0)
        self.sy = np.clip(2 * coarse.sy[safe] + self.ty % 2, 0, self.height - 1)
        self.sx = np.clip(2 * coarse.sx[safe] + self.tx % 2, 0, self.width - 1)
        self.random_field(rng, (parent < 0) | ~self.valid[self.sy, self.sx])
        self.cost = np.zeros(self.ty.size, np.float32)  # not measured yet: the first vote weighs by confidence only


def _onion_peel(level: _Level) -> None:
    """Fill the level's hole ring by ring from its border inwards: each pixel copies the centre of the source
    patch that best matches what is known or already filled around it (masked SSD, exact, as matrix products)."""
    vy, vx = np.nonzero(level.valid)
    sources = _patches(level.image, vy, vx)
    source_sq = sources ** 2
    r = PATCH_RADIUS
    filled = ~level.hole
    match_y, match_x = np.zeros(level.hole.shape, np.int64), np.zeros(level.hole.shape, np.int64)
    while not filled.all():
        ring = ~filled & cv2.dilate(filled.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        py, px = np.nonzero(ring)
        image = np.pad(level.image, ((r, r), (r, r), (0, 0)), mode="edge")
        known = np.repeat(np.pad(filled, r)[..., None], 3, axis=2).astype(np.float32)
        target, mask = _patches(image, py + r, px + r), _patches(known, py + r, px + r)
        masked = mask * target
        distance = (masked * target).sum(1)[:, None] - 2 * masked @ sources.T + mask @ source_sq.T
        best = np.argmin(distance / np.maximum(mask.sum(1), 1)[:, None], axis=1)
        level.image[py, px] = level.image[vy[best], vx[best]]
        match_y[py, px], match_x[py, px] = vy[best], vx[best]
        filled[py, px] = True
    inside = level.hole[level.ty, level.tx]
    level.sy = np.where(inside, match_y[level.ty, level.tx], level.sy)
    level.sx = np.where(inside, match_x[level.ty, level.tx], level.sx)


def _search(level: _Level, targets: np.ndarray, sources: np.ndarray, rng: np.random.Generator) -> None:
    """One PatchMatch round on descriptors: neighbours' matches (jump-flood steps), then random picks around the
    current match at shrinking radii."""
    height, width = level.height, level.width
    flat_valid = level.valid.ravel()

    def cost_of(cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
        inside = (cy >= 0) & (cy < height) & (cx >= 0) & (cx < width)
        flat = np.clip(cy, 0, height - 1) * width + np.clip(cx, 0, width - 1)
        diff = sources[flat] - targets
        return np.where(inside & flat_valid[flat], np.einsum("ij,ij->i", diff, diff), np.inf)

    def offer(cy: np.ndarray, cx: np.ndarray) -> None:
        cost = cost_of(cy, cx)
        better = cost < level.cost
        level.sy, level.sx = np.where(better, cy, level.sy), np.where(better, cx, level.sx)
        level.cost = np.where(better, cost, level.cost)

    level.cost = cost_of(level.sy, level.sx)
    for step in (8, 4, 2, 1):
        for dy, dx in ((step, 0), (-step, 0), (0, step), (0, -step)):
            neighbour = level.index[np.clip(level.ty + dy, 0, height - 1), np.clip(level.tx + dx, 0, width - 1)]
            has, safe = neighbour >= 0, np.maximum(neighbour, 0)
            offer(np.where(has, level.sy[safe] - dy, -1), np.where(has, level.sx[safe] - dx, -1))
    reach = max(height, width)
    while reach >= 1:
        offer(level.sy + rng.integers(-reach, reach + 1, level.sy.shape),
              level.sx + rng.integers(-reach, reach + 1, level.sx.shape))
        reach //= 2


def _vote(level: _Level, sharp: bool) -> np.ndarray:
    """Rebuild the hole from the matched source patches that overlap each pixel, weighted by similarity and
    border confidence (Wexler). Coarse levels take the weighted mean; the finest takes the best-weighted patch's
    pixel, since a mean of patches that disagree by a pixel would blur fine texture."""
    qy, qx = np.nonzero(level.hole)
    finite = np.isfinite(level.cost)
    scale = 2 * max(float(np.percentile(level.cost[finite], 75)), 1e-6) if finite.any() else 1.0
    similarity = np.exp(-np.where(finite, level.cost, np.inf) / scale)
    target_depth, pixel_depth = level.depth[level.ty, level.tx], level.depth[qy, qx]
    total = np.zeros((qy.size, 3), np.float32)
    weight = np.zeros(qy.size, np.float32)
    best = np.full(qy.size, -1.0, np.float32)
    for dy, dx in _offsets():
        cy, cx = qy - dy, qx - dx
        inside = (cy >= 0) & (cy < level.height) & (cx >= 0) & (cx < level.width)
        target = level.index[np.clip(cy, 0, level.height - 1), np.clip(cx, 0, level.width - 1)]
        inside &= target >= 0
        target = np.maximum(target, 0)
        # relative to the pixel's own depth, so deep pixels' weights do not underflow
        w = np.where(inside, similarity[target] * BORDER_DECAY ** (pixel_depth - target_depth[target]), 0)
        w = w.astype(np.float32)
        values = level.image[level.sy[target] + dy, level.sx[target] + dx]
        if sharp:
            better = inside & (w > best)
            total[better], best[better] = values[better], w[better]
        else:
            total += w[:, None] * values
            weight += w
    out = level.image.copy()
    if sharp:
        out[qy, qx] = total
    else:  # a pixel all of whose patches have an unusable match keeps its estimate
        out[qy, qx] = np.where(weight[:, None] > 0, total / np.maximum(weight, 1e-30)[:, None], out[qy, qx])
    return out


def _pyramid(image: np.ndarray, hole: np.ndarray) -> list[_Level]:
    levels = [_Level(image, hole)]
    while min(levels[-1].hole.shape) // 2 >= MIN_COARSE_SIDE:
        coarse_hole = cv2.pyrDown(levels[-1].hole.astype(np.float32)) > 0  # a pixel touching the hole is in it
        if _sources(coarse_hole).mean() < MIN_SOURCE_SHARE:
            break
        levels.append(_Level(cv2.pyrDown(levels[-1].image), coarse_hole))
    return levels


def _crop_box(hole: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(hole)
    margin = max(CROP_MARGIN, (max(np.ptp(ys), np.ptp(xs)) + 1) // 2)  # coarse levels need a wide ring of source
    height, width = hole.shape
    return (max(0, ys.min() - margin), min(height, ys.max() + margin + 1),
            max(0, xs.min() - margin), min(width, xs.max() + margin + 1))


def synthesize_texture(texture: np.ndarray, hole: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fill `hole` in `texture` (HxWx3 float32, any range: the caller passes the backdrop with its lighting taken
    out) with patches from around it. Returns a copy in which only the hole changed."""
    y0, y1, x0, x1 = _crop_box(hole)
    crop_hole = hole[y0:y1, x0:x1]
    filled = texture.astype(np.float32).copy()
    if not _sources(crop_hole).any():  # too little backdrop to copy from: leave the hole to the caller's base
        filled[hole] = 0
        return filled
    crop = np.where(crop_hole[..., None], 0, filled[y0:y1, x0:x1])  # the object's pixels never reach a level
    levels = _pyramid(crop, crop_hole)
    rng = np.random.default_rng(seed)
    coarsest = levels[-1]
    coarsest.random_field(rng)
    _onion_peel(coarsest)
    for depth in range(len(levels) - 1, -1, -1):
        level = levels[depth]
        if depth < len(levels) - 1:
            level.upsample_field(levels[depth + 1], rng)
            level.image = _vote(level, sharp=False)
        basis = _pca_basis(level.image, level.valid, rng)
        sources = _describe(level.image, basis).reshape(-1, len(basis))
        iterations = EM_ITERATIONS[min(depth, len(EM_ITERATIONS) - 1)]
        for iteration in range(iterations):
            _search(level, _describe(level.image, basis)[level.ty, level.tx], sources, rng)
            level.image = _vote(level, sharp=depth == 0 and iteration == iterations - 1)
    filled[y0:y1, x0:x1][crop_hole] = levels[0].image[crop_hole]
    return filled
