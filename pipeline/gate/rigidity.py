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


def unexplained_change(first: np.ndarray, frame: np.ndarray) -> float:
    """Mean residual after the best homography (ECC from the identity) that maps `first` onto `frame`, divided by
    the mean change from `first` (at least CHANGE_FLOOR: a frame that barely moved has nothing to explain), both
    over where either frame shows the object. RGBA frames of one size. Returns 0 when the frame did not change."""
    # compared at a slight blur: resampling a fine texture is not a change of shape
    gray0, gray1 = (cv2.GaussianBlur(_premultiplied_gray(f), (0, 0), BLUR_SIGMA) for f in (first, frame))
    support = ((first[..., 3] > 0) | (frame[..., 3] > 0)).astype(np.uint8)
    change = float(np.abs(gray1 - gray0)[support > 0].mean()) if support.any() else 0.0
    if change < 1e-4:
        return 0.0
    warp = np.eye(3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(gray1, gray0, warp, cv2.MOTION_HOMOGRAPHY,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPSILON),
                                       None, 5)
    except cv2.error:
        return 1.0  # no homography converged: nothing of the change is explained
    height, width = gray1.shape
    # warp maps frame coordinates to first-frame coordinates: sample `first` there
    moved = cv2.warpPerspective(gray0, warp, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    residual = float(np.abs(gray1 - moved)[support > 0].mean())
    return min(1.0, residual / max(change, CHANGE_FLOOR))
