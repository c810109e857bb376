"""Reading checkpoint files without running code from them.

`torch.load(weights_only=True)` accepts tensors, dicts, lists, tuples and plain numbers, which covers the published
FOMM and TPSMM files: their state dicts, the Adam optimizer states stored beside them, and the epoch. Research
checkpoints sometimes also pickle numpy scalars (an epoch or a loss as np.int64/np.float32); those are the only
extra globals we allow (`NUMPY_SCALAR_GLOBALS`), and only after the plain weights-only load refused the file.
Anything else is refused with an error naming the file: never an unrestricted pickle load."""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.errors import UsageError


def _numpy_scalar_globals() -> list[Any]:
    scalar = np._core.multiarray.scalar
    dtype_classes = [type(np.dtype(name)) for name in ("bool", "int32", "int64", "float32", "float64")]
    # files written with numpy 1.x name the scalar constructor by its old module path
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, *dtype_classes]


NUMPY_SCALAR_GLOBALS = _numpy_scalar_globals()


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The dict stored in a torch checkpoint file, on the CPU."""
    path = Path(path)
    try:
        data = _load(path, [])
    except pickle.UnpicklingError:
        try:
            data = _load(path, NUMPY_SCALAR_GLOBALS)
        except pickle.UnpicklingError as exc:
            refused = re.search(r"GLOBAL (\S+)", str(exc))
            raise UsageError(f"{path} holds Python objects other than tensors, numbers and numpy scalars "
                             f"({refused.group(1) if refused else 'unknown'}), so it is not loaded: loading it could "
                             "run code. Re-save its state dicts with torch.save.") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise UsageError(f"{path} is not a readable torch checkpoint: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} holds a {type(data).__name__}, not a checkpoint dict of state dicts")
    return data


def _load(path: Path, extra_globals: list[Any]) -> Any:
    with torch.serialization.safe_globals(extra_globals):
        return torch.load(path, map_location="cpu", weights_only=True)


def strict_load(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """load_state_dict(strict=True), with an error that names the checkpoint part and the mismatching keys."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    reshaped = [f"{key} is {tuple(state[key].shape)} in the file, {tuple(value.shape)} in the model"
                for key, value in expected.items() if key in state and value.shape != state[key].shape]
    problems = ([f"missing {len(missing)} key(s), e.g. {', '.join(missing[:3])}"] if missing else []) + \
               ([f"{len(unexpected)} unexpected key(s), e.g. {', '.join(unexpected[:3])}"] if unexpected else []) + \
        reshaped[:3]
    if problems:
        raise UsageError(f"{what} does not match the architecture of its config: {'; '.join(problems)}. "
                         "Use the config YAML the checkpoint was trained with.")
    module.load_state_dict(state, strict=True)
