"""The neural motion backend: model choice and exit codes, the published checkpoint layout, the image handling
around the model, and the whole command with a tiny FOMM checkpoint given by path."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoints import load_checkpoint
from models.fomm.model import FommConfig, FommModel
from models.keypoints import best_matching_frame, relative_keypoints
from models.motion_model import Animated
from models.motion_models import default_config, load_motion_model
from models.nn.grid import coordinate_grid
from models.tpsmm.model import TpsmmConfig, TpsmmModel
from models.weights import BUNDLED_DIR, load_registry
from pipeline.cli import main
from pipeline.imageio import read_png
from pipeline.motion.model_choice import MotionModelFiles, config_beside, resolve_motion_model
from pipeline.motion.neural import NeuralAnimator, alpha_from_flow, source_on_white, unblend_from_white
from pipeline.stages.base import STAGE_ORDER
from pipeline.synthetic.articulated import render_motion

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "examples" / "catalog.csv"
FIXTURES = REPO / "tests" / "fixtures" / "fomm"
FAST = ["--frames", "4", "--max-side", "200", "--only", "mug,doll"]
NEURAL_IDS = ("fomm-vox", "fomm-taichi", "fomm-mgif", "fomm-fashion", "tpsmm-vox", "tpsmm-taichi", "tpsmm-mgif")
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def published_layout_checkpoint(folder: Path, name: str = "tiny-cpk.pth.tar") -> Path:
    """The tiny fixture model saved the way the reference's Logger.save_cpk does under torch 1.x: legacy
    serialization, with Adam optimizer states and the epoch beside the state dicts; its config beside it."""
    model = FommModel(FommConfig.from_yaml(FIXTURES / "fomm_tiny.yaml"))
    model.load_checkpoint_dict(load_checkpoint(FIXTURES / "fomm_tiny.pth"), "fixture")
    optimizers = {}
    for part in ("generator", "kp_detector"):
        optimizer = torch.optim.Adam(getattr(model, part).parameters(), lr=2e-4, betas=(0.5, 0.999))
        for parameter in getattr(model, part).parameters():
            parameter.grad = torch.zeros_like(parameter)
        optimizer.step()
        optimizers[f"optimizer_{part}"] = optimizer.state_dict()
    path = folder / name
    torch.save({**model.checkpoint_dict(), **optimizers, "epoch": 42}, path, _use_new_zipfile_serialization=False)
    shutil.copy(FIXTURES / "fomm_tiny.yaml", config_beside(path))
    return path


def test_registry_lists_every_published_motion_model_with_a_bundled_config() -> None:
    registry = load_registry()
    for weight_id in NEURAL_IDS:
        spec = registry[weight_id]
        assert spec.stage == "motion" and spec.family == weight_id.split("-")[0]
        assert set(spec.files) == {"checkpoint", "config"} and spec.fallback == "--motion-model classical"
        assert spec.path("config", Path("/nonexistent")).is_file()  # our copy when the user dropped none
        assert spec.source.startswith("https://") and spec.license


def test_missing_registered_model_stops_the_run_with_exit_78(tmp_path: Path, capsys) -> None:
    code = main([str(CATALOG), "-o", str(tmp_path / "out"), "--motion-model", "fomm-mgif",
                 "--weights-dir", str(tmp_path)])
    assert code == 78
    message = capsys.readouterr().err
    assert "mgif-cpk.pth.tar" in message and "--motion-model classical" in message
    assert not (tmp_path / "out" / "doll").exists()  # nothing was processed


def test_missing_checkpoint_path_is_exit_78_and_an_unknown_name_exit_2(tmp_path: Path) -> None:
    assert main([str(CATALOG), "-o", str(tmp_path), "--motion-model", str(tmp_path / "nope.pth.tar")]) == 78
    assert main([str(CATALOG), "-o", str(tmp_path), "--motion-model", "fomm-unknown"]) == 2


def test_config_beside_a_checkpoint_and_the_default_architecture(tmp_path: Path) -> None:
    assert config_beside(Path("/m/taichi-cpk.pth.tar")) == Path("/m/taichi-cpk.yaml")
    checkpoint = published_layout_checkpoint(tmp_path)
    assert resolve_motion_model(str(checkpoint), tmp_path).config == config_beside(checkpoint)
    config_beside(checkpoint).unlink()
    assert resolve_motion_model(str(checkpoint), tmp_path).config is None
    single_map = {"kp_detector": {"jacobian.weight": torch.zeros(4, 1, 7, 7)}}
    per_keypoint = {"kp_detector": {"jacobian.weight": torch.zeros(40, 1, 7, 7)}}
    assert default_config("fomm", single_map) == BUNDLED_DIR / "fomm" / "mgif-256.yaml"
    assert default_config("fomm", per_keypoint) == BUNDLED_DIR / "fomm" / "vox-256.yaml"


@pytest.mark.parametrize("name", ["vox", "taichi", "mgif", "fashion"])
def test_shipped_configs_build_the_published_architecture(name: str) -> None:
    """Sizes of the reference's networks built from its own config files (first-order-model master)."""
    model = FommModel(FommConfig.from_yaml(BUNDLED_DIR / "fomm" / f"{name}-256.yaml"))
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    jacobian_maps = 1 if name == "mgif" else 10
    assert count(model.kp_detector) == 14215368 - (10 - jacobian_maps) * 4 * (32 + 3) * 49 - (10 - jacobian_maps) * 4
    assert count(model.generator) == 45575391
    assert "down.weight" in model.kp_detector.state_dict()  # the fixed blur is part of the published state dict
    with torch.inference_mode():  # padding 0: 58x58 heatmaps on the 64x64 features of a 256x256 frame
        features = model.kp_detector.predictor(model.kp_detector.down(torch.zeros(1, 3, 256, 256)))
        assert model.kp_detector.kp(features).shape[-2:] == (58, 58)


