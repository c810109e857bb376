"""LaMa inpainting from the TorchScript file `big-lama.pt` (the export IOPaint/lama-cleaner use): forward(image,
mask) with image RGB float 0..1 [1,3,H,W] and mask {0,1} [1,1,H,W], both padded to a multiple of 8."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

PAD_MULTIPLE = 8


def pad_amounts(height: int, width: int, multiple: int = PAD_MULTIPLE) -> tuple[int, int]:
    """Rows and columns to add at the bottom and right to reach a multiple of `multiple`."""
    return (-height) % multiple, (-width) % multiple


class LamaInpainter:
    """A loaded LaMa module, reused for every plate; `__call__(rgb_u8, hole)` returns the filled photo (uint8)."""

    def __init__(self, module: torch.jit.ScriptModule, device: str = "cpu"):
        self.module, self.device = module, device

    def __call__(self, rgb_u8: np.ndarray, hole: np.ndarray) -> np.ndarray:
        height, width = hole.shape
        pad_h, pad_w = pad_amounts(height, width)
        image = np.pad(rgb_u8.astype(np.float32) / 255.0, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        mask = np.pad(hole.astype(np.float32), ((0, pad_h), (0, pad_w)), mode="symmetric")
        image_t = torch.from_numpy(image).permute(2, 0, 1)[None].to(self.device)
        mask_t = torch.from_numpy(mask)[None, None].to(self.device)
        with torch.inference_mode():
            out = self.module(image_t, mask_t)
        filled = out[0].permute(1, 2, 0).clamp(0, 1).float().cpu().numpy()[:height, :width]
        result = np.clip(filled * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.where(hole[..., None], result, rgb_u8)


@lru_cache(maxsize=2)
def load_lama(path: Path, device: str = "cpu") -> LamaInpainter:
    """Load the TorchScript file once per process (call models.weights.require first for a clear error)."""
    module = torch.jit.load(str(path), map_location=device).eval()
    return LamaInpainter(module, device)
