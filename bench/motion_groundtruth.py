"""Score the classical motion stage and the naive flow baseline against synthetic ground truth.

    python bench/motion_groundtruth.py [--frames 48] [--cases horse_gallop dino_walk ...] [--sheet SHEET.png]

Prints per case the mean L1 (in [0,1] units) of the static source image, the classical stage and the baseline
against the ground-truth frames, and their ratios to the static image (lower is better; 1 = no better than not
moving at all). `--sheet` writes a contact sheet: per case rows ground truth / stage / baseline.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from pipeline.imageio import write_png
from pipeline.motion.groundtruth import (CASE_NAMES, N_FRAMES, CaseFrames, CaseResult, Evaluation,
                                         evaluate_case, select_cases)

ROWS = (("ground truth", "ground_truth"), ("classical stage", "stage"), ("naive baseline", "baseline"))
GAP = 4


def _labelled(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.putText(tile, text, (5, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def case_block(name: str, frames: CaseFrames, count: int) -> np.ndarray:
    """Three rows (ground truth, stage, baseline) of `count` evenly spaced frames, the first tile labelled."""
    total = len(frames.ground_truth)
    picks = [round(i * (total - 1) / max(1, count - 1)) for i in range(count)]
    rows = []
    for label, attribute in ROWS:
        clip = getattr(frames, attribute)
        tiles = [_labelled(clip[t], f"{name}: {label}" if k == 0 else f"t={t}") for k, t in enumerate(picks)]
        gap = np.full((clip.shape[1], GAP, 3), 255, np.uint8)
        rows.append(np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1))
    spacer = np.full((GAP, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([rows[0], spacer, rows[1], spacer, rows[2]], axis=0)


def contact_sheet(blocks: list[np.ndarray]) -> np.ndarray:
    spacer = np.full((4 * GAP, blocks[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([part for block in blocks for part in (block, spacer)][:-1], axis=0)


def print_row(result: CaseResult) -> None:
    print(f"{result.case:<14}{result.static_l1:>10.4f}{result.stage_l1:>10.4f}{result.baseline_l1:>10.4f}"
          f"{result.stage_ratio:>10.3f}{result.baseline_ratio:>10.3f}{result.seconds:>8.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=N_FRAMES)
    parser.add_argument("--cases", nargs="+", choices=CASE_NAMES, default=list(CASE_NAMES))
    parser.add_argument("--sheet", type=Path, help="write a contact sheet PNG here")
    parser.add_argument("--sheet-frames", type=int, default=6)
    args = parser.parse_args()

    print(f"{'case':<14}{'static':>10}{'stage':>10}{'baseline':>10}{'stage/st':>10}{'base/st':>10}{'sec':>8}")
    results, blocks = [], []
    for case in select_cases(args.cases):
        result, frames = evaluate_case(case, args.frames)
        print_row(result)
        results.append(result)
        if args.sheet:
            blocks.append(case_block(case.name, frames, args.sheet_frames))
    overall = Evaluation(tuple(results))
    print(f"{'overall':<14}{overall.static_l1:>10.4f}{overall.stage_l1:>10.4f}{overall.baseline_l1:>10.4f}"
          f"{overall.stage_ratio:>10.3f}{overall.baseline_ratio:>10.3f}")
    if args.sheet:
        write_png(args.sheet, contact_sheet(blocks), compression=6)
        print(args.sheet)


if __name__ == "__main__":
    main()
