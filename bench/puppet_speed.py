"""Speed of the puppet stage's deformation core on an 800 px crop, one thread.

A synthetic horse fills an 800 px crop (~27 % of it). Its near legs are one layer, joined to a patch of the body
around their hips; the rest of the horse is the other layer. Each layer is meshed, weighted and prefactored;
then each of `--frames` frames swings the near fore leg (hip and knee) and the near hind leg, moves the handles
(every vertex away from a joint, carried by its part) and times the ARAP solve of every layer, the rendering of
both layers into one canvas, and the deformation facts.

    PYTHONPATH=$PWD python bench/puppet_speed.py [--frames 48] [--spacing 12.5] [--png /tmp/puppet_speed.png]

Prints the per-product set-up seconds and per-frame milliseconds (median and p95).
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.motion.puppet.arap import ArapDeformer  # noqa: E402
from pipeline.motion.puppet.mesh import Mesh, mesh_from_mask, vertex_labels  # noqa: E402
from pipeline.motion.puppet.render import deformation_stats, render_mesh  # noqa: E402
from pipeline.motion.puppet.skinning import blend, skinning_weights  # noqa: E402
from pipeline.synthetic import articulated as A  # noqa: E402

CROP = 800
RENDER_SIZE = 1150  # the horse at this canvas size fills about a quarter of an 800 px crop
FRONT_PARTS = ("fore_near_upper", "fore_near_lower", "hind_near_upper", "hind_near_lower")
JOINTS = {"fore_near_upper": "body", "fore_near_lower": "fore_near_upper",
          "hind_near_upper": "body", "hind_near_lower": "hind_near_upper"}  # child part -> the part it pivots on
ZONE_WIDTHS = 1.3  # a joint's free zone: this many limb half-widths around it
HIP_PATCH = 2.5  # the front layer takes the body within this many zone radii of a near hip


@dataclass
class Product:
    premultiplied: np.ndarray  # (800, 800, 4) float32
    labels: np.ndarray  # (800, 800) int, part index, -1 off the figure
    names: list[str]
    joints: dict[str, np.ndarray]  # part name -> its pivot in crop pixels
    zone: dict[str, float]  # part name -> free-zone radius around its pivot


@dataclass
class Layer:
    mesh: Mesh
    parts: np.ndarray  # (N,) part index per vertex
    handles: np.ndarray
    solver: ArapDeformer
    weights: np.ndarray  # (N, K) skinning weights of the parts in `weighted`, for the first frame's guess
    weighted: np.ndarray  # (K,) part index of each weight column
    image: np.ndarray  # premultiplied RGBA of the layer's own pixels
    previous: np.ndarray | None = None  # the last frame's solution: the next frame's starting point


def build_product() -> Product:
    figure = A.horse()
    frame = A.render(figure, A.Pose(), RENDER_SIZE)
    ys, xs = np.nonzero(frame.mask)
    top = int(np.clip((ys.min() + ys.max()) // 2 - CROP // 2, 0, RENDER_SIZE - CROP))
    left = int(np.clip((xs.min() + xs.max()) // 2 - CROP // 2, 0, RENDER_SIZE - CROP))
    window = np.s_[top:top + CROP, left:left + CROP]
    alpha = frame.mask[window].astype(np.float32)
    premultiplied = np.dstack([frame.rgb[window].astype(np.float32) / 255.0 * alpha[..., None], alpha])
    joints = {name: p - [left, top] for name, p in A.joint_positions(figure, A.Pose(), RENDER_SIZE).items()}
    depth = cv2.distanceTransform(frame.mask[window].astype(np.uint8), cv2.DIST_L2, 5)
    zone = {}
    for name in JOINTS:
        x, y = np.round(joints[name]).astype(int)
        zone[name] = max(3.0, ZONE_WIDTHS * float(depth[y, x]))
    return Product(premultiplied.astype(np.float32), frame.labels[window].astype(int), figure.part_names, joints, zone)


def layer_masks(product: Product) -> list[np.ndarray]:
    """Back to front: the horse without its near legs; the near legs with a patch of body around their hips."""
    front_ids = [product.names.index(n) for n in FRONT_PARTS]
    near_legs = np.isin(product.labels, front_ids)
    ys, xs = np.mgrid[0:CROP, 0:CROP]
    hips = np.zeros_like(near_legs)
    for name in ("fore_near_upper", "hind_near_upper"):
        x, y = product.joints[name]
        hips |= np.hypot(xs - x, ys - y) <= HIP_PATCH * product.zone[name]
    body = product.labels == product.names.index("body")
    front = near_legs | (hips & body)
    back = (product.labels >= 0) & ~near_legs
    return [back, front]


def build_layer(product: Product, own: np.ndarray, spacing: float) -> tuple[Layer, dict[str, float]]:
    seconds = {}
    start = time.perf_counter()
    region = cv2.dilate(own.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    mesh = mesh_from_mask(region, spacing)
    seconds["mesh"] = time.perf_counter() - start
    parts = vertex_labels(mesh, np.where(own, product.labels, -1))
    free = np.zeros(len(mesh.vertices), bool)
    for child, parent in JOINTS.items():
        pair = np.isin(parts, [product.names.index(child), product.names.index(parent)])
        near = np.linalg.norm(mesh.vertices - product.joints[child], axis=1) <= product.zone[child]
        free |= pair & near
    handles = np.nonzero(~free)[0]
    start = time.perf_counter()
    weighted = np.unique(parts[handles])
    weights = skinning_weights(mesh, [handles[parts[handles] == p] for p in weighted])
    seconds["weights"] = time.perf_counter() - start
    start = time.perf_counter()
    solver = ArapDeformer(mesh, handles)
    seconds["prefactor"] = time.perf_counter() - start
    image = product.premultiplied * own[..., None]
    layer = Layer(mesh, parts, handles, solver, weights, weighted, image)
    seconds["vertices"], seconds["triangles"] = len(mesh.vertices), len(mesh.triangles)
    return layer, seconds


def turn_about(centre: np.ndarray, angle: float) -> np.ndarray:
    """3x3 map turning by `angle` (clockwise on screen) about `centre`."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, centre[0] - c * centre[0] + s * centre[1]],
                     [s, c, centre[1] - s * centre[0] - c * centre[1]], [0.0, 0.0, 1.0]])