def test_model_refuses_a_checkpoint_of_another_architecture(tmp_path: Path) -> None:
    checkpoint = published_layout_checkpoint(tmp_path)
    with pytest.raises(Exception, match="does not match the architecture"):
        load_motion_model(checkpoint, BUNDLED_DIR / "fomm" / "vox-256.yaml")


def test_source_on_white_and_unblending_are_inverse() -> None:
    rng = np.random.default_rng(0)
    rgba = rng.uniform(0, 1, (16, 16, 4)).astype(np.float32)
    rgb, alpha = source_on_white(rgba, 16)
    np.testing.assert_allclose(rgb, rgba[..., :3] * rgba[..., 3:] + 1 - rgba[..., 3:], atol=1e-6)
    prediction = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    recovered = unblend_from_white(prediction, torch.from_numpy(alpha)[None, None])
    visible = alpha > 0.05
    np.testing.assert_allclose(recovered[0].permute(1, 2, 0).numpy()[visible], rgba[..., :3][visible], atol=1e-4)


def test_alpha_follows_the_flow_and_comes_from_the_frame_where_occluded() -> None:
    alpha = torch.zeros(1, 1, 32, 32)
    alpha[..., 8:24, 4:12] = 1
    shift = coordinate_grid(8, 8).clone()
    shift[..., 0] -= 8 / 31 * 2  # every output pixel samples 8 px to its left: the object moves right by 8 px
    white = torch.ones(1, 3, 32, 32)
    visible = Animated(white, shift[None], torch.ones(1, 1, 8, 8))
    moved = alpha_from_flow(alpha, visible, (32, 32))[0, 0]
    assert moved[16, 16] > 0.95 and moved[16, 6] < 0.05
    painted = white.clone()
    painted[..., 0:4, 0:4] = 0.2  # the generator drew something dark where the source had nothing to show
    occluded = Animated(painted, shift[None], torch.zeros(1, 1, 8, 8))
    invented = alpha_from_flow(alpha, occluded, (32, 32))[0, 0]
    assert invented[1, 1] == 1.0 and invented[16, 16] == 0.0


def test_best_frame_ignores_position_and_size() -> None:
    rng = np.random.default_rng(1)
    source = rng.uniform(-0.5, 0.5, (10, 2))
    driving = rng.uniform(-0.5, 0.5, (6, 10, 2))
    driving[4] = source * 0.6 + np.array([0.2, -0.1])  # the source's pose, smaller and elsewhere
    assert best_matching_frame(source, driving) == 4


