"""TPSMM's keypoint detector: a ResNet-18 regresses K TPS transforms x 5 control points, squashed into [-1, 1]."""
from __future__ import annotations

import torch
from torch import nn

from models.keypoints import Keypoints
from models.nn.resnet import ResNet18

POINTS_PER_TPS = 5


class TpsKeypointDetector(nn.Module):
    def __init__(self, num_tps: int, **unused_common_params: object):
        super().__init__()
        self.num_tps = num_tps
        self.fg_encoder = ResNet18(num_outputs=num_tps * POINTS_PER_TPS * 2)

    def forward(self, image: torch.Tensor) -> Keypoints:
        points = torch.sigmoid(self.fg_encoder(image).float()) * 2 - 1
        return Keypoints(points.view(image.shape[0], self.num_tps * POINTS_PER_TPS, 2), None)
