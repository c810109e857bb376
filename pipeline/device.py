"""Choosing where neural backends run: --device auto picks CUDA when torch sees a GPU, else the CPU."""
from __future__ import annotations

from pipeline.errors import UsageError


def resolve_device(requested: str) -> str:
    """'auto' | 'cpu' | 'cuda' -> 'cpu' or 'cuda'. Importing torch is deferred to here: classical runs never need it."""
    if requested == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise UsageError("--device cuda was asked for but torch sees no CUDA GPU; use --device auto or cpu")
    return "cuda" if available else "cpu"
