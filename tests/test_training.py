"""Training a tiny FOMM on rendered articulated-figure clips: the loss falls, the checkpoint (published layout,
config beside it) animates through the motion backend, a run resumes where it stopped, and the perceptual loss
takes torchvision-layout VGG-19 weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from models.checkpoints import load_checkpoint
from models.fomm.losses import FommLoss, RandomTps
from models.fomm.model import FommConfig, FommModel
from models.nn.grid import coordinate_grid
from models.nn.vgg import Vgg19Features
from pipeline.cli import main
from pipeline.errors import UsageError
from pipeline.imageio import write_png
from pipeline.motion.model_choice import config_beside, resolve_motion_model
from pipeline.motion.neural import NeuralAnimator
from pipeline.synthetic.articulated import render_motion
from pipeline.training.fomm import FommTrainer, TrainSettings

REPO = Path(__file__).resolve().parent.parent
SIDE = 64
pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny config with the published training settings, and two clips of rendered figures."""
    folder = tmp_path_factory.mktemp("training")
    config = yaml.safe_load((REPO / "tests" / "fixtures" / "fomm" / "fomm_tiny.yaml").read_text())
    published = yaml.safe_load((REPO / "models" / "configs" / "fomm" / "taichi-256.yaml").read_text())
    config["train_params"] = {**published["train_params"], "batch_size": 4}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(config))
    for name in ("horse_gallop", "dino_walk"):
        for index, frame in enumerate(render_motion(name, 10, SIDE).frames):
            write_png(folder / "clips" / name / f"{index:03d}.png", frame)
    return folder / "tiny.yaml", folder / "clips"


def test_training_lowers_the_loss_and_writes_a_checkpoint_that_animates(setup: tuple[Path, Path],
                                                                         tmp_path: Path) -> None:
    config, clips = setup
    out = tmp_path / "doll-motion.pth.tar"
    trainer = FommTrainer(TrainSettings(config, clips, out, steps=40, size=SIDE, checkpoint_every=20))
    assert any("pixel loss" in note for note in trainer.notes)  # no VGG-19 weights given: said so
    totals: list[float] = []
    assert trainer.run(lambda step, steps, losses: totals.append(sum(losses.values()))) == out
    assert len(totals) == 40 and np.mean(totals[-8:]) < 0.8 * np.mean(totals[:8])

    checkpoint = load_checkpoint(out)
    assert {"kp_detector", "generator", "optimizer_generator", "optimizer_kp_detector", "epoch"} <= set(checkpoint)
    assert checkpoint["step"] == 40 and config_beside(out).is_file()
    animator = NeuralAnimator(resolve_motion_model(str(out), tmp_path), "cpu")
    crop = np.zeros((48, 48, 4), np.float32)
    crop[8:40, 10:38] = (0.5, 0.3, 0.2, 1.0)
    frames = list(animator.animate(crop, list(render_motion("horse_gallop", 4, SIDE).frames), "gallop", 3, 2).frames)
    assert len(frames) == 3 and all(np.isfinite(f).all() for f in frames)

    resumed = FommTrainer(TrainSettings(config, clips, out, steps=45, size=SIDE, resume=out))
    assert resumed.step == 40
    resumed.run()
    assert load_checkpoint(out)["step"] == 45


def test_train_command(setup: tuple[Path, Path], tmp_path: Path) -> None:
    config, clips = setup
    out = tmp_path / "cli.pth.tar"
    args = ["train", "--family", "fomm", "--config", str(config), "--videos", str(clips), "--out", str(out),
            "--steps", "2", "--size", str(SIDE), "--batch-size", "2"]
    assert main(args) == 0 and load_checkpoint(out)["step"] == 2
    assert main([*args[:6], str(tmp_path / "no-such-folder"), *args[7:]]) == 2


def test_random_warp_jacobian_is_its_derivative() -> None:
    torch.manual_seed(0)
    transform = RandomTps(2, sigma_affine=0.05, sigma_tps=0.005, points_tps=5, device=torch.device("cpu"))
    points = torch.rand(2, 7, 2, dtype=torch.float32) * 1.6 - 0.8
    step = 1e-3
    numeric = torch.stack([(transform.warp_coordinates(points + step * torch.tensor(axis))
                            - transform.warp_coordinates(points - step * torch.tensor(axis))) / (2 * step)
                           for axis in ((1.0, 0.0), (0.0, 1.0))], dim=-1)
    torch.testing.assert_close(transform.jacobian(points), numeric, atol=2e-3, rtol=0)
    frames = torch.rand(2, 3, 16, 16)
    identity = RandomTps(2, sigma_affine=0.0, sigma_tps=0.0, points_tps=5, device=torch.device("cpu"))
    torch.testing.assert_close(identity.warp_frames(frames), frames, atol=1e-5, rtol=0)
    torch.testing.assert_close(identity.warp_coordinates(coordinate_grid(3, 3).view(1, 9, 2).expand(2, -1, -1)),
                               coordinate_grid(3, 3).view(1, 9, 2).expand(2, -1, -1))


def test_perceptual_loss_takes_torchvision_vgg19_weights(tmp_path: Path) -> None:
    vgg = Vgg19Features()
    state = {**vgg.state_dict(), "classifier.0.weight": torch.zeros(4, 4)}  # torchvision files carry a classifier
    torch.save(state, tmp_path / "vgg19.pth")
    loaded = Vgg19Features.from_file(tmp_path / "vgg19.pth")
    assert [f.shape[1] for f in loaded(torch.rand(1, 3, 32, 32))] == [64, 128, 256, 512, 512]
    del state["features.28.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(UsageError, match="features.28.weight"):
        Vgg19Features.from_file(tmp_path / "partial.pth")
    config = FommConfig.from_yaml(REPO / "tests" / "fixtures" / "fomm" / "fomm_tiny.yaml")
    train_params = yaml.safe_load((REPO / "models" / "configs" / "fomm" / "vox-256.yaml").read_text())["train_params"]
    train_params["scales"] = [1, 0.5]  # VGG-19 needs at least 16x16 pixels at the coarsest scale
    losses = FommLoss(FommModel(config), train_params, loaded)(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    assert set(losses) == {"perceptual", "equivariance_value", "equivariance_jacobian"}
    assert all(torch.isfinite(v) for v in losses.values())