def test_batches_give_the_same_frames(tmp_path: Path) -> None:
    checkpoint = published_layout_checkpoint(tmp_path)
    animator = NeuralAnimator(MotionModelFiles("tiny", checkpoint, config_beside(checkpoint)), "cpu")
    clip = render_motion("doll_wave", 6, 64).frames
    crop = np.zeros((80, 80, 4), np.float32)
    crop[20:60, 30:50] = (0.8, 0.2, 0.1, 1.0)
    one = animator.animate(crop, list(clip), "clip", 5, batch_size=1)
    three = animator.animate(crop, list(clip), "clip", 5, batch_size=3)
    frames_one, frames_three = np.stack(list(one.frames)), np.stack(list(three.frames))
    assert frames_one.shape == (5, 256, 256, 4) and one.best_frame == three.best_frame
    np.testing.assert_allclose(frames_one, frames_three, atol=1e-5)
    assert len(animator.driving_keypoints(np.zeros((1, 256, 256, 3), np.uint8), "clip", 4)) == 6  # cached


def test_the_loop_starts_with_the_source_pose() -> None:
    """Frame 0 is driven by the initial (best) frame itself: the relative keypoints are the source's, and the
    dense flow is the identity whatever the weights, so the first frame is the product as photographed."""
    model = FommModel(FommConfig.from_yaml(FIXTURES / "fomm_tiny.yaml"))
    model.load_checkpoint_dict(load_checkpoint(FIXTURES / "fomm_tiny.pth"), "fixture").eval()
    source = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        kp_source = model.keypoints(source)
        initial = model.keypoints(torch.rand(1, 3, 64, 64))
        kp_norm = relative_keypoints(kp_source, initial, initial, 1.7)
        animated = model.animate(model.encode_source(source), kp_norm, kp_source)
    torch.testing.assert_close(kp_norm.value, kp_source.value)
    torch.testing.assert_close(kp_norm.jacobian, kp_source.jacobian)
    torch.testing.assert_close(animated.deformation, coordinate_grid(16, 16)[None], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_command_animates_with_a_checkpoint_path(tmp_path: Path) -> None:
    checkpoint = published_layout_checkpoint(tmp_path)
    out = tmp_path / "out"
    args = [str(CATALOG), "-o", str(out), *FAST, "--motion-model", str(checkpoint), "--batch-size", "3"]
    assert main(args) == 0
    for product in ("mug", "doll"):
        motion = out / product / "02_motion"
        facts = json.loads((motion / "motion.json").read_text())
        assert facts["family"] == "fomm" and facts["frames"] == 4 and facts["size"] == 256
        frames = sorted((motion / "frames").glob("*.png"))
        assert len(frames) == 4 and read_png(frames[0]).shape == (256, 256, 4)
        assert (out / product / "05_fusion" / "animation.mp4").stat().st_size > 0
    assert main(args) == 0  # a rerun skips every stage (random weights: the quality gate may hold the products)
    products = json.loads((out / "report.json").read_text())["products"]
    assert all(sorted(p["stages_skipped"]) == sorted(STAGE_ORDER) for p in products)
    # a different checkpoint under the same name redoes the motion stage (its hash is part of the stage's key)
    retrained = load_checkpoint(checkpoint)
    retrained["generator"]["final.bias"] += 0.1
    torch.save(retrained, checkpoint)
    assert main(args) == 0
    products = json.loads((out / "report.json").read_text())["products"]
    assert all("motion" not in p["stages_skipped"] for p in products)


def test_a_tpsmm_checkpoint_in_the_published_layout_animates(tmp_path: Path) -> None:
    """The family is read from the checkpoint's entries; the parts relative animation does not use (background
    predictor, AVD network, optimizers) may be there."""
    config = REPO / "tests" / "fixtures" / "tpsmm" / "tpsmm_tiny.yaml"
    model = TpsmmModel(TpsmmConfig.from_yaml(config))
    checkpoint = tmp_path / "mine.pth.tar"
    torch.save({**model.checkpoint_dict(), "bg_predictor": {}, "avd_network": {}, "optimizer": {}, "epoch": 3},
               checkpoint)
    shutil.copy(config, config_beside(checkpoint))
    animator = NeuralAnimator(resolve_motion_model(str(checkpoint), tmp_path), "cpu")
    assert animator.model.family == "tpsmm"
    crop = np.zeros((64, 64, 4), np.float32)
    crop[16:48, 24:40] = (0.2, 0.5, 0.9, 1.0)
    animation = animator.animate(crop, list(render_motion("sway", 4, 64).frames), "sway", 3, batch_size=2)
    frames = list(animation.frames)
    assert len(frames) == 3 and frames[0].shape == (256, 256, 4) and np.isfinite(frames[0]).all()
