"""FOMM's keypoint detector: an hourglass on the (anti-aliased, downscaled) image predicts one heatmap per
keypoint; the keypoint is the heatmap's mean position and its Jacobian the heatmap-weighted mean of 4 predicted
maps (one set shared by all keypoints with `single_jacobian_map`, as in the mgif model)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.keypoints import Keypoints
from models.nn.antialias import AntiAliasDownsample
from models.nn.blocks import Hourglass
from models.nn.grid import coordinate_grid


class KeypointDetector(nn.Module):
    def __init__(self, block_expansion: int, num_kp: int, num_channels: int, max_features: int, num_blocks: int,
                 temperature: float, estimate_jacobian: bool = False, scale_factor: float = 1,
                 single_jacobian_map: bool = False, pad: int = 0):
        super().__init__()
        self.predictor = Hourglass(block_expansion, num_channels, num_blocks, max_features)
        # padding 0 (the reference default): a 7x7 conv turns the 64x64 features into 58x58 heatmaps
        self.kp = nn.Conv2d(self.predictor.out_channels, num_kp, kernel_size=(7, 7), padding=pad)
        self.jacobian: nn.Conv2d | None = None
        self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
        if estimate_jacobian:
            self.jacobian = nn.Conv2d(self.predictor.out_channels, 4 * self.num_jacobian_maps, kernel_size=(7, 7),
                                      padding=pad)
            nn.init.zeros_(self.jacobian.weight)  # start from identity Jacobians, as the reference does
            with torch.no_grad():
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        self.temperature = temperature
        self.down = AntiAliasDownsample(num_channels, scale_factor) if scale_factor != 1 else None

    def forward(self, image: torch.Tensor) -> Keypoints:
        """(B, C, H, W) image in [0, 1] -> keypoints. Geometry is computed in float32 even under autocast."""
        if self.down is not None:
            image = self.down(image)
        features = self.predictor(image)
        logits = self.kp(features).float()
        batch, num_kp, height, width = logits.shape
        heatmap = F.softmax(logits.view(batch, num_kp, -1) / self.temperature, dim=2).view(logits.shape)
        grid = coordinate_grid(height, width, heatmap.dtype, heatmap.device)
        value = (heatmap.unsqueeze(-1) * grid).sum(dim=(2, 3))
        if self.jacobian is None:
            return Keypoints(value, None)
        maps = self.jacobian(features).float().reshape(batch, self.num_jacobian_maps, 4, height, width)
        jacobian = (heatmap.unsqueeze(2) * maps).sum(dim=(3, 4))
        return Keypoints(value, jacobian.view(batch, num_kp, 2, 2))
