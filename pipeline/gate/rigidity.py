"""How rigid an animated object is: the share of a frame's change from frame 0 that no single homography of the
object explains (0 for a rigid motion, large where the object bends)."""
from __future__ import annotations

import cv2
import numpy as np

ECC_ITERATIONS = 200
ECC_EPSILON = 1e-6
BLUR_SIGMA = 1.5
CHANGE_FLOOR = 0.01  # mean grey change (0..1) below which a frame counts as barely moved


def _premultiplied_gray(rgba: np.ndarray) -> np.ndarray:
    """Float32 grey of an RGBA frame (uint8 or float in [0,1]) premultiplied by alpha: the object on black."""
    frame = rgba.astype(np.float32) / (255.0 if rgba.dtype == np.uint8 else 1.0)
    gray = frame[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return gray * frame[..., 3]


def _moment_warp(alpha_first: np.ndarray, alpha_frame: np.ndarray) -> np.ndarray | None:
    """The similarity that carries the object in `frame` onto `first` by its alpha's centroid, principal axis and
    area (frame coordinates -> first-frame coordinates, as ECC wants its warp). None for an empty alpha."""
    poses = []
    for alpha in (alpha_first, alpha_frame):
        m = cv2.moments(alpha.astype(np.float32))
        if m["m00"] <= 1e-6:
            return None
        angle = 0.5 * np.arctan2(2.0 * m["mu11"], m["mu20"] - m["mu02"])
        poses.append((np.array([m["m10"], m["m01"]]) / m["m00"], angle, m["m00"]))
    (c0, angle0, area0), (c1, angle1, area1) = poses
    turn = (angle0 - angle1 + np.pi / 2) % np.pi - np.pi / 2  # an axis has no direction: turn modulo 180 degrees
    scale = np.sqrt(area0 / area1)
    linear = scale * np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    warp = np.eye(3, dtype=np.float32)
    warp[:2, :2], warp[:2, 2] = linear, c0 - linear @ c1
    return warp


def _residual(gray0: np.ndarray, gray1: np.ndarray, support: np.ndarray, start: np.ndarray) -> float:
    """Mean residual over `support` after ECC refines the homography `start` (frame -> first coordinates);
    inf when it does not converge."""
    try:
        _, warp = cv2.findTransformECC(gray1, gray0, start.copy(), cv2.MOTION_HOMOGRAPHY,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPSILON),
                                       None, 5)
    except cv2.error:
        return float("inf")
    height, width = gray1.shape
    # warp maps frame coordinates to first-frame coordinates: sample `first` there
    moved = cv2.warpPerspective(gray0, warp, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return float(np.abs(gray1 - moved)[support > 0].mean())


def unexplained_change(first: np.ndarray, frame: np.ndarray) -> float:
    """Mean residual after the best homography (ECC, started from the identity and from the alpha's moments,
    the better kept) that maps `first` onto `frame`, divided by the mean change from `first` (at least
    CHANGE_FLOOR: a frame that barely moved has nothing to explain), both over where either frame shows the
    object. RGBA frames of one size. Returns 0 when the frame did not change."""
    # compared at a slight blur: resampling a fine texture is not a change of shape
    gray0, gray1 = (cv2.GaussianBlur(_premultiplied_gray(f), (0, 0), BLUR_SIGMA) for f in (first, frame))
    support = ((first[..., 3] > 0) | (frame[..., 3] > 0)).astype(np.uint8)
    change = float(np.abs(gray1 - gray0)[support > 0].mean()) if support.any() else 0.0
    if change < 1e-4:
        return 0.0
    # ECC from the identity alone stops in a local optimum once the object turns by more than ~15 degrees
    starts = [np.eye(3, dtype=np.float32), _moment_warp(first[..., 3], frame[..., 3])]
    residual = min(_residual(gray0, gray1, support, start) for start in starts if start is not None)
    return min(1.0, residual / max(change, CHANGE_FLOOR))  # none converged (inf): nothing of it is explained
