"""The puppet motion stage: the rig's fit onto a product of other proportions, part assignment by the product's
structure, depth layers, the mesh cut between touching parts, and rigid motions moving the product as one body."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.gate.rigidity import unexplained_change
from pipeline.motion.alignment import base_rows
from pipeline.motion.driving import DrivingAnalysis
from pipeline.motion.groundtruth import COPPER, DOLL_TARGET, HORSE_TARGET, plain_cut_out
from pipeline.motion.puppet import animate
from pipeline.motion.puppet.deform import cut_mesh
from pipeline.motion.puppet.fit import fit_rig
from pipeline.motion.puppet.layers import SEAM_PX, JointZone, build_layers, conflicts, group_layers
from pipeline.motion.puppet.mesh import mesh_from_mask
from pipeline.motion.puppet.parts import assign_parts
from pipeline.motion.puppet.rigid import product_map
from pipeline.motion.rig import Rig
from pipeline.motions_library import load_library
from pipeline.synthetic import articulated as A
from pipeline.synthetic.rig_export import rig_from_figure

SIZE = 256
FRAMES = 24


def _source(frame: A.Frame) -> np.ndarray:
    return np.concatenate([frame.rgb / 255.0, frame.coverage[..., None]], axis=2).astype(np.float32)


@pytest.fixture(scope="module")
def analyses() -> dict[str, DrivingAnalysis]:
    """What the puppet reads of a clip's analysis (silhouettes, facing, length), here straight from the renderer
    (the optical-flow analysis itself is tested in test_stages.py)."""
    out = {}
    for name in ("horse_gallop", "doll_wave", "sway", "bounce"):
        spec = A.MOTIONS[name]
        clip = A.render_clip(spec.make_figure(), spec.motion, FRAMES, SIZE)
        rig = _rig(name)
        out[name] = DrivingAnalysis(clip.masks, clip.labels[0], rig.affines, np.zeros((FRAMES, len(rig.bones), 2)),
                                    spec.facing)
    return out


def _rig(name: str) -> Rig:
    spec = A.MOTIONS[name]
    kind = load_library().motions[name].kind
    return rig_from_figure(name, spec.make_figure(), spec.motion, FRAMES, SIZE, kind)


def test_fit_lays_the_legs_on_a_longer_legged_horse(analyses: dict[str, DrivingAnalysis]) -> None:
    """A horse with 30 % longer legs and a longer body: every joint ends inside its matte and each leg's end bone
    ends within a few pixels of one of the product's hooves."""
    figure = A.horse(body_length=1.2, leg_length=1.3, texture="spots", seed=4, color=(96, 88, 100))
    frame = A.render(figure, A.Pose(), SIZE)
    rgba = _source(frame)
    _, _, skeleton, _ = fit_rig(_rig("horse_gallop"), analyses["horse_gallop"], frame.mask, rgba[..., :3], "auto",
                                "shape")
    xs = np.clip(np.round(skeleton.heads[:, 0]).astype(int), 0, SIZE - 1)
    ys = np.clip(np.round(skeleton.heads[:, 1]).astype(int), 0, SIZE - 1)
    assert frame.mask[ys, xs].all()
    hooves = [i for i, part in enumerate(figure.parts) if part.name.endswith("_lower")]
    hoof_points = np.array([np.argwhere(frame.labels == i)[:, ::-1][np.argmax(np.argwhere(frame.labels == i)[:, 0])]
                            for i in hooves if (frame.labels == i).any()])
    ends = [k for k, name in enumerate(skeleton.names) if name.endswith("_lower")]
    distances = np.sort(np.linalg.norm(skeleton.tails[ends][:, None] - hoof_points[None], axis=2).min(axis=1))
    assert distances[1] < 0.04 * SIZE and distances[-1] < 0.15 * SIZE, distances  # the far legs are half hidden


