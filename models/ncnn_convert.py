"""Convert Real-ESRGAN networks shipped in ncnn format (`.param` text graph + `.bin` weights) into PyTorch state
dicts with the official key names, so the same loader serves official `.pth` files and these.

The `.bin` has no header: the weighted layers' blobs follow in `.param` order. A convolution's weights start with a
4-byte storage tag (fp16 or raw fp32), are padded to 4 bytes, and its bias follows as raw fp32; PReLU slopes are raw
fp32. The official modules register their parameters in the same order as the exported graph runs, so the blobs map
onto `state_dict()` one to one; every shape is checked on the way."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.archs.rrdbnet import RRDBNet, RRDBNetShape
from models.archs.srvgg import SRVGGNetCompact, SRVGGShape

PARAM_MAGIC = "7767517"
TAG_FP16 = 0x01306B47
TAG_FP32 = 0x00000000
RRDB_CONVS_PER_BLOCK = 15  # 3 dense blocks x 5 convs
RRDB_OUTER_CONVS = 6  # conv_first, conv_body, conv_up1, conv_up2, conv_hr, conv_last
INTERP_NEAREST = "1"
WEIGHTLESS_LAYERS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"}


class NcnnFormatError(ValueError):
    """The ncnn files are not a Real-ESRGAN network this converter understands; the message says why."""


@dataclass(frozen=True)
class NcnnLayer:
    kind: str  # "Convolution", "PReLU", ...
    name: str
    params: dict[str, str]  # ncnn's numbered parameters, values as written ("0=64" -> {"0": "64"})

    def int_param(self, key: str, default: int | None = None) -> int:
        if key not in self.params:
            if default is None:
                raise NcnnFormatError(f"layer {self.name} has no parameter {key}")
            return default
        return int(self.params[key])


@dataclass(frozen=True)
class ConvertedNetwork:
    arch: str  # "rrdbnet" | "srvgg"
    state: dict[str, torch.Tensor]  # official key names, float32


def parse_param(text: str) -> list[NcnnLayer]:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [PARAM_MAGIC]:
        raise NcnnFormatError("not an ncnn .param file (the first line is not the magic number 7767517)")
    layer_count = int(lines[1][0])
    layers = []
    for fields in lines[2:]:
        bottoms, tops = int(fields[2]), int(fields[3])
        params = dict(item.split("=", 1) for item in fields[4 + bottoms + tops:])
        layers.append(NcnnLayer(fields[0], fields[1], params))
    if len(layers) != layer_count:
        raise NcnnFormatError(f".param header announces {layer_count} layers but lists {len(layers)}")
    return layers


class _BlobReader:
    """Sequential reader over the .bin bytes that knows ncnn's two storage forms used here."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def _take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise NcnnFormatError(f".bin ends at byte {len(self.data)} but layer data needs {self.offset + size}")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def raw_fp32(self, count: int) -> np.ndarray:
        return np.frombuffer(self._take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        tag = int.from_bytes(self._take(4), "little")
        if tag == TAG_FP32:
            return self.raw_fp32(count)
        if tag != TAG_FP16:
            raise NcnnFormatError(f"weight blob at byte {self.offset - 4} has storage tag {tag:#010x}; only fp16 "
                                  "and fp32 weights are supported (not int8-quantized models)")
        values = np.frombuffer(self._take(2 * count), dtype="<f2").astype(np.float32)
        self._take((-2 * count) % 4)  # fp16 blobs are padded to a 4-byte boundary
        return values

    def remaining(self) -> int:
        return len(self.data) - self.offset


def read_blobs(layers: list[NcnnLayer], data: bytes) -> list[np.ndarray]:
    """Every weight tensor in file order, in PyTorch shape; raises unless the whole .bin is consumed."""
    reader = _BlobReader(data)
    blobs: list[np.ndarray] = []
    for layer in layers:
        if layer.kind == "Convolution":
            out_channels, kernel_w = layer.int_param("0"), layer.int_param("1")
            kernel_h, size = layer.int_param("11", kernel_w), layer.int_param("6")
            if layer.int_param("8", 0):
                raise NcnnFormatError(f"layer {layer.name} is int8-quantized; not supported")
            in_channels = size // (out_channels * kernel_h * kernel_w)
            blobs.append(reader.tagged(size).reshape(out_channels, in_channels, kernel_h, kernel_w))
            if layer.int_param("5", 0):
                blobs.append(reader.raw_fp32(out_channels))
        elif layer.kind == "PReLU":
            blobs.append(reader.raw_fp32(layer.int_param("0")))
        elif layer.kind not in WEIGHTLESS_LAYERS:
            raise NcnnFormatError(f"layer {layer.name} of type {layer.kind} is not part of a Real-ESRGAN network")
    if reader.remaining():
        raise NcnnFormatError(f".bin has {reader.remaining()} bytes left after the last layer: the .param and .bin "
                              "do not belong together")
    return blobs


def _count(layers: list[NcnnLayer], kind: str) -> int:
    return sum(layer.kind == kind for layer in layers)


def _check_nearest_upsampling(layers: list[NcnnLayer], expected: int) -> None:
    """Our modules upsample with nearest neighbours a fixed number of times; any other resize (the x2/x3 files add a
    bicubic downscale at the end) would be silently dropped, so refuse it."""
    interps = [layer for layer in layers if layer.kind == "Interp"]
    if len(interps) != expected or any(layer.params.get("0") != INTERP_NEAREST for layer in interps):
        raise NcnnFormatError(f"expected {expected} nearest-neighbour resize layer(s), found "
                              f"{[(layer.name, layer.params.get('0')) for layer in interps]}; use the -x4 files")


def _network_for(layers: list[NcnnLayer]) -> tuple[str, nn.Module]:
    """The module whose state dict the blobs fill (built on the meta device: only its key names and shapes count)."""
    convs = [layer for layer in layers if layer.kind == "Convolution"]
    if not convs:
        raise NcnnFormatError("no convolution layers: not a Real-ESRGAN network")
    first = convs[0]
    features = first.int_param("0")
    in_channels = first.int_param("6") // (features * first.int_param("1") ** 2)
    shuffles = [layer for layer in layers if layer.kind == "PixelShuffle"]
    if shuffles and _count(layers, "PReLU"):
        _check_nearest_upsampling(layers, 1)
        scale = shuffles[0].int_param("0")
        shape = SRVGGShape(in_channels, convs[-1].int_param("0") // scale ** 2, features, len(convs) - 2, scale)
        return "srvgg", SRVGGNetCompact(shape)
    blocks, leftover = divmod(len(convs) - RRDB_OUTER_CONVS, RRDB_CONVS_PER_BLOCK)
    if shuffles or leftover or blocks < 1 or not _count(layers, "Concat"):
        raise NcnnFormatError(f"graph with {len(convs)} convolutions is neither SRVGGNetCompact nor RRDBNet")
    _check_nearest_upsampling(layers, 2)
    shape = RRDBNetShape(in_channels, convs[-1].int_param("0"), features, blocks, convs[1].int_param("0"), 4)
    return "rrdbnet", RRDBNet(shape)


def convert_ncnn(param_path: Path, bin_path: Path) -> ConvertedNetwork:
    layers = parse_param(Path(param_path).read_text())
    blobs = read_blobs(layers, Path(bin_path).read_bytes())
    with torch.device("meta"):
        arch, network = _network_for(layers)
    template = network.state_dict()
    if len(template) != len(blobs):
        raise NcnnFormatError(f"{param_path.name} holds {len(blobs)} weight tensors; {arch} of that shape has "
                              f"{len(template)}")
    state: dict[str, torch.Tensor] = {}
    for (key, expected), blob in zip(template.items(), blobs):
        if tuple(expected.shape) != blob.shape:
            raise NcnnFormatError(f"{key}: the ncnn blob has shape {blob.shape}, {arch} expects "
                                  f"{tuple(expected.shape)}")
        state[key] = torch.from_numpy(blob)
    return ConvertedNetwork(arch, state)
