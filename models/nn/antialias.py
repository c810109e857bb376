"""Band-limited downsampling (FOMM's AntiAliasInterpolation2d): a fixed Gaussian blur, then every n-th pixel.
The blur kernel is a buffer named `weight`, which is part of the published state dicts (`down.weight`)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gaussian_kernel(scale: float) -> torch.Tensor:
    """The reference kernel: sigma = (1/scale - 1)/2, odd side 2*round(4 sigma)+1, normalised to sum 1."""
    sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    ramp = torch.arange(size, dtype=torch.float32)
    rows, cols = torch.meshgrid(ramp, ramp, indexing="ij")
    mean = (size - 1) / 2
    kernel = torch.exp(-(rows - mean) ** 2 / (2 * sigma ** 2)) * torch.exp(-(cols - mean) ** 2 / (2 * sigma ** 2))
    return kernel / kernel.sum()


class AntiAliasDownsample(nn.Module):
    def __init__(self, channels: int, scale: float):
        super().__init__()
        if not 0 < scale < 1 or abs(1 / scale - round(1 / scale)) > 1e-9:
            raise ValueError(f"downsampling scale must be 1/n for an integer n > 1, not {scale}")
        self.step = round(1 / scale)
        kernel = gaussian_kernel(scale)
        self.register_buffer("weight", kernel.expand(channels, 1, *kernel.shape).clone())
        self.pad = kernel.shape[0] // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blurred = F.conv2d(F.pad(x, (self.pad,) * 4), self.weight.to(x.dtype), groups=x.shape[1])
        # every n-th pixel: FOMM slices, TPSMM interpolates (nearest) by 1/n, which picks the same pixels
        return blurred[:, :, ::self.step, ::self.step]
