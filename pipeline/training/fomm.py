"""Training a FOMM model on a category's videos, the way the reference's train.py does it without the GAN: Adam
(betas 0.5, 0.999) for the keypoint detector and the generator, learning rates from the config divided by 10 at
its epoch milestones, checkpoints in the published layout (`kp_detector`, `generator`, both optimizers, `epoch`;
plus `step`) with the config written beside them, so `--motion-model CHECKPOINT` animates with the result."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml

from models.checkpoints import load_checkpoint
from models.fomm.losses import FommLoss
from models.fomm.model import FommConfig, FommModel
from models.nn.vgg import Vgg19Features
from pipeline.atomic import atomic_path, atomic_write_bytes
from pipeline.device import resolve_device
from pipeline.errors import UsageError
from pipeline.motion.model_choice import config_beside
from pipeline.training.clips import ClipSet

StepCallback = Callable[[int, int, dict[str, float]], None]  # (step done, total steps, loss values)


@dataclass(frozen=True)
class TrainSettings:
    config: Path
    videos: Path
    out: Path
    steps: int | None = None  # default: the config's num_epochs x num_repeats x clips / batch size
    batch_size: int | None = None  # default: the config's
    size: int = 256
    vgg19: Path | None = None  # torchvision VGG-19 state dict for the perceptual loss
    resume: Path | None = None
    device: str = "auto"
    checkpoint_every: int = 500
    seed: int = 0


class FommTrainer:
    def __init__(self, settings: TrainSettings):
        self.settings = settings
        self.config = FommConfig.from_yaml(settings.config)
        self.train_params = self.config.train_params
        for key in ("loss_weights", "transform_params", "scales"):
            if key not in self.train_params:
                raise UsageError(f"{settings.config} has no train_params.{key}; start from a shipped config "
                                 "(models/configs/fomm/*.yaml) or the reference's")
        self.notes: list[str] = []  # what the user should know before a long run
        self.device = torch.device(resolve_device(settings.device))
        self.clips = ClipSet(settings.videos, settings.size)
        self.batch_size = settings.batch_size or int(self.train_params.get("batch_size", 8))
        self.steps_per_epoch = max(1, math.ceil(int(self.train_params.get("num_repeats", 1)) * len(self.clips)
                                                / self.batch_size))
        self.total_steps = settings.steps or int(self.train_params.get("num_epochs", 1)) * self.steps_per_epoch
        self.model = FommModel(self.config).to(self.device)
        vgg = None
        if settings.vgg19 is not None:
            vgg = Vgg19Features.from_file(settings.vgg19).to(self.device)
        elif sum(self.train_params["loss_weights"].get("perceptual", [0])):
            self.notes.append("no --vgg19 weights: the VGG-19 perceptual loss is replaced by a multi-scale L1 pixel "
                              "loss, which gives blurrier models; pass torchvision's vgg19 state dict for the "
                              "reference's objective")
        if self.train_params["loss_weights"].get("generator_gan", 0):
            self.notes.append("the config asks for an adversarial term (generator_gan); it is not implemented here "
                              "and is left out")
        self.loss = FommLoss(self.model, self.train_params, vgg)
        self.optimizers = {
            "optimizer_generator": torch.optim.Adam(self.model.generator.parameters(),
                                                    lr=float(self.train_params.get("lr_generator", 2e-4)),
                                                    betas=(0.5, 0.999)),
            "optimizer_kp_detector": torch.optim.Adam(self.model.kp_detector.parameters(),
                                                      lr=float(self.train_params.get("lr_kp_detector", 2e-4)),
                                                      betas=(0.5, 0.999)),
        }
        self.step = 0
        if settings.resume is not None:
            self._resume(settings.resume)
        milestones = [int(epoch) * self.steps_per_epoch for epoch in self.train_params.get("epoch_milestones", [])]
        self.schedulers = [torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1,
                                                                last_epoch=self.step - 1 if self.step else -1)
                           for optimizer in self.optimizers.values()]

    def _resume(self, path: Path) -> None:
        checkpoint = load_checkpoint(path)
        self.model.load_checkpoint_dict(checkpoint, str(path))
        for name, optimizer in self.optimizers.items():
            if name in checkpoint:
                optimizer.load_state_dict(checkpoint[name])
                for group in optimizer.param_groups:
                    group.setdefault("initial_lr", group["lr"])
        self.step = int(checkpoint.get("step", int(checkpoint.get("epoch", 0)) * self.steps_per_epoch))
        if self.step >= self.total_steps:
            raise UsageError(f"{path} has already done {self.step} steps of {self.total_steps}; pass a larger --steps")

    def save(self) -> Path:
        """Write the checkpoint (atomically) and its config beside it."""
        out = self.settings.out
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {**self.model.checkpoint_dict(),
                   **{name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
                   "epoch": self.step // self.steps_per_epoch, "step": self.step}
        with atomic_path(out) as tmp:
            torch.save(payload, tmp)
        atomic_write_bytes(config_beside(out), yaml.safe_dump(self.config.to_dict(), sort_keys=False).encode())
        return out

    def run(self, on_step: StepCallback | None = None) -> Path:
        rng = np.random.default_rng(self.settings.seed + self.step)
        torch.manual_seed(self.settings.seed + self.step)
        self.model.train()
        while self.step < self.total_steps:
            source, driving = (t.to(self.device) for t in self.clips.sample(self.batch_size, rng))
            losses = self.loss(source, driving)
            total = sum(losses.values())
            for optimizer in self.optimizers.values():
                optimizer.zero_grad(set_to_none=True)
            total.backward()
            for optimizer in self.optimizers.values():
                optimizer.step()
            for scheduler in self.schedulers:
                scheduler.step()
            self.step += 1
            if on_step is not None:
                on_step(self.step, self.total_steps, {k: float(v.detach()) for k, v in losses.items()})
            if self.step % self.settings.checkpoint_every == 0:
                self.save()
        self.model.eval()
        return self.save()
