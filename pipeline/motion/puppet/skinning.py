"""Skinning weights on a mesh and linear blend skinning.

Weights are harmonic functions on the mesh (cotangent Laplacian, `igl.harmonic`): 1 on a group's handle vertices,
0 on the other groups' handles. They spread through the mesh's triangles, not through the plane, so a weight does
not jump the gap between two legs; harmonic functions of such boundary values lie in [0, 1] and sum to one.
"""
from __future__ import annotations

import igl
import numpy as np

from pipeline.motion.puppet.mesh import Mesh, mesh_components


def skinning_weights(mesh: Mesh, handle_groups: list[np.ndarray], allowed: np.ndarray | None = None) -> np.ndarray:
    """(N, K) weights of K handle groups (arrays of vertex indices), nonnegative, rows summing to one.

    A component of the mesh without any handle takes, whole, the weights of the group whose handle is nearest.
    `allowed` (N, K) bool zeroes the weights of group k where it is False and renormalises (a vertex allowed
    no group keeps its harmonic weights).
    """
    vertices = np.asarray(mesh.vertices, np.float64)
    groups = [np.asarray(g, np.int64) for g in handle_groups]
    count = len(groups)
    if count == 0 or any(len(g) == 0 for g in groups):
        raise ValueError("every handle group needs at least one vertex")
    handles = np.concatenate(groups)
    if len(np.unique(handles)) != len(handles):
        raise ValueError("a vertex belongs to two handle groups")
    group_of = np.repeat(np.arange(count), [len(g) for g in groups])
    weights = np.zeros((len(vertices), count))
    component = mesh_components(mesh)
    triangles = np.asarray(mesh.triangles, np.int64)
    for c in np.unique(component):
        members = np.nonzero(component == c)[0]
        held = np.isin(handles, members)
        if not held.any():
            nearest = np.argmin(np.linalg.norm(vertices[handles][:, None] - vertices[members][None], axis=2).min(axis=1))
            weights[members, group_of[nearest]] = 1.0
            continue
        weights[members] = _harmonic(vertices, triangles, members, component == c, handles[held], group_of[held], count)
    weights = np.clip(weights, 0.0, None)  # obtuse triangles can push harmonic values a hair below zero
    if allowed is not None:
        kept = np.where(allowed, weights, 0.0)
        weights = np.where(kept.sum(axis=1, keepdims=True) > 1e-9, kept, weights)
    return weights / weights.sum(axis=1, keepdims=True)


def _harmonic(vertices: np.ndarray, triangles: np.ndarray, members: np.ndarray, in_component: np.ndarray,
              handles: np.ndarray, group_of: np.ndarray, count: int) -> np.ndarray:
    """Harmonic weights on one connected component (renumbered, since igl needs every vertex constrained)."""
    local = np.full(len(vertices), -1, np.int64)
    local[members] = np.arange(len(members))
    faces = local[triangles[in_component[triangles[:, 0]]]]
    boundary = np.eye(count)[group_of]
    if len(np.unique(group_of)) == 1:  # one group: the harmonic function is that constant
        return np.repeat(boundary[:1], len(members), axis=0)
    return igl.harmonic(vertices[members], faces, local[handles], boundary, 1)


def blend(vertices: np.ndarray, weights: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Linear blend skinning: (N, 2) points moved by the weighted sum of K affine maps (K, 2, 3) or (K, 3, 3)."""
    moved = np.einsum("kij,nj->nki", affines[:, :2, :2], vertices) + affines[None, :, :2, 2]  # (N, K, 2)
    return np.einsum("nk,nki->ni", weights, moved)
