"""Build a neural motion model (FOMM or TPSMM) from a checkpoint file and its config YAML. The family is read
from the checkpoint's entries (FOMM: kp_detector + generator; TPSMM: kp_detector + dense_motion_network +
inpainting_network), so a user's own checkpoint needs no declaration beyond its config."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from models.checkpoints import load_checkpoint
from models.fomm.model import CHECKPOINT_PARTS as FOMM_PARTS
from models.fomm.model import FommConfig, FommModel
from models.motion_model import MotionModel
from models.tpsmm.model import CHECKPOINT_PARTS as TPSMM_PARTS
from models.tpsmm.model import TpsmmConfig, TpsmmModel
from models.weights import BUNDLED_DIR
from pipeline.errors import UsageError

FAMILY_PARTS: dict[str, tuple[str, ...]] = {"fomm": FOMM_PARTS, "tpsmm": TPSMM_PARTS}
_BUILDERS: dict[str, Callable[[Path], Any]] = {"fomm": lambda config: FommModel(FommConfig.from_yaml(config)),
                                               "tpsmm": lambda config: TpsmmModel(TpsmmConfig.from_yaml(config))}


def detect_family(checkpoint: dict[str, Any], label: str) -> str:
    for family, parts in FAMILY_PARTS.items():
        if all(part in checkpoint for part in parts):
            return family
    expected = "; ".join(f"{family}: {', '.join(parts)}" for family, parts in FAMILY_PARTS.items())
    raise UsageError(f"{label} is not a motion-model checkpoint we know: it holds {', '.join(sorted(checkpoint))} "
                     f"but we expect the entries of one of ({expected})")


def default_config(family: str, checkpoint: dict[str, Any]) -> Path:
    """The shipped config for a checkpoint that came without one. The published models of a family share one
    architecture, except FOMM's mgif, whose keypoint detector predicts a single Jacobian map (4 channels)."""
    if family == "fomm":
        single_map = checkpoint["kp_detector"].get("jacobian.weight", None)
        name = "mgif-256.yaml" if single_map is not None and single_map.shape[0] == 4 else "vox-256.yaml"
        return BUNDLED_DIR / "fomm" / name
    return BUNDLED_DIR / family / "vox-256.yaml"


def load_motion_model(checkpoint_path: Path, config_path: Path | None = None) -> MotionModel:
    """The model in eval mode on the CPU, its state dicts loaded strictly. Without a config, the family's
    published architecture is assumed (and a mismatch is reported by the strict load)."""
    checkpoint = load_checkpoint(checkpoint_path)
    family = detect_family(checkpoint, str(checkpoint_path))
    model = _BUILDERS[family](config_path or default_config(family, checkpoint))
    return model.load_checkpoint_dict(checkpoint, str(checkpoint_path)).eval()
