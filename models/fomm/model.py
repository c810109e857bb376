"""A FOMM model = its config (the reference's YAML, read as is) + keypoint detector + generator, loaded from and
saved to the published checkpoint layout: a torch.save dict with `kp_detector` and `generator` state dicts
(training adds `discriminator`, the optimizers and `epoch`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml
from torch import nn

from models.checkpoints import strict_load
from models.fomm.generator import OcclusionAwareGenerator, SourceEncoding
from models.fomm.keypoint_detector import KeypointDetector
from models.keypoints import Keypoints
from models.motion_model import Animated
from pipeline.errors import UsageError

CHECKPOINT_PARTS = ("kp_detector", "generator")


@dataclass(frozen=True)
class FommConfig:
    model_params: dict[str, Any]  # common_params, kp_detector_params, generator_params (, discriminator_params)
    train_params: dict[str, Any]
    source: str = ""  # the file it came from, for messages

    @classmethod
    def from_yaml(cls, path: Path) -> "FommConfig":
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"FOMM config {path} cannot be read: {exc}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> "FommConfig":
        model = data.get("model_params") or {}
        for section in ("common_params", "kp_detector_params", "generator_params"):
            if not isinstance(model.get(section), dict):
                raise UsageError(f"FOMM config {source or '(dict)'} has no model_params.{section}")
        return cls(model, dict(data.get("train_params") or {}), source)

    def to_dict(self) -> dict[str, Any]:
        return {"model_params": self.model_params, "train_params": self.train_params}

    def keypoint_detector(self) -> KeypointDetector:
        return KeypointDetector(**self.model_params["kp_detector_params"], **self.model_params["common_params"])

    def generator(self) -> OcclusionAwareGenerator:
        return OcclusionAwareGenerator(**self.model_params["generator_params"], **self.model_params["common_params"])


class FommModel(nn.Module):
    family: ClassVar[str] = "fomm"
    image_size: ClassVar[int] = 256

    def __init__(self, config: FommConfig):
        super().__init__()
        self.config = config
        self.kp_detector = config.keypoint_detector()
        self.generator = config.generator()

    def load_checkpoint_dict(self, checkpoint: dict[str, Any], label: str) -> "FommModel":
        for part in CHECKPOINT_PARTS:
            if part not in checkpoint:
                raise UsageError(f"{label} has no {part!r} entry; a FOMM checkpoint holds "
                                 f"{', '.join(CHECKPOINT_PARTS)}")
        strict_load(self.kp_detector, checkpoint["kp_detector"], f"{label} [kp_detector]")
        strict_load(self.generator, checkpoint["generator"], f"{label} [generator]")
        return self

    def checkpoint_dict(self) -> dict[str, Any]:
        return {"kp_detector": self.kp_detector.state_dict(), "generator": self.generator.state_dict()}

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        return self.kp_detector(images)

    def encode_source(self, image: torch.Tensor) -> SourceEncoding:
        return self.generator.encode_source(image)

    def animate(self, source: SourceEncoding, kp_driving: Keypoints, kp_source: Keypoints) -> Animated:
        generated = self.generator.generate(source, kp_driving, kp_source)
        return Animated(generated.prediction, generated.motion.deformation, generated.motion.occlusion_map)
