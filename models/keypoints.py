"""Keypoints and their Jacobians (FOMM, TPSMM), and the geometry done on them at animation time: relative motion with
movement-scale adaptation (the reference's `normalize_kp`) and the driving frame whose pose best matches the
source (the reference's `find_best_frame`, measured with the model's own keypoints instead of face landmarks)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class Keypoints:
    value: torch.Tensor  # (B, K, 2) normalised (x, y) in [-1, 1]
    jacobian: torch.Tensor | None  # (B, K, 2, 2) local affine map around each keypoint, None for zero-order models

    def __getitem__(self, index: slice | torch.Tensor) -> "Keypoints":
        return Keypoints(self.value[index], None if self.jacobian is None else self.jacobian[index])

    def __len__(self) -> int:
        return self.value.shape[0]

    @staticmethod
    def cat(parts: list["Keypoints"]) -> "Keypoints":
        jacobians = [p.jacobian for p in parts]
        return Keypoints(torch.cat([p.value for p in parts]),
                         None if jacobians[0] is None else torch.cat(jacobians))


def hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of (K, 2) points (the reference uses scipy's ConvexHull(...).volume)."""
    hull = cv2.convexHull(np.ascontiguousarray(points, dtype=np.float32))
    return float(cv2.contourArea(hull))


def movement_scale(source: Keypoints, driving_initial: Keypoints) -> float:
    """sqrt(source hull area / driving hull area): how much larger the source object is than the driving one
    (1 when the driving keypoints collapse onto a line, where the ratio means nothing)."""
    driving_area = hull_area(driving_initial.value[0].detach().float().cpu().numpy())
    if driving_area < 1e-8:
        return 1.0
    return float(np.sqrt(hull_area(source.value[0].detach().float().cpu().numpy()) / driving_area))


def relative_keypoints(source: Keypoints, driving: Keypoints, driving_initial: Keypoints,
                       scale: float) -> Keypoints:
    """Move the source keypoints by the driving keypoints' displacement from the initial driving frame (scaled by
    `scale`) and turn their Jacobians by the driving Jacobians' change (FOMM's normalize_kp with
    use_relative_movement and use_relative_jacobian). `driving` may be a batch; the others have batch 1."""
    value = (driving.value - driving_initial.value) * scale + source.value
    jacobian = None
    if driving.jacobian is not None:
        change = torch.matmul(driving.jacobian, torch.inverse(driving_initial.jacobian))
        jacobian = torch.matmul(change, source.jacobian)
    return Keypoints(value, jacobian)


def normalised_pose(values: np.ndarray) -> np.ndarray:
    """(..., K, 2) keypoints centred on their mean and divided by sqrt of their hull area: a pose signature that
    ignores where the object is and how big it is."""
    centred = values - values.mean(axis=-2, keepdims=True)
    flat = centred.reshape(-1, *centred.shape[-2:])
    areas = np.array([hull_area(v) for v in flat]).reshape(centred.shape[:-2] + (1, 1))
    return centred / np.sqrt(np.maximum(areas, 1e-12))


def best_matching_frame(source_values: np.ndarray, driving_values: np.ndarray) -> int:
    """Index of the driving frame ((T, K, 2) keypoints) whose normalised pose is closest (sum of squares) to the
    source's ((K, 2))."""
    distances = ((normalised_pose(driving_values) - normalised_pose(source_values)[None]) ** 2).sum(axis=(1, 2))
    return int(np.argmin(distances))
