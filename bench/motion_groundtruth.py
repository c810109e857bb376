"""Score a motion stage and the naive flow baseline against synthetic ground truth.

    python bench/motion_groundtruth.py [--stage flow|puppet] [--frames 48] [--cases horse_gallop doll_hair ...]
                                       [--sheet SHEET.png]

Prints per case the mean L1 (in [0,1] units) of the static photo and of the stage against the ground-truth frames,
the stage's and the baseline's ratios to the static photo's (lower is better; 1 = no better than not moving), and
the measures of issue 14: rigidity (rigid motions: worst / mean share of a frame's change that no homography of
frame 0 explains; target <= 0.05), part width (articulated motions: worst relative change of a limb's width,
target <= 0.10, with the ground truth's own figure, the measure's noise, in brackets), part identity (hair locks:
worst per-frame median distance in px from where the head carries them; target <= 2) and the stage's seconds.
`--sheet` writes a contact sheet: per case rows ground truth / stage / baseline.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from pipeline.imageio import write_png
from pipeline.motion.groundtruth import (CASE_NAMES, DEFAULT_STAGE, N_FRAMES, STAGES, CaseFrames, CaseResult,
                                         Evaluation, evaluate_case, select_cases)

GAP = 4


def _labelled(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.putText(tile, text, (5, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def case_block(name: str, frames: CaseFrames, count: int, stage: str) -> np.ndarray:
    """Three rows (ground truth, stage, baseline) of `count` evenly spaced frames, the first tile labelled."""
    total = len(frames.ground_truth)
    picks = [round(i * (total - 1) / max(1, count - 1)) for i in range(count)]
    rows = []
    for label, clip in (("ground truth", frames.ground_truth), (f"{stage} stage", frames.stage),
                        ("naive baseline", frames.baseline)):
        tiles = [_labelled(clip[t], f"{name}: {label}" if k == 0 else f"t={t}") for k, t in enumerate(picks)]
        gap = np.full((clip.shape[1], GAP, 3), 255, np.uint8)
        rows.append(np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1))
    spacer = np.full((GAP, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([rows[0], spacer, rows[1], spacer, rows[2]], axis=0)


def contact_sheet(blocks: list[np.ndarray]) -> np.ndarray:
    spacer = np.full((4 * GAP, blocks[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([part for block in blocks for part in (block, spacer)][:-1], axis=0)


HEADER = (f"{'case':<15}{'static':>8}{'stage':>8}{'stage/st':>9}{'base/st':>9}{'rigid max':>10}{'mean':>7}"
          f"{'width':>8}{'(truth)':>9}{'ident px':>9}{'sec':>7}")


def _cell(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def print_row(result: CaseResult) -> None:
    truth = "-" if result.truth_width_change is None else f"({result.truth_width_change:.3f})"
    print(f"{result.case:<15}{result.static_l1:>8.4f}{result.stage_l1:>8.4f}{result.stage_ratio:>9.3f}"
          f"{result.baseline_ratio:>9.3f}{_cell(result.rigidity_worst, 10, 3)}{_cell(result.rigidity_mean, 7, 3)}"
          f"{_cell(result.width_change, 8, 3)}{truth:>9}{_cell(result.identity_px, 9, 2)}{result.seconds:>7.1f}",
          flush=True)


def print_overall(label: str, evaluation: Evaluation) -> None:
    if evaluation.results:
        print(f"{label:<15}{evaluation.static_l1:>8.4f}{evaluation.stage_l1:>8.4f}{evaluation.stage_ratio:>9.3f}"
              f"{evaluation.baseline_ratio:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=STAGES, default=DEFAULT_STAGE, help="the motion stage under test")
    parser.add_argument("--frames", type=int, default=N_FRAMES)
    parser.add_argument("--cases", nargs="+", choices=CASE_NAMES, default=list(CASE_NAMES))
    parser.add_argument("--sheet", type=Path, help="write a contact sheet PNG here")
    parser.add_argument("--sheet-frames", type=int, default=6)
    args = parser.parse_args()

    print(f"stage: {args.stage}, {args.frames} frames")
    print(HEADER)
    results, blocks = [], []
    for case in select_cases(args.cases):
        result, frames = evaluate_case(case, args.frames, stage=args.stage)
        print_row(result)
        results.append(result)
        if args.sheet:
            blocks.append(case_block(case.name, frames, args.sheet_frames, args.stage))
    overall = Evaluation(tuple(results))
    print_overall("overall", overall)
    print_overall("plain backdrops", overall.plain())
    if args.sheet:
        write_png(args.sheet, contact_sheet(blocks), compression=6)
        print(args.sheet)


if __name__ == "__main__":
    main()
