"""Seconds per generated frame of the neural motion backend on this machine's CPU, for several batch sizes, and
the ratio against the reference implementation run here with the same weights and frames.

    python bench/motion_neural_bench.py [--checkpoint vox-cpk.pth.tar [--config vox-256.yaml]]
        [--reference /path/to/first-order-model] [--frames 32] [--batch-sizes 1,8,32] [--out results.md]

Without --checkpoint the published architecture (models/configs/fomm/vox-256.yaml) is built with random weights:
speed does not depend on the values. With --reference (a checkout of github.com/AliaksandrSiarohin/first-order-
model) its KPDetector / OcclusionAwareGenerator / normalize_kp run the way its demo's make_animation does (one
frame at a time, the source re-encoded for every frame) and the largest difference between its frames and ours is
reported too. Ours: driving keypoints in batches, the source encoded once, frames generated in batches, channels-
last memory ("model"); "backend" adds what the pipeline does around the model (alpha warp, colour un-blending,
copies to numpy). --threads 1 gives steadier figures on a machine other processes share.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.fomm.model import FommConfig, FommModel
from models.keypoints import Keypoints, movement_scale, relative_keypoints
from models.motion_models import load_motion_model
from models.weights import BUNDLED_DIR
from pipeline.motion.model_choice import MotionModelFiles
from pipeline.motion.neural import NeuralAnimator
from pipeline.synthetic.articulated import render_motion

SIDE = 256


def test_frames(n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A horse photo-like source and a galloping driving clip, (side, side, 3) and (T, side, side, 3) float32."""
    source = render_motion("horse_gallop", 8, SIDE, body_length=1.15, leg_length=0.9, texture="spots", seed=3)
    driving = render_motion("horse_gallop", n_frames, SIDE)
    return source.frames[0].astype(np.float32) / 255, driving.frames.astype(np.float32) / 255


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2)


def channels_last(rgb: np.ndarray) -> torch.Tensor:
    return to_tensor(rgb).contiguous(memory_format=torch.channels_last)