def test_fit_finds_the_statues_joints_under_its_thighs_and_at_its_poll(analyses: dict[str, DrivingAnalysis]) -> None:
    """A copper horse on a plinth, longer in body, legs and neck than the clip's: its far hind leg shows only
    below the thigh (it runs from the fitted hip), its head joint is where the neck's path bends. Every joint lands
    within 3 % of the side of the true one (the far hind hip was 31 px off and the poll 11 px before)."""
    figure = A.horse(**{**HORSE_TARGET, **COPPER, "texture": "mottled", "plinth": True})
    pose = A.MOTIONS["horse_gallop"].motion(0.0)
    frame = A.render(figure, pose, SIZE)
    rgba = plain_cut_out(frame.rgb.astype(np.float32), frame.coverage)
    matte = frame.coverage > 0.5
    matte[base_rows(frame.coverage > 0.01):] = False
    _, _, skeleton, _ = fit_rig(_rig("horse_gallop"), analyses["horse_gallop"], matte, rgba[..., :3], "auto", "shape")
    truth = rig_from_figure("statue", figure, A.MOTIONS["horse_gallop"].motion, FRAMES, SIZE, "articulated")
    errors = {bone.name: float(np.linalg.norm(skeleton.heads[k] - np.array(bone.head)))
              for k, bone in enumerate(truth.bones) if bone.parent >= 0}
    assert max(errors.values()) < 0.03 * SIZE, errors


def test_fit_puts_a_dolls_head_joint_at_her_neck(analyses: dict[str, DrivingAnalysis]) -> None:
    """A doll taller and smaller-headed than the clip's: the silhouette fit puts her head's joint 17 px down in
    her collar; the joint goes where the matte narrows between head and body, the tip to the top of her head."""
    figure = A.doll(**DOLL_TARGET)
    frame = A.render(figure, A.MOTIONS["doll_wave"].motion(0.0), SIZE)
    rgba = plain_cut_out(frame.rgb.astype(np.float32), frame.coverage)
    _, _, skeleton, _ = fit_rig(_rig("doll_wave"), analyses["doll_wave"], frame.coverage > 0.5, rgba[..., :3],
                                "auto", "shape")
    truth = rig_from_figure("doll", figure, A.MOTIONS["doll_wave"].motion, FRAMES, SIZE, "articulated")
    head = skeleton.names.index("head")
    assert np.linalg.norm(skeleton.heads[head] - np.array(truth.bones[head].head)) < 4.0
    assert np.linalg.norm(skeleton.tails[head] - np.array(truth.bones[head].tail)) < 6.0


def test_locks_of_hair_go_with_the_head_not_the_arms(analyses: dict[str, DrivingAnalysis]) -> None:
    """A doll with long locks hanging between her torso and arms: the locks' pixels are the head's part."""
    figure = A.doll(hair_length=1.1, arm_length=1.2, texture="mottled", seed=5, dress_color=(48, 96, 168),
                    hair_color=(196, 150, 72))
    frame = A.render(figure, A.Pose(), SIZE)
    rgba = _source(frame)
    _, _, skeleton, _ = fit_rig(_rig("doll_wave"), analyses["doll_wave"], frame.mask, rgba[..., :3], "auto", "shape")
    labels = assign_parts(rgba, frame.coverage > 0.01, skeleton, None)
    head = figure.part_names.index("head")
    # the locks: head pixels well below the face
    face_bottom = np.argwhere(frame.labels == head)[:, 0].min() + 0.45 * np.ptp(np.argwhere(frame.labels == head)[:, 0])
    locks = (frame.labels == head) & (np.arange(SIZE)[:, None] > face_bottom)
    assert locks.sum() > 100
    share_head = float((labels[locks] == skeleton.names.index("head")).mean())
    share_arms = float(np.isin(labels[locks], [k for k, n in enumerate(skeleton.names) if n.startswith("arm")]).mean())
    assert share_head > 0.6 and share_arms < 0.2, (share_head, share_arms)  # 0.68 / 0.17 when written


def test_a_dark_tail_does_not_take_the_shaded_outline(analyses: dict[str, DrivingAnalysis]) -> None:
    """A grey horse with a near-black tail and mane: the body's darker rim runs from the tail all round the
    outline; the tail's part stays the tail (it once took the whole rim and the mane, which then swung with it)."""
    figure = A.horse(body_length=1.2, leg_length=1.25, texture="spots", seed=7, color=(96, 88, 100),
                     mane_color=(30, 28, 32))
    frame = A.render(figure, A.MOTIONS["horse_gallop"].motion(0.0), SIZE)
    # colours unmixed from the backdrop, as the localize stage gives them: that darkens the soft rim
    rgba = plain_cut_out(frame.rgb.astype(np.float32), frame.coverage)
    _, _, skeleton, _ = fit_rig(_rig("horse_gallop"), analyses["horse_gallop"], frame.mask, rgba[..., :3], "auto",
                                "shape")
    labels = assign_parts(rgba, frame.coverage > 0.01, skeleton, None)
    tail = labels == skeleton.names.index("tail")
    true_tail = frame.labels == figure.part_names.index("tail")
    assert tail.sum() > 0.5 * true_tail.sum()
    assert (tail & ~cv2.dilate(true_tail.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)).sum() \
        < 0.1 * tail.sum()


