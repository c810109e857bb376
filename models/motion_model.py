"""What the pipeline needs from a neural motion-transfer model (FOMM, TPSMM), whatever its family."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch

from models.keypoints import Keypoints


@dataclass(frozen=True)
class Animated:
    prediction: torch.Tensor  # (B, 3, H, W) generated frames in [0, 1]
    deformation: torch.Tensor  # (B, h, w, 2) dense backward flow (normalised source positions), h <= H
    occlusion: torch.Tensor | None  # (B, 1, h', w') 1 where the warped source is visible, 0 where it is invented


class MotionModel(Protocol):
    family: ClassVar[str]
    image_size: ClassVar[int]  # the side the published models were trained at

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        """(B, 3, H, W) images in [0, 1] -> their keypoints."""

    def encode_source(self, image: torch.Tensor) -> Any:
        """Everything about the (1, 3, H, W) source that does not depend on the driving frame."""

    def animate(self, source: Any, kp_driving: Keypoints, kp_source: Keypoints) -> Animated:
        """Frames for a batch of driving keypoints (already made relative to the source)."""
