"""VGG-19 feature extractor for FOMM's perceptual loss: the relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1
activations of torchvision's vgg19 on ImageNet-normalised input. Weights come from a torchvision-layout state dict
file (`features.<index>.weight/bias`, e.g. vgg19-dcbb9e9d.pth) that the user provides; its classifier is unused."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoints import load_checkpoint
from pipeline.errors import UsageError

# torchvision's VGG-19 'features' up to relu5_1: conv widths, "M" for max pooling
LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
OUTPUT_AFTER = (1, 6, 11, 20, 29)  # torchvision indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Vgg19Features(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU()]
                channels = item
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        out = (image - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.features):
            out = layer(out)
            if index in OUTPUT_AFTER:
                outputs.append(out)
        return outputs

    @classmethod
    def from_file(cls, path: Path) -> "Vgg19Features":
        state = load_checkpoint(path)
        state = state.get("state_dict", state)
        model = cls()
        wanted = model.state_dict()
        missing = sorted(key for key in wanted if key not in state)
        if missing:
            raise UsageError(f"{path} is not a torchvision VGG-19 state dict: it lacks {', '.join(missing[:3])}"
                             f"{' ...' if len(missing) > 3 else ''}")
        model.load_state_dict({key: state[key] for key in wanted}, strict=True)
        return model


def perceptual_distance(vgg: Vgg19Features, generated: torch.Tensor, real: torch.Tensor,
                        weights: list[float]) -> torch.Tensor:
    """Sum over the five layers of weight * mean |vgg(generated) - vgg(real)| (real features detached)."""
    total = generated.new_zeros(())
    for weight, ours, theirs in zip(weights, vgg(generated), vgg(real)):
        total = total + weight * F.l1_loss(ours, theirs.detach())
    return total