def part_maps(product: Product, phase: float) -> np.ndarray:
    """(P, 3, 3) pixel maps of every part at `phase`: the near legs swing at hip and knee, the rest stays."""
    maps = np.repeat(np.eye(3)[None], len(product.names), axis=0)
    swing = np.sin(2 * np.pi * phase)
    for leg, lag in (("fore_near", 0.0), ("hind_near", 0.5)):
        hip = turn_about(product.joints[f"{leg}_upper"], 0.45 * np.sin(2 * np.pi * (phase + lag)))
        knee = turn_about(product.joints[f"{leg}_lower"], 0.7 * max(0.0, swing if lag == 0 else -swing))
        maps[product.names.index(f"{leg}_upper")] = hip
        maps[product.names.index(f"{leg}_lower")] = hip @ knee
    return maps


def draw_frame(product: Product, layers: list[Layer], maps: np.ndarray) -> tuple[np.ndarray, dict[str, float], list]:
    """One frame drawn into a fresh canvas, its wall seconds per step (plus "cpu": this process's CPU seconds for
    solve + render, which a busy machine inflates less than wall time) and each layer's deformation facts."""
    canvas = np.zeros((CROP, CROP, 4), np.float32)
    timing = {"solve": 0.0, "render": 0.0, "stats": 0.0, "cpu": 0.0}
    facts = []
    for layer in layers:
        cpu = time.process_time()
        start = time.perf_counter()
        rest = layer.mesh.vertices[layer.handles]
        own = maps[layer.parts[layer.handles]]
        targets = np.einsum("nij,nj->ni", own[:, :2, :2], rest) + own[:, :2, 2]
        initial = layer.previous
        if initial is None:
            initial = blend(layer.mesh.vertices, layer.weights, maps[layer.weighted])
        deformed = layer.solver.solve(targets, initial)
        layer.previous = deformed
        middle = time.perf_counter()
        render_mesh(layer.image, layer.mesh, deformed, (CROP, CROP), out=canvas)
        end = time.perf_counter()
        timing["cpu"] += time.process_time() - cpu
        facts.append(deformation_stats(layer.mesh, deformed))
        timing["solve"] += middle - start
        timing["render"] += end - middle
        timing["stats"] += time.perf_counter() - end
    return canvas, timing, facts


