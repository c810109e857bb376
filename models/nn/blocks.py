"""Convolution blocks and the hourglass (U-Net) of FOMM and TPSMM. Parameter names follow the reference code
(`conv`, `norm`, `down_blocks`, ...) so published state dicts load strictly. FOMM normalises with BatchNorm,
TPSMM with affine InstanceNorm: the caller passes the norm."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Norm = Callable[[int], nn.Module]


def batch_norm(channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels, affine=True)


def instance_norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


class ResBlock2d(nn.Module):
    """Pre-activation residual block; keeps resolution and channels."""

    def __init__(self, channels: int, kernel_size: int | tuple[int, int], padding: int | tuple[int, int],
                 norm: Norm = batch_norm):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=padding)
        self.norm1 = norm(channels)
        self.norm2 = norm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(out))) + x


class UpBlock2d(nn.Module):
    """Nearest 2x upsampling, conv, norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3,
                 padding: int | tuple[int, int] = 1, norm: Norm = batch_norm):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
        self.norm = norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))))


class DownBlock2d(nn.Module):
    """Conv, norm, ReLU, 2x2 average pooling."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3,
                 padding: int | tuple[int, int] = 1, norm: Norm = batch_norm):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
        self.norm = norm(out_channels)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.norm(self.conv(x))))


class SameBlock2d(nn.Module):
    """Conv, norm, ReLU at the same resolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3,
                 padding: int | tuple[int, int] = 1, norm: Norm = batch_norm):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
        self.norm = norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


def _features(block_expansion: int, level: int, max_features: int) -> int:
    return min(max_features, block_expansion * (2 ** level))


class Encoder(nn.Module):
    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int, norm: Norm):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock2d(in_channels if i == 0 else _features(block_expansion, i, max_features),
                        _features(block_expansion, i + 1, max_features), norm=norm)
            for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int, norm: Norm):
        super().__init__()
        blocks = []
        self.out_channels: list[int] = []  # channels after each up block's skip concatenation
        for i in reversed(range(num_blocks)):
            in_filters = (1 if i == num_blocks - 1 else 2) * _features(block_expansion, i + 1, max_features)
            out_filters = _features(block_expansion, i, max_features)
            blocks.append(UpBlock2d(in_filters, out_filters, norm=norm))
            skip = in_channels if i == 0 else _features(block_expansion, i, max_features)
            self.out_channels.append(out_filters + skip)
        self.up_blocks = nn.ModuleList(blocks)

    def forward(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every level's output, coarsest first; the last one is at the input's resolution."""
        out = skips[-1]
        outs = []
        for block, skip in zip(self.up_blocks, reversed(skips[:-1])):
            out = torch.cat([block(out), skip], dim=1)
            outs.append(out)
        return outs


class Hourglass(nn.Module):
    """U-Net: `num_blocks` down blocks, then up blocks each concatenated with the matching encoder output."""

    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int = 3, max_features: int = 256,
                 norm: Norm = batch_norm):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_channels, num_blocks, max_features, norm)
        self.decoder = Decoder(block_expansion, in_channels, num_blocks, max_features, norm)
        self.out_channels = self.decoder.out_channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))[-1]

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.decoder(self.encoder(x))