def test_a_statues_plinth_is_a_static_part() -> None:
    figure = A.horse(plinth=True, texture="spots", seed=2)
    frame = A.render(figure, A.Pose(), SIZE)
    row = base_rows(frame.mask)
    assert row is not None
    plinth = figure.part_names.index("plinth")
    assert (frame.labels[row + 3:] == plinth).sum() > 0.9 * (frame.labels[row + 3:] >= 0).sum()


def test_parts_that_overlap_during_the_motion_get_their_own_layers() -> None:
    """Part 1 swings over part 0 in the second frame: they conflict, and part 1 goes to a layer in front; part 2,
    which never meets part 1 and is joined to part 0 at a joint, shares part 0's layer."""
    labels = np.full((64, 64), -1)
    labels[10:30, 5:25] = 0
    labels[10:30, 40:60] = 1
    labels[30:50, 10:20] = 2
    still = np.tile(np.eye(3), (3, 1, 1))
    swung = still.copy()
    swung[1, 0, 2] = -30.0  # part 1 slides onto part 0
    found = conflicts(labels, [still, swung], {(0, 2): np.array([15.0, 30.0])}, 4.0)
    assert found == {(0, 1)}
    assert group_layers({0: 0.0, 1: 2.0, 2: 1.0}, found) == [(0, 2), (1,)]


def test_a_back_layer_continues_under_the_layer_in_front() -> None:
    """A body with a leg drawn over its lower edge: the body's layer gets the hidden strip under the leg, filled
    with body colour, so a leg that swings away uncovers body, not a hole."""
    rgba = np.zeros((80, 80, 4), np.float32)
    rgba[20:50, 10:70] = (0.2, 0.4, 0.8, 1.0)  # body
    rgba[35:75, 32:40] = (0.8, 0.3, 0.1, 1.0)  # a leg over the body's lower edge
    labels = np.full((80, 80), -1)
    labels[20:50, 10:70] = 0
    labels[35:75, 32:40] = 1
    body, leg = build_layers(rgba, labels, [(0,), (1,)])
    # below its own edge the body reaches only its seam's few pixels under the leg
    assert body.hidden[35:48, 32:40].all() and not body.hidden[50 + SEAM_PX:75, 32:40].any()
    assert np.allclose(body.premultiplied[45, 36, :3], (0.2, 0.4, 0.8), atol=0.02)
    assert not leg.hidden.any()


def test_a_part_behind_its_parent_continues_across_their_joint() -> None:
    """A tail drawn behind the body it grows from: its layer continues under the body along their seam within the
    joint's zone (tail-coloured, half the zone's radius deep), so a tail turning about the joint shows tail, not a
    crack, where the joint opens, and no tail-coloured disc shows where a part in front swings away."""
    rgba = np.zeros((60, 100, 4), np.float32)
    rgba[20:40, 40:90] = (0.2, 0.4, 0.8, 1.0)  # body
    rgba[25:35, 5:40] = (0.6, 0.3, 0.1, 1.0)  # tail, joined at the body's rear
    labels = np.full((60, 100), -1)
    labels[20:40, 40:90] = 0
    labels[25:35, 5:40] = 1
    zone = JointZone((0, 1), np.array([40.0, 30.0]), 8.0)
    tail, body = build_layers(rgba, labels, [(1,), (0,)], zones=[zone])
    assert tail.hidden[26:34, 41:44].all() and not tail.hidden[20:40, 46:90].any()
    assert (tail.labels[tail.hidden] == 1).all()
    assert np.allclose(tail.premultiplied[30, 42, :3], (0.6, 0.3, 0.1), atol=0.05)
    assert not body.hidden.any()


