"""The puppet stage's deformation core: meshing a matte, skinning weights, ARAP, per-triangle rendering, facts."""
from __future__ import annotations

import cv2
import igl
import numpy as np
import pytest

from pipeline.motion.puppet.arap import ArapDeformer, rigid_fit
from pipeline.motion.puppet.mesh import (Mesh, mesh_components, mesh_from_mask, signed_areas, triangle_index_map,
                                         triangle_labels, vertex_labels)
from pipeline.motion.puppet.render import deformation_stats, render_mesh
from pipeline.motion.puppet.skinning import blend, skinning_weights

BAR_LENGTH = 400  # px, from x = 10 to x = 410, centred on y = 30, 21 px thick
BAR_Y = 30


def rotation(angle: float) -> np.ndarray:
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def affine(angle: float, shift: tuple[float, float], centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """2x3 map turning by `angle` about `centre`, then shifting."""
    r = rotation(angle)
    c = np.asarray(centre, float)
    return np.hstack([r, (c - r @ c + np.asarray(shift, float))[:, None]])


def moved(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def through(mesh: Mesh, deformed: np.ndarray, points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Where rest points (on pixel centres inside the mesh) go under the piecewise-affine deformation."""
    owner = triangle_index_map(mesh.vertices, mesh.triangles, shape)[points[:, 1].astype(int), points[:, 0].astype(int)]
    assert (owner >= 0).all()
    rest, new = mesh.vertices[mesh.triangles[owner]], deformed[mesh.triangles[owner]]
    edges = np.stack([rest[:, 1] - rest[:, 0], rest[:, 2] - rest[:, 0]], axis=2)
    u, v = np.linalg.solve(edges, (points - rest[:, 0])[..., None])[..., 0].T
    return new[:, 0] + u[:, None] * (new[:, 1] - new[:, 0]) + v[:, None] * (new[:, 2] - new[:, 0])


def edge_samples(mesh: Mesh, step: float = 0.25) -> np.ndarray:
    edges = np.unique(np.sort(mesh.triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    t = np.arange(step, 1.0, step / 20)[None, :, None]  # dense enough for edges up to 20 px
    a, b = mesh.vertices[edges[:, 0]][:, None], mesh.vertices[edges[:, 1]][:, None]
    return (a + t * (b - a)).reshape(-1, 2)


def bar_mask() -> np.ndarray:
    mask = np.zeros((60, 420), bool)
    mask[BAR_Y - 10:BAR_Y + 11, 10:10 + BAR_LENGTH + 1] = True
    return mask


@pytest.fixture(scope="module")
def bar() -> Mesh:
    return mesh_from_mask(bar_mask(), 6.0)


def bar_ends(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    x = mesh.vertices[:, 0]
    return np.nonzero(x <= 13)[0], np.nonzero(x >= 10 + BAR_LENGTH - 3)[0]


def figure_mask() -> np.ndarray:
    """A body with two legs 3 px apart, an arm with a 2 px gap to the body, a round hole and a separate blob."""
    mask = np.zeros((200, 240), np.uint8)
    mask[30:90, 40:200] = 1
    mask[90:180, 60:90] = 1  # left leg
    mask[90:180, 93:123] = 1  # right leg, 3 px from the left one
    mask[40:170, 202:215] = 1  # arm hanging beside the body, 2 px from it
    cv2.circle(mask, (150, 60), 12, 0, -1)
    cv2.circle(mask, (30, 160), 9, 1, -1)
    return mask.astype(bool)


@pytest.fixture(scope="module")
def figure() -> tuple[np.ndarray, Mesh]:
    mask = figure_mask()
    return mask, mesh_from_mask(mask, 10.0)


# ----------------------------------------------------------------------------- mesh


def comb_mask() -> np.ndarray:
    """Teeth 4 px wide, 4 px apart, hanging from a bar."""
    mask = np.zeros((100, 200), bool)
    mask[10:30, 10:190] = True
    for x in range(15, 190, 8):
        mask[30:90, x:x + 4] = True
    return mask


def blobs_mask() -> np.ndarray:
    """Smooth random blobs, some cut by the image border."""
    noise = np.random.default_rng(0).random((200, 200)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 6) > 0.5


@pytest.mark.parametrize("make_mask, spacing", [(figure_mask, 10.0), (comb_mask, 12.0), (blobs_mask, 8.0),
                                                (lambda: np.ones((60, 80), bool), 10.0)])
def test_mesh_covers_the_mask_and_nothing_else(make_mask, spacing: float) -> None:
    mask = make_mask()
    mesh = mesh_from_mask(mask, spacing)
    covered = triangle_index_map(mesh.vertices, mesh.triangles, mask.shape) >= 0
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), borderValue=0).astype(bool)
    assert not (inner & ~covered).any()  # every mask pixel but the outermost row
    assert (mask & ~covered).sum() < 0.25 * (mask & ~inner).sum()  # and most of that row (chords cut bends)
    assert not (covered & ~mask).any()
    assert (signed_areas(mesh.vertices, mesh.triangles) > 1e-3).all()


def test_mesh_is_clean(figure: tuple[np.ndarray, Mesh]) -> None:
    _, mesh = figure
    assert mesh.vertices.dtype == np.float64 and mesh.triangles.dtype == np.int32
    assert (signed_areas(mesh.vertices, mesh.triangles) > 1e-3).all()  # oriented, none degenerate
    assert np.array_equal(np.unique(mesh.triangles), np.arange(len(mesh.vertices)))  # every vertex used
    assert len(np.unique(np.sort(mesh.triangles, axis=1), axis=0)) == len(mesh.triangles)
    assert len(igl.flipped_triangles(mesh.vertices, mesh.triangles.astype(np.int64))) == 0


def test_mesh_never_bridges_a_gap(figure: tuple[np.ndarray, Mesh]) -> None:
    mask, mesh = figure
    points = np.round(edge_samples(mesh)).astype(int)
    outside = ~cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert not outside[points[:, 1], points[:, 0]].any()  # contour chords may graze the mask's edge, no more
    # the legs and the arm are only joined through the body: cut the body off and they fall apart
    body = mesh.vertices[:, 1] < 90
    legs_and_arm = mesh.triangles[~body[mesh.triangles].any(axis=1)]
    kept = np.unique(legs_and_arm)
    pieces = mesh_components(Mesh(mesh.vertices[kept], np.searchsorted(kept, legs_and_arm).astype(np.int32)))
    assert len(np.unique(pieces)) >= 3
    # the separate blob is its own component
    blob = np.linalg.norm(mesh.vertices - [30, 160], axis=1) < 10
    components = mesh_components(mesh)
    assert blob.any() and len(np.unique(components[blob])) == 1
    assert not np.isin(components[~blob], components[blob]).any()


def test_mesh_of_two_bars_3px_apart_has_two_pieces() -> None:
    mask = np.zeros((40, 100), bool)
    mask[5:35, 10:45] = True
    mask[5:35, 48:90] = True
    mesh = mesh_from_mask(mask, 8.0)
    side = mesh.vertices[:, 0] > 46
    assert (side[mesh.triangles].all(axis=1) | ~side[mesh.triangles].any(axis=1)).all()
    assert len(np.unique(mesh_components(mesh))) == 2


@pytest.mark.parametrize("offset", [0.0, 0.3, 0.5])
def test_rasterizer_covers_pixels_on_shared_edges(offset: float) -> None:
    """A grid of triangles whose edges pass through many pixel centres: every pixel between them is covered."""
    vertices, triangles = igl.triangulated_grid(15, 15)
    vertices = vertices * 14 * 7 + offset
    triangles = triangles.astype(np.int32)
    triangles = np.where((signed_areas(vertices, triangles) < 0)[:, None], triangles[:, [0, 2, 1]], triangles)
    index = triangle_index_map(vertices, triangles, (100, 100))
    assert (index[1:99, 1:99] >= 0).all()
    assert (index[99] < 0).all() and (index[:, 99] < 0).all()  # and nothing past the grid's edge at 98 + offset


def test_mesh_is_read_only_and_leaves_the_caller_s_arrays_alone() -> None:
    vertices, triangles = np.array([[0, 0], [4, 0], [0, 4]]), np.array([[0, 2, 1]])
    mesh = Mesh(vertices, triangles)
    assert mesh.vertices.dtype == np.float64 and mesh.triangles.dtype == np.int32
    with pytest.raises(ValueError):
        mesh.vertices[0, 0] = 1.0
    vertices[0, 0] = 1  # still the caller's to change


def test_mesh_rejects_an_empty_or_pixel_thin_mask() -> None:
    mask = np.zeros((10, 20), bool)
    with pytest.raises(ValueError):
        mesh_from_mask(mask, 5.0)
    mask[5, 2:18] = True
    with pytest.raises(ValueError):
        mesh_from_mask(mask, 5.0)


def test_vertex_labels_take_the_nearest_part_off_the_labels(figure: tuple[np.ndarray, Mesh]) -> None:
    mask, mesh = figure
    labels = np.full(mask.shape, -1, np.int32)
    labels[mask] = 0
    labels[mask & (np.arange(240)[None, :] >= 120)] = 1
    labels[0, 0] = 2  # far from every vertex
    labels[mask & ~cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)] = -1  # unlabelled rim
    parts = vertex_labels(mesh, labels)
    assert set(np.unique(parts)) == {0, 1}
    assert (parts == (mesh.vertices[:, 0] >= 120)).mean() > 0.98
    assert set(np.unique(triangle_labels(mesh, labels))) == {0, 1}


# ----------------------------------------------------------------------------- ARAP


def test_arap_rigid_motion_of_the_handles_moves_every_vertex_rigidly(bar: Mesh) -> None:
    left, right = bar_ends(bar)
    handles = np.concatenate([left, right])
    solver = ArapDeformer(bar, handles)
    motion = affine(1.1, (35.0, -20.0), centre=(210.0, 30.0))
    result = solver.solve(moved(bar.vertices[handles], motion))
    assert np.abs(result - moved(bar.vertices, motion)).max() < 1e-8
    # from a poor start too (the rest pose), given iterations
    result = solver.solve(moved(bar.vertices[handles], motion), initial=bar.vertices, iterations=300, tolerance=0)
    assert np.abs(result - moved(bar.vertices, motion)).max() < 0.05


def arc(points: np.ndarray, angle: float) -> np.ndarray:
    """The bar bent upwards into an arc of `angle` radians, keeping its centreline's length."""
    radius = BAR_LENGTH / angle
    turn = (points[:, 0] - 10) / radius
    across = radius + points[:, 1] - BAR_Y
    return np.stack([10 + across * np.sin(turn), BAR_Y - radius + across * np.cos(turn)], axis=1)


def test_arap_bent_bar_keeps_its_length_and_width_and_hits_its_handles(bar: Mesh) -> None:
    left, right = bar_ends(bar)
    handles = np.concatenate([left, right])
    targets = arc(bar.vertices[handles], np.pi / 3)
    weights = skinning_weights(bar, [left, right])
    ends = np.stack([affine(0.0, (0.0, 0.0)), rigid_fit(bar.vertices[right], targets[len(left):])])
    result = ArapDeformer(bar, handles).solve(targets, initial=blend(bar.vertices, weights, ends), iterations=150)
    assert np.abs(result[handles] - targets).max() < 1e-9
    xs = np.arange(10, 11 + BAR_LENGTH)
    centreline = through(bar, result, np.stack([xs, np.full(len(xs), BAR_Y)], axis=1).astype(float), (60, 420))
    assert np.linalg.norm(np.diff(centreline, axis=0), axis=1).sum() == pytest.approx(BAR_LENGTH, rel=0.01)
    for x in (110, 210, 310):
        top, bottom = through(bar, result, np.array([[x, BAR_Y - 10], [x, BAR_Y + 10]], float), (60, 420))
        assert np.linalg.norm(top - bottom) == pytest.approx(20.0, rel=0.02)
    assert deformation_stats(bar, result)["flipped_triangles"] == 0
    assert np.abs(result - arc(bar.vertices, np.pi / 3)).max() < 2.0  # it is the arc


def test_arap_stretched_bar_spreads_the_stretch_evenly(bar: Mesh) -> None:
    left, right = bar_ends(bar)
    handles = np.concatenate([left, right])
    targets = bar.vertices[handles] + np.where(np.isin(handles, right), 40.0, 0.0)[:, None] * [1.0, 0.0]
    result = ArapDeformer(bar, handles).solve(targets, iterations=100)
    assert np.abs(result[handles] - targets).max() < 1e-9
    xs = np.arange(10, 11 + BAR_LENGTH, 50)
    centreline = through(bar, result, np.stack([xs, np.full(len(xs), BAR_Y)], axis=1).astype(float), (60, 420))
    assert np.diff(centreline[:, 0]) == pytest.approx(np.full(len(xs) - 1, 55.0), abs=1.0)  # 10 % everywhere


def test_arap_piece_without_handles_follows_the_initial_guess() -> None:
    mask = np.zeros((40, 100), bool)
    mask[5:35, 5:40] = True
    mask[5:35, 60:95] = True
    mesh = mesh_from_mask(mask, 8.0)
    left = np.nonzero(mesh.vertices[:, 0] < 20)[0]
    solver = ArapDeformer(mesh, left)
    guess = mesh.vertices + [3.0, 4.0]
    result = solver.solve(mesh.vertices[left] + [3.0, 4.0], initial=guess)
    assert np.abs(result - guess).max() < 1e-8


def test_arap_rejects_bad_handles(bar: Mesh) -> None:
    with pytest.raises(ValueError):
        ArapDeformer(bar, np.array([], int))
    with pytest.raises(ValueError):
        ArapDeformer(bar, np.array([0, 0]))
    with pytest.raises(ValueError):
        ArapDeformer(bar, np.array([0, 1])).solve(np.zeros((3, 2)))
    with pytest.raises(ValueError):
        ArapDeformer(bar, np.array([0, 1])).solve(np.zeros((2, 2)), initial=np.zeros((5, 2)))


# ----------------------------------------------------------------------------- skinning weights


def test_weights_are_a_partition_of_unity_equal_to_one_on_their_handles(bar: Mesh) -> None:
    left, right = bar_ends(bar)
    middle = np.nonzero(np.abs(bar.vertices[:, 0] - 210) < 4)[0]
    weights = skinning_weights(bar, [left, middle, right])
    assert weights.shape == (len(bar.vertices), 3)
    assert (weights >= 0).all() and np.allclose(weights.sum(axis=1), 1.0)
    for k, group in enumerate([left, middle, right]):
        assert np.allclose(weights[group, k], 1.0)
    # smooth along the bar: the left group's weight falls steadily from its end to the middle
    x = bar.vertices[:, 0]
    quarter = weights[np.abs(x - 110) < 4, 0]
    assert 0.35 < quarter.mean() < 0.65 and np.ptp(quarter) < 0.1
    assert weights[x > 215, 0].max() < 1e-9


def test_weights_follow_the_mesh_not_the_plane() -> None:
    """A U: two prongs joined at the bottom. A point at the top of one prong is close to the other prong's tip
    but far from it through the shape, so it takes its own prong's weight."""
    mask = np.zeros((130, 80), bool)
    mask[10:120, 5:35] = True
    mask[10:120, 40:75] = True
    mask[100:120, 5:75] = True
    mesh = mesh_from_mask(mask, 6.0)
    v = mesh.vertices
    left_tip = np.nonzero((v[:, 1] < 14) & (v[:, 0] < 35))[0]
    right_tip = np.nonzero((v[:, 1] < 14) & (v[:, 0] > 40))[0]
    weights = skinning_weights(mesh, [left_tip, right_tip])
    near_left_tip = (v[:, 1] < 30) & (v[:, 0] > 40) & (v[:, 0] < 50)
    assert near_left_tip.any() and weights[near_left_tip, 0].max() < 0.2


def test_weights_stay_inside_allowed_parts(bar: Mesh) -> None:
    left, right = bar_ends(bar)
    allowed = np.stack([bar.vertices[:, 0] < 250, bar.vertices[:, 0] > 170], axis=1)
    weights = skinning_weights(bar, [left, right], allowed)
    assert (weights[~allowed] == 0).all() and np.allclose(weights.sum(axis=1), 1.0)


def test_weights_of_a_piece_without_handles_come_from_the_nearest_group() -> None:
    mask = np.zeros((40, 140), bool)
    mask[5:35, 5:40] = True
    mask[5:35, 50:80] = True
    mask[5:35, 100:135] = True
    mesh = mesh_from_mask(mask, 8.0)
    x = mesh.vertices[:, 0]
    weights = skinning_weights(mesh, [np.nonzero(x < 12)[0], np.nonzero(x > 128)[0]])
    assert np.allclose(weights[(x > 45) & (x < 85)], [1.0, 0.0])


def test_blend_reproduces_one_group_s_map_where_its_weight_is_one(bar: Mesh) -> None:
    maps = np.stack([affine(0.3, (5.0, 1.0)), affine(-0.2, (0.0, 9.0))])
    weights = np.zeros((len(bar.vertices), 2))
    weights[:, 1] = 1.0
    assert np.allclose(blend(bar.vertices, weights, maps), moved(bar.vertices, maps[1]))


# ----------------------------------------------------------------------------- rendering


def textured_square(size: int = 120, side: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A premultiplied RGBA image of a smooth-textured square with a 1 px soft edge, and its mask."""
    rng = np.random.default_rng(3)
    colour = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 3)
    colour = (colour - colour.min()) / np.ptp(colour)
    alpha = np.zeros((size, size), np.float32)
    start = (size - side) // 2
    alpha[start:start + side, start:start + side] = 1.0
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0.6)
    mask = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return np.dstack([colour * alpha[..., None], alpha]), mask


def test_identity_reproduces_the_image() -> None:
    image, mask = textured_square()
    mesh = mesh_from_mask(mask, 8.0)
    drawn = render_mesh(image, mesh, mesh.vertices, image.shape[:2])
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert drawn.dtype == np.float32 and drawn.shape == image.shape
    assert np.abs(drawn - image)[inner].max() < 1e-5
    assert np.abs(drawn - image).max() < 0.02  # the dilated mask's rim holds almost no alpha
    assert (drawn[~mask] == 0).all()


def test_translation_renders_the_image_translated() -> None:
    image, mask = textured_square()
    mesh = mesh_from_mask(mask, 8.0)
    drawn = render_mesh(image, mesh, mesh.vertices + [17.0, -9.0], image.shape[:2])
    shifted = np.zeros_like(image)
    shifted[:-9, 17:] = image[9:, :-17]
    assert np.abs(drawn - shifted).max() < 0.02
    # a sub-pixel shift matches a bilinear warp of the whole image
    drawn = render_mesh(image, mesh, mesh.vertices + [4.5, 2.25], image.shape[:2])
    warped = cv2.warpAffine(image, np.float32([[1, 0, 4.5], [0, 1, 2.25]]), image.shape[1::-1], flags=cv2.INTER_LINEAR)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    inner = np.roll(inner, (2, 4), axis=(0, 1))
    assert np.abs(drawn - warped)[inner].max() < 1e-3


def test_rotated_square_keeps_its_area_and_has_no_cracks() -> None:
    image, mask = textured_square()
    mesh = mesh_from_mask(mask, 8.0)
    motion = affine(np.radians(33.0), (0.0, 0.0), centre=(59.5, 59.5))
    drawn = render_mesh(image, mesh, moved(mesh.vertices, motion), image.shape[:2])
    assert drawn[..., 3].sum() == pytest.approx(image[..., 3].sum(), rel=0.01)
    # inside the turned square alpha is 1 everywhere: no pixel fell between two triangles
    inner = cv2.warpAffine(cv2.erode(mask.astype(np.uint8), np.ones((11, 11), np.uint8)), motion, (120, 120),
                           flags=cv2.INTER_NEAREST).astype(bool)
    assert drawn[..., 3][inner].min() > 0.999


def test_render_draws_over_a_canvas() -> None:
    image, mask = textured_square()
    mesh = mesh_from_mask(mask, 8.0)
    canvas = np.full(image.shape, 0.5, np.float32)
    result = render_mesh(image, mesh, mesh.vertices + [30.0, 0.0], image.shape[:2], out=canvas)
    alone = render_mesh(image, mesh, mesh.vertices + [30.0, 0.0], image.shape[:2])
    assert result is canvas
    assert np.allclose(canvas, alone + 0.5 * (1.0 - alone[..., 3:4]), atol=1e-6)


def test_stats_count_flips_as_igl_does_and_measure_stretch(bar: Mesh) -> None:
    stats = deformation_stats(bar, moved(bar.vertices, affine(0.7, (5.0, 5.0))))
    assert stats["flipped_triangles"] == 0
    assert stats["max_stretch"] == pytest.approx(1.0) and stats["mean_stretch"] == pytest.approx(1.0)
    stretched = bar.vertices * [2.0, 1.0]
    stats = deformation_stats(bar, stretched)
    assert stats["max_stretch"] == pytest.approx(2.0) and stats["mean_stretch"] == pytest.approx(2.0)
    assert stats["stretch_p99"] == pytest.approx(2.0)
    squashed = bar.vertices * [1.0, 0.5]
    assert deformation_stats(bar, squashed)["max_stretch"] == pytest.approx(2.0)
    fine = mesh_from_mask(bar_mask(), 3.0)
    folded = fine.vertices.copy()
    inner = np.nonzero((np.abs(folded[:, 0] - 200) < 2) & (np.abs(folded[:, 1] - BAR_Y) < 5))[0][:1]
    folded[inner] += [0.0, 20.0]  # dragged across its neighbours: the triangles around it turn over
    stats = deformation_stats(fine, folded)
    expected = len(igl.flipped_triangles(folded, fine.triangles.astype(np.int64)))
    assert stats["flipped_triangles"] == expected > 0
    assert np.isfinite(stats["max_stretch"]) and stats["max_stretch"] > 2.0
    assert stats["stretch_p99"] < 1.01  # a handful of triangles out of thousands
