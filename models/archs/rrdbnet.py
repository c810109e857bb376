"""RRDBNet (ESRGAN / Real-ESRGAN x4plus generator) with the official state-dict key names
(`conv_first`, `body.N.rdbK.convM`, `conv_body`, `conv_up1`, `conv_up2`, `conv_hr`, `conv_last`)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

RESIDUAL_SCALE = 0.2  # ESRGAN scales every residual branch by 0.2 before adding it back


@dataclass(frozen=True)
class RRDBNetShape:
    in_channels: int = 3
    out_channels: int = 3
    features: int = 64
    blocks: int = 23
    growth: int = 32
    scale: int = 4  # 4 natively; 2 and 1 fold the input into channels first (pixel-unshuffle), as upstream does


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, 1, 1)


class ResidualDenseBlock(nn.Module):
    def __init__(self, features: int, growth: int):
        super().__init__()
        self.conv1 = _conv(features, growth)
        self.conv2 = _conv(features + growth, growth)
        self.conv3 = _conv(features + 2 * growth, growth)
        self.conv4 = _conv(features + 3 * growth, growth)
        self.conv5 = _conv(features + 4 * growth, features)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * RESIDUAL_SCALE + x


class RRDB(nn.Module):
    def __init__(self, features: int, growth: int):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(features, growth)
        self.rdb2 = ResidualDenseBlock(features, growth)
        self.rdb3 = ResidualDenseBlock(features, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * RESIDUAL_SCALE + x


class RRDBNet(nn.Module):
    def __init__(self, shape: RRDBNetShape = RRDBNetShape()):
        super().__init__()
        if shape.scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet supports scale 1, 2 or 4, not {shape.scale}")
        self.shape = shape
        unshuffle = 4 // shape.scale
        self.conv_first = _conv(shape.in_channels * unshuffle * unshuffle, shape.features)
        self.body = nn.Sequential(*(RRDB(shape.features, shape.growth) for _ in range(shape.blocks)))
        self.conv_body = _conv(shape.features, shape.features)
        self.conv_up1 = _conv(shape.features, shape.features)
        self.conv_up2 = _conv(shape.features, shape.features)
        self.conv_hr = _conv(shape.features, shape.features)
        self.conv_last = _conv(shape.features, shape.out_channels)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shape.scale != 4:
            x = F.pixel_unshuffle(x, 4 // self.shape.scale)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


def rrdbnet_shape(state: dict[str, torch.Tensor]) -> RRDBNetShape:
    """Hyper-parameters read from an official-layout state dict's tensor shapes."""
    features, first_in = state["conv_first.weight"].shape[:2]
    out_channels = state["conv_last.weight"].shape[0]
    blocks = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("body."))
    growth = state["body.0.rdb1.conv1.weight"].shape[0]
    # pixel-unshuffle multiplies the input channels by 16 (scale 1) or 4 (scale 2)
    scale = {out_channels: 4, out_channels * 4: 2, out_channels * 16: 1}.get(first_in)
    if scale is None:
        raise ValueError(f"RRDBNet conv_first takes {first_in} channels; cannot tell the scale for "
                         f"{out_channels} output channels")
    return RRDBNetShape(first_in // (4 // scale) ** 2, out_channels, features, blocks, growth, scale)
