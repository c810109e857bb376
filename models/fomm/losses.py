"""FOMM's self-supervised training objective (the reference's GeneratorFullModel without the adversarial term):
reconstruct the driving frame from the source at several scales (VGG-19 perceptual distance, or plain L1 when no
VGG-19 weights are given), and equivariance of keypoints and Jacobians under a random thin-plate-spline warp."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.fomm.model import FommModel
from models.nn.antialias import AntiAliasDownsample
from models.nn.grid import coordinate_grid, warp
from models.nn.vgg import Vgg19Features, perceptual_distance


class ImagePyramid(nn.Module):
    """The image at each scale (1 = itself), band-limited before subsampling."""

    def __init__(self, scales: list[float], channels: int):
        super().__init__()
        self.scales = list(scales)
        self.downs = nn.ModuleList(nn.Identity() if scale == 1 else AntiAliasDownsample(channels, scale)
                                   for scale in self.scales)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [down(image) for down in self.downs]


class RandomTps:
    """A random affine + thin-plate-spline warp of normalised coordinates (FOMM's Transform): theta = I + N(0,
    sigma_affine), control points on a points_tps^2 grid with N(0, sigma_tps) weights, L1 radial distances."""

    def __init__(self, batch: int, sigma_affine: float, sigma_tps: float, points_tps: int,
                 device: torch.device):
        self.theta = torch.eye(2, 3, device=device) + sigma_affine * torch.randn(batch, 2, 3, device=device)
        self.control_points = coordinate_grid(points_tps, points_tps, device=device).view(1, -1, 2)
        self.control_params = sigma_tps * torch.randn(batch, 1, points_tps ** 2, device=device)

    def warp_coordinates(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 2) -> (B, N, 2)."""
        mapped = torch.matmul(points, self.theta[:, :, :2].transpose(1, 2)) + self.theta[:, :, 2].unsqueeze(1)
        distances = (points.unsqueeze(2) - self.control_points.unsqueeze(0)).abs().sum(-1)
        radial = (distances ** 2 * torch.log(distances + 1e-6) * self.control_params).sum(dim=2)
        return mapped + radial.unsqueeze(-1)

    def jacobian(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 2) -> (B, N, 2, 2) derivative of warp_coordinates, differentiable (as the reference, by autograd)."""
        if not points.requires_grad:
            points = points.detach().requires_grad_(True)
        mapped = self.warp_coordinates(points)
        grad_x = torch.autograd.grad(mapped[..., 0].sum(), points, create_graph=True)[0]
        grad_y = torch.autograd.grad(mapped[..., 1].sum(), points, create_graph=True)[0]
        return torch.stack([grad_x, grad_y], dim=-2)

    def warp_frames(self, frames: torch.Tensor) -> torch.Tensor:
        height, width = frames.shape[2:]
        grid = coordinate_grid(height, width, frames.dtype, frames.device).view(1, -1, 2)
        grid = self.warp_coordinates(grid.expand(frames.shape[0], -1, -1)).view(-1, height, width, 2)
        return warp(frames, grid, padding_mode="reflection")


class FommLoss(nn.Module):
    """Loss terms (already weighted) for a batch of (source, driving) frames; `vgg` None means pixel L1."""

    def __init__(self, model: FommModel, train_params: dict, vgg: Vgg19Features | None):
        super().__init__()
        self.model = model
        self.weights = train_params["loss_weights"]
        self.transform_params = train_params["transform_params"]
        self.pyramid = ImagePyramid(train_params["scales"], model.generator.num_channels)
        self.vgg = vgg

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> dict[str, torch.Tensor]:
        kp_source = self.model.keypoints(source)
        kp_driving = self.model.keypoints(driving)
        prediction = self.model.generator(source, kp_driving, kp_source).prediction
        losses: dict[str, torch.Tensor] = {}
        pairs = list(zip(self.pyramid(prediction), self.pyramid(driving)))
        if self.vgg is not None:
            losses["perceptual"] = sum(perceptual_distance(self.vgg, ours, real, self.weights["perceptual"])
                                       for ours, real in pairs)
        else:
            weight = sum(self.weights["perceptual"]) / len(self.weights["perceptual"])
            losses["pixel"] = sum(weight * F.l1_loss(ours, real) for ours, real in pairs)
        value_weight = self.weights.get("equivariance_value", 0)
        jacobian_weight = self.weights.get("equivariance_jacobian", 0)
        if value_weight or jacobian_weight:
            transform = RandomTps(driving.shape[0], device=driving.device, **self.transform_params)
            kp_warped = self.model.keypoints(transform.warp_frames(driving))
            if value_weight:
                back = transform.warp_coordinates(kp_warped.value)
                losses["equivariance_value"] = value_weight * (kp_driving.value - back).abs().mean()
            if jacobian_weight and kp_driving.jacobian is not None:
                warped_jacobian = torch.matmul(transform.jacobian(kp_warped.value), kp_warped.jacobian)
                product = torch.matmul(torch.inverse(kp_driving.jacobian), warped_jacobian)
                identity = torch.eye(2, device=product.device)
                losses["equivariance_jacobian"] = jacobian_weight * (identity - product).abs().mean()
        return losses
