"""How well the driving-clip analysis tracks each region: end-point error of the regions' affine tracks against
the renderer's exact part motion, per library motion, next to the error of assuming no motion at all.

    python bench/driving_tracking.py [--keypoints 10] [--frames 48]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from pipeline.motion.driving import analyse_clip
from pipeline.synthetic import articulated as A

SIZE = 256


def tracking_error(name: str, n_regions: int, n_frames: int) -> tuple[float, float, float]:
    """(mean end-point error in px, mean true displacement in px, analysis seconds) over frames 1..T-1."""
    spec = A.MOTIONS[name]
    figure = spec.make_figure()
    clip = A.render_clip(figure, spec.motion, n_frames, SIZE)
    started = time.perf_counter()
    analysis = analyse_clip(list(clip.frames), spec.facing, n_regions)
    seconds = time.perf_counter() - started
    ys, xs = np.nonzero(analysis.labels0 >= 0)
    regions = analysis.labels0[ys, xs]
    errors, motions = [], []
    for t in range(1, n_frames):
        truth = A.part_flow(figure, clip.poses[0], clip.poses[t], clip.labels[0], SIZE)[ys, xs]
        known = np.isfinite(truth).all(axis=1)
        maps = analysis.affines[t][regions]
        moved_x = maps[:, 0, 0] * xs + maps[:, 0, 1] * ys + maps[:, 0, 2] - xs
        moved_y = maps[:, 1, 0] * xs + maps[:, 1, 1] * ys + maps[:, 1, 2] - ys
        errors.append(np.hypot(moved_x - truth[:, 0], moved_y - truth[:, 1])[known].mean())
        motions.append(np.hypot(truth[:, 0], truth[:, 1])[known].mean())
    return float(np.mean(errors)), float(np.mean(motions)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keypoints", type=int, default=10)
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args()
    print(f"{'motion':<14}{'EPE px':>9}{'no-motion px':>14}{'ratio':>8}{'analysis s':>12}")
    ratios = []
    for name in A.MOTIONS:
        error, motion, seconds = tracking_error(name, args.keypoints, args.frames)
        ratios.append(error / motion)
        print(f"{name:<14}{error:>9.2f}{motion:>14.2f}{error / motion:>8.3f}{seconds:>12.1f}")
    print(f"{'mean ratio':<37}{np.mean(ratios):>8.3f}")


if __name__ == "__main__":
    main()
