"""Skeleton tracks of the synthetic figures (pipeline/synthetic/rig_export.py) and the library's rigs and kinds."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.catalog import CatalogItem
from pipeline.errors import MissingFileError
from pipeline.motion.rig import load_rig, rig_path
from pipeline.motions_library import load_library, motion_for_item, resolve_global_motion
from pipeline.synthetic import articulated as A
from pipeline.synthetic.rig_export import rig_from_figure

MOTIONS_DIR = Path(__file__).resolve().parent.parent / "motions"
SIZE, FRAMES = 128, 8
ARTICULATED = [name for name, spec in A.MOTIONS.items() if spec.kind == "articulated"]
RIGID = [name for name, spec in A.MOTIONS.items() if spec.kind == "rigid"]


def _rig_and_clip(name: str, phase_offset: float = 0.0):
    spec = A.MOTIONS[name]
    figure = spec.make_figure()
    rig = rig_from_figure(name, figure, spec.motion, FRAMES, SIZE, spec.kind, phase_offset)
    return figure, rig, A.render_clip(figure, spec.motion, FRAMES, SIZE, phase_offset=phase_offset)


def _landing_share(figure: A.Figure, labels0: np.ndarray, labels_t: np.ndarray, bone_of_part: np.ndarray,
                   affines: np.ndarray, moving: bool = False) -> float:
    """The share of the interior pixels of frame 0 (with `moving`, of those whose bone moves them over 2 px) that
    land, moved by their bone's map, on a pixel of the same bone in frame t; those landing under a part drawn in
    front of theirs are hidden there and not counted."""
    drawn = np.argsort(sorted(range(len(figure.parts)), key=lambda i: figure.parts[i].depth))  # draw rank per part
    landed = total = 0
    for part in np.unique(labels0[labels0 >= 0]):
        inside = cv2.erode((labels0 == part).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        ys, xs = np.nonzero(inside)
        moved = np.stack([xs, ys, np.ones_like(xs)], axis=1) @ affines[bone_of_part[part]].T
        if moving:
            far = np.hypot(moved[:, 0] - xs, moved[:, 1] - ys) > 2.0
            xs, ys, moved = xs[far], ys[far], moved[far]
        mx, my = np.round(moved[:, 0]).astype(int), np.round(moved[:, 1]).astype(int)
        on_canvas = (mx >= 0) & (my >= 0) & (mx < labels_t.shape[1]) & (my < labels_t.shape[0])
        target = labels_t[my[on_canvas], mx[on_canvas]]
        same = (target >= 0) & (bone_of_part[np.maximum(target, 0)] == bone_of_part[part])
        hidden = ~same & (target >= 0) & (drawn[np.maximum(target, 0)] > drawn[part])
        landed += int(same.sum())
        total += int(len(xs) - hidden.sum())
    return landed / max(total, 1)


@pytest.mark.parametrize("name", ARTICULATED)
def test_bone_maps_carry_each_part_to_where_it_is_drawn(name: str) -> None:
    figure, rig, clip = _rig_and_clip(name, phase_offset=0.1)
    assert rig.affines.shape == (FRAMES, len(figure.parts), 2, 3) and rig.size == (SIZE, SIZE)
    assert np.allclose(rig.affines[0], [[1, 0, 0], [0, 1, 0]])
    identity = np.arange(len(figure.parts))
    for t in (2, 5, 7):
        assert _landing_share(figure, clip.labels[0], clip.labels[t], identity, rig.affines[t]) > 0.98, t
        # the pixels that move (a raised arm) land on their part too: a wrong map fails here even if most stay put
        assert _landing_share(figure, clip.labels[0], clip.labels[t], identity, rig.affines[t], moving=True) > 0.98, t


@pytest.mark.parametrize("name", ARTICULATED)
def test_bones_are_the_parts_with_their_joints_parents_and_depths(name: str) -> None:
    figure, rig, _ = _rig_and_clip(name, phase_offset=0.3)
    joints = A.joint_positions(figure, A.MOTIONS[name].motion(0.3), SIZE)
    assert [b.name for b in rig.bones] == figure.part_names
    assert [b.parent for b in rig.bones] == [p.parent for p in figure.parts]
    assert [b.depth for b in rig.bones] == [p.depth for p in figure.parts]
    to_px = A.canvas_to_pixels(SIZE) @ A.part_transforms(figure, A.MOTIONS[name].motion(0.3))[0]
    root_outlines = [A.apply_transform(to_px, patch.points).astype(np.float32) for patch in figure.parts[0].patches]
    for bone in rig.bones:
        assert np.hypot(*(np.subtract(bone.tail, bone.head))) > 3.0, bone
        if bone.parent >= 0:
            assert np.allclose(bone.head, joints[bone.name]), bone
        else:  # the root runs along its long axis, through its middle
            middle = tuple(float(v) for v in np.add(bone.head, bone.tail) / 2)
            assert any(cv2.pointPolygonTest(outline, middle, False) > 0 for outline in root_outlines), bone


def test_a_limb_runs_from_its_joint_to_its_childs_joint_or_its_tip() -> None:
    figure = A.horse()
    rig = rig_from_figure("horse_gallop", figure, A.gallop, 2, SIZE, "articulated")
    bones = {b.name: b for b in rig.bones}
    assert bones["fore_near_upper"].tail == bones["fore_near_lower"].head  # the knee
    hoof = bones["fore_near_lower"]  # a leaf: down to the hoof's bottom, the lowest part of the horse
    mask = A.render(figure, A.gallop(0.0), SIZE).mask
    assert hoof.tail[1] > hoof.head[1] and abs(hoof.tail[1] - np.nonzero(mask)[0].max()) < 3.0


@pytest.mark.parametrize("name", RIGID)
def test_a_rigid_rig_is_one_bone_from_the_base_to_the_top(name: str) -> None:
    figure, rig, clip = _rig_and_clip(name)
    assert [(b.name, b.parent) for b in rig.bones] == [("object", -1)] and rig.kind == "rigid"
    ys, xs = np.nonzero(clip.masks[0])
    head, tail = rig.bones[0].head, rig.bones[0].tail
    assert abs(head[1] - ys.max()) < 1.5 and abs(tail[1] - ys.min()) < 1.5
    assert abs(head[0] - (xs.min() + xs.max()) / 2) < 1.5 and abs(tail[0] - head[0]) < 1.5
    every_part = np.zeros(len(figure.parts), int)
    for t in range(1, FRAMES):
        assert _landing_share(figure, clip.labels[0], clip.labels[t], every_part, rig.affines[t, :1]) > 0.98, t


def test_a_rigid_rig_refuses_a_motion_that_bends() -> None:
    def bend(phase: float) -> A.Pose:
        return A.Pose({"segment_2": 0.2 * np.sin(2 * np.pi * phase)})

    with pytest.raises(ValueError, match="bends"):
        rig_from_figure("bend", A.column(), bend, 4, SIZE, "rigid")


def test_rig_round_trips_through_its_file(tmp_path: Path) -> None:
    _, rig, _ = _rig_and_clip("doll_wave")
    loaded = load_rig(rig.save(tmp_path / "doll_wave.rig.json"))
    assert (loaded.motion, loaded.kind, loaded.facing) == ("doll_wave", "articulated", "front")
    assert loaded.size == (SIZE, SIZE)
    assert [(b.name, b.parent, b.depth) for b in loaded.bones] == [(b.name, b.parent, b.depth) for b in rig.bones]
    assert np.allclose([b.head for b in loaded.bones], [b.head for b in rig.bones], atol=1e-3)
    assert np.allclose([b.tail for b in loaded.bones], [b.tail for b in rig.bones], atol=1e-3)
    assert np.allclose(loaded.affines, rig.affines, atol=1e-5)


@pytest.mark.parametrize("name", list(A.MOTIONS))
def test_shipped_rig_matches_the_figure(name: str) -> None:
    shipped = load_rig(MOTIONS_DIR / f"{name}.rig.json")
    spec = A.MOTIONS[name]
    fresh = rig_from_figure(name, spec.make_figure(), spec.motion, 48, 256, spec.kind)
    assert shipped.n_frames == 48 and shipped.kind == spec.kind, "rig is stale: run `make motions`"
    assert np.allclose(shipped.affines, fresh.affines, atol=1e-4), "rig is stale: run `make motions`"


# ----------------------------------------------------------------------------- the library's kinds and rigs


def test_library_motions_carry_their_kind_and_rig() -> None:
    library = load_library()
    for name, spec in library.motions.items():
        assert spec.kind == A.MOTIONS[name].kind
        assert spec.rig == rig_path(spec.path) and spec.rig.is_file()
    assert library.motions["sway"].kind == "rigid" and library.motions["horse_gallop"].kind == "articulated"


def _library_copy(tmp_path: Path, without_rig: str) -> Path:
    folder = tmp_path / "motions"
    shutil.copytree(MOTIONS_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (folder / f"{without_rig}.rig.json").unlink()
    return folder


def test_a_library_motion_without_its_rig_is_a_missing_file_saying_make_motions(tmp_path: Path) -> None:
    library = load_library(_library_copy(tmp_path, without_rig="sway"))
    assert library.motions["sway"].rig is None and library.motions["bounce"].rig is not None
    with pytest.raises(MissingFileError, match="make motions") as raised:
        resolve_global_motion("sway", library)
    assert raised.value.path.endswith("sway.rig.json")
    item = CatalogItem(2, "m", "m.png", "mug", "", "", tmp_path)
    with pytest.raises(MissingFileError):
        motion_for_item(item, None, library)


def test_a_users_clip_is_articulated_and_has_no_rig(tmp_path: Path) -> None:
    clip = tmp_path / "my_clip.mp4"
    shutil.copy(MOTIONS_DIR / "sway.mp4", clip)
    library = load_library()
    spec = resolve_global_motion(str(clip), library)
    assert (spec.kind, spec.rig) == ("articulated", None)
    row = motion_for_item(CatalogItem(2, "m", "m.png", "mug", "my_clip.mp4", "", tmp_path), None, library)
    assert (row.kind, row.rig) == ("articulated", None)
