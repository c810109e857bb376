"""SRVGGNetCompact (Real-ESRGAN's compact models: realesr-animevideov3, realesr-general-x4v3) with the official
state-dict key names: `body.0` the first conv, then alternating PReLU / conv, the last conv at the end."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SRVGGShape:
    in_channels: int = 3
    out_channels: int = 3
    features: int = 64
    convs: int = 16  # animevideov3: 16, general-x4v3: 32
    scale: int = 4


class SRVGGNetCompact(nn.Module):
    """Only the PReLU activation, the one every published compact checkpoint uses (its slopes are in the file)."""

    def __init__(self, shape: SRVGGShape = SRVGGShape()):
        super().__init__()
        self.shape = shape
        layers: list[nn.Module] = [nn.Conv2d(shape.in_channels, shape.features, 3, 1, 1),
                                   nn.PReLU(num_parameters=shape.features)]
        for _ in range(shape.convs):
            layers += [nn.Conv2d(shape.features, shape.features, 3, 1, 1), nn.PReLU(num_parameters=shape.features)]
        layers.append(nn.Conv2d(shape.features, shape.out_channels * shape.scale ** 2, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(shape.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        # the network learns a residual over nearest-neighbour upsampling
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.shape.scale, mode="nearest")


def srvgg_shape(state: dict[str, torch.Tensor]) -> SRVGGShape:
    """Hyper-parameters read from an official-layout state dict's tensor shapes."""
    indices = sorted({int(key.split(".")[1]) for key in state if key.startswith("body.")})
    if "body.1.weight" not in state or state["body.1.weight"].ndim != 1:
        raise ValueError("SRVGGNetCompact checkpoint without PReLU slopes at body.1: only the PReLU variant "
                         "(every published compact model) is supported")
    features, in_channels = state["body.0.weight"].shape[:2]
    last = state[f"body.{indices[-1]}.weight"].shape[0]
    out_channels = in_channels  # the output must be in_channels * scale^2 wide to pixel-shuffle back to the image
    scale = round((last / out_channels) ** 0.5)
    if scale * scale * out_channels != last:
        raise ValueError(f"SRVGGNetCompact last conv has {last} channels, not {out_channels} x scale^2")
    convs = (indices[-1] - 2) // 2
    return SRVGGShape(in_channels, out_channels, features, convs, scale)
