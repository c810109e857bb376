"""Neural motion transfer (FOMM / TPSMM) for the motion stage: the product's crop is the source, the driving clip
gives the motion.

The model works at 256x256 on the square crop composited on white; the crop's alpha is warped with the model's
own dense flow and, where the occlusion map says the flow has nothing to show, taken from the generated frame
itself (how far it is from the white backdrop). Driving keypoints are computed once per clip; the output loop
starts at the driving frame whose pose best matches the product, and motion is relative to that frame, scaled
to the product's size (FOMM's normalize_kp with adapt_movement_scale). The source is encoded once per product
and the driving frames are generated in batches, channels-last."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from models.keypoints import Keypoints, best_matching_frame, movement_scale, relative_keypoints
from models.motion_model import Animated, MotionModel
from models.motion_models import load_motion_model
from models.nn.grid import warp
from pipeline.motion.model_choice import MotionModelFiles
from pipeline.motion.alignment import driving_index

WHITE_TOLERANCE = 0.12  # a generated pixel this far (darkest channel) from white counts as fully object
MIN_ALPHA = 0.02  # below this the colour is not un-blended from the white backdrop


@dataclass(frozen=True)
class NeuralAnimation:
    best_frame: int  # driving frame the loop starts at
    movement_scale: float
    frames: Iterator[np.ndarray]  # (S, S, 4) float32 RGBA in [0, 1], S = the model's side


def source_on_white(crop_rgba: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The float RGBA crop resized to side x side: (RGB composited on white, alpha)."""
    interpolation = cv2.INTER_AREA if crop_rgba.shape[0] > side else cv2.INTER_CUBIC
    resized = np.clip(cv2.resize(crop_rgba, (side, side), interpolation=interpolation), 0, 1)
    alpha = resized[..., 3]
    return resized[..., :3] * alpha[..., None] + (1 - alpha[..., None]), alpha


def frames_to_side(frames_u8: list[np.ndarray], side: int) -> np.ndarray:
    """Driving frames as (T, side, side, 3) uint8 (the model's input size)."""
    return np.stack([f if f.shape[:2] == (side, side) else
                     cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA if f.shape[0] > side
                                else cv2.INTER_CUBIC) for f in frames_u8])


def alpha_from_flow(alpha: torch.Tensor, animated: Animated, size: tuple[int, int]) -> torch.Tensor:
    """(1, 1, H, W) source alpha -> (B, 1, H, W): warped by the dense flow where the source is visible, and
    taken from the generated frame's distance to white where the occlusion map says it is not."""
    batch = animated.deformation.shape[0]
    flow = F.interpolate(animated.deformation.permute(0, 3, 1, 2), size=size, mode="bilinear",
                         align_corners=False).permute(0, 2, 3, 1)
    warped = warp(alpha.expand(batch, -1, -1, -1), flow)
    if animated.occlusion is None:
        return warped
    visible = F.interpolate(animated.occlusion.float(), size=size, mode="bilinear", align_corners=False)
    painted = ((1 - animated.prediction.float().amin(dim=1, keepdim=True)) / WHITE_TOLERANCE).clamp(0, 1)
    return visible * warped + (1 - visible) * painted


def unblend_from_white(prediction: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The object's own colour, given frames generated over white: rgb = (out - (1 - a)) / a."""
    colour = (prediction - (1 - alpha)) / alpha.clamp(min=MIN_ALPHA)
    return torch.where(alpha > MIN_ALPHA, colour, prediction).clamp(0, 1)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Half precision on CUDA (bfloat16 where supported); keypoint geometry stays float32 inside the models."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


class NeuralAnimator:
    """One loaded model, reused for every product of a run; driving keypoints are cached per clip."""

    def __init__(self, files: MotionModelFiles, device: str):
        self.files = files
        self.device = torch.device(device)
        # channels-last convolutions are faster on CUDA and, with oneDNN, about 20% faster on the CPU too
        self.model: MotionModel = load_motion_model(files.checkpoint, files.config).to(
            self.device, memory_format=torch.channels_last)
        self.side = self.model.image_size
        self._driving: dict[str, Keypoints] = {}

    def _images(self, rgb: np.ndarray) -> torch.Tensor:
        """(B, H, W, 3) uint8 or float [0, 1] -> (B, 3, H, W) float on the device."""
        images = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(0, 3, 1, 2)
        images = images.float() / 255 if rgb.dtype == np.uint8 else images.float()
        return images.contiguous(memory_format=torch.channels_last)

    def driving_keypoints(self, frames: np.ndarray, clip_key: str, batch_size: int) -> Keypoints:
        if clip_key not in self._driving:
            with torch.inference_mode(), autocast(self.device):
                parts = [self.model.keypoints(self._images(frames[i:i + batch_size]))
                         for i in range(0, len(frames), batch_size)]
            self._driving[clip_key] = Keypoints.cat(parts)
        return self._driving[clip_key]

    def animate(self, crop_rgba: np.ndarray, driving_u8: list[np.ndarray], clip_key: str, n_frames: int,
                batch_size: int) -> NeuralAnimation:
        frames = frames_to_side(driving_u8, self.side)
        kp_driving = self.driving_keypoints(frames, clip_key, batch_size)
        source_rgb, source_alpha = source_on_white(crop_rgba, self.side)
        with torch.inference_mode(), autocast(self.device):
            source = self._images(source_rgb[None])
            kp_source = self.model.keypoints(source)
            encoding = self.model.encode_source(source)
        best = best_matching_frame(kp_source.value[0].float().cpu().numpy(), kp_driving.value.float().cpu().numpy())
        initial = kp_driving[best:best + 1]
        scale = movement_scale(kp_source, initial)
        order = [(best + driving_index(i, n_frames, len(frames))) % len(frames) for i in range(n_frames)]
        alpha = torch.from_numpy(source_alpha).to(self.device)[None, None]

        def generate() -> Iterator[np.ndarray]:
            for start in range(0, n_frames, batch_size):
                indices = torch.tensor(order[start:start + batch_size], device=kp_driving.value.device)
                with torch.inference_mode():
                    kp_norm = relative_keypoints(kp_source, kp_driving[indices], initial, scale)  # float32
                with torch.inference_mode(), autocast(self.device):
                    animated = self.model.animate(encoding, kp_norm, kp_source)
                    out_alpha = alpha_from_flow(alpha, animated, (self.side, self.side))
                    rgb = unblend_from_white(animated.prediction.float(), out_alpha)
                    rgba = torch.cat([rgb, out_alpha], dim=1).permute(0, 2, 3, 1).cpu().numpy()
                yield from rgba

        return NeuralAnimation(best, scale, generate())
