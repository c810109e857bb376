"""FOMM's occlusion-aware generator: encode the source, warp its features with the dense motion, mask them with
the occlusion map, decode. The source encoding (features and downscaled image) does not depend on the driving
frame, so `encode_source` computes it once and `generate` reuses it for any batch of driving keypoints."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.fomm.dense_motion import DenseMotion, DenseMotionNetwork
from models.keypoints import Keypoints
from models.nn.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d
from models.nn.grid import resize_flow, warp

# the reference resized flows and occlusion maps with F.interpolate's default, align_corners=False
RESIZE_ALIGN_CORNERS = False


@dataclass(frozen=True)
class SourceEncoding:
    image: torch.Tensor  # (1, C, H, W)
    image_small: torch.Tensor  # (1, C, h, w) as the dense motion network sees it
    features: torch.Tensor  # (1, F, H/2^n, W/2^n) encoder output


@dataclass(frozen=True)
class Generated:
    prediction: torch.Tensor  # (B, C, H, W) in [0, 1]
    motion: DenseMotion


class OcclusionAwareGenerator(nn.Module):
    def __init__(self, num_channels: int, num_kp: int, block_expansion: int, max_features: int,
                 num_down_blocks: int, num_bottleneck_blocks: int, estimate_occlusion_map: bool = False,
                 dense_motion_params: dict | None = None, estimate_jacobian: bool = False):
        # estimate_jacobian arrives with the config's common_params; only the keypoint detector uses it
        super().__init__()
        if dense_motion_params is None:
            raise ValueError("generator_params.dense_motion_params is required: a generator without dense motion "
                             "cannot animate")
        self.dense_motion_network = DenseMotionNetwork(num_kp=num_kp, num_channels=num_channels,
                                                       estimate_occlusion_map=estimate_occlusion_map,
                                                       **dense_motion_params)
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))

        def width(level: int) -> int:
            return min(max_features, block_expansion * (2 ** level))

        self.down_blocks = nn.ModuleList(DownBlock2d(width(i), width(i + 1), kernel_size=(3, 3), padding=(1, 1))
                                         for i in range(num_down_blocks))
        self.up_blocks = nn.ModuleList(
            UpBlock2d(width(num_down_blocks - i), width(num_down_blocks - i - 1), kernel_size=(3, 3), padding=(1, 1))
            for i in range(num_down_blocks))
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(width(num_down_blocks), kernel_size=(3, 3),
                                                           padding=(1, 1)))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.num_channels = num_channels

    def encode_source(self, source_image: torch.Tensor) -> SourceEncoding:
        features = self.first(source_image)
        for block in self.down_blocks:
            features = block(features)
        return SourceEncoding(source_image, self.dense_motion_network.downscale(source_image), features)

    def generate(self, source: SourceEncoding, kp_driving: Keypoints, kp_source: Keypoints) -> Generated:
        motion = self.dense_motion_network.predict(source.image_small, kp_driving, kp_source)
        batch = motion.deformation.shape[0]
        features = source.features.expand(batch, -1, -1, -1)
        height, width = features.shape[2:]
        out = warp(features, resize_flow(motion.deformation, height, width, RESIZE_ALIGN_CORNERS))
        if motion.occlusion_map is not None:
            occlusion = motion.occlusion_map
            if occlusion.shape[2:] != out.shape[2:]:
                occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear",
                                          align_corners=RESIZE_ALIGN_CORNERS)
            out = out * occlusion
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        return Generated(torch.sigmoid(self.final(out)), motion)

    def forward(self, source_image: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> Generated:
        return self.generate(self.encode_source(source_image), kp_driving, kp_source)
