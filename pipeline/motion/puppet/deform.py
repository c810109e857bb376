"""One layer as a deformable puppet: a triangle mesh of its pixels, cut apart between parts that only touch (an arm
lying against the dress, a lock of hair beside an arm) and joined only around their joints; every vertex away from a
joint is a handle carried rigidly by its part's bone, and the vertices around joints are solved as rigidly as
possible between them, starting from the parts' maps blended by harmonic skinning weights. Prefactored once per
product; per frame one ARAP solve and one render."""
from __future__ import annotations

import numpy as np

from pipeline.motion.puppet.arap import ArapDeformer
from pipeline.motion.puppet.layers import JointZone, Layer
from pipeline.motion.puppet.mesh import Mesh, mesh_from_mask, vertex_labels
from pipeline.motion.puppet.render import deformation_stats, render_mesh
from pipeline.motion.puppet.pixels import pixel_at
from pipeline.motion.puppet.skeleton import apply
from pipeline.motion.puppet.skinning import blend, skinning_weights


def _owner(labels: np.ndarray, triangle_points: np.ndarray, corner_labels: np.ndarray) -> int:
    """A mixed triangle's part: the label under its centroid, else its corners' majority."""
    cx, cy = np.round(triangle_points.mean(axis=0)).astype(int)
    if 0 <= cy < labels.shape[0] and 0 <= cx < labels.shape[1] and labels[cy, cx] in corner_labels:
        return int(labels[cy, cx])
    values, counts = np.unique(corner_labels, return_counts=True)
    return int(values[np.argmax(counts)])


def _in_zone(points: np.ndarray, zone: JointZone) -> np.ndarray:
    if zone.centre is None:
        return np.ones(len(points), bool)
    return np.linalg.norm(points - zone.centre[None], axis=1) <= zone.radius


def cut_mesh(mesh: Mesh, labels: np.ndarray, zones: list[JointZone]) -> tuple[Mesh, np.ndarray]:
    """The mesh with triangles spanning two parts split off to one side (by duplicating the other side's
    vertices), unless the parts are joined and the triangle lies in their joint's zone. Returns the cut mesh and
    its per-vertex part labels."""
    vertex_part = vertex_labels(mesh, labels)
    vertices = [mesh.vertices]
    parts = [vertex_part]
    triangles = mesh.triangles.copy()
    copies: dict[tuple[int, int], int] = {}
    count = len(mesh.vertices)
    zone_of = {tuple(sorted(z.parts)): z for z in zones}
    corners = vertex_part[triangles]
    for t in np.nonzero((corners != corners[:, :1]).any(axis=1))[0]:
        tri = triangles[t]
        points = mesh.vertices[tri]
        present = tuple(sorted(set(int(v) for v in corners[t])))
        zone = zone_of.get(present) if len(present) == 2 else None
        if zone is not None and _in_zone(points.mean(axis=0)[None], zone)[0]:
            continue
        owner = _owner(labels, points, corners[t])
        for slot in range(3):
            vertex = int(tri[slot])
            if vertex_part[vertex] == owner:
                continue
            key = (vertex, owner)
            if key not in copies:
                copies[key] = count
                count += 1
                vertices.append(mesh.vertices[vertex][None])
                parts.append(np.array([owner]))
            triangles[t, slot] = copies[key]
    return Mesh(np.concatenate(vertices), triangles.astype(np.int32)), np.concatenate(parts).astype(np.int32)


def free_vertices(vertices: np.ndarray, parts: np.ndarray, zones: list[JointZone],
                  seam_distance: dict[int, np.ndarray] | None = None, seam_px: float = 0.0) -> np.ndarray:
    """Vertices left to the ARAP solve: those in a joint's zone of a joint their part takes part in (for a user
    clip's regions: within `seam_px` of a joined region, by that region's distance map)."""
    free = np.zeros(len(vertices), bool)
    for zone in zones:
        mine = np.isin(parts, zone.parts)
        if zone.centre is not None:
            free |= mine & _in_zone(vertices, zone)
        elif seam_distance is not None:
            for this, other in (zone.parts, zone.parts[::-1]):
                near = pixel_at(seam_distance[other], vertices) <= seam_px
                free |= (parts == this) & near
    return free


class LayerPuppet:
    """A layer's cut mesh, its handles and its prefactored ARAP solver."""

    def __init__(self, layer: Layer, zones: list[JointZone], spacing: float,
                 seam_distance: dict[int, np.ndarray] | None = None, seam_px: float = 0.0) -> None:
        self.layer = layer
        region = layer.own | layer.hidden | (layer.premultiplied[..., 3] > 0)
        local = [z for z in zones if z.parts[0] in layer.parts and z.parts[1] in layer.parts]
        self.mesh, self.parts = cut_mesh(mesh_from_mask(region, spacing), layer.labels, local)
        free = free_vertices(self.mesh.vertices, self.parts, local, seam_distance, seam_px)
        self.handles = np.nonzero(~free)[0]
        self.solver = ArapDeformer(self.mesh, self.handles) if free.any() and len(self.handles) else None
        # harmonic skinning weights (they stay inside the mesh, so inside the parts a joint joins) blend the
        # parts' maps into the start of each frame's solve
        self.handle_parts = np.unique(self.parts[self.handles])
        groups = [self.handles[self.parts[self.handles] == part] for part in self.handle_parts]
        self.weights = skinning_weights(self.mesh, groups) if self.solver is not None else None

    def _carried(self, part_maps: np.ndarray, vertices: np.ndarray) -> np.ndarray:
        """The given vertices (indices) each moved by its own part's map."""
        moved = np.empty((len(vertices), 2))
        parts = self.parts[vertices]
        for part in np.unique(parts):
            members = parts == part
            moved[members] = apply(part_maps[part], self.mesh.vertices[vertices[members]])
        return moved

    def pose(self, part_maps: np.ndarray) -> np.ndarray:
        """Deformed vertex positions for (P, 3, 3) part maps: handles carried by their part, the rest solved from
        the skinning blend of the parts' maps."""
        if self.solver is None:
            return self._carried(part_maps, np.arange(len(self.mesh.vertices)))
        start = blend(self.mesh.vertices, self.weights, part_maps[self.handle_parts])
        return self.solver.solve(self._carried(part_maps, self.handles), start)

    def draw(self, part_maps: np.ndarray, out: np.ndarray) -> dict:
        """Draw the posed layer over `out` (premultiplied RGBA, in place); returns its deformation facts."""
        deformed = self.pose(part_maps)
        render_mesh(self.layer.premultiplied, self.mesh, deformed, out.shape[:2], out=out)
        return deformation_stats(self.mesh, deformed)
