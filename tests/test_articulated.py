"""Synthetic articulated figures and the shipped driving-clip library."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from pipeline.gate.rigidity import unexplained_change
from pipeline.synthetic import articulated as A
from pipeline.video import read_clip

MOTIONS_DIR = Path(__file__).resolve().parent.parent / "motions"
SIZE = 128


@pytest.fixture(scope="module")
def registry() -> dict:
    return yaml.safe_load((MOTIONS_DIR / "registry.yaml").read_text())


@pytest.mark.parametrize("name", list(A.MOTIONS))
def test_motion_is_periodic(name: str) -> None:
    spec = A.MOTIONS[name]
    figure = spec.make_figure()
    start, end = A.render(figure, spec.motion(0.0), SIZE), A.render(figure, spec.motion(1.0), SIZE)
    assert np.array_equal(start.rgb, end.rgb) and np.array_equal(start.labels, end.labels)
    # and the loop has no jump: the last sampled frame is close to the first
    near_end = part_angles(figure, spec.motion(1.0 - 1e-4))
    assert np.allclose(near_end, part_angles(figure, spec.motion(0.0)), atol=1e-2)


@pytest.mark.parametrize("name", list(A.MOTIONS))
def test_mask_matches_foreground_and_labels_cover_it(name: str) -> None:
    spec = A.MOTIONS[name]
    figure = spec.make_figure()
    frame = A.render(figure, spec.motion(0.3), SIZE)
    distance = np.abs(frame.rgb.astype(int) - np.array(A.BACKGROUND)).max(axis=-1)
    grown = cv2.dilate(frame.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    shrunk = cv2.erode(frame.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert not distance[~grown].any(), "figure colour outside the mask"
    assert (distance[shrunk] > 30).mean() > 0.99, "background-like colour inside the mask"
    assert np.array_equal(frame.labels >= 0, frame.mask)
    assert frame.rgb.dtype == np.uint8 and frame.mask.dtype == bool and frame.labels.dtype == np.int16
    visible = set(np.unique(frame.labels[frame.mask]).tolist())
    assert len(visible) >= len(figure.parts) - 2  # at most a couple of parts fully hidden


def test_figure_fills_canvas_on_ground() -> None:
    for spec in A.MOTIONS.values():
        mask = A.render(spec.make_figure(), A.Pose(), SIZE).mask
        ys, xs = np.nonzero(mask)
        extent = max(np.ptp(xs), np.ptp(ys)) / SIZE
        assert 0.6 <= extent <= 0.75
        assert abs(ys.max() / SIZE - A.GROUND_Y) < 0.02
        assert abs((xs.min() + xs.max()) / 2 / SIZE - 0.5) < 0.03


def part_angles(figure: A.Figure, pose: A.Pose) -> np.ndarray:
    """Each part's rotation relative to its parent, read back from the rendered transforms."""
    mats = A.part_transforms(figure, pose)
    angles = []
    for index, part in enumerate(figure.parts):
        relative = mats[index] if part.parent < 0 else np.linalg.inv(mats[part.parent]) @ mats[index]
        angles.append(np.arctan2(relative[1, 0], relative[0, 0]))
    return np.array(angles)


@pytest.mark.parametrize("make, motion, proportions", [
    (A.horse, A.gallop, dict(leg_length=1.3, body_length=0.8, neck_length=1.2)),
    (A.doll, A.wave, dict(head_size=1.3, arm_length=0.8, skirt_width=1.3)),
    (A.dino, A.walk, dict(tail_length=1.4, leg_length=0.8)),
    (A.column, A.sway, dict(height=1.3, profile=(1.0, 0.8, 0.6, 0.4))),
])
def test_other_proportions_share_the_motion(make, motion, proportions: dict) -> None:
    driving = make()
    target = make(**proportions, texture="spots", seed=7)
    assert driving.part_names == target.part_names
    pose = motion(0.37)
    assert np.allclose(part_angles(driving, pose), part_angles(target, pose))
    a, b = A.render(driving, pose, SIZE).mask, A.render(target, pose, SIZE).mask
    assert (a & b).sum() / (a | b).sum() < 0.85, "proportions should change the silhouette"


def test_rendering_is_deterministic_and_seeded() -> None:
    pose = A.gallop(0.2)
    first = A.render(A.horse(seed=3), pose, SIZE).rgb
    assert np.array_equal(first, A.render(A.horse(seed=3), pose, SIZE).rgb)
    other_seed = A.render(A.horse(seed=4), pose, SIZE).rgb
    other_style = A.render(A.horse(texture="stripes", seed=3), pose, SIZE).rgb
    assert not np.array_equal(first, other_seed) and not np.array_equal(first, other_style)
    with pytest.raises(ValueError):
        A.horse(texture="plaid")


