"""Hole filling by copying along the backdrop's own repeat (after He & Sun 2012, "Statistics of patch offsets"):
the masked autocorrelation of the backdrop around the hole, taken in overlapping windows so that a lattice seen in
perspective is estimated where it is, gives the shifts under which the backdrop repeats (bricks, tiles, plank
seams). The hole is then filled from its border inwards: every pixel copies the pixel one of those shifts away
(known, or filled before it), choosing the shift that best reproduces the already filled neighbourhood, so each
copy continues what lies beside it and the mortar lines and seams run on straight through the hole. How regular the
backdrop is (the autocorrelation's strongest repeat) decides whether the caller uses this fill. Pure arrays."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import fft

MIN_SHIFT_PX = 5  # shorter shifts are the autocorrelation's central lobe (any texture resembles itself nearby)
MAX_SHIFT_SHARE = 0.16  # the longest repeat looked for, as a share of the photo's long side
MIN_OVERLAP_SHARE = 0.3  # a shift is judged only where this share of a window's known pixels overlap themselves
# where the lattice is estimated: WINDOW_GRID x WINDOW_GRID overlapping windows, each WINDOW_SHARE of the hole's
# surroundings per side (small enough that a lattice in perspective changes little within one)
WINDOW_GRID = 4
WINDOW_SHARE = 0.4
MIN_PEAK_NCC = 0.2  # a weaker repeat is not a shift worth copying along
STRONG_PEAK_SHARE = 0.8  # peaks this close to a window's strongest count as its lattice's repeats
MIN_REPEAT_CONTRAST = 0.15  # a lattice repeat's correlation stands this far above that at half its shift
MIN_BASIS_ANGLE = 25.0  # degrees between the two lattice vectors
LATTICE_STEPS = 1  # lattice shifts i v1 + j v2 with |i|, |j| <= this
MAX_SHIFTS = 24  # the shortest this many of all windows' lattice shifts are kept (the cost grows with their number)
DETAIL_SIGMA = 6.0  # px: the lighting taken out before correlating (a repeat is in the detail, not the shading)
# a pixel's shift is judged on its filled neighbours at these offsets: 8 directions at 1 and 4 px, so that a
# pixel inside a flat brick still sees the joint beside it
NEIGHBOURS = tuple((round(r * np.sin(a)), round(r * np.cos(a))) for r, turns in ((1, 8), (4, 8))
                   for a in np.arange(turns) * 2 * np.pi / turns)
SWITCH_COST = 0.5  # in units of the mean neighbour mismatch: taking another shift than the filled neighbours took
SHORT_SHIFT_COST = 0.02  # per px of shift, in units of the mean neighbour mismatch: among equals, the short shift
# (a lattice in perspective changes with distance; the nearest copy is the least distorted)


@dataclass(frozen=True)
class Lattice:
    shifts: np.ndarray  # Kx2 int (dy, dx): shifts under which the backdrop around the hole repeats
    regularity: float  # the median over windows of the strongest repeat's normalised correlation, in [-1, 1]


def masked_autocorrelation(detail: np.ndarray, known: np.ndarray, reach: int) -> np.ndarray:
    """Normalised cross-correlation of `detail` with itself shifted by (dy, dx), |dy|, |dx| <= reach, over the
    pixels known at both ends (Padfield 2012, by FFT). Returns a (2 reach + 1)^2 map; NaN where the overlap is under
    MIN_OVERLAP_SHARE of the known pixels."""
    height, width = detail.shape
    shape = (fft.next_fast_len(height + reach), fft.next_fast_len(width + reach))
    mask = known.astype(np.float64)
    values = np.where(known, detail, 0.0).astype(np.float64)

    def correlate(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # sum_x a(x) b(x + s), s in [-reach, reach]^2
        full = fft.irfft2(np.conj(fft.rfft2(a, shape)) * fft.rfft2(b, shape), shape)
        rows = np.r_[shape[0] - reach:shape[0], 0:reach + 1]
        cols = np.r_[shape[1] - reach:shape[1], 0:reach + 1]
        return full[np.ix_(rows, cols)]

    overlap = correlate(mask, mask)
    sum_here, sum_there = correlate(values, mask), correlate(mask, values)
    square_here, square_there = correlate(values ** 2, mask), correlate(mask, values ** 2)
    product = correlate(values, values)
    n = np.maximum(overlap, 1.0)
    covariance = product - sum_here * sum_there / n
    spread = (square_here - sum_here ** 2 / n) * (square_there - sum_there ** 2 / n)
    ncc = covariance / np.sqrt(np.maximum(spread, 1e-9))
    return np.where(overlap >= MIN_OVERLAP_SHARE * mask.sum(), ncc, np.nan)


def _peaks(ncc: np.ndarray, reach: int) -> list[tuple[float, float, int, int]]:
    """Local maxima of an autocorrelation map outside its central lobe, strongest first: (ncc, contrast, dy, dx).
    The contrast is how far the correlation at half the shift lies below: high for a repeat of a lattice, near 0
    on a ridge (stripes resemble themselves for any shift along them)."""
    filled = np.nan_to_num(ncc, nan=-1.0).astype(np.float32)
    local_max = filled >= cv2.dilate(filled, np.ones((5, 5), np.uint8))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    keep = local_max & (np.hypot(dy, dx) >= MIN_SHIFT_PX) & (filled > -1.0)
    values, ys, xs = filled[keep], dy[keep], dx[keep]
    halfway = filled[reach + np.round(ys / 2).astype(int), reach + np.round(xs / 2).astype(int)]
    order = np.argsort(-values)
    return [(float(values[i]), float(values[i] - halfway[i]), int(ys[i]), int(xs[i])) for i in order]


def _windows(box: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    """WINDOW_GRID^2 overlapping windows over `box` (y0, y1, x0, x1), each WINDOW_SHARE of its size."""
    y0, y1, x0, x1 = box
    height, width = (y1 - y0) * WINDOW_SHARE, (x1 - x0) * WINDOW_SHARE
    out = []
    for row in range(WINDOW_GRID):
        for col in range(WINDOW_GRID):
            top = y0 + round(row * (y1 - y0 - height) / (WINDOW_GRID - 1))
            left = x0 + round(col * (x1 - x0 - width) / (WINDOW_GRID - 1))
            out.append((top, min(y1, top + round(height)), left, min(x1, left + round(width))))
    return out


def _basis(peaks: list[tuple[float, float, int, int]]) -> list[tuple[int, int]]:
    """Two lattice vectors from an autocorrelation's peaks: the shortest strong repeat, then the shortest strong
    repeat in another direction; failing that, the strongest shift along a ridge in another direction (plank seams
    repeat across the grain; along it, any shift is a repeat)."""
    repeats = [p for p in peaks if p[0] >= MIN_PEAK_NCC and p[1] >= MIN_REPEAT_CONTRAST]
    if not repeats:
        return []
    strong = [(dy, dx) for ncc, _, dy, dx in repeats if ncc >= STRONG_PEAK_SHARE * repeats[0][0]]
    first = min(strong, key=lambda s: np.hypot(*s))

    def across(shift: tuple[int, int]) -> bool:
        sine = abs(first[0] * shift[1] - first[1] * shift[0]) / (np.hypot(*first) * np.hypot(*shift))
        return sine > np.sin(np.deg2rad(MIN_BASIS_ANGLE))

    second = [s for s in strong if across(s)]
    if second:
        return [first, min(second, key=lambda s: np.hypot(*s))]
    ridge = [(dy, dx) for ncc, _, dy, dx in peaks if ncc >= STRONG_PEAK_SHARE * repeats[0][0] and across((dy, dx))]
    return [first, ridge[0]] if ridge else [first]


def _lattice_shifts(basis: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """Small integer combinations of the basis: the repeats a pixel can copy along."""
    combos = range(-LATTICE_STEPS, LATTICE_STEPS + 1)
    second = basis[1] if len(basis) > 1 else (0, 0)
    shifts = {(i * basis[0][0] + j * second[0], i * basis[0][1] + j * second[1])
              for i in combos for j in (combos if len(basis) > 1 else (0,))}
    shifts.discard((0, 0))
    return shifts


def find_lattice(image: np.ndarray, hole: np.ndarray) -> Lattice:
    """The shifts under which the backdrop around `hole` repeats (HxWx3 float `image`): a lattice from the masked
    autocorrelation of its detail in each of several overlapping windows around the hole, so that a lattice seen
    in perspective is known where it is."""
    height, width = hole.shape
    reach = max(MIN_SHIFT_PX + 2, round(MAX_SHIFT_SHARE * max(height, width)))
    ys, xs = np.nonzero(hole)
    margin = reach + (max(np.ptp(ys), np.ptp(xs)) + 1) // 4
    box = (max(0, ys.min() - margin), min(height, ys.max() + margin + 1),
           max(0, xs.min() - margin), min(width, xs.max() + margin + 1))
    gray = image.mean(axis=2).astype(np.float32)
    known = ~hole
    weight = cv2.GaussianBlur(known.astype(np.float32), (0, 0), DETAIL_SIGMA)
    light = cv2.GaussianBlur(gray * known, (0, 0), DETAIL_SIGMA) / np.maximum(weight, 1e-6)
    detail = gray - light
    shifts: set[tuple[int, int]] = set()
    strongest = []
    for y0, y1, x0, x1 in _windows(box):
        window_known = known[y0:y1, x0:x1]
        window_reach = min(reach, (y1 - y0) // 2, (x1 - x0) // 2)
        if window_known.sum() < 0.2 * window_known.size or window_reach < MIN_SHIFT_PX + 2:
            continue
        peaks = _peaks(masked_autocorrelation(detail[y0:y1, x0:x1], window_known, window_reach), window_reach)
        strongest.append(max((ncc for ncc, contrast, _, _ in peaks if contrast >= MIN_REPEAT_CONTRAST),
                             default=0.0))
        basis = _basis(peaks)
        if basis:
            shifts |= _lattice_shifts(basis)
    ordered = sorted(shifts, key=lambda s: np.hypot(*s))[:MAX_SHIFTS]
    return Lattice(np.array(ordered, np.int64).reshape(-1, 2), float(np.median(strongest)) if strongest else 0.0)


def _mismatch(luma: np.ndarray, filled: np.ndarray, pixels: np.ndarray, neighbours: np.ndarray,
              shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For pixels (flat indices into the padded flat `luma` / `filled`) and each shift (flat offsets): the mean
    brightness difference, over their filled neighbours q (flat offsets `neighbours`), between q and q + shift (how
    well copying along the shift reproduces what is already there), and whether the shift's source pixel is
    filled. Returns (N x K cost, N x K usable)."""
    cost = np.zeros((pixels.size, shifts.size), np.float32)
    count = np.zeros((pixels.size, shifts.size), np.float32)
    for offset in neighbours:
        near = pixels + offset
        here = filled[near]
        source = near[:, None] + shifts[None, :]
        there = filled[source] & here[:, None]
        cost += np.where(there, np.abs(luma[source] - luma[near][:, None]), 0.0)
        count += there
    usable = filled[pixels[:, None] + shifts[None, :]] & (count > 0)
    return cost / np.maximum(count, 1.0), usable


