"""TPSMM's dense motion network: K thin-plate-spline transforms plus the identity (or an affine background
motion), blended per pixel by predicted contribution maps into one backward flow, and occlusion masks at four
resolutions (multi_mask) for the inpainting network."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.keypoints import Keypoints
from models.nn.antialias import AntiAliasDownsample
from models.nn.blocks import Hourglass, UpBlock2d, instance_norm
from models.nn.grid import coordinate_grid, keypoint_gaussians, warp
from models.tpsmm.keypoint_detector import POINTS_PER_TPS
from models.tpsmm.tps import tps_grids

OCCLUSION_MAPS = 4


@dataclass(frozen=True)
class TpsDenseMotion:
    deformation: torch.Tensor  # (B, h, w, 2) backward flow, normalised source positions
    contribution_maps: torch.Tensor  # (B, K+1, h, w)
    deformed_source: torch.Tensor  # (B, K+1, C, h, w) the source warped by each transform alone
    occlusion_maps: list[torch.Tensor]  # coarse to fine, (B, 1, *, *), 1 where the source is visible


class TpsDenseMotionNetwork(nn.Module):
    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_tps: int, num_channels: int,
                 scale_factor: float = 0.25, bg: bool = False, multi_mask: bool = True, kp_variance: float = 0.01):
        super().__init__()
        self.down = AntiAliasDownsample(num_channels, scale_factor) if scale_factor != 1 else None
        self.multi_mask = multi_mask
        self.hourglass = Hourglass(block_expansion, num_channels * (num_tps + 1) + num_tps * POINTS_PER_TPS + 1,
                                   num_blocks, max_features, norm=instance_norm)
        levels = self.hourglass.decoder.out_channels
        self.maps = nn.Conv2d(levels[-1], num_tps + 1, kernel_size=(7, 7), padding=(3, 3))
        if multi_mask:
            self.up_nums = int(math.log(1 / scale_factor, 2))  # upsamplings back to the input resolution
            widths = [levels[-1] // (2 ** i) for i in range(self.up_nums + 1)]
            self.up = nn.ModuleList(UpBlock2d(widths[i], widths[i + 1], norm=instance_norm)
                                    for i in range(self.up_nums))
            from_hourglass = levels[len(levels) - (OCCLUSION_MAPS - self.up_nums):]
            self.occlusion = nn.ModuleList(nn.Conv2d(channels, 1, kernel_size=(7, 7), padding=(3, 3))
                                           for channels in [*from_hourglass, *widths[1:]])
        else:
            self.occlusion = nn.ModuleList([nn.Conv2d(levels[-1], 1, kernel_size=(7, 7), padding=(3, 3))])
        self.num_tps = num_tps  # `bg` only switches on the background predictor during training
        self.kp_variance = kp_variance

    def downscale(self, source_image: torch.Tensor) -> torch.Tensor:
        return source_image if self.down is None else self.down(source_image)

    def forward(self, source_image: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> TpsDenseMotion:
        return self.predict(self.downscale(source_image), kp_driving, kp_source)

    def transformations(self, height: int, width: int, kp_driving: Keypoints, kp_source: Keypoints) -> torch.Tensor:
        """(B, K+1, h, w, 2): the identity (background), then the K TPS maps driving -> source."""
        batch = len(kp_driving)
        groups_driving = kp_driving.value.view(batch, self.num_tps, POINTS_PER_TPS, 2)
        groups_source = kp_source.value.view(-1, self.num_tps, POINTS_PER_TPS, 2).expand_as(groups_driving)
        splines = tps_grids(groups_driving, groups_source, height, width)
        identity = coordinate_grid(height, width, splines.dtype, splines.device)
        return torch.cat([identity.expand(batch, 1, height, width, 2), splines], dim=1)

    def predict(self, source_small: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> TpsDenseMotion:
        """`source_small` (already downscaled) and `kp_source` may have batch 1 for a batch of driving keypoints."""
        batch = len(kp_driving)
        _, channels, height, width = source_small.shape
        with torch.autocast(source_small.device.type, enabled=False):  # spline fitting needs float32
            gaussians = (keypoint_gaussians(kp_driving.value, height, width, self.kp_variance)
                         - keypoint_gaussians(kp_source.value, height, width, self.kp_variance))
            heatmaps = torch.cat([gaussians.new_zeros(batch, 1, height, width),
                                  gaussians.expand(batch, -1, -1, -1)], dim=1)
            motions = self.transformations(height, width, kp_driving, kp_source)
            sources = source_small.unsqueeze(1).expand(batch, self.num_tps + 1, channels, height, width)
            deformed = warp(sources.reshape(-1, channels, height, width), motions.view(-1, height, width, 2))
            deformed = deformed.view(batch, self.num_tps + 1, channels, height, width)
        levels = self.hourglass.forward_levels(torch.cat([heatmaps, deformed.view(batch, -1, height, width)], dim=1))
        contribution = F.softmax(self.maps(levels[-1]).float(), dim=1)
        deformation = (motions * contribution.unsqueeze(-1)).sum(dim=1)
        if not self.multi_mask:
            occlusions = [torch.sigmoid(self.occlusion[0](levels[-1]).float())]
        else:
            from_hourglass = levels[len(levels) - (OCCLUSION_MAPS - self.up_nums):]
            features = [*from_hourglass]
            upsampled = levels[-1]
            for block in self.up:
                upsampled = block(upsampled)
                features.append(upsampled)
            occlusions = [torch.sigmoid(conv(f).float()) for conv, f in zip(self.occlusion, features)]
        return TpsDenseMotion(deformation, contribution, deformed, occlusions)