def test_render_clip_shapes_and_background_image() -> None:
    clip = A.render_clip(A.column(), A.sway, 4, (96, 64))
    assert clip.frames.shape == (4, 64, 96, 3) and clip.masks.shape == clip.labels.shape == (4, 64, 96)
    assert len(clip.poses) == 4
    backdrop = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    frame = A.render(A.column(), A.sway(0.5), (96, 64), background=backdrop)
    grown = cv2.dilate(frame.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert np.array_equal(frame.rgb[~grown], backdrop[~grown])


def test_part_flow_matches_the_rendered_motion() -> None:
    figure = A.dino()
    pose = A.walk(0.1)
    labels = A.render(figure, pose, SIZE).labels
    assert np.allclose(A.part_flow(figure, pose, pose, labels, SIZE)[labels >= 0], 0.0, atol=1e-4)
    shifted = A.Pose(pose.angles, (pose.offset[0] + 0.05, pose.offset[1] - 0.02), pose.rotation)
    flow = A.part_flow(figure, pose, shifted, labels, SIZE)
    assert np.allclose(flow[labels >= 0], (0.05 * SIZE, -0.02 * SIZE), atol=1e-3)
    assert np.isnan(flow[labels < 0]).all()
    joints = A.joint_positions(figure, shifted, SIZE)["head"] - A.joint_positions(figure, pose, SIZE)["head"]
    assert np.allclose(joints, (0.05 * SIZE, -0.02 * SIZE))


def test_registry_matches_the_library(registry: dict) -> None:
    assert registry["version"] == 1
    assert set(registry["motions"]) == set(A.MOTIONS)
    for name, entry in registry["motions"].items():
        assert entry["file"] == f"{name}.mp4"
        assert entry["fps"] == 24 and entry["frames"] == 48
        assert entry["facing"] == A.MOTIONS[name].facing == A.MOTIONS[name].make_figure().facing
        assert entry["kind"] == A.MOTIONS[name].kind
        assert entry["description"] and entry["categories"]
        for category in entry["categories"]:
            assert registry["categories"][category] == name
    for category, name in registry["categories"].items():
        assert category == category.lower() and " " not in category
        assert name in registry["motions"]


@pytest.mark.parametrize("name", list(A.MOTIONS))
def test_shipped_clip_decodes_and_matches_the_renderer(name: str, registry: dict) -> None:
    path = MOTIONS_DIR / registry["motions"][name]["file"]
    assert path.stat().st_size < 300 * 1024
    frames, fps = read_clip(path)
    assert len(frames) == 48 and frames[0].shape == (256, 256, 3) and fps == pytest.approx(24.0)
    spec = A.MOTIONS[name]
    expected = A.render(spec.make_figure(), spec.motion(12 / 48), 256).rgb
    assert np.abs(frames[12].astype(int) - expected).mean() < 3.0, "clip is stale: run motions/make_motions.py"


RIGID = [name for name, spec in A.MOTIONS.items() if spec.kind == "rigid"]


RIGID_SIZE = 256  # the rigidity measure's residual is the renderer's resampling: smaller sizes raise it
MOVED = 0.035  # frames whose mask changed by this share of the canvas from frame 0: enough change to measure
# the rigid clips measure 0.025-0.063 on such frames (the target for products is 0.05; the renderer draws
# each frame afresh from the part textures, a warp of frame 0 scores lower), a bending column 0.2-0.3
MAX_RIGID_RESIDUAL = 0.07


def _moved_frames_residuals(figure: A.Figure, motion: A.Motion) -> list[float]:
    clip = A.render_clip(figure, motion, 12, RIGID_SIZE)
    rgba = [np.dstack([frame, mask.astype(np.uint8) * 255]) for frame, mask in zip(clip.frames, clip.masks)]
    moved = [t for t in range(1, 12) if np.abs(clip.masks[t].astype(float) - clip.masks[0]).mean() >= MOVED]
    assert len(moved) >= 3
    return [unexplained_change(rgba[0], rgba[t]) for t in moved]


@pytest.mark.parametrize("name", RIGID)
def test_rigid_motions_move_the_object_as_one_body(name: str) -> None:
    spec = A.MOTIONS[name]
    figure = spec.make_figure()
    residuals = _moved_frames_residuals(figure, spec.motion)
    assert max(residuals) <= MAX_RIGID_RESIDUAL, residuals
    for phase in np.linspace(0.0, 1.0, 12, endpoint=False):
        assert np.allclose(part_angles(figure, spec.motion(phase))[1:], 0.0)  # nothing bends


def test_the_rigidity_measure_sees_a_column_bend() -> None:
    def bend(phase: float) -> A.Pose:
        return A.Pose({f"segment_{k}": 0.15 * np.sin(2 * np.pi * phase) for k in (1, 2, 3)})

    assert min(_moved_frames_residuals(A.column(), bend)) > 2 * MAX_RIGID_RESIDUAL


def _base_points(figure: A.Figure, pose: A.Pose) -> np.ndarray:
    """The base's left end, centre and right end in pixels under `pose`."""
    bottom, left, right = figure.base
    to_px = A.canvas_to_pixels(SIZE) @ A.part_transforms(figure, pose)[0]
    return A.apply_transform(to_px, np.array([[left, bottom], [(left + right) / 2, bottom], [right, bottom]]))


def test_sway_rocks_on_the_corner_it_leans_toward_and_keeps_it_on_the_ground() -> None:
    figure = A.column()
    rest = _base_points(figure, A.Pose())
    leans = []
    for phase in np.linspace(0.0, 1.0, 24, endpoint=False):
        pose = A.sway(phase)
        base = _base_points(figure, pose)
        leaning_right = pose.rotation > 0  # clockwise on screen: the top goes right
        corner = 2 if leaning_right else 0
        assert np.allclose(base[corner], rest[corner], atol=1e-6)  # the pivot corner stays put, on the ground
        assert base[2 - corner][1] <= rest[2 - corner][1] + 1e-6  # the other corner lifts, never sinks
        leans.append(np.degrees(pose.rotation))
        mask = A.render(figure, pose, SIZE).mask
        assert abs(np.nonzero(mask)[0].max() - A.render(figure, A.Pose(), SIZE).mask.nonzero()[0].max()) <= 1
    assert 6.0 <= max(leans) <= 8.0 and -8.0 <= min(leans) <= -6.0


def test_bounce_squashes_by_one_area_keeping_scale_about_the_base_centre() -> None:
    figure = A.squat_column()
    rest = _base_points(figure, A.Pose())
    for phase in np.linspace(0.0, 1.0, 24, endpoint=False):
        pose = A.bounce(phase)
        root = A.part_transforms(figure, pose)[0][:2, :2]
        assert np.isclose(np.linalg.det(root), 1.0) and np.isclose(root[0, 1], 0.0) and np.isclose(root[1, 0], 0.0)
        base = _base_points(figure, pose)
        assert np.isclose(base[1, 0], rest[1, 0]) and np.isclose(base[0, 1], base[2, 1])  # centred, level
        if pose.offset == (0.0, 0.0):
            assert np.allclose(base[1], rest[1])  # on the ground the base's centre is the scaling pivot
    stretches = [A.bounce(p).scale[1] for p in np.linspace(0.0, 1.0, 48, endpoint=False)]
    assert min(stretches) < 0.9 and max(stretches) > 1.05


def test_long_hair_locks_are_the_heads_and_hang_beside_the_arms() -> None:
    short, long = A.doll(), A.doll(hair_length=1.0)
    assert short.part_names == long.part_names
    head = long.part_names.index("head")
    pose = A.wave(0.0)
    with_locks, without = A.render(long, pose, SIZE).labels, A.render(short, pose, SIZE).labels
    locks = (with_locks == head) & (without != head)
    ys, xs = np.nonzero(locks)
    elbow = A.joint_positions(long, pose, SIZE)["arm_left_lower"]
    assert locks.sum() > 60 and ys.max() >= elbow[1] - 2  # down to about the elbows
    assert set(np.unique(without[locks])) >= {A.doll().part_names.index("torso")}  # over the torso's sides
    assert np.any(xs < SIZE / 2) and np.any(xs > SIZE / 2)  # one lock on each side


def test_a_statues_plinth_stays_still_under_the_hooves() -> None:
    figure = A.horse(plinth=True)
    plinth = figure.part_names.index("plinth")
    clip = A.render_clip(figure, A.gallop, 6, SIZE)
    still = clip.labels[0] == plinth
    assert still.sum() > 200
    # wherever the plinth shows it is the same pixels in every frame (legs in front may hide some of it)
    for labels, frame in zip(clip.labels, clip.frames):
        shown = labels == plinth
        assert not (shown & ~still).any()
        inner = cv2.erode(shown.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # off the hooves' edges
        assert np.array_equal(frame[inner], clip.frames[0][inner])
    top = np.nonzero(still.any(axis=1))[0].min()
    hooves = np.nonzero(A.render(figure, A.Pose(), SIZE).mask[:top].any(axis=1))[0].max()
    assert top - 2 <= hooves <= top  # the rest pose stands on it
