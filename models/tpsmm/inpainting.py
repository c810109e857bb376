"""TPSMM's inpainting network: an encoder whose feature maps at every resolution are warped by the dense flow
and masked by the occlusion map of that resolution, decoded with skip connections, and blended at full resolution
with the directly warped source where the source is visible. The encoder output does not depend on the driving
frame: `encode_source` computes it once."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.nn.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, instance_norm
from models.nn.grid import resize_flow, warp
from models.tpsmm.dense_motion import TpsDenseMotion

# TPSMM resizes flows and occlusion maps with align_corners=True (unlike FOMM)
RESIZE_ALIGN_CORNERS = True


@dataclass(frozen=True)
class TpsSourceEncoding:
    image: torch.Tensor  # (1, C, H, W)
    image_small: torch.Tensor  # (1, C, h, w) as the dense motion network sees it
    features: list[torch.Tensor]  # encoder outputs, full resolution first


class InpaintingNetwork(nn.Module):
    def __init__(self, num_channels: int, block_expansion: int, max_features: int, num_down_blocks: int,
                 multi_mask: bool = True, **unused_common_params: object):
        super().__init__()
        self.multi_mask = multi_mask
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3),
                                 norm=instance_norm)
        down_blocks, up_blocks, resblocks = [], [], []
        for i in range(num_down_blocks):
            in_features = min(max_features, block_expansion * (2 ** i))
            out_features = min(max_features, block_expansion * (2 ** (i + 1)))
            down_blocks.append(DownBlock2d(in_features, out_features, kernel_size=(3, 3), padding=(1, 1),
                                           norm=instance_norm))
            # the deepest decoder level gets no skip connection, the others are concatenated with one
            decoder_in = out_features if i == num_down_blocks - 1 else out_features * 2
            up_blocks.append(UpBlock2d(decoder_in, in_features, kernel_size=(3, 3), padding=(1, 1),
                                       norm=instance_norm))
            resblocks += [ResBlock2d(decoder_in, kernel_size=(3, 3), padding=(1, 1), norm=instance_norm)
                          for _ in range(2)]
        self.down_blocks = nn.ModuleList(down_blocks)
        self.up_blocks = nn.ModuleList(up_blocks[::-1])  # deepest first, as the reference stores them
        self.resblock = nn.ModuleList(resblocks[::-1])
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.num_channels = num_channels

    def encode(self, source_image: torch.Tensor) -> list[torch.Tensor]:
        features = [self.first(source_image)]
        for block in self.down_blocks:
            features.append(block(features[-1]))
        return features

    def _warp_and_mask(self, features: torch.Tensor, flow: torch.Tensor, occlusion: torch.Tensor) -> torch.Tensor:
        batch = flow.shape[0]
        warped = warp(features.expand(batch, -1, -1, -1),
                      resize_flow(flow, *features.shape[2:], align_corners=RESIZE_ALIGN_CORNERS))
        if occlusion.shape[2:] != warped.shape[2:]:
            occlusion = F.interpolate(occlusion, size=warped.shape[2:], mode="bilinear",
                                      align_corners=RESIZE_ALIGN_CORNERS)
        return warped * occlusion

    def decode(self, source: TpsSourceEncoding, motion: TpsDenseMotion) -> torch.Tensor:
        occlusions = motion.occlusion_maps
        flow = motion.deformation
        out = self._warp_and_mask(source.features[-1], flow, occlusions[0])
        skip = out
        for i, up_block in enumerate(self.up_blocks):
            out = up_block(self.resblock[2 * i + 1](self.resblock[2 * i](out)))
            skip = self._warp_and_mask(source.features[-(i + 2)], flow, occlusions[i + 1 if self.multi_mask else 0])
            if i < len(self.up_blocks) - 1:
                out = torch.cat([out, skip], dim=1)
        batch = flow.shape[0]
        deformed = warp(source.image.expand(batch, -1, -1, -1),
                        resize_flow(flow, *source.image.shape[2:], align_corners=RESIZE_ALIGN_CORNERS))
        visible = occlusions[-1]
        if visible.shape[2:] != out.shape[2:]:
            visible = F.interpolate(visible, size=out.shape[2:], mode="bilinear", align_corners=RESIZE_ALIGN_CORNERS)
        out = torch.sigmoid(self.final(out * (1 - visible) + skip).float())
        return out * (1 - visible) + deformed * visible
