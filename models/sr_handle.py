"""A loaded super-resolution network ready to run (the descriptor idea from spandrel): it knows its scale and size
needs, splits large frames into overlapping tiles, runs a batch of frames at once under inference_mode, on CUDA with
fp16 autocast unless fp32 is asked for, always in channels_last memory format."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.archs.rrdbnet import RRDBNet


@dataclass(frozen=True)
class TileBox:
    core: tuple[int, int, int, int]  # y0, y1, x0, x1 of the input pixels this tile owns
    padded: tuple[int, int, int, int]  # the same grown by the overlap, clipped to the frame: what the network sees


def tile_boxes(height: int, width: int, tile: int, pad: int) -> list[TileBox]:
    """Tiles of `tile` px covering the frame; each is run with `pad` px of context on every side that has one."""
    boxes = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            padded = (max(y0 - pad, 0), min(y1 + pad, height), max(x0 - pad, 0), min(x1 + pad, width))
            boxes.append(TileBox((y0, y1, x0, x1), padded))
    return boxes


def input_multiple(network: nn.Module) -> int:
    """RRDBNet at scale 2 / 1 folds 2x2 / 4x4 pixels into channels, so its input sides must divide by that."""
    if isinstance(network, RRDBNet):
        return 4 // network.shape.scale
    return 1


def precision(device_type: str, fp32: bool) -> str:
    """fp16 autocast on CUDA unless asked otherwise; the CPU always computes in fp32."""
    return "fp16" if device_type == "cuda" and not fp32 else "fp32"


@dataclass(frozen=True)
class SRSettings:
    tile: int = 512  # input frames with a side above this run in tiles of this many px; 0: never tile
    tile_pad: int = 10  # px of overlap context around each tile (input pixels)
    fp32: bool = False  # on CUDA: full precision instead of fp16 autocast (the CPU always runs fp32)


class SRHandle:
    def __init__(self, network: nn.Module, device: str, settings: SRSettings = SRSettings()):
        self.device = torch.device(device)
        self.settings = settings
        self.scale: int = network.shape.scale
        self.multiple = input_multiple(network)
        self.half = precision(self.device.type, settings.fp32) == "fp16"
        # channels_last: cuDNN's tensor-core kernels on CUDA; oneDNN on the CPU (measured 0.8-0.9 s against
        # 1.5-2.3 s per 256 px frame for animevideov3 on 2 threads)
        self.network = network.eval().to(self.device, memory_format=torch.channels_last)

    @property
    def precision(self) -> str:
        return precision(self.device.type, self.settings.fp32)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of frames (N, C, H, W) float in [0, 1] -> (N, C, H*scale, W*scale) float32 on the CPU, clamped
        to [0, 1]. Tiles run for the whole batch at once."""
        with torch.inference_mode():
            return self._upscale(images.to(self.device, torch.float32))

    def _upscale(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        tile, scale = self.settings.tile, self.scale
        if not tile or max(height, width) <= tile:
            return self._forward(images).cpu()
        out = images.new_empty((*images.shape[:2], height * scale, width * scale))
        for box in tile_boxes(height, width, tile, self.settings.tile_pad):
            (y0, y1, x0, x1), (py0, py1, px0, px1) = box.core, box.padded
            part = self._forward(images[..., py0:py1, px0:px1])
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[..., y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                part[..., oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
        return out.cpu()

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")  # any size, even 1 px
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.half):
            out = self.network(images)
        return out[..., :height * self.scale, :width * self.scale].float().clamp_(0, 1)