def contact_strip(frames: list[np.ndarray], layers: list[Layer], count: int = 4) -> np.ndarray:
    """`count` frames side by side over grey, the first with the layers' meshes drawn on it."""
    picked = [frames[i * len(frames) // count] for i in range(count)]
    tiles = []
    for index, frame in enumerate(picked):
        rgb = frame[..., :3] + (1.0 - frame[..., 3:4]) * 0.85
        tile = np.clip(rgb[..., ::-1] * 255, 0, 255).astype(np.uint8).copy()
        if index == 0:
            for layer, colour in zip(layers, ((255, 160, 0), (0, 0, 255))):
                corners = np.round(layer.mesh.vertices[layer.mesh.triangles] * 16).astype(np.int32)
                cv2.polylines(tile, list(corners), True, colour, 1, cv2.LINE_AA, shift=4)
        tiles.append(tile)
    return np.hstack(tiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--spacing", type=float, default=CROP / 64, help="mesh spacing in px (the stage: crop/64)")
    parser.add_argument("--png", help="write a strip of frames (the first with the meshes) here")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    product = build_product()
    print(f"crop {CROP} px, object covers {np.mean(product.labels >= 0):.0%}, spacing {args.spacing:.1f} px, 1 thread")
    layers = []
    for name, own in zip(("back", "front"), layer_masks(product)):
        layer, seconds = build_layer(product, own, args.spacing)
        layers.append(layer)
        print(f"layer {name}: {seconds['vertices']} vertices, {seconds['triangles']} triangles, "
              f"{len(layer.solver.free)} free; mesh {seconds['mesh']:.3f} s, weights {seconds['weights']:.3f} s, "
              f"prefactor {seconds['prefactor']:.3f} s")

    frames, timings, facts = [], [], []
    for frame in range(args.frames):
        canvas, timing, stats = draw_frame(product, layers, part_maps(product, frame / args.frames))
        frames.append(canvas)
        timings.append(timing)
        facts.extend(stats)
    for key in ("solve", "render", "stats"):
        values = np.array([t[key] for t in timings]) * 1000
        print(f"per frame {key:7s}: median {np.median(values):6.2f} ms, p95 {np.percentile(values, 95):6.2f} ms")
    total = np.array([t["solve"] + t["render"] for t in timings]) * 1000
    cpu = np.array([t["cpu"] for t in timings]) * 1000
    print(f"per frame solve + render: median {np.median(total):.2f} ms, p95 {np.percentile(total, 95):.2f} ms "
          f"({len(layers)} layers); CPU time median {np.median(cpu):.2f} ms, p95 {np.percentile(cpu, 95):.2f} ms")
    print(f"over all frames and layers: flipped triangles {sum(f['flipped_triangles'] for f in facts)}, "
          f"worst max_stretch {max(f['max_stretch'] for f in facts):.2f}, "
          f"worst stretch_p99 {max(f['stretch_p99'] for f in facts):.3f}, "
          f"worst mean_stretch {max(f['mean_stretch'] for f in facts):.3f}")
    if args.png:
        cv2.imwrite(args.png, contact_strip(frames, layers))


if __name__ == "__main__":
    main()
