"""FOMM's dense motion network: from the source image and the source/driving keypoints (with Jacobians) it
predicts how to blend K local affine motions plus the identity (background) into one dense backward flow, and an
occlusion map saying where the warped source can be trusted."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.keypoints import Keypoints
from models.nn.antialias import AntiAliasDownsample
from models.nn.blocks import Hourglass
from models.nn.grid import coordinate_grid, keypoint_gaussians, warp


@dataclass(frozen=True)
class DenseMotion:
    deformation: torch.Tensor  # (B, h, w, 2) for every driving-frame position, where to sample the source
    mask: torch.Tensor  # (B, K+1, h, w) softmax weights of the background and the K local motions
    sparse_deformed: torch.Tensor  # (B, K+1, C, h, w) the source warped by each motion alone
    occlusion_map: torch.Tensor | None  # (B, 1, h, w) in [0, 1]; 0 where the source has no content to show


class DenseMotionNetwork(nn.Module):
    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_kp: int, num_channels: int,
                 estimate_occlusion_map: bool = False, scale_factor: float = 1, kp_variance: float = 0.01):
        super().__init__()
        self.hourglass = Hourglass(block_expansion, (num_kp + 1) * (num_channels + 1), num_blocks, max_features)
        self.mask = nn.Conv2d(self.hourglass.out_channels, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        self.occlusion = (nn.Conv2d(self.hourglass.out_channels, 1, kernel_size=(7, 7), padding=(3, 3))
                          if estimate_occlusion_map else None)
        self.num_kp = num_kp
        self.kp_variance = kp_variance
        self.down = AntiAliasDownsample(num_channels, scale_factor) if scale_factor != 1 else None

    def downscale(self, source_image: torch.Tensor) -> torch.Tensor:
        return source_image if self.down is None else self.down(source_image)

    def forward(self, source_image: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> DenseMotion:
        return self.predict(self.downscale(source_image), kp_driving, kp_source)

    def sparse_motions(self, height: int, width: int, kp_driving: Keypoints, kp_source: Keypoints) -> torch.Tensor:
        """(B, K+1, h, w, 2): the identity, then for each keypoint k the first-order map
        z -> kp_source_k + J_source_k J_driving_k^-1 (z - kp_driving_k)."""
        batch = len(kp_driving)
        identity = coordinate_grid(height, width, kp_driving.value.dtype, kp_driving.value.device)
        offsets = identity.view(1, 1, height, width, 2) - kp_driving.value.view(batch, self.num_kp, 1, 1, 2)
        if kp_driving.jacobian is not None:
            jacobian = torch.matmul(kp_source.jacobian, torch.inverse(kp_driving.jacobian))
            offsets = torch.einsum("bkij,bkhwj->bkhwi", jacobian.expand(batch, -1, -1, -1), offsets)
        to_source = offsets + kp_source.value.view(-1, self.num_kp, 1, 1, 2)
        return torch.cat([identity.expand(batch, 1, height, width, 2), to_source], dim=1)

    def predict(self, source_small: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> DenseMotion:
        """`source_small` is the already downscaled source; it and `kp_source` may have batch 1 for a batch of
        driving keypoints (the source is then encoded once)."""
        batch = len(kp_driving)
        _, channels, height, width = source_small.shape
        with torch.autocast(source_small.device.type, enabled=False):  # keypoint geometry stays in float32
            gaussians = (keypoint_gaussians(kp_driving.value, height, width, self.kp_variance)
                         - keypoint_gaussians(kp_source.value, height, width, self.kp_variance))
            heatmaps = torch.cat([gaussians.new_zeros(batch, 1, height, width),
                                  gaussians.expand(batch, -1, -1, -1)], dim=1)
            motions = self.sparse_motions(height, width, kp_driving, kp_source)
            sources = source_small.unsqueeze(1).expand(batch, self.num_kp + 1, channels, height, width)
            deformed = warp(sources.reshape(-1, channels, height, width), motions.view(-1, height, width, 2))
            deformed = deformed.view(batch, self.num_kp + 1, channels, height, width)
        inputs = torch.cat([heatmaps.unsqueeze(2), deformed], dim=2).view(batch, -1, height, width)
        features = self.hourglass(inputs)
        mask = F.softmax(self.mask(features).float(), dim=1)
        deformation = (motions * mask.unsqueeze(-1)).sum(dim=1)
        occlusion = None if self.occlusion is None else torch.sigmoid(self.occlusion(features).float())
        return DenseMotion(deformation, mask, deformed, occlusion)
