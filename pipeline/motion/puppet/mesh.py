"""Triangle meshes of a matte: contour and grid points, Delaunay, only triangles inside the mask.

Coordinates are pixels, x to the right and y down, pixel centres at integers. Every triangle has a positive
signed area in (x, y), `(x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0) > 0`, which is clockwise as seen on
screen (y points down); `igl.flipped_triangles` counts the triangles whose area turned negative.

Delaunay does not keep the contour's edges, so a triangle may cut a concavity or span the gap between two
legs; such triangles are dropped, and where that leaves mask pixels uncovered the contour is sampled more
densely there and the mesh rebuilt, until the mask is covered up to its outermost pixel row.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.ndimage import distance_transform_edt
from scipy.spatial import Delaunay, QhullError

CONTOUR_TOLERANCE = 0.5  # px: how far the contour's pixel centres may stray from the chords that replace them
EDGE_STEP = 0.25  # px between samples along an edge tested against the mask (finds gaps 1 px wide)
INSIDE_LEVEL = 0.2  # bilinear mask value above which an edge sample counts as inside
MIN_AREA = 1e-3  # px^2: smaller triangles are degenerate
REFINE_ROUNDS = 6  # at most this many re-samplings of the contour where pixels were left uncovered


@dataclass(frozen=True, eq=False)
class Mesh:
    vertices: np.ndarray  # (N, 2) float64, x and y in pixels
    triangles: np.ndarray  # (M, 3) int32, positive signed area in (x, y): clockwise on screen

    def __post_init__(self) -> None:
        # read-only views: a mesh cannot change under a solver prefactored on it, and the caller's arrays stay writable
        for name, dtype in (("vertices", np.float64), ("triangles", np.int32)):
            view = np.asarray(getattr(self, name), dtype).view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(M,) signed triangle areas in px^2; positive for this module's orientation."""
    p0, p1, p2 = (points[triangles[:, k]] for k in range(3))
    return 0.5 * ((p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (p1[:, 1] - p0[:, 1]))


def mesh_from_mask(mask: np.ndarray, spacing: float) -> Mesh:
    """A mesh covering `mask` (H, W) bool, with edges about `spacing` px long; several components are fine.

    Contour points (outer contours and holes) are placed every `spacing` px and more densely where the contour
    bends; interior points lie on a hexagonal grid at least spacing/2 inside. Raises ValueError for an empty mask
    or one too thin (a pixel wide) to hold a triangle.
    """
    if mask.ndim != 2 or not mask.any():
        raise ValueError("mesh_from_mask needs a non-empty 2D mask")
    if spacing < 2.0:
        raise ValueError(f"mesh spacing {spacing} px is below 2 px")
    mask_u8 = mask.astype(np.uint8)
    contours = [c[:, 0, :].astype(np.float64)
                for c in cv2.findContours(mask_u8, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)[0]]
    samples = [_initial_samples(contour, spacing) for contour in contours]
    interior = _interior_points(mask_u8, spacing)
    mask_float = mask_u8.astype(np.float32)
    must_cover = cv2.erode(mask_u8, np.ones((3, 3), np.uint8), borderValue=0).astype(bool)
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(spacing) + 1,) * 2)
    for _ in range(REFINE_ROUNDS):
        points = np.concatenate([c[s] for c, s in zip(contours, samples)] + [interior])
        points, triangles = _triangles_inside(points, mask_float)
        index = triangle_index_map(points, triangles, mask.shape)
        uncovered = must_cover & (index < 0)
        if not uncovered.any():
            break
        near_gap = cv2.dilate(uncovered.astype(np.uint8), reach).astype(bool)
        refined = [_split_flagged(c, s, near_gap[c[:, 1].astype(int), c[:, 0].astype(int)])
                   for c, s in zip(contours, samples)]
        if all(len(r) == len(s) for r, s in zip(refined, samples)):
            break
        samples = refined
    if len(triangles) == 0:
        raise ValueError("the mask is too thin to hold a triangle")
    return Mesh(points, triangles)


