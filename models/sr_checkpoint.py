"""Real-ESRGAN checkpoints -> our modules: read an official `.pth` safely, tell RRDBNet from SRVGGNetCompact by its
keys, read the hyper-parameters from the tensor shapes and load strictly."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from models.archs.rrdbnet import RRDBNet, rrdbnet_shape
from models.archs.srvgg import SRVGGNetCompact, srvgg_shape
from models.checkpoints import load_checkpoint
from pipeline.errors import UsageError

# official training saves `params_ema` (the averaged generator, the one to use) and/or `params`
WRAPPER_KEYS = ("params_ema", "params")


class CheckpointError(UsageError):
    """The file is not a Real-ESRGAN generator checkpoint; the message names the keys that were found."""


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of an official checkpoint (`{"params_ema": ...}`, `{"params": ...}` or a bare state dict)."""
    loaded = load_checkpoint(path)
    for key in WRAPPER_KEYS:
        if key in loaded:
            return dict(loaded[key])
    return dict(loaded)


def detect_arch(state: dict[str, torch.Tensor]) -> str:
    if "conv_first.weight" in state and "body.0.rdb1.conv1.weight" in state:
        return "rrdbnet"
    if "body.0.weight" in state and "body.1.weight" in state:
        return "srvgg"
    sample = ", ".join(sorted(state)[:8])
    raise CheckpointError(f"neither RRDBNet nor SRVGGNetCompact keys (found {len(state)} keys: {sample}, ...)")


def build_network(state: dict[str, torch.Tensor], declared_arch: str | None = None) -> nn.Module:
    """The eval-mode module with `state` loaded strictly; `declared_arch` (from the weights registry) must agree
    with what the keys say."""
    arch = detect_arch(state)
    if declared_arch and declared_arch != arch:
        raise CheckpointError(f"the weights registry declares {declared_arch} but the checkpoint holds {arch}")
    try:
        with torch.device("meta"):  # no random initialisation (seconds for x4plus): the file's tensors are used
            network: nn.Module = (RRDBNet(rrdbnet_shape(state)) if arch == "rrdbnet"
                                  else SRVGGNetCompact(srvgg_shape(state)))
        network.load_state_dict({key: value.float() for key, value in state.items()}, strict=True, assign=True)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{arch} checkpoint does not load: {exc}") from exc
    return network.eval()
