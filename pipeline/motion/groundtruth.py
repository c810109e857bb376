"""Ground-truth evaluation of motion transfer on synthetic articulated figures.

A driving figure performs a library motion; a second figure of the same kind with other proportions and another
texture is the "product", photographed at frame 0. The same motion rendered on that second figure is the ground
truth. The classical stage (`transfer_motion`), the naive flow baseline and the static source image are all
composited over the same backdrop and scored by mean L1 against it. Used by the test and the benchmark."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from pipeline.motion.baseline import naive_flow_transfer
from pipeline.motion.driving import analyse_clip
from pipeline.motion.transfer import transfer_motion
from pipeline.motions_library import load_library
from pipeline.synthetic import articulated as A

SIZE = 256
N_FRAMES = 48


@dataclass(frozen=True)
class Case:
    name: str
    motion: str  # key of articulated.MOTIONS
    driving: Mapping[str, object] = field(default_factory=dict)  # figure factory kwargs of the clip's figure
    target: Mapping[str, object] = field(default_factory=dict)  # ... and of the product's


# targets differ from the drivers by 15-30 % in several proportions, and in texture style, seed and colour
CASES: tuple[Case, ...] = (
    Case("horse_gallop", "horse_gallop", {"texture": "mottled", "seed": 0},
         {"body_length": 1.2, "leg_length": 1.25, "neck_length": 1.2, "tail_length": 0.8, "texture": "spots",
          "seed": 7, "color": (96, 88, 100), "mane_color": (30, 28, 32)}),
    Case("dino_walk", "dino_walk", {"texture": "spots", "seed": 0},
         {"body_length": 1.2, "leg_length": 1.25, "neck_length": 1.3, "tail_length": 0.8, "texture": "stripes",
          "seed": 11, "color": (150, 96, 60)}),
    Case("doll_wave", "doll_wave", {"texture": "stripes", "seed": 0},
         {"height": 1.15, "head_size": 0.85, "arm_length": 1.25, "leg_length": 1.3, "skirt_width": 1.2,
          "texture": "mottled", "seed": 5, "dress_color": (48, 96, 168), "hair_color": (196, 150, 72)}),
    Case("sway", "sway", {"texture": "mottled", "seed": 0},
         {"height": 1.25, "width": 0.8, "profile": (1.0, 0.8, 0.9, 0.6), "texture": "stripes", "seed": 3,
          "colors": ((150, 60, 52), (186, 96, 70))}),
    Case("bounce", "bounce", {"seed": 0},
         {"height": 0.85, "width": 1.25, "profile": (1.0, 0.8, 0.55), "texture": "mottled", "seed": 9,
          "colors": ((70, 130, 90), (96, 160, 110))}),
)
CASE_NAMES = tuple(case.name for case in CASES)


@dataclass(frozen=True)
class CaseFrames:
    """Composited uint8 (T,H,W,3) frames of one case; `static` repeats the source image."""
    ground_truth: np.ndarray
    static: np.ndarray
    stage: np.ndarray
    baseline: np.ndarray


class Ratios:
    """Stage and baseline L1 as shares of the static image's L1; subclasses provide static_l1, stage_l1 and
    baseline_l1 (as fields or properties)."""

    @property
    def stage_ratio(self) -> float:
        return self.stage_l1 / self.static_l1

    @property
    def baseline_ratio(self) -> float:
        return self.baseline_l1 / self.static_l1


@dataclass(frozen=True)
class CaseResult(Ratios):
    case: str
    static_l1: float  # mean absolute error in [0,1] units over every pixel, channel and frame
    stage_l1: float
    baseline_l1: float
    seconds: float


@dataclass(frozen=True)
class Evaluation(Ratios):
    results: tuple[CaseResult, ...]

    # every case has the same pixel count, so the overall mean L1 is the mean over cases
    @property
    def static_l1(self) -> float:
        return float(np.mean([r.static_l1 for r in self.results]))

    @property
    def stage_l1(self) -> float:
        return float(np.mean([r.stage_l1 for r in self.results]))

    @property
    def baseline_l1(self) -> float:
        return float(np.mean([r.baseline_l1 for r in self.results]))


def render_case(case: Case, n_frames: int, size: int) -> tuple[A.Clip, A.Clip]:
    """(driving clip, ground-truth clip): both figures perform the same motion at the same phases."""
    spec = A.MOTIONS[case.motion]
    driving = A.render_clip(spec.make_figure(**case.driving), spec.motion, n_frames, size)
    truth = A.render_clip(spec.make_figure(**case.target), spec.motion, n_frames, size)
    return driving, truth


def composite(rgba_frames: Sequence[np.ndarray]) -> np.ndarray:
    """Float RGBA frames over the renderer's plain backdrop, as uint8 (T,H,W,3) like the ground truth."""
    backdrop = np.array(A.BACKGROUND, np.float32) / 255.0
    stacked = np.stack(rgba_frames)
    alpha = stacked[..., 3:4]
    rgb = stacked[..., :3] * alpha + backdrop * (1.0 - alpha)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def mean_l1(frames: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(frames.astype(np.float32) - truth.astype(np.float32)).mean() / 255.0)


def run_case(case: Case, n_frames: int = N_FRAMES, size: int = SIZE) -> CaseFrames:
    driving, truth = render_case(case, n_frames, size)
    source = np.concatenate([truth.frames[0] / 255.0, truth.masks[0][..., None]], axis=2).astype(np.float32)
    driving_frames = list(driving.frames)
    analysis = analyse_clip(driving_frames, A.MOTIONS[case.motion].facing)
    stage, _, _ = transfer_motion(source, analysis, n_frames, fit=load_library().motions[case.motion].fit)
    baseline = naive_flow_transfer(source, driving_frames, driving.masks[0], n_frames)
    return CaseFrames(truth.frames, composite([source] * n_frames), composite(stage), composite(baseline))


def score(case: Case, frames: CaseFrames, seconds: float) -> CaseResult:
    truth = frames.ground_truth
    return CaseResult(case.name, mean_l1(frames.static, truth), mean_l1(frames.stage, truth),
                      mean_l1(frames.baseline, truth), seconds)


def evaluate_case(case: Case, n_frames: int = N_FRAMES, size: int = SIZE) -> tuple[CaseResult, CaseFrames]:
    start = time.perf_counter()
    frames = run_case(case, n_frames, size)
    return score(case, frames, time.perf_counter() - start), frames


def select_cases(names: Sequence[str] | None = None) -> tuple[Case, ...]:
    """The named cases in the given order; all of them by default."""
    if names is None:
        return CASES
    by_name = {case.name: case for case in CASES}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"unknown cases {unknown}; choose from {CASE_NAMES}")
    return tuple(by_name[name] for name in names)


def evaluate(names: Sequence[str] | None = None, n_frames: int = N_FRAMES, size: int = SIZE) -> Evaluation:
    return Evaluation(tuple(evaluate_case(case, n_frames, size)[0] for case in select_cases(names)))
