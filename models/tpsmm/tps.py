"""Thin-plate-spline transforms fitted to keypoint groups (TPSMM's TPS 'kp' mode): for each of the K groups of 5
driving keypoints, the spline that maps them onto the matching source keypoints, evaluated on a pixel grid.
Kernel U(r) = r^2 log r^2 on squared distances, with 0.01 added on the diagonal of the system, as the reference."""
from __future__ import annotations

import torch

from models.nn.grid import coordinate_grid

REGULARISATION = 0.01
LOG_EPS = 1e-9


def _kernel(squared_distances: torch.Tensor) -> torch.Tensor:
    return squared_distances * torch.log(squared_distances + LOG_EPS)


def fit_tps(kp_from: torch.Tensor, kp_to: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K, n, 2) control points and targets -> affine part (B, K, 2, 3) and kernel weights (B, K, n, 2)."""
    batch, groups, n, _ = kp_from.shape
    kernel = _kernel(((kp_from[:, :, :, None] - kp_from[:, :, None, :]) ** 2).sum(-1))
    homogeneous = torch.cat([kp_from, kp_from.new_ones(batch, groups, n, 1)], dim=3)
    system = torch.cat([torch.cat([kernel, homogeneous.transpose(2, 3)], dim=2),
                        torch.cat([homogeneous, kp_from.new_zeros(batch, groups, 3, 3)], dim=2)], dim=3)
    system = system + REGULARISATION * torch.eye(n + 3, dtype=system.dtype, device=system.device)
    targets = torch.cat([kp_to, kp_to.new_zeros(batch, groups, 3, 2)], dim=2)
    params = torch.matmul(torch.inverse(system), targets)
    return params[:, :, n:, :].transpose(2, 3), params[:, :, :n, :]


def tps_grids(kp_from: torch.Tensor, kp_to: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, K, h, w, 2): for every pixel of the `kp_from` frame, where each group's spline sends it."""
    affine, weights = fit_tps(kp_from, kp_to)
    batch, groups = kp_from.shape[:2]
    points = coordinate_grid(height, width, kp_from.dtype, kp_from.device).view(1, 1, -1, 2)
    mapped = torch.matmul(points, affine[..., :2].transpose(2, 3)) + affine[..., 2].unsqueeze(2)
    radial = _kernel(((points.unsqueeze(2) - kp_from.unsqueeze(3)) ** 2).sum(-1))  # (B, K, n, h*w)
    mapped = mapped + torch.matmul(radial.transpose(2, 3), weights)
    return mapped.view(batch, groups, height, width, 2)