def _arc_length(contour: np.ndarray) -> np.ndarray:
    steps = np.linalg.norm(np.diff(contour, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _initial_samples(contour: np.ndarray, spacing: float) -> np.ndarray:
    """Sorted indices into the closed contour: every `spacing` px of arc, then split where a chord strays."""
    if len(contour) < 3:
        return np.arange(len(contour))
    arc = _arc_length(contour)
    count = max(3, int(np.ceil((arc[-1] + np.linalg.norm(contour[-1] - contour[0])) / spacing)))
    indices = np.unique(np.searchsorted(arc, np.linspace(0.0, arc[-1], count, endpoint=False)))
    while True:
        deviation = _chord_deviation(contour, indices)
        refined = _split_flagged(contour, indices, deviation > CONTOUR_TOLERANCE)
        if len(refined) == len(indices):
            return indices
        indices = refined


def _segment_of(count: int, indices: np.ndarray) -> np.ndarray:
    """For every contour point, the sample segment it lies on (segment k runs from indices[k] to the next)."""
    segment = np.searchsorted(indices, np.arange(count), side="right") - 1
    return np.where(segment < 0, len(indices) - 1, segment)  # points before the first sample close the loop


def _chord_deviation(contour: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Each contour point's distance from the chord of its sample segment."""
    segment = _segment_of(len(contour), indices)
    start = contour[indices[segment]]
    end = contour[indices[(segment + 1) % len(indices)]]
    direction = end - start
    length = np.linalg.norm(direction, axis=1)
    offset = contour - start
    cross = np.abs(direction[:, 0] * offset[:, 1] - direction[:, 1] * offset[:, 0])
    return np.where(length > 0, cross / np.maximum(length, 1e-12), np.linalg.norm(offset, axis=1))


def _split_flagged(contour: np.ndarray, indices: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Halve (by point count) every sample segment that holds a flagged contour point and is long enough."""
    if len(indices) < 2:
        return indices
    segment = _segment_of(len(contour), indices)
    hit = np.zeros(len(indices), bool)
    hit[segment[flagged]] = True
    starts = indices[hit]
    ends = np.append(indices[1:], indices[0] + len(contour))[hit]
    long_enough = ends - starts >= 2
    middles = ((starts + ends) // 2)[long_enough] % len(contour)
    return np.union1d(indices, middles)


def _interior_points(mask_u8: np.ndarray, spacing: float) -> np.ndarray:
    """Hexagonal grid points at least spacing/2 inside the mask."""
    depth = cv2.distanceTransform(mask_u8, cv2.DIST_L2, 5)
    height, width = mask_u8.shape
    row_step = spacing * np.sqrt(3.0) / 2.0
    ys = np.arange(0.0, height - 1, row_step)
    xs = np.arange(0.0, width - 1, spacing)
    grid_x = xs[None, :] + (np.arange(len(ys)) % 2)[:, None] * (spacing / 2.0)
    grid_y = np.broadcast_to(ys[:, None], grid_x.shape)
    points = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    points = points[points[:, 0] <= width - 1]
    keep = depth[np.round(points[:, 1]).astype(int), np.round(points[:, 0]).astype(int)] >= spacing / 2.0
    return points[keep]


def _inside(mask_float: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear mask value at each point (0 outside the image) is above INSIDE_LEVEL."""
    count = len(points)
    width = 4096  # cv2.remap takes maps under 32767 columns: lay the points out in rows
    coords = np.full((max(-(-count // width), 1), width, 2), -1.0, np.float32)
    coords.reshape(-1, 2)[:count] = points
    values = cv2.remap(mask_float, coords[..., 0], coords[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return values.ravel()[:count] > INSIDE_LEVEL


def _triangles_inside(points: np.ndarray, mask_float: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Delaunay triangles of `points` whose centroid and edges lie in the mask, oriented, on used vertices only."""
    points = np.unique(points, axis=0)
    try:
        triangles = Delaunay(points).simplices
    except QhullError:  # fewer than three points, or all on one line: a mask a pixel thin
        return points[:0], np.zeros((0, 3), np.int32)
    area = signed_areas(points, triangles)
    triangles = np.where((area < 0)[:, None], triangles[:, [0, 2, 1]], triangles)
    keep = (np.abs(area) > MIN_AREA) & _inside(mask_float, points[triangles].mean(axis=1))
    triangles = triangles[keep]
    edges = np.sort(triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    unique_edges, edge_of = np.unique(edges, axis=0, return_inverse=True)
    edge_ok = _edges_inside(points, unique_edges, mask_float)
    triangles = triangles[edge_ok[edge_of.reshape(-1, 3)].all(axis=1)]
    used = np.unique(triangles)
    remap = np.full(len(points), -1, np.int64)
    remap[used] = np.arange(len(used))
    return points[used], remap[triangles].astype(np.int32)


def _edges_inside(points: np.ndarray, edges: np.ndarray, mask_float: np.ndarray) -> np.ndarray:
    """Whether every sample along each edge (EDGE_STEP apart, endpoints excluded) is inside the mask."""
    start, end = points[edges[:, 0]], points[edges[:, 1]]
    counts = np.maximum(np.ceil(np.linalg.norm(end - start, axis=1) / EDGE_STEP).astype(np.int64), 2) - 1
    edge_id = np.repeat(np.arange(len(edges)), counts)
    first = np.cumsum(counts) - counts
    t = (np.arange(counts.sum()) - np.repeat(first, counts) + 1) / np.repeat(counts + 1, counts)
    samples = start[edge_id] + t[:, None] * (end - start)[edge_id]
    outside = np.bincount(edge_id, weights=~_inside(mask_float, samples), minlength=len(edges))
    return outside == 0


@dataclass(frozen=True)
class Runs:
    """Horizontal runs of pixels covered by triangles: run r covers `length[r]` pixels of row `y[r]` from column
    `x[r]`, inside triangle `triangle[r]`."""

    y: np.ndarray  # (R,) float64
    x: np.ndarray  # (R,) float64, first column
    length: np.ndarray  # (R,) int64
    triangle: np.ndarray  # (R,) int64

    def pixels(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(P,) flat index of every covered pixel, run after run, and (P,) its column offset within its run."""
        offsets = np.arange(self.length.sum()) - np.repeat(np.cumsum(self.length) - self.length, self.length)
        return np.repeat((self.y * width + self.x).astype(np.int64), self.length) + offsets, offsets


def rasterize(points: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> Runs:
    """The pixels whose centres lie in each triangle (edges included), as runs along rows.

    Scanline rasterisation, vectorised over all rows of all triangles. Each edge's crossing of a row is computed
    from its upper endpoint whichever triangle asks, so two triangles sharing an edge agree on it bit for bit
    and no pixel between them is lost. Triangles must have positive signed area (this module's orientation);
    others cover nothing. Runs of later triangles come later.
    """
    height, width = shape
    xs, ys = points[:, 0][triangles].T, points[:, 1][triangles].T  # (3, M): corner k of every triangle
    area = 0.5 * ((xs[1] - xs[0]) * (ys[2] - ys[0]) - (xs[2] - xs[0]) * (ys[1] - ys[0]))
    y_low = np.maximum(np.ceil(ys.min(axis=0)), 0)
    y_high = np.minimum(np.floor(ys.max(axis=0)), height - 1)
    rows = np.where(area > 0, y_high - y_low + 1, 0).clip(0).astype(np.int64)
    # edge k runs from corner k to corner k+1; per edge: its upper endpoint, slope dx/dy and the side it bounds
    x_end, y_end = xs[[1, 2, 0]], ys[[1, 2, 0]]
    rising = y_end > ys  # with positive area the interior lies left of a rising edge (x <= its crossing)
    top_x, top_y = np.where(rising, xs, x_end), np.where(rising, ys, y_end)
    dy = np.abs(y_end - ys)
    flat = dy == 0  # a horizontal edge bounds only rows, which y_low/y_high already do
    slope = (np.where(rising, x_end, xs) - top_x) / np.where(flat, 1.0, dy)
    above = np.where(rising & ~flat, 0.0, np.inf)  # added to an edge's crossing: the edges that bound x from above
    below = np.where(~rising & ~flat, 0.0, -np.inf)  # ... and from below

    tri = np.repeat(np.arange(len(area)), rows)
    y = np.repeat(y_low, rows) + (np.arange(rows.sum()) - np.repeat(np.cumsum(rows) - rows, rows))
    x_low = np.full(len(y), -np.inf)
    x_high = np.full(len(y), np.inf)
    for k in range(3):
        crossing = top_x[k][tri] + (y - top_y[k][tri]) * slope[k][tri]
        np.minimum(x_high, crossing + above[k][tri], out=x_high)
        np.maximum(x_low, crossing + below[k][tri], out=x_low)
    col_low = np.maximum(np.ceil(x_low), 0)
    length = np.maximum(np.minimum(np.floor(x_high), width - 1) - col_low + 1, 0).astype(np.int64)
    keep = length > 0
    return Runs(y[keep], col_low[keep], length[keep], tri[keep])


def triangle_index_map(points: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int32: the index of a triangle covering each pixel centre, -1 where none does."""
    runs = rasterize(points, triangles, shape)
    index = np.full(shape[0] * shape[1], -1, np.int32)
    index[runs.pixels(shape[1])[0]] = np.repeat(runs.triangle, runs.length)
    return index.reshape(shape)


def mesh_components(mesh: Mesh) -> np.ndarray:
    """(N,) int: the connected component of every vertex (components share no edge)."""
    t = mesh.triangles
    rows = np.concatenate([t[:, 0], t[:, 1], t[:, 2]])
    cols = np.concatenate([t[:, 1], t[:, 2], t[:, 0]])
    n = len(mesh.vertices)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def sample_labels(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The label (>= 0) at each point's pixel, or of the nearest labelled pixel where that one is unlabelled (< 0).

    Raises ValueError when no pixel is labelled.
    """
    unlabelled = labels < 0
    if unlabelled.all():
        raise ValueError("the label image has no labelled pixel")
    height, width = labels.shape
    cols = np.clip(np.round(points[:, 0]).astype(int), 0, width - 1)
    rows = np.clip(np.round(points[:, 1]).astype(int), 0, height - 1)
    found = labels[rows, cols]
    missing = found < 0
    if missing.any():
        nearest_row, nearest_col = distance_transform_edt(unlabelled, return_distances=False, return_indices=True)
        found[missing] = labels[nearest_row[rows[missing], cols[missing]], nearest_col[rows[missing], cols[missing]]]
    return found


def vertex_labels(mesh: Mesh, labels: np.ndarray) -> np.ndarray:
    """(N,) int: each vertex's part in the label image (H, W) int (< 0 = none), nearest part off the labels."""
    return sample_labels(mesh.vertices, labels)


def triangle_labels(mesh: Mesh, labels: np.ndarray) -> np.ndarray:
    """(M,) int: the part at each triangle's centroid, nearest part off the labels."""
    return sample_labels(mesh.vertices[mesh.triangles].mean(axis=1), labels)