def ours(model: FommModel, source: np.ndarray, driving: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
    """Seconds per frame and the frames, driving frame 0 being the initial frame of the relative motion."""
    started = time.perf_counter()
    with torch.inference_mode():
        src = channels_last(source[None])
        kp_source = model.keypoints(src)
        encoding = model.encode_source(src)
        kp_driving = Keypoints.cat([model.keypoints(channels_last(driving[i:i + batch_size]))
                                    for i in range(0, len(driving), batch_size)])
        initial = kp_driving[0:1]
        scale = movement_scale(kp_source, initial)
        frames = [model.animate(encoding, relative_keypoints(kp_source, kp_driving[i:i + batch_size], initial, scale),
                                kp_source).prediction for i in range(0, len(driving), batch_size)]
    return (time.perf_counter() - started) / len(driving), torch.cat(frames).numpy()


def backend(checkpoint: Path, config: Path | None, source: np.ndarray, driving: np.ndarray,
            batch_size: int) -> float:
    animator = NeuralAnimator(MotionModelFiles("bench", checkpoint, config), "cpu")
    rgba = np.concatenate([source, np.ones(source.shape[:2] + (1,), np.float32)], axis=2)
    driving_u8 = list((driving * 255 + 0.5).astype(np.uint8))
    started = time.perf_counter()
    animation = animator.animate(rgba, driving_u8, "bench", len(driving), batch_size)
    count = sum(1 for _ in animation.frames)
    return (time.perf_counter() - started) / count


def import_reference(folder: Path) -> types.SimpleNamespace:
    """The reference's modules, with grid_sample pinned to the align_corners=True of the torch 1.0 it was written
    for, and animate.py's dataset/logging imports (sklearn, matplotlib), which normalize_kp does not use, stubbed."""
    for stub, names in {"frames_dataset": ["PairedDataset"], "logger": ["Logger", "Visualizer"]}.items():
        module = types.ModuleType(stub)
        for name in names:
            setattr(module, name, object)
        sys.modules.setdefault(stub, module)
    sys.path.insert(0, str(folder))
    grid_sample = F.grid_sample
    F.grid_sample = lambda inp, grid, **kw: grid_sample(inp, grid, **{"align_corners": True, **kw})
    from animate import normalize_kp
    from modules.generator import OcclusionAwareGenerator
    from modules.keypoint_detector import KPDetector
    return types.SimpleNamespace(KPDetector=KPDetector, Generator=OcclusionAwareGenerator, normalize_kp=normalize_kp)


def reference(ref: types.SimpleNamespace, model: FommModel, source: np.ndarray,
              driving: np.ndarray) -> tuple[float, np.ndarray]:
    """The reference's make_animation loop (relative motion, adapted movement scale) with our model's weights."""
    params = model.config.model_params
    kp_detector = ref.KPDetector(**params["kp_detector_params"], **params["common_params"]).eval()
    generator = ref.Generator(**params["generator_params"], **params["common_params"]).eval()
    kp_detector.load_state_dict(model.kp_detector.state_dict())
    generator.load_state_dict(model.generator.state_dict())
    started = time.perf_counter()
    frames = []
    with torch.no_grad():
        src = to_tensor(source[None])
        kp_source = kp_detector(src)
        kp_initial = kp_detector(to_tensor(driving[:1]))
        for index in range(len(driving)):
            kp_driving = kp_detector(to_tensor(driving[index:index + 1]))
            kp_norm = ref.normalize_kp(kp_source=kp_source, kp_driving=kp_driving, kp_driving_initial=kp_initial,
                                       use_relative_movement=True, use_relative_jacobian=True,
                                       adapt_movement_scale=True)
            frames.append(generator(src, kp_source=kp_source, kp_driving=kp_norm)["prediction"])
    return (time.perf_counter() - started) / len(driving), torch.cat(frames).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="a FOMM checkpoint (default: random published architecture)")
    parser.add_argument("--config", type=Path, help="its config YAML (default: vox-256)")
    parser.add_argument("--reference", type=Path, help="checkout of first-order-model to compare against")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the fastest counts (shared machines)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = args.config or BUNDLED_DIR / "fomm" / "vox-256.yaml"
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    source, driving = test_frames(args.frames)
    best: dict[tuple[str, int], float] = {}
    difference: dict[int, float] = {}

    def keep(name: str, batch_size: int, seconds: float) -> None:
        best[name, batch_size] = min(seconds, best.get((name, batch_size), float("inf")))

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint
        if checkpoint is None:
            checkpoint = Path(scratch) / "random-vox.pth.tar"
            torch.save(FommModel(FommConfig.from_yaml(config)).checkpoint_dict(), checkpoint)
        model = load_motion_model(checkpoint, config).to(memory_format=torch.channels_last)
        ref = import_reference(args.reference) if args.reference else None
        for _ in range(args.repeats):  # interleaved, so that load from other processes hits every run alike
            ref_frames = None
            if ref is not None:
                seconds, ref_frames = reference(ref, model, source, driving)
                keep("reference", 1, seconds)
            for batch_size in batch_sizes:
                seconds, frames = ours(model, source, driving, batch_size)
                keep("model", batch_size, seconds)
                if ref_frames is not None:
                    difference[batch_size] = float(np.abs(frames - ref_frames).max())
            keep("backend", max(batch_sizes), backend(checkpoint, config, source, driving, max(batch_sizes)))
    ref_seconds = best.get(("reference", 1))
    names = {"reference": "reference (first-order-model demo loop, frame by frame)",
             "model": "ours: model (source encoded once, batched, channels-last)",
             "backend": "ours: pipeline backend (+ alpha warp, un-blend, numpy)"}
    lines = [f"CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}; {args.frames} frames of "
             f"256x256; {'checkpoint ' + str(args.checkpoint) if args.checkpoint else 'random vox-256 weights'}; "
             f"fastest of {args.repeats} interleaved runs", "",
             "| run | batch | s/frame | speed-up vs reference | max abs diff vs reference |",
             "|---|---:|---:|---:|---:|"]
    for (name, batch_size), seconds in best.items():
        ratio = f"{ref_seconds / seconds:.2f}x" if ref_seconds else "-"
        diff = f"{difference[batch_size]:.1e}" if name == "model" and batch_size in difference else "-"
        lines.append(f"| {names[name]} | {batch_size} | {seconds:.3f} | {ratio} | {diff} |")
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
