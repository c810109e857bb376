"""Which model files the localize and inpaint options need (`--matting rembg:NAME`, `--inpaint lama`,
`--detector yolo[:FILE]`), checked before a run starts so a missing file stops it with exit 78, and a
content key per selected file for the stage manifests."""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from models.weights import WeightSpec, load_registry, require
from pipeline.config import PipelineConfig
from pipeline.errors import UsageError
from pipeline.manifest import sha256_file

LAMA_ID = "lama-big"
YOLO_ID = "yolov8n"


def matting_spec(option: str) -> WeightSpec | None:
    """The registry entry behind `--matting rembg:NAME`; None for the classical methods."""
    if not option.startswith("rembg:"):
        return None
    name = option.split(":", 1)[1]
    sessions = {s.options.get("session"): s for s in load_registry().values() if s.family == "rembg"}
    if name not in sessions:
        raise UsageError(f"--matting rembg:{name} is not in the weights registry; known: "
                         + ", ".join(f"rembg:{n}" for n in sorted(sessions)))
    return sessions[name]


def inpaint_spec(option: str) -> WeightSpec | None:
    return load_registry()[LAMA_ID] if option == "lama" else None


def detector_spec(option: str) -> WeightSpec | None:
    """`yolo` uses the registry's file; `yolo:FILE` another export (a name in the weights folder or a path)."""
    if option == "none":
        return None
    spec = load_registry()[YOLO_ID]
    if ":" in option:
        spec = replace(spec, id=f"{YOLO_ID} ({option.split(':', 1)[1]})", files={"model": option.split(":", 1)[1]},
                       sha256={})
    return spec


def selected_specs(config: PipelineConfig) -> dict[str, WeightSpec]:
    """Option name -> registry entry, for the options that select a model."""
    chosen = {"matting": matting_spec(config.matting), "inpaint": inpaint_spec(config.inpaint),
              "detector": detector_spec(config.detector)}
    return {option: spec for option, spec in chosen.items() if spec is not None}


def check_model_files(config: PipelineConfig) -> None:
    """MissingFileError (exit 78) naming the file and the fallback when a selected model's file is absent."""
    for spec in selected_specs(config).values():
        require(spec, config.weights_dir)


@lru_cache(maxsize=16)
def _file_key(path: Path, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def model_file_key(spec: WeightSpec, weights_dir: Path) -> str:
    """sha256 of the model's file (hashed once per process and file version): a swapped file reruns the stage."""
    path = require(spec, weights_dir)["model"]
    stat = path.stat()
    return _file_key(path.resolve(), stat.st_size, stat.st_mtime_ns)
