"""Normalised coordinate grids, keypoint Gaussians and warping.

Coordinates are (x, y) in [-1, 1], -1 and 1 being the *centres* of the first and last pixel. This is the
`align_corners=True` convention of `F.grid_sample`, the only one torch 1.0 had when FOMM was written and trained
(torch 1.3 changed the default to False); TPSMM passes `align_corners=True` explicitly. Keypoints, Jacobians and
flows of the published checkpoints are therefore in this convention, and every sampling of a flow goes through
`warp` below so that no call can silently fall back to torch's current default.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

GRID_ALIGN_CORNERS = True


def coordinate_grid(height: int, width: int, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """(H, W, 2) grid of (x, y) pixel centres in [-1, 1]."""
    xs = 2 * (torch.arange(width, dtype=dtype, device=device) / (width - 1)) - 1
    ys = 2 * (torch.arange(height, dtype=dtype, device=device) / (height - 1)) - 1
    return torch.stack([xs.view(1, -1).expand(height, width), ys.view(-1, 1).expand(height, width)], dim=2)


def keypoint_gaussians(keypoints: torch.Tensor, height: int, width: int, variance: float) -> torch.Tensor:
    """(B, K, 2) keypoints -> (B, K, H, W) unnormalised isotropic Gaussians of the given variance."""
    grid = coordinate_grid(height, width, keypoints.dtype, keypoints.device)
    offset = grid.view(1, 1, height, width, 2) - keypoints.view(*keypoints.shape[:2], 1, 1, 2)
    return torch.exp(-0.5 * (offset ** 2).sum(-1) / variance)


def warp(image: torch.Tensor, grid: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample `image` (B, C, H, W) at `grid` (B, h, w, 2) of normalised (x, y) source positions. Under autocast a
    half-precision image is sampled in the grid's precision: positions in fp16 would be off by up to 1/8 pixel."""
    if image.dtype != grid.dtype:
        image = image.to(grid.dtype)
    return F.grid_sample(image, grid, padding_mode=padding_mode, align_corners=GRID_ALIGN_CORNERS)


def resize_flow(flow: torch.Tensor, height: int, width: int, align_corners: bool) -> torch.Tensor:
    """Bilinear resize of a (B, h, w, 2) sampling grid to (B, height, width, 2). FOMM resizes with torch's
    default (align_corners False), TPSMM with True: the caller says which its checkpoints expect."""
    if flow.shape[1:3] == (height, width):
        return flow
    resized = F.interpolate(flow.permute(0, 3, 1, 2), size=(height, width), mode="bilinear",
                            align_corners=align_corners)
    return resized.permute(0, 2, 3, 1)
