"""A driving clip's skeleton track (`motions/<name>.rig.json`): bones with their rest position in the clip's first
frame, draw depth, and per frame each bone's rigid map from its first-frame position.

File format (version 1), all coordinates in clip pixels (x right, y down, pixel centres at integers):

    {"version": 1, "motion": "horse_gallop", "kind": "articulated" | "rigid", "size": [width, height],
     "facing": "right", "bones": [{"name": "body", "parent": -1, "head": [x, y], "tail": [x, y], "depth": 3.0}, ...],
     "affines": [[[a, b, c, d, e, f], ...one per bone], ...one per frame]}

`head` is the bone's joint (where it pivots on its parent), `tail` its far end (its child's joint, or the tip of the
part). `affines[t][k]` is the 2x3 map [[a, b, c], [d, e, f]] from frame-0 pixels to frame-t pixels of bone k, so
frame 0 holds identities. A `rigid` rig has one bone that carries the whole object.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.atomic import atomic_write_json
from pipeline.errors import UsageError

RIG_VERSION = 1
KINDS = ("articulated", "rigid")


@dataclass(frozen=True)
class Bone:
    name: str
    parent: int  # index into Rig.bones (parents come first); -1 for the root
    head: tuple[float, float]  # joint, frame-0 clip pixels
    tail: tuple[float, float]  # far end, frame-0 clip pixels
    depth: float  # draw order: low is behind


@dataclass(frozen=True)
class Rig:
    motion: str
    kind: str
    size: tuple[int, int]  # (width, height) of the clip's frames
    facing: str
    bones: tuple[Bone, ...]
    affines: np.ndarray  # (T, K, 2, 3) float64: bone k, frame-0 pixels -> frame-t pixels

    @property
    def n_frames(self) -> int:
        return int(self.affines.shape[0])

    def to_json(self) -> dict:
        return {"version": RIG_VERSION, "motion": self.motion, "kind": self.kind, "size": list(self.size),
                "facing": self.facing,
                "bones": [{"name": b.name, "parent": b.parent, "head": [round(v, 3) for v in b.head],
                           "tail": [round(v, 3) for v in b.tail], "depth": b.depth} for b in self.bones],
                "affines": np.round(self.affines.reshape(self.n_frames, len(self.bones), 6), 5).tolist()}

    def save(self, path: Path) -> Path:
        atomic_write_json(path, self.to_json())
        return path


def rig_path(clip: Path) -> Path:
    """Where a clip's rig lives: `<name>.rig.json` beside `<name>.mp4`."""
    return clip.with_name(f"{clip.stem}.rig.json")


def parse_rig(data: dict, source: str) -> Rig:
    """A Rig from its JSON form; a malformed file is a usage error naming it."""
    try:
        if data["version"] != RIG_VERSION or data["kind"] not in KINDS:
            raise ValueError(f"version must be {RIG_VERSION} and kind one of {KINDS}")
        bones = tuple(Bone(str(b["name"]), int(b["parent"]), (float(b["head"][0]), float(b["head"][1])),
                           (float(b["tail"][0]), float(b["tail"][1])), float(b["depth"])) for b in data["bones"])
        affines = np.asarray(data["affines"], np.float64).reshape(-1, len(bones), 2, 3)
        if any(not -1 <= b.parent < k for k, b in enumerate(bones)) or not len(affines):
            raise ValueError("every bone's parent must come before it, and there must be frames")
        width, height = (int(v) for v in data["size"])
        return Rig(str(data["motion"]), str(data["kind"]), (width, height), str(data["facing"]), bones, affines)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise UsageError(f"rig {source} is malformed ({exc}); regenerate it with `make motions`") from None


def load_rig(path: Path) -> Rig:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"rig {path} cannot be read ({exc}); regenerate it with `make motions`") from None
    return parse_rig(data, str(path))
