"""A TPSMM model = its config (the reference's YAML, read as is) + keypoint detector + dense motion network +
inpainting network, loaded from the published checkpoint layout: a torch.save dict with `kp_detector`,
`dense_motion_network` and `inpainting_network` state dicts (plus `bg_predictor`, `avd_network` and optimizers,
which animation in relative mode does not use)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml
from torch import nn

from models.checkpoints import strict_load
from models.keypoints import Keypoints
from models.motion_model import Animated
from models.tpsmm.dense_motion import TpsDenseMotionNetwork
from models.tpsmm.inpainting import InpaintingNetwork, TpsSourceEncoding
from models.tpsmm.keypoint_detector import TpsKeypointDetector
from pipeline.errors import UsageError

CHECKPOINT_PARTS = ("kp_detector", "dense_motion_network", "inpainting_network")


@dataclass(frozen=True)
class TpsmmConfig:
    model_params: dict[str, Any]  # common_params, generator_params, dense_motion_params (, avd_network_params)
    source: str = ""

    @classmethod
    def from_yaml(cls, path: Path) -> "TpsmmConfig":
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"TPSMM config {path} cannot be read: {exc}") from None
        model = data.get("model_params") or {}
        for section in ("common_params", "generator_params", "dense_motion_params"):
            if not isinstance(model.get(section), dict):
                raise UsageError(f"TPSMM config {path} has no model_params.{section}")
        return cls(model, str(path))


class TpsmmModel(nn.Module):
    family: ClassVar[str] = "tpsmm"
    image_size: ClassVar[int] = 256

    def __init__(self, config: TpsmmConfig):
        super().__init__()
        common = config.model_params["common_params"]
        self.config = config
        self.kp_detector = TpsKeypointDetector(**common)
        self.dense_motion_network = TpsDenseMotionNetwork(**common, **config.model_params["dense_motion_params"])
        self.inpainting_network = InpaintingNetwork(**config.model_params["generator_params"], **common)

    def load_checkpoint_dict(self, checkpoint: dict[str, Any], label: str) -> "TpsmmModel":
        for part in CHECKPOINT_PARTS:
            if part not in checkpoint:
                raise UsageError(f"{label} has no {part!r} entry; a TPSMM checkpoint holds "
                                 f"{', '.join(CHECKPOINT_PARTS)}")
            strict_load(getattr(self, part), checkpoint[part], f"{label} [{part}]")
        return self

    def checkpoint_dict(self) -> dict[str, Any]:
        return {part: getattr(self, part).state_dict() for part in CHECKPOINT_PARTS}

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        return self.kp_detector(images)

    def encode_source(self, image: torch.Tensor) -> TpsSourceEncoding:
        return TpsSourceEncoding(image, self.dense_motion_network.downscale(image),
                                 self.inpainting_network.encode(image))

    def animate(self, source: TpsSourceEncoding, kp_driving: Keypoints, kp_source: Keypoints) -> Animated:
        motion = self.dense_motion_network.predict(source.image_small, kp_driving, kp_source)
        prediction = self.inpainting_network.decode(source, motion)
        return Animated(prediction, motion.deformation, motion.occlusion_maps[-1])
