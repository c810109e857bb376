"""Known answers from the reference FOMM (github.com/AliaksandrSiarohin/first-order-model at its current master,
run under torch 2.13 with grid_sample pinned to align_corners=True, the behaviour of the torch 1.0 it was written
for) on the reduced configs in tests/fixtures/fomm/: its random-init checkpoint in the official layout (batch-norm
statistics and Jacobian weights randomised so every term matters), 64x64 source/driving frames, and its outputs:
keypoints and Jacobians, `normalize_kp` with adapt_movement_scale and relative movement/Jacobian (driving frame 0
as the initial frame), the dense motion and the generated frames. Our networks must match them to 1e-4."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoints import load_checkpoint, strict_load
from models.fomm.model import FommConfig, FommModel
from models.keypoints import movement_scale, relative_keypoints
from models.nn.grid import coordinate_grid, warp

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fomm"
TOLERANCE = 1e-4
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _images(frames_u8: np.ndarray) -> torch.Tensor:
    return torch.tensor(frames_u8.astype(np.float32) / 255).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "fomm_tiny.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def model() -> FommModel:
    config = FommConfig.from_yaml(FIXTURES / "fomm_tiny.yaml")
    return FommModel(config).load_checkpoint_dict(load_checkpoint(FIXTURES / "fomm_tiny.pth"), "fixture").eval()


def _max_error(ours: torch.Tensor, theirs: np.ndarray) -> float:
    assert tuple(ours.shape) == theirs.shape
    return float(np.abs(ours.detach().numpy() - theirs).max())


def test_keypoints_and_jacobians_match_the_reference(model: FommModel, reference: dict) -> None:
    with torch.inference_mode():
        kp_source = model.keypoints(_images(reference["source_u8"][None]))
        kp_driving = model.keypoints(_images(reference["driving_u8"]))
    assert _max_error(kp_source.value, reference["kp_source_value"]) < TOLERANCE
    assert _max_error(kp_source.jacobian, reference["kp_source_jacobian"]) < TOLERANCE
    assert _max_error(kp_driving.value, reference["kp_driving_value"]) < TOLERANCE
    assert _max_error(kp_driving.jacobian, reference["kp_driving_jacobian"]) < TOLERANCE
    # the fixture is not trivial: keypoints spread out and Jacobians differ from the identity
    assert reference["kp_driving_value"].std() > 0.05
    assert np.abs(reference["kp_driving_jacobian"] - np.eye(2)).max() > 0.05


def test_relative_motion_and_generated_frames_match_the_reference(model: FommModel, reference: dict) -> None:
    with torch.inference_mode():
        source = _images(reference["source_u8"][None])
        kp_source = model.keypoints(source)
        kp_driving = model.keypoints(_images(reference["driving_u8"]))
        initial, frames = kp_driving[0:1], kp_driving[1:]
        kp_norm = relative_keypoints(kp_source, frames, initial, movement_scale(kp_source, initial))
        # the source is encoded once (batch 1) and drives a batch of two frames
        animated = model.animate(model.encode_source(source), kp_norm, kp_source)
    assert _max_error(kp_norm.value, reference["kp_norm_value"]) < TOLERANCE
    assert _max_error(kp_norm.jacobian, reference["kp_norm_jacobian"]) < TOLERANCE
    assert _max_error(animated.deformation, reference["deformation"]) < TOLERANCE
    assert _max_error(animated.occlusion, reference["occlusion_map"]) < TOLERANCE
    assert _max_error(animated.prediction, reference["prediction"]) < TOLERANCE


def test_single_jacobian_map_keypoints_match_the_reference(reference: dict) -> None:
    config = FommConfig.from_yaml(FIXTURES / "fomm_tiny_mgif.yaml")
    detector = config.keypoint_detector()
    strict_load(detector, load_checkpoint(FIXTURES / "fomm_tiny_mgif.pth")["kp_detector"], "mgif fixture")
    assert detector.jacobian.out_channels == 4  # one map shared by the 10 keypoints
    with np.load(FIXTURES / "fomm_tiny_mgif.npz") as expected, torch.inference_mode():
        kp = detector.eval()(_images(reference["driving_u8"]))
        assert _max_error(kp.value, expected["kp_value"]) < TOLERANCE
        assert _max_error(kp.jacobian, expected["kp_jacobian"]) < TOLERANCE


def test_identity_grid_samples_every_pixel_exactly() -> None:
    """The explicit corner convention: -1 and 1 are pixel centres, so the identity grid reproduces the image
    (torch's current default, align_corners=False, would blur and shift it by half a pixel)."""
    image = torch.rand(1, 3, 7, 9)
    identity = coordinate_grid(7, 9).unsqueeze(0)
    assert torch.allclose(warp(image, identity), image, atol=1e-6)
    shifted = torch.nn.functional.grid_sample(image, identity, align_corners=False)
    assert (shifted - image).abs().max() > 0.05
