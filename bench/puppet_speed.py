"""Speed of the puppet motion stage on an 800 px crop, one thread.

A synthetic horse with other proportions than the clip's (or a doll with long hair) fills an 800 px crop. The
stage's per-product work is timed in its steps: the rig's fit (reference pose, limbs laid on the medial axis), then
parts, layers, meshes, skinning weights and ARAP prefactoring; then per frame the bones' maps, every layer's ARAP
solve and rendering into one canvas.

    PYTHONPATH=$PWD python bench/puppet_speed.py [--figure horse|doll] [--frames 48] [--png /tmp/speed.png]

Prints the per-product seconds and the per-frame milliseconds (median and p95), as this process's CPU time (one
thread, so on an idle core that is the wall time; on a shared machine the wall time is longer).
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.imageio import write_png  # noqa: E402
from pipeline.motion.alignment import base_rows, driving_index  # noqa: E402
from pipeline.motion.driving import DrivingAnalysis  # noqa: E402
from pipeline.motion.puppet import with_static_base, build_puppets  # noqa: E402
from pipeline.motion.puppet.fit import fit_rig  # noqa: E402
from pipeline.motion.puppet.pixels import unpremultiply  # noqa: E402
from pipeline.motion.rig import load_rig  # noqa: E402
from pipeline.motions_library import load_library  # noqa: E402
from pipeline.synthetic import articulated as A  # noqa: E402

CROP = 800
FIGURES = {"horse": ("horse_gallop", lambda: A.horse(body_length=1.15, leg_length=1.2, texture="spots", seed=3)),
           "doll": ("doll_wave", lambda: A.doll(hair_length=1.1, arm_length=1.2, texture="mottled", seed=5))}


def clip_analysis(motion: str, n_frames: int) -> DrivingAnalysis:
    """What the puppet reads of the clip's analysis (silhouettes, facing), rendered as the library's clip is."""
    spec = A.MOTIONS[motion]
    clip = A.render_clip(spec.make_figure(), spec.motion, n_frames, 256)
    count = len(spec.make_figure().parts)
    return DrivingAnalysis(clip.masks, clip.labels[0], np.tile(np.eye(3)[:2], (n_frames, count, 1, 1)),
                           np.zeros((n_frames, count, 2)), spec.facing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figure", choices=sorted(FIGURES), default="horse")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--png", type=Path, help="write four frames side by side here")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    motion, make = FIGURES[args.figure]
    frame = A.render(make(), A.Pose(), CROP)
    rgba = np.concatenate([frame.rgb / 255.0, frame.coverage[..., None]], axis=2).astype(np.float32)
    spec = load_library().motions[motion]
    rig = load_rig(spec.rig)
    analysis = clip_analysis(motion, rig.n_frames)
    print(f"{args.figure}: {CROP} px crop, object {rgba[..., 3].mean():.0%} of it, {args.frames} frames, 1 thread")

    started = time.process_time()
    support = cv2.dilate((rgba[..., 3] > 0.01).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    base_row = base_rows(support)
    figure = rgba[..., 3] > 0.5
    if base_row is not None:
        figure[base_row:] = False
    reference, _, skeleton, driver = fit_rig(rig, analysis, figure, rgba[..., :3], "auto", spec.fit)
    fitted = time.process_time()
    puppets, _ = build_puppets(rgba, skeleton, driver, base_row, support)
    built = time.process_time()
    print(f"CPU: fit {fitted - started:.2f} s, parts + layers + meshes + weights + prefactor {built - fitted:.2f} s, "
          f"per product {built - started:.2f} s ({len(puppets)} layers, "
          f"{sum(len(p.mesh.triangles) for p in puppets)} triangles)")

    times, frames = [], []
    for index in range(args.frames):
        t0 = time.process_time()
        clip_frame = (reference + driving_index(index, args.frames, driver.n_frames)) % driver.n_frames
        maps = with_static_base(driver.bone_maps(skeleton, clip_frame), base_row is not None)
        out = np.zeros(rgba.shape, np.float32)
        for puppet in puppets:
            puppet.draw(maps, out)
        times.append(time.process_time() - t0)
        frames.append(out)
    ms = np.array(times) * 1000.0
    print(f"per frame (maps + ARAP solves + rendering), CPU: median {np.median(ms):.1f} ms, p95 "
          f"{np.percentile(ms, 95):.1f} ms")
    if args.png:
        picks = [frames[round(i * (args.frames - 1) / 3)] for i in range(4)]
        tiles = [cv2.resize((unpremultiply(f)[..., :3] * 255).astype(np.uint8), (400, 400)) for f in picks]
        write_png(args.png, np.concatenate(tiles, axis=1))
        print(args.png)


if __name__ == "__main__":
    main()
