"""The gate's measurements on frames, pure array functions. Each returns a `Measure`: the worst value over the
frames and the frame it was found in, so a reviewer can go straight to it."""
from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

import cv2
import numpy as np

from pipeline.gate.rigidity import unexplained_change

WORK_SIDE = 256  # frames are measured at most this large: the measures are ratios and means, and ECC cost grows with area
RIGIDITY_MIN_CHANGE = 0.5  # of the clip's largest change from frame 0: frames measured for rigidity
RIGIDITY_FRAMES = 8  # at most this many of them (ECC costs 0.1-1 s a frame)
PIECE_SHARE = 0.005  # of the object's area: smaller specks of alpha are no pieces
BODY_SHARE = 0.15  # of the object's area: a piece this large is a body, not a part broken off
MIN_STEP = 0.25  # mean abs change (0-255) below which a step counts as still: a near-static loop's seam is
# measured against this floor, not against a median of ~0


class Measure(NamedTuple):
    value: float
    frame: int | None  # the worst frame (None when the value is not one frame's)


def background_flicker(frames: Iterable[np.ndarray], crop_box: Sequence[int]) -> Measure:
    """Largest change (0-255, any pixel and channel) outside the square crop box (x, y, side) from the first
    frame on: fusion copies the photo there, so anything but ~0 is a fault. 0 when the crop covers the whole
    photo. Frames are read one at a time (full-size photos)."""
    x0, y0, side = (int(v) for v in crop_box)
    worst, worst_frame, first, outside = 0, None, None, None
    for index, frame in enumerate(frames):
        if outside is None:
            outside = np.ones(frame.shape[:2], bool)
            outside[max(0, y0): max(0, y0 + side), max(0, x0): max(0, x0 + side)] = False
            if not outside.any():
                return Measure(0.0, None)
            first = frame[outside].astype(np.int16)
            continue
        change = int(np.abs(frame[outside].astype(np.int16) - first).max())
        if change > worst:
            worst, worst_frame = change, index
    return Measure(float(worst), worst_frame)


def alpha_coverage(alphas: Sequence[np.ndarray], source_alpha: np.ndarray) -> Measure:
    """Worst frame's coverage factor max(r, 1/r), r = the frame's mean alpha over the source's: 1 when every
    frame covers as much as the source, 2 when a frame lost (or doubled) the source's area. Mean alpha, not the
    sum, so frames and source may differ in size."""
    source = float(np.mean(source_alpha))
    if source <= 0.0:
        return Measure(float("inf"), 0)
    factors = []
    for alpha in alphas:
        ratio = float(np.mean(alpha)) / source
        factors.append(float("inf") if ratio <= 0.0 else max(ratio, 1.0 / ratio))
    worst = int(np.argmax(factors))
    return Measure(factors[worst], worst)


def _pieces(alpha: np.ndarray, area: float) -> int:
    """Pieces of the object (8-connected, alpha at least half) of PIECE_SHARE of `area` px or more but less than a
    body (BODY_SHARE): a hand, a leg or a claw on its own."""
    count, _, stats, _ = cv2.connectedComponentsWithStats((alpha >= 0.5 * _one(alpha)).astype(np.uint8), connectivity=8)
    shares = stats[1:, cv2.CC_STAT_AREA] / area
    return int(np.count_nonzero((shares >= PIECE_SHARE) & (shares < BODY_SHARE)))


def _one(alpha: np.ndarray) -> float:
    return 255.0 if alpha.dtype == np.uint8 else 1.0


def detached_pieces(alphas: Sequence[np.ndarray], source_alpha: np.ndarray) -> Measure:
    """Worst frame's count of pieces of the object beyond the source's own: 0 when the object stays in one piece
    (or as many as the photo shows), 1 or more when a limb or a fragment breaks off and floats. A body-sized piece
    (a statue lifting off its plinth) is no break. Frames must have the source's size (areas are compared)."""
    area = float(np.count_nonzero(source_alpha >= 0.5 * _one(source_alpha)))
    if area <= 0.0:
        return Measure(0.0, None)
    own = _pieces(source_alpha, area)
    extra = [_pieces(alpha, area) - own for alpha in alphas]
    if not extra or max(extra) <= 0:
        return Measure(0.0, None)
    worst = int(np.argmax(extra))
    return Measure(float(extra[worst]), worst)


def _step(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def loop_seam(frames: Sequence[np.ndarray]) -> Measure:
    """The loop's jump from the last frame back to the first, over the median frame-to-frame change (floored at
    MIN_STEP): ~1 for a seamless loop, large for a loop that pops. Frame = the last frame."""
    if len(frames) < 3:
        return Measure(0.0, None)
    steps = [_step(a, b) for a, b in zip(frames, frames[1:])]
    seam = _step(frames[-1], frames[0])
    return Measure(seam / max(float(np.median(steps)), MIN_STEP), len(frames) - 1)


def shrunk(rgba: np.ndarray) -> np.ndarray:
    """`rgba` (any channels) area-downscaled so its longer side is at most WORK_SIDE."""
    side = max(rgba.shape[:2])
    if side <= WORK_SIDE:
        return rgba
    scale = WORK_SIDE / side
    size = (max(1, round(rgba.shape[1] * scale)), max(1, round(rgba.shape[0] * scale)))
    return cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)


def _premultiplied(rgba: np.ndarray) -> np.ndarray:
    frame = rgba.astype(np.float32) / (255.0 if rgba.dtype == np.uint8 else 1.0)
    return frame[..., :3] * frame[..., 3:4]


def rigid_unexplained(frames_rgba: Sequence[np.ndarray]) -> Measure:
    """Worst frame's share of its change from frame 0 that no single homography of the object explains
    (pipeline.gate.rigidity): ~0 for a rigid motion, large where the object bends. Only frames that moved at
    least RIGIDITY_MIN_CHANGE of the clip's largest move count: resampling leaves a small residual that a frame
    barely off frame 0 would divide into a large share. At most RIGIDITY_FRAMES of them, evenly spread."""
    frames = [shrunk(frame) for frame in frames_rgba]
    first = _premultiplied(frames[0])
    changes = np.array([float(np.abs(_premultiplied(frame) - first).mean()) for frame in frames])
    if changes.max() <= 0.0:
        return Measure(0.0, None)
    moved = np.flatnonzero(changes >= RIGIDITY_MIN_CHANGE * changes.max())
    picked = moved[np.round(np.linspace(0, len(moved) - 1, min(len(moved), RIGIDITY_FRAMES))).astype(int)]
    shares = {int(index): unexplained_change(frames[0], frames[index]) for index in picked}
    worst = max(shares, key=shares.__getitem__)
    return Measure(shares[worst], worst)


def worst_of(per_frame: Sequence[float]) -> Measure:
    """The largest of a per-frame series (e.g. motion.json's max_stretch) and its frame."""
    worst = int(np.argmax(per_frame))
    return Measure(float(per_frame[worst]), worst)
