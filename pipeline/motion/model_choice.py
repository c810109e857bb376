"""What `--motion-model` names: `classical`, a neural model of the weights registry (fomm-mgif, tpsmm-taichi,
...) whose files are in the weights folder, or the path of a checkpoint file (FOMM/TPSMM layout) with its training
config YAML beside it (`NAME.yaml` next to `NAME.pth.tar`; without one the family's published architecture is
assumed). Resolved once per run: a missing file stops the run (exit 78) before any product is processed."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from models.weights import load_registry, require
from pipeline.config import MOTION_MODELS
from pipeline.errors import MissingFileError, UsageError
from pipeline.manifest import sha256_file

CHECKPOINT_SUFFIXES = (".pth.tar", ".pth", ".pt", ".ckpt", ".tar")


@dataclass(frozen=True)
class MotionModelFiles:
    name: str  # the --motion-model value
    checkpoint: Path
    config: Path | None  # None: the family's published architecture

    def content_hashes(self) -> dict[str, str]:
        """sha256 of the files, so that replacing a checkpoint under the same name redoes the motion stage."""
        hashes = {"checkpoint": _cached_sha256(*_file_key(self.checkpoint))}
        if self.config is not None:
            hashes["config"] = _cached_sha256(*_file_key(self.config))
        return hashes


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=16)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hashing a published checkpoint takes a second or two; do it once per file version and process."""
    return sha256_file(Path(path))


def is_checkpoint_path(value: str) -> bool:
    return os.sep in value or value.lower().endswith(CHECKPOINT_SUFFIXES)


def config_beside(checkpoint: Path) -> Path:
    """`taichi-cpk.pth.tar` -> `taichi-cpk.yaml` in the same folder."""
    name = checkpoint.name
    for suffix in CHECKPOINT_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return checkpoint.with_name(name + ".yaml")


def neural_model_ids() -> list[str]:
    return sorted(wid for wid, spec in load_registry().items() if spec.stage == "motion")


def resolve_motion_model(value: str, weights_dir: Path) -> MotionModelFiles | None:
    """None for the built-in classical transfer; raises MissingFileError (exit 78) or UsageError (exit 2)."""
    if value in MOTION_MODELS:
        return None
    registry = load_registry()
    spec = registry.get(value)
    if spec is not None and spec.stage == "motion":
        paths = require(spec, weights_dir)
        return MotionModelFiles(value, paths["checkpoint"], paths["config"])
    if is_checkpoint_path(value):
        checkpoint = Path(value).expanduser()
        if not checkpoint.is_file():
            raise MissingFileError("motion model checkpoint", str(checkpoint),
                                   "Pass an existing FOMM/TPSMM checkpoint file, a registered model "
                                   f"({', '.join(neural_model_ids())}) or --motion-model classical.")
        config = config_beside(checkpoint)
        return MotionModelFiles(value, checkpoint.resolve(), config.resolve() if config.is_file() else None)
    choices = ", ".join([*MOTION_MODELS, *neural_model_ids()])
    raise UsageError(f"unknown --motion-model {value!r}; choose one of {choices}, or give a checkpoint path")
