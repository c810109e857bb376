"""Render a contact sheet (a few frames of each product's animation side by side) from a run's output folder.

    python bench/contact_sheet.py OUTPUT_DIR SHEET.png [--frames 6] [--height 200] [--stage 05_fusion]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from pipeline.imageio import read_png, write_png


def _checker(height: int, width: int, cell: int = 12) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.where(((ys // cell + xs // cell) % 2 == 0)[..., None], 200, 255).astype(np.uint8).repeat(3, axis=2)


def _flatten(frame: np.ndarray) -> np.ndarray:
    """RGBA frames (motion/superres stages) are shown over a checkerboard so their alpha is visible."""
    if frame.ndim == 3 and frame.shape[2] == 4:
        alpha = frame[..., 3:4].astype(np.float32) / 255.0
        board = _checker(*frame.shape[:2])
        return (frame[..., :3] * alpha + board * (1 - alpha)).astype(np.uint8)
    return frame


def product_row(folder: Path, count: int, height: int) -> np.ndarray:
    paths = sorted(folder.glob("*.png"))
    picks = [paths[round(i * (len(paths) - 1) / max(1, count - 1))] for i in range(count)]
    tiles = []
    for path in picks:
        frame = _flatten(read_png(path))
        width = round(frame.shape[1] * height / frame.shape[0])
        tiles.append(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
        tiles.append(np.full((height, 4, 3), 255, np.uint8))
    return np.concatenate(tiles, axis=1)


def build_sheet(output: Path, count: int, height: int, stage: str) -> np.ndarray:
    report = json.loads((output / "report.json").read_text())
    rows = []
    for product in report["products"]:
        folder = output / product["product_id"] / stage / "frames"
        if product["status"] == "failed" or not folder.is_dir():
            continue
        row = product_row(folder, count, height)
        label = f"{product['product_id']}  ({product['motion']})"
        cv2.putText(row, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(row, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(row)
        rows.append(np.full((6, row.shape[1], 3), 255, np.uint8))
    if not rows:
        raise SystemExit(f"no finished products with frames under {output}")
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("sheet", type=Path)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--height", type=int, default=200)
    parser.add_argument("--stage", default="05_fusion")
    args = parser.parse_args()
    write_png(args.sheet, build_sheet(args.output, args.frames, args.height, args.stage), compression=6)
    print(args.sheet)


if __name__ == "__main__":
    main()
