"""Contact shadows against ground truth: the library's synthetic figures (pipeline/synthetic/articulated.py) move
over a grey floor that is darkened in every frame by an occlusion shadow (the figure's own silhouette blurred, laid
flat on the floor: a model unlike the redraw's), and the fusion's plate under each frame is compared with that
truth under the feet (the floor band around the ground line, the figure's own pixels left out), for
`--shadow redraw` and `off` (the plate with no shadow).

    python bench/shadow_bench.py [--size 256] [--frames 16]
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from pipeline.contact_shadow import frame_plate, lowest_rows, setup_shadows
from pipeline.synthetic.articulated import render_motion

FLOOR = 170.0  # grey level of the floor
TRUE_STRENGTH = 0.45
CASES = ("horse_gallop", "bounce", "dino_walk", "sway")


def true_darkening(mask: np.ndarray, ground_y: int, size: int) -> np.ndarray:
    """Occlusion under a figure: its silhouette blurred and squashed onto the floor around `ground_y`."""
    sigma = 0.02 * size
    occlusion = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    near = occlusion[max(0, ground_y - round(2 * sigma)):ground_y + 1].max(axis=0)
    rows = np.exp(-0.5 * ((np.arange(mask.shape[0]) - ground_y) / (0.5 * sigma)) ** 2)
    return np.clip(TRUE_STRENGTH * 2 * near[None, :] * rows[:, None], 0, TRUE_STRENGTH)


def shadow_errors(name: str, size: int, n_frames: int) -> dict[str, float]:
    """Mean absolute error (0-255) under the feet over the frames, per shadow mode."""
    masks = render_motion(name, n_frames=n_frames, size=size).masks
    lowest = [int(np.nonzero(m)[0].max()) for m in masks]
    ground_y = max(lowest)
    floor = np.full((size, size, 3), FLOOR, np.float32)
    truths = [floor * (1 - true_darkening(m, ground_y, size)[..., None]) for m in masks]
    still = int(np.argmax(lowest))  # the photo shows the product standing (a frame touching the ground)
    photo = np.clip(truths[still] + 0.5, 0, 255).astype(np.uint8)
    plate = floor.astype(np.uint8)
    rows = [lowest_rows(m.astype(np.float32)) for m in masks]
    setup = setup_shadows(photo, plate, masks[still].astype(np.float32),
                          true_darkening(masks[still], ground_y, size) > 0.03, rows)
    band = np.zeros((size, size), bool)
    band[ground_y - round(0.04 * size):ground_y + round(0.04 * size) + 1] = True
    errors: dict[str, list[float]] = {"redraw": [], "off": []}
    for mask, truth, frame_rows in zip(masks, truths, rows):
        under = band & ~mask
        for mode in errors:
            plate_f = frame_plate(setup, frame_rows, mode).astype(np.float32)
            errors[mode].append(float(np.abs(plate_f[under] - truth[under]).mean()))
    return {mode: float(np.mean(values)) for mode, values in errors.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()
    print("| figure | error under the feet, redraw | off |\n|---|---|---|")
    for name in CASES:
        errors = shadow_errors(name, args.size, args.frames)
        print(f"| {name} | {errors['redraw']:.2f} | {errors['off']:.2f} |")


if __name__ == "__main__":
    main()