def _switches(labels: np.ndarray, pixels: np.ndarray, width: int, count: int) -> np.ndarray:
    """N x K: the share of each pixel's 8 neighbours, among those already filled in the hole, that copied along
    another shift than k (0 where none is). Flat indices into the padded `labels` of row length `width`."""
    same = np.zeros((pixels.size, count), np.float32)
    labelled = np.zeros(pixels.size, np.float32)
    rows = np.arange(pixels.size)
    for offset in (-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1):
        label = labels[pixels + offset]
        has = label >= 0
        labelled += has
        same[rows[has], label[has]] += 1
    return np.where(labelled[:, None] > 0, 1 - same / np.maximum(labelled, 1)[:, None], 0.0)


def copy_along(image: np.ndarray, hole: np.ndarray, shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill `hole` in `image` (HxWxC float) ring by ring from its border: each pixel copies the pixel one of
    `shifts` away (known or filled in an earlier ring) whose shift best reproduces its filled neighbourhood (judged
    on brightness). Pixels with no usable shift yet wait for a later ring. Returns a copy in which only the hole
    changed, and which pixels were filled (all, unless no shift reaches some)."""
    height, width = hole.shape
    # padded so that every neighbour and shift lands inside the arrays: flat indices need no bounds checks
    pad = int(np.abs(shifts).max()) + max(max(abs(dy), abs(dx)) for dy, dx in NEIGHBOURS) + 1
    padded_width = width + 2 * pad
    values = np.pad(image.astype(np.float32), ((pad, pad), (pad, pad), (0, 0))).reshape(-1, image.shape[2])
    luma = values.mean(axis=1)
    filled = np.pad(~hole, pad).ravel()  # the padding counts as unknown
    labels = np.full(filled.shape, -1, np.int64)  # the shift each filled hole pixel copied along
    flat_shifts = shifts[:, 0] * padded_width + shifts[:, 1]
    neighbours = np.array([dy * padded_width + dx for dy, dx in NEIGHBOURS])
    depth = np.pad(cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5), pad).ravel()
    inside = np.pad(hole, pad).ravel()
    length = np.hypot(shifts[:, 0], shifts[:, 1]).astype(np.float32)
    ring = 0
    while True:
        ring += 1
        frontier = cv2.dilate(filled.reshape(-1, padded_width).astype(np.uint8), np.ones((3, 3), np.uint8)).ravel()
        pixels = np.nonzero(inside & ~filled & (depth <= ring) & (frontier > 0))[0]
        if not pixels.size:
            if ring > depth.max():
                break
            continue
        cost, usable = _mismatch(luma, filled, pixels, neighbours, flat_shifts)
        usable_count = np.maximum(usable.sum(axis=1, keepdims=True), 1)
        scale = np.maximum(np.where(usable, cost, 0.0).sum(axis=1, keepdims=True) / usable_count, 1e-3)
        switches = _switches(labels, pixels, padded_width, len(shifts))
        cost = np.where(usable, cost + scale * (SHORT_SHIFT_COST * length + SWITCH_COST * switches), np.inf)
        best = np.argmin(cost, axis=1)
        done = np.isfinite(cost[np.arange(pixels.size), best])
        if not done.any() and ring > depth.max():  # what no shift reaches (a hole wider than every repeat's span)
            break
        pixels, best = pixels[done], best[done]
        values[pixels] = values[pixels + flat_shifts[best]]
        luma[pixels] = luma[pixels + flat_shifts[best]]
        filled[pixels] = True
        labels[pixels] = best
    crop = (slice(pad, pad + height), slice(pad, pad + width))
    return (values.reshape(height + 2 * pad, padded_width, -1)[crop],
            filled.reshape(height + 2 * pad, padded_width)[crop])
