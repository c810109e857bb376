"""Render the shipped driving clips from the synthetic articulated figures.

    python motions/make_motions.py [--out motions/]

Writes one 256x256, 24 fps, 48-frame (2 s) seamless loop per entry of MOTIONS and its skeleton track beside it
(`<name>.rig.json`, pipeline/motion/rig.py), deterministically.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable before the project is installed

from pipeline.motion.rig import rig_path  # noqa: E402
from pipeline.synthetic.articulated import MOTIONS, render_motion  # noqa: E402
from pipeline.synthetic.rig_export import rig_from_figure  # noqa: E402
from pipeline.video import encode_mp4  # noqa: E402

SIZE, FPS, FRAMES = 256, 24, 48


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    args = parser.parse_args(argv)
    for name in MOTIONS:
        clip = render_motion(name, FRAMES, SIZE)
        path = encode_mp4(list(clip.frames), args.out / f"{name}.mp4", FPS)
        spec = MOTIONS[name]
        rig = rig_from_figure(name, spec.make_figure(), spec.motion, FRAMES, SIZE, spec.kind).save(rig_path(path))
        print(f"{path}  {path.stat().st_size // 1024} KB, {rig.name} {rig.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
