"""Known answers from the reference TPSMM (github.com/yoyo-nb/Thin-Plate-Spline-Motion-Model at its current
master, under torch 2.13, with torchvision's ResNet-18 classes) on the reduced config in tests/fixtures/tpsmm/:
its dense motion and inpainting networks (random init, instance-norm affine parameters randomised), 64x64 frames,
and its outputs: keypoints, `relative_kp` (relative motion with adapted movement scale, driving frame 0 initial),
the dense flow, the full-resolution occlusion mask and the generated frames. Our networks must match to 1e-4.

The ResNet-18 keypoint detector (11 M parameters whatever the config) is not stored: its weights come from the
integer hash below, computed the same way when the fixture was made."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoints import load_checkpoint
from models.keypoints import movement_scale, relative_keypoints
from models.tpsmm.model import TpsmmConfig, TpsmmModel
from models.weights import BUNDLED_DIR

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tpsmm"
TOLERANCE = 1e-4
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def hashed_uniform(count: int, salt: int) -> np.ndarray:
    """Values in [-1, 1) from an integer hash of (index, salt): identical on every machine."""
    mask = np.uint64(0xFFFFFFFF)
    h = (np.arange(count, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(salt) * np.uint64(40503)) & mask
    h = ((h ^ (h >> np.uint64(16))) * np.uint64(0x45D9F3B)) & mask
    h = ((h ^ (h >> np.uint64(16))) * np.uint64(0x45D9F3B)) & mask
    h = h ^ (h >> np.uint64(16))
    return h.astype(np.float64) / 2.0 ** 31 - 1.0


def formula_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The fixture's keypoint-detector weights, tensor by tensor in state-dict order."""
    state = {}
    for number, (name, tensor) in enumerate(module.state_dict().items()):
        if name.endswith("num_batches_tracked"):
            state[name] = tensor.clone()
            continue
        wave = hashed_uniform(tensor.numel(), number)
        if name.endswith("running_var"):
            values = 1 + 0.5 * np.abs(wave)
        elif name.endswith("running_mean") or name.endswith("bias"):
            values = 0.1 * wave
        elif tensor.dim() == 1:
            values = 1 + 0.2 * wave
        else:
            values = wave * np.sqrt(6.0 / (tensor.numel() / tensor.shape[0]))
            if name == "fg_encoder.fc.weight":
                values = values * 0.3
        state[name] = torch.from_numpy(values.astype(np.float32)).view(tensor.shape)
    return state


def _images(frames_u8: np.ndarray) -> torch.Tensor:
    return torch.tensor(frames_u8.astype(np.float32) / 255).permute(0, 3, 1, 2)


def _max_error(ours: torch.Tensor, theirs: np.ndarray) -> float:
    assert tuple(ours.shape) == theirs.shape
    return float(np.abs(ours.detach().numpy() - theirs).max())


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "tpsmm_tiny.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def model() -> TpsmmModel:
    model = TpsmmModel(TpsmmConfig.from_yaml(FIXTURES / "tpsmm_tiny.yaml"))
    checkpoint = load_checkpoint(FIXTURES / "tpsmm_tiny.pth")
    checkpoint["kp_detector"] = formula_state(model.kp_detector)
    return model.load_checkpoint_dict(checkpoint, "fixture").eval()


def test_keypoints_match_the_reference(model: TpsmmModel, reference: dict) -> None:
    with torch.inference_mode():
        kp_source = model.keypoints(_images(reference["source_u8"][None]))
        kp_driving = model.keypoints(_images(reference["driving_u8"]))
    assert _max_error(kp_source.value, reference["kp_source"]) < TOLERANCE
    assert _max_error(kp_driving.value, reference["kp_driving"]) < TOLERANCE
    assert kp_driving.jacobian is None
    assert np.abs(reference["kp_driving"][1] - reference["kp_driving"][0]).max() > 0.02  # the frames differ


def test_relative_motion_and_generated_frames_match_the_reference(model: TpsmmModel, reference: dict) -> None:
    with torch.inference_mode():
        source = _images(reference["source_u8"][None])
        kp_source = model.keypoints(source)
        kp_driving = model.keypoints(_images(reference["driving_u8"]))
        initial = kp_driving[0:1]
        kp_norm = relative_keypoints(kp_source, kp_driving[1:], initial, movement_scale(kp_source, initial))
        animated = model.animate(model.encode_source(source), kp_norm, kp_source)  # source encoded once
    assert _max_error(kp_norm.value, reference["kp_norm"]) < TOLERANCE
    assert _max_error(animated.deformation, reference["deformation"]) < TOLERANCE
    assert _max_error(animated.occlusion, reference["occlusion_last"]) < TOLERANCE
    assert _max_error(animated.prediction, reference["prediction"]) < TOLERANCE


def test_shipped_configs_build_the_published_architecture() -> None:
    """Sizes of the reference's networks built from its own config files: 50 keypoints from a ResNet-18. The three
    published models share the architecture (`bg` only switches on a background predictor during training)."""
    configs = {name: TpsmmConfig.from_yaml(BUNDLED_DIR / "tpsmm" / f"{name}-256.yaml") for name in ("vox", "taichi",
                                                                                                    "mgif")}
    without_bg = [{**c.model_params, "common_params": {k: v for k, v in c.model_params["common_params"].items()
                                                       if k != "bg"}} for c in configs.values()]
    assert without_bg[0] == without_bg[1] == without_bg[2]
    model = TpsmmModel(configs["vox"])
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert (count(model.kp_detector), count(model.dense_motion_network), count(model.inpainting_network)) == (
        11227812, 37941397, 24737283)
    with torch.inference_mode():
        assert model.keypoints(torch.zeros(1, 3, 256, 256)).value.shape == (1, 50, 2)
