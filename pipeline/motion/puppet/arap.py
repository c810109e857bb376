"""As-rigid-as-possible deformation of a 2D triangle mesh with fixed handle vertices.

The energy is the per-triangle one (each triangle's edges should be its rest edges turned by one rotation,
weighted by cotangents; Sorkine & Alexa 2007 with triangles as the rigid cells, Liu et al. 2008), minimised by
alternating a closed-form 2D rotation fit per triangle with one linear solve. The linear system depends only on the
rest mesh and which vertices are fixed, so it is factored once per mesh; a frame costs a few back-substitutions.

Vertices of a connected component that holds no handle cannot be placed by the solve; they keep the positions of
the initial guess (the caller's skinning or previous frame), so such a piece moves with that guess.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix, diags
from scipy.sparse.linalg import splu

from pipeline.motion.puppet.mesh import Mesh, mesh_components

MIN_COTANGENT = 1e-3  # clamp: obtuse angles' negative cotangents would make the system indefinite
ITERATIONS = 10
TOLERANCE = 1e-3  # px: stop once no vertex moved more than this in an iteration


def rigid_fit(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 rotation + translation taking `source` (K, 2) closest to `target` in least squares (K >= 1)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    s, t = source - source_mean, target - target_mean
    dot = np.sum(s * t)
    cross = np.sum(s[:, 0] * t[:, 1] - s[:, 1] * t[:, 0])
    norm = np.hypot(dot, cross)
    cos, sin = (dot / norm, cross / norm) if norm > 1e-12 else (1.0, 0.0)
    rotation = np.array([[cos, -sin], [sin, cos]])
    return np.hstack([rotation, (target_mean - rotation @ source_mean)[:, None]])


class ArapDeformer:
    """Prefactored ARAP solver for one mesh and one set of handle vertices."""

    def __init__(self, mesh: Mesh, handles: np.ndarray) -> None:
        handles = np.asarray(handles, np.int64)
        count = len(mesh.vertices)
        if len(handles) == 0 or len(np.unique(handles)) != len(handles):
            raise ValueError("ARAP needs at least one handle and no handle twice")
        if handles.min() < 0 or handles.max() >= count:
            raise ValueError("ARAP handle index out of range")
        self.rest = np.array(mesh.vertices, np.float64)
        self.handles = handles
        component = mesh_components(mesh)
        unanchored = ~np.isin(component, component[handles])
        unanchored[handles] = False
        self.carried = np.nonzero(unanchored)[0]  # in components without a handle: kept at the initial guess
        fixed = np.zeros(count, bool)
        fixed[handles] = True
        fixed[self.carried] = True
        self.free = np.nonzero(~fixed)[0]
        self.fixed = np.concatenate([handles, self.carried])

        triangles = np.asarray(mesh.triangles, np.int64)
        # edge k of a triangle is opposite its corner k: it runs from corner k+1 to corner k+2
        edge_from, edge_to = triangles[:, [1, 2, 0]].ravel(), triangles[:, [2, 0, 1]].ravel()
        rest_edges = (self.rest[edge_from] - self.rest[edge_to]).reshape(-1, 3, 2)
        weights = 0.5 * self._cotangents(rest_edges).ravel()  # (3M,) one per triangle edge
        m = len(triangles)
        weighted_rest = weights[:, None] * rest_edges.reshape(-1, 2)
        # Everything the iterations need is linear in the vertices, through two (M, N) matrices: row t of
        # `along_x` is sum_k w_k rx_k (delta_from_k - delta_to_k) over triangle t's edges k (and `along_y` with ry).
        # Local step: trace and antisymmetric part of triangle t's sum_k w_k e_k r_k^T come from them; global
        # step: b = sum_k w_k R_t r_k at each edge's ends is their transpose applied to the rotations' (c, s).
        triangle_of = np.repeat(np.arange(m), 3)
        rows = np.concatenate([triangle_of, triangle_of])
        cols = np.concatenate([edge_from, edge_to])
        self._along_x = csr_matrix((np.concatenate([weighted_rest[:, 0], -weighted_rest[:, 0]]), (rows, cols)),
                                   shape=(m, count))
        self._along_y = csr_matrix((np.concatenate([weighted_rest[:, 1], -weighted_rest[:, 1]]), (rows, cols)),
                                   shape=(m, count))
        self._gather_x = self._along_x[:, self.free].T.tocsr()
        self._gather_y = self._along_y[:, self.free].T.tocsr()
        w = np.concatenate([weights, weights])
        off_diagonal = coo_matrix((-w, (cols, np.concatenate([edge_to, edge_from]))), shape=(count, count)).tocsr()
        laplacian = (off_diagonal - diags(off_diagonal.sum(axis=1).A1)).tocsr()
        self._coupling = laplacian[self.free][:, self.fixed]
        self._factor = splu(laplacian[self.free][:, self.free].tocsc()) if len(self.free) else None

    @staticmethod
    def _cotangents(edges: np.ndarray) -> np.ndarray:
        """(M, 3) cotangent of each triangle's angle at corner k, between its edges k+1 and k+2."""
        a, b = -edges[:, [2, 0, 1]], edges[:, [1, 2, 0]]  # the two edges leaving corner k
        dot = np.sum(a * b, axis=-1)
        cross = np.abs(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0])
        return np.maximum(dot / np.maximum(cross, 1e-12), MIN_COTANGENT)

    def initial_guess(self, targets: np.ndarray) -> np.ndarray:
        """The rest mesh moved by the rigid map that best takes the handles to their targets."""
        affine = rigid_fit(self.rest[self.handles], targets)
        return self.rest @ affine[:, :2].T + affine[:, 2]

    def solve(self, targets: np.ndarray, initial: np.ndarray | None = None, iterations: int = ITERATIONS,
              tolerance: float = TOLERANCE) -> np.ndarray:
        """(N, 2) deformed vertices with handle k at targets[k]; starts from `initial` (N, 2) (previous frame or a
        skinning guess), else from the rest mesh moved rigidly onto the targets."""
        targets = np.asarray(targets, np.float64)
        if targets.shape != (len(self.handles), 2):
            raise ValueError(f"ARAP targets must be ({len(self.handles)}, 2), got {targets.shape}")
        current = self.initial_guess(targets) if initial is None else np.array(initial, np.float64)
        if current.shape != self.rest.shape:
            raise ValueError(f"ARAP initial positions must be {self.rest.shape}, got {current.shape}")
        current[self.handles] = targets
        if self._factor is None:
            return current
        fixed_term = self._coupling @ current[self.fixed]
        for _ in range(iterations):
            cos, sin = self._rotations(current)
            rhs = np.stack([self._gather_x @ cos - self._gather_y @ sin, self._gather_x @ sin + self._gather_y @ cos],
                           axis=1)
            solved = self._factor.solve(rhs - fixed_term)
            change = np.abs(solved - current[self.free]).max()
            current[self.free] = solved
            if change < tolerance:
                break
        return current

    def _rotations(self, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per triangle, the rotation (cos, sin) closest to the map from its rest edges to its current edges."""
        along_x, along_y = self._along_x @ current, self._along_y @ current  # (M, 2) each
        # the best rotation angle of sum_k w_k e_k r_k^T is atan2(its antisymmetric part, its trace)
        trace = along_x[:, 0] + along_y[:, 1]
        turn = along_x[:, 1] - along_y[:, 0]
        norm = np.hypot(trace, turn)
        safe = np.where(norm > 1e-12, norm, np.inf)
        return np.where(norm > 1e-12, trace / safe, 1.0), turn / safe
