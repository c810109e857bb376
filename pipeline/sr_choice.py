"""What `--sr-model` names and how it is loaded: `auto` (x4plus on a GPU, the far cheaper animevideov3 on the
CPU, Lanczos when no weights are installed), a Real-ESRGAN network of the weights registry (animevideov3, x4plus,
general-x4v3), the path of a Real-ESRGAN checkpoint, or a classical resize (`lanczos`; `none`: plain bicubic, no
sharpening). Torch is imported only when a network is chosen."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2

from pipeline.config import PipelineConfig
from pipeline.device import resolve_device
from pipeline.errors import MissingFileError

if TYPE_CHECKING:
    from models.sr_handle import SRHandle, SRSettings
    from models.sr_sources import SRWeights

CLASSICAL = {"lanczos": cv2.INTER_LANCZOS4, "none": cv2.INTER_CUBIC}  # name -> cv2 interpolation for enlarging
AUTO_BY_DEVICE = {"cuda": "x4plus", "cpu": "animevideov3"}


@dataclass(frozen=True)
class SRChoice:
    model: str  # "lanczos" | "none" | a registered network ("animevideov3", ...) | a checkpoint path
    weights: SRWeights | None = None  # for a network
    device: str = "cpu"


def choose_sr_model(config: PipelineConfig) -> SRChoice:
    """Resolve `--sr-model` for this run. Explicit networks raise MissingFileError (exit 78) without weights;
    `auto` falls back to Lanczos instead, so a bare install still runs."""
    if config.sr_model in CLASSICAL:
        return SRChoice(config.sr_model)
    from models.sr_sources import find_sr_weights

    device = resolve_device(config.device)
    if config.sr_model == "auto":
        name = AUTO_BY_DEVICE[device]
        try:
            return SRChoice(name, find_sr_weights(name, config.weights_dir), device)
        except MissingFileError:
            return SRChoice("lanczos")
    return SRChoice(config.sr_model, find_sr_weights(config.sr_model, config.weights_dir), device)


def check_sr_model(config: PipelineConfig) -> None:
    """Run-wide check before any product: an explicitly named network must have its weights (exit 78 if not)."""
    if config.sr_model not in (*CLASSICAL, "auto"):
        from models.sr_sources import find_sr_weights

        find_sr_weights(config.sr_model, config.weights_dir)


def load_sr_handle(choice: SRChoice, settings: SRSettings) -> SRHandle:
    """The chosen network, loaded and ready on its device."""
    from models.sr_checkpoint import build_network
    from models.sr_handle import SRHandle
    from models.sr_sources import load_sr_state

    return SRHandle(build_network(load_sr_state(choice.weights), choice.weights.arch), choice.device, settings)


def sr_settings(config: PipelineConfig) -> SRSettings:
    from models.sr_handle import SRSettings

    return SRSettings(config.sr_tile, config.sr_tile_pad, config.sr_fp32)