def test_the_mesh_is_cut_between_touching_parts_except_at_their_joint() -> None:
    """An arm (part 1) lying against the torso (part 0) along its whole length, joined at the shoulder: after the
    cut no triangle spans the two parts away from the shoulder, and the two stay connected there."""
    mask = np.zeros((120, 80), bool)
    mask[10:110, 10:40] = True  # torso
    mask[10:110, 40:52] = True  # arm against it
    labels = np.where(mask, 0, -1)
    labels[:, 40:52][mask[:, 40:52]] = 1
    mesh, parts = cut_mesh(mesh_from_mask(mask, 6.0), labels, [JointZone((0, 1), np.array([40.0, 14.0]), 12.0)])
    corners = parts[mesh.triangles]
    mixed = (corners != corners[:, :1]).any(axis=1)
    centres = mesh.vertices[mesh.triangles].mean(axis=1)
    assert mixed.any()  # joined at the shoulder
    assert (np.linalg.norm(centres[mixed] - (40.0, 14.0), axis=1) <= 12.0).all()


@pytest.mark.parametrize("motion", ["sway", "bounce"])
def test_rigid_motions_move_the_product_as_one_body(motion: str, analyses: dict[str, DrivingAnalysis]) -> None:
    """A mug-like product much wider than the clip's column: every frame is one rigid (or area-keeping) map of the
    first; its area stays; nothing bends."""
    figure = A.column(height=0.8, width=1.6, profile=(1.0, 0.95, 0.9, 0.85), texture="stripes", seed=3)
    rgba = _source(A.render(figure, A.Pose(), SIZE))
    animation = animate(rgba, analyses[motion], _rig(motion), FRAMES, fit="box", kind="rigid")
    area = rgba[..., 3].sum()
    for frame in animation.frames[1:]:
        assert abs(frame[..., 3].sum() / area - 1.0) < 0.02
    for frame in animation.frames[3::4]:
        assert unexplained_change(animation.frames[0], frame) <= 0.05
    assert animation.facts["kind"] == "rigid" and max(animation.facts["deformation"]["max_stretch"]) < 1.2
    moved = [np.abs(f[..., 3] - rgba[..., 3]).sum() / area for f in animation.frames]
    assert max(moved) > 0.05  # it does move


def test_a_rock_pivots_on_the_products_own_base_corner() -> None:
    """The clip's column rocks about its right base corner; the product map of a wider product rocks about the
    product's right base corner, so that corner stays on the ground."""
    angle = 0.1
    corner = np.array([60.0, 100.0])
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.eye(3)
    rotation[:2, :2] = [[c, -s], [s, c]]
    rotation[:2, 2] = corner - rotation[:2, :2] @ corner
    clip_box = np.array([40.0, 20.0, 60.0, 100.0])
    product_box = np.array([10.0, 50.0, 110.0, 130.0])
    matrix = product_map(rotation, np.array([50.0, 100.0]), clip_box, product_box)
    assert np.allclose(matrix[:2, :2], rotation[:2, :2])
    assert np.allclose(matrix[:2, :2] @ [110.0, 130.0] + matrix[:2, 2], [110.0, 130.0], atol=1e-6)


def test_an_articulated_animation_keeps_its_mesh_unfolded(analyses: dict[str, DrivingAnalysis]) -> None:
    """The gallop on a horse of other proportions: no flipped triangles, deformation facts per frame, and the
    first frame reproduces the photo where the motion starts from its pose."""
    figure = A.horse(body_length=1.1, leg_length=1.2, texture="spots", seed=7)
    rgba = _source(A.render(figure, A.Pose(), SIZE))
    animation = animate(rgba, analyses["horse_gallop"], _rig("horse_gallop"), FRAMES)
    facts = animation.facts["deformation"]
    assert len(facts["flipped_triangles"]) == FRAMES and max(facts["flipped_triangles"]) == 0
    assert animation.facts["layers"] >= 2 and animation.facts["rigged"]
    assert all(frame.shape == rgba.shape for frame in animation.frames)
    first = animation.frames[0]  # the loop starts at the reference pose: the photo itself
    assert np.abs(first[..., :3] * first[..., 3:] - rgba[..., :3] * rgba[..., 3:]).mean() < 0.01
