"""Moving the fitted rig's limbs onto the product's own limbs. The silhouette fit places the rig as a whole, but a
toy's legs may stand further back than the clip figure's, and a doll's shoulders lower. So every limb (a chain of
bones ending in a hand, a hoof, a tail tip) is matched to an extremity of the product's matte (an end of its medial
axis), and its bones are laid along the medial axis from that extremity back to where the limb joins the body
(where the matte widens), in the rig's proportions. Limbs with no extremity near keep the fit's placement; every
joint ends up inside the matte."""
from __future__ import annotations

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import dijkstra

from pipeline.motion.alignment import (FIRST_FRAME_BONUS, FITS, REFERENCE_STEP, Alignment, Candidate,
                                       coarse_alignment, mirror_options, refined_alignment)
from pipeline.motion.driving import DrivingAnalysis
from pipeline.motion.puppet.parts import flat_colour, limb_chains, neighbour_slices, pixel_graph
from pipeline.motion.puppet.pixels import pixel_at
from pipeline.motion.puppet.skeleton import Driver, Skeleton, rig_skeleton
from pipeline.motion.rig import Rig

WORK_SIDE = 256  # the medial axis is traced at this size
MIN_BRANCH = 0.05  # of the side: shorter medial-axis branches are outline noise, not limbs
MATCH_REACH = 0.25  # of the side: a limb's end is matched to an extremity at most this far away
WIDENING = 2.5  # a limb joins the body where the matte is this many times wider than the limb
LIMB_SPAN = (0.1, 0.6)  # stretch of the path (from the extremity) whose width is the limb's width
JOIN_SEARCH_FROM = 0.3  # the join is looked for beyond this share of the path
EDGE_SPLIT = 14.0  # Lab units: a colour step this large splits the matte when limbs are looked for by colour
MIN_PIECE = 0.01  # of the matte's area: smaller pieces of the colour-split matte are no limbs
MAX_TURN = np.radians(50)  # a laid bone may point at most this far from where the fitted rig points it
LIMB_MISS_WEIGHT = 1.0  # overlap score given up per side-share of mean distance from limb ends to extremities
ELONGATION = 3.0  # a matched path must be this many times as long as it is wide to be a limb
STOPS_SHORT = 0.3  # of the fitted limb's length: a silhouette path ending farther than this from the limb's
# fitted root joint is only the limb's far end
# a limb's guessed stretch continues the body or the limb where, over CONTINUES_SHARE of its length, its flattened
# colour lies within SAME_COLOUR Lab units of the body's or the limb's
SAME_COLOUR = 15.0
CONTINUES_SHARE = 0.5
NECK_SEARCH = (0.5, 1.5)  # of a head bone's length from its tip: where its neck is looked for
NECK_SHARE = 0.4  # a neck is at most this share of the head's and the body's widest
BEND_SHARE = 0.12  # of a limb's chord: a path bending at least this far from it shows where its joint is
BEND_SPAN = (0.2, 0.8)  # ... if the bend lies within this share of the chord from the limb's root


def inside_point(dist: np.ndarray, point: np.ndarray, min_depth: float = 2.0) -> np.ndarray:
    """`point` if the matte holds it at least `min_depth` px deep, else the nearest pixel that does."""
    x, y = np.round(point).astype(int)
    if 0 <= y < dist.shape[0] and 0 <= x < dist.shape[1] and dist[y, x] >= min_depth:
        return point
    ys, xs = np.nonzero(dist >= min(min_depth, float(dist.max())))
    nearest = int(np.argmin((xs - point[0]) ** 2 + (ys - point[1]) ** 2))
    return np.array([xs[nearest], ys[nearest]], np.float64)


def _crossing_numbers(thin: np.ndarray) -> np.ndarray:
    """Per pixel, the number of separate runs of set pixels among its 8 neighbours taken in circular order:
    1 at a branch's end, 2 along a branch, 3 or more at a fork (robust to the corners thinning leaves)."""
    padded = np.pad(thin, 1).astype(np.int8)
    height, width = thin.shape
    ring = [(0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0)]
    values = [padded[dy:dy + height, dx:dx + width] for dy, dx in ring]
    runs = sum(((values[i] == 0) & (values[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
    return np.where(thin, runs, 0)


def _colour_edges(rgb: np.ndarray) -> np.ndarray:
    """Where neighbouring pixels' flattened colours differ by more than EDGE_SPLIT Lab units (outlines, not prints)."""
    lab = flat_colour(rgb, median=False)  # a thin arm's outline is what splits it from the dress
    edges = np.zeros(rgb.shape[:2], bool)
    for here, there, _ in neighbour_slices(edges.shape):
        edges[here] |= np.linalg.norm(lab[here] - lab[there], axis=2) > EDGE_SPLIT
    return edges


class MedialAxis:
    """The matte's medial axis (thinned) as a pixel graph, its extremities and the matte's distance transform."""

    def __init__(self, matte: np.ndarray, rgb: np.ndarray | None = None) -> None:
        """`rgb` given: the matte is first split along colour outlines, so an arm lying against a dress of
        another colour is a limb of its own (small pieces cut off by eyes or buttons are dropped)."""
        height, width = matte.shape
        self.factor = min(1.0, WORK_SIDE / max(height, width))
        size = (max(1, round(width * self.factor)), max(1, round(height * self.factor)))
        small = cv2.resize(matte.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 127
        if rgb is not None:
            small &= ~_colour_edges(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
            count, pieces, stats, _ = cv2.connectedComponentsWithStats(small.astype(np.uint8), connectivity=4)
            big = np.zeros(count, bool)
            big[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_PIECE * max(1, int(small.sum()))
            small = big[pieces]
        self.dist = cv2.distanceTransform(small.astype(np.uint8), cv2.DIST_L2, 5)
        thin = cv2.ximgproc.thinning(small.astype(np.uint8) * 255) > 0
        ys, xs = np.nonzero(thin)
        self.points = np.stack([xs, ys], axis=1).astype(np.float64)
        self.graph, _ = pixel_graph(thin)
        crossings = _crossing_numbers(thin)[ys, xs]
        self.ends = self._long_branch_ends(np.nonzero(crossings == 1)[0], crossings >= 3, MIN_BRANCH * max(size))

    def _long_branch_ends(self, ends: np.ndarray, forks: np.ndarray, min_length: float) -> np.ndarray:
        """End pixels whose branch (up to the first fork) is at least `min_length` long."""
        if not len(ends):
            return ends
        distances = dijkstra(self.graph, directed=False, indices=ends, limit=min_length)
        keep = [not np.any(forks & np.isfinite(row)) for row in distances]
        return ends[np.array(keep, bool)]

    def path(self, start: int, goal_point: np.ndarray) -> np.ndarray:
        """Medial-axis pixels (work size) from node `start` to the node reachable from it nearest `goal_point`
        (work size)."""
        distances, predecessors = dijkstra(self.graph, directed=False, indices=start, return_predecessors=True)
        reachable = np.nonzero(np.isfinite(distances))[0]
        goal = int(reachable[np.argmin(np.linalg.norm(self.points[reachable] - goal_point[None], axis=1))])
        nodes = [goal]
        while nodes[-1] != start:
            nodes.append(int(predecessors[nodes[-1]]))
        return self.points[nodes[::-1]]

    def width(self, points: np.ndarray) -> np.ndarray:
        return pixel_at(self.dist, points)


def _limb_path(axis: MedialAxis, end: int, root_joint: np.ndarray) -> np.ndarray:
    """Medial-axis path (work size) from extremity `end` towards the limb's root joint, cut where the limb joins
    a wider body."""
    path = axis.path(end, root_joint)
    if len(path) < 5:
        return path
    widths = axis.width(path)
    lo, hi = (int(round(share * len(path))) for share in LIMB_SPAN)
    limb = float(np.median(widths[lo:max(hi, lo + 1)]))
    beyond = np.nonzero(widths[int(JOIN_SEARCH_FROM * len(path)):] > WIDENING * max(limb, 1.0))[0]
    if len(beyond):
        path = path[: int(JOIN_SEARCH_FROM * len(path)) + int(beyond[0]) + 1]
    return path


def _elongation(axis: MedialAxis, path: np.ndarray) -> float:
    """How many times longer than wide a path's limb is (a leg or a tail: several; a head's blob: about one)."""
    length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())
    return length / max(2.0 * float(np.percentile(axis.width(path), 75)), 1.0)


def _along(path: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Points at the given shares of a polyline's length."""
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    targets = shares * arc[-1]
    return np.stack([np.interp(targets, arc, path[:, 0]), np.interp(targets, arc, path[:, 1])], axis=1)


def _limb_chains(skeleton: Skeleton) -> dict[int, list[int]]:
    return {end: chain for end, chain in limb_chains(skeleton).items() if skeleton.parents[end] >= 0}


def match_limbs(skeleton: Skeleton, axis: MedialAxis, side: int,
                chains: dict[int, list[int]] | None = None) -> tuple[list[tuple[int, int]], float]:
    """Limb ends (end bones' tails) matched one to one to the medial axis's extremities, nearest overall: the
    (end bone, extremity node) pairs within reach, and the mean distance over all limbs as a share of the side
    (a limb without an extremity within reach counts as at the reach)."""
    chains = _limb_chains(skeleton) if chains is None else chains
    reach = MATCH_REACH * side
    if not chains:
        return [], 0.0
    if not len(axis.ends):
        return [], MATCH_REACH
    limb_ends = list(chains)
    targets = axis.points[axis.ends] / axis.factor
    cost = np.minimum(np.linalg.norm(skeleton.tails[limb_ends][:, None] - targets[None], axis=2), reach)
    rows, cols = linear_sum_assignment(cost)
    pairs = [(limb_ends[r], int(axis.ends[c])) for r, c in zip(rows, cols) if cost[r, c] < reach]
    total = float(cost[rows, cols].sum()) + reach * (len(limb_ends) - len(rows))
    return pairs, total / len(limb_ends) / side


def refine_bones(skeleton: Skeleton, matte: np.ndarray, rgb: np.ndarray, axis: MedialAxis | None = None) -> Skeleton:
    """The skeleton with its limbs laid onto the product's limbs and every joint inside `matte` (bool, crop px;
    a statue's base already taken out; `axis` its MedialAxis if already traced). A limb is looked for both on
    the matte's medial axis and on the medial axis of the matte split along colour outlines (`rgb`: an arm lying
    against a dress shows only there), and laid along whichever candidate is the more limb-like (longer for its
    width)."""
    dist = cv2.distanceTransform(matte.astype(np.uint8), cv2.DIST_L2, 5)
    side = max(matte.shape)
    chains = _limb_chains(skeleton)
    found: dict[int, tuple[float, np.ndarray]] = {}
    axis = axis or MedialAxis(matte)
    for traced in (axis, MedialAxis(matte, rgb)):
        for end, (elongation, path) in _limb_paths(skeleton, traced, chains, side).items():
            if end not in found or elongation > found[end][0]:
                found[end] = (elongation, path)
    factor = min(1.0, WORK_SIDE / side)  # colours are flattened at the working size
    lab = flat_colour(cv2.resize(rgb, (max(1, round(matte.shape[1] * factor)), max(1, round(matte.shape[0] * factor))),
                                 interpolation=cv2.INTER_AREA))
    heads, tails = skeleton.heads.copy(), skeleton.tails.copy()
    laid = set()
    for end, (_, path) in found.items():
        chain = chains[end][::-1]  # from the limb's root bone to its end bone
        lengths = np.array([np.linalg.norm(tails[b] - heads[b]) for b in chain])
        if (len(chain) > 1 and np.linalg.norm(path[0] - heads[chain[0]]) > STOPS_SHORT * lengths.sum()
                and _continues(lab, factor, heads[chain[0]], path, skeleton, chain[0])):
            # only the limb's far end stands out (a forearm below a sleeve of the dress's colour, a hind leg below
            # a thigh drawn over the body): the limb runs from the fitted root joint to it
            path = np.concatenate([heads[chain[0]][None], path])
        joints = _along(path, np.concatenate([[0.0], np.cumsum(lengths) / max(lengths.sum(), 1e-9)]))
        bend = _bend(path) if len(chain) == 2 else None
        if bend is not None:
            joints[1] = bend
        if not _keeps_directions(skeleton, chain, joints):
            continue
        for i, bone in enumerate(chain):
            heads[bone], tails[bone] = joints[i], joints[i + 1]
        laid.update(chain)
    for bone, (joint, tip) in _necks(skeleton, dist, chains, laid).items():
        heads[bone], tails[bone] = joint, tip
    for k in range(skeleton.count):
        heads[k] = inside_point(dist, heads[k])
    return skeleton.with_bones(heads, tails, frozenset(laid))


def _necks(skeleton: Skeleton, dist: np.ndarray, chains: dict[int, list[int]],
           laid: set[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(joint, tip) in crop pixels for each lone end bone (a head) that is no limb-like path: along the fitted
    bone's line, the tip goes to where the matte ends beyond it (the top of the head) and the joint to where the
    matte narrows between the tip and the body (the neck), searched from half to one and a half of the bone's
    length from the tip; a head whose hair hides its neck keeps the fit's placement."""
    placed = {}
    for end, chain in chains.items():
        if len(chain) > 1 or skeleton.parents[end] < 0 or end in laid:
            continue
        head, tail = skeleton.heads[end], skeleton.tails[end]
        length = float(np.linalg.norm(tail - head))
        if length < 2.0:
            continue
        along = (tail - head) / length
        steps = np.arange(-NECK_SEARCH[1] * length, (1.0 + NECK_SEARCH[0]) * length, 0.5)
        line = head[None] + steps[:, None] * along[None]
        widths = pixel_at(dist, line)
        beyond = np.nonzero((steps >= length) & (widths > 0))[0]
        if not len(beyond) or widths[beyond[-1] + 1:].any():  # no matte beyond the fitted tip, or no end to it
            continue
        tip = int(beyond[-1])
        from_tip = steps[tip] - steps
        window = np.nonzero((from_tip >= NECK_SEARCH[0] * length) & (from_tip <= NECK_SEARCH[1] * length)
                            & (widths > 0))[0]
        if not len(window):
            continue
        neck = int(window[np.argmin(widths[window])])
        head_width, body_width = widths[neck:tip + 1].max(), widths[:neck + 1].max()
        if widths[neck] < NECK_SHARE * min(head_width, body_width):
            placed[end] = (line[neck], line[tip])
    return placed


def _continues(lab: np.ndarray, factor: float, root_joint: np.ndarray, path: np.ndarray, skeleton: Skeleton,
               root: int) -> bool:
    """Whether the straight stretch from a limb's fitted root joint to where its path starts shows the colour of
    the body it grows from or of the limb itself (a sleeve, a thigh), not a third one: long hair hanging over the
    arm is not the arm. `lab`: flattened colours at `factor` times the crop's size."""
    samples = root_joint[None] + np.linspace(0.0, 1.0, 16)[:, None] * (path[0] - root_joint)[None]
    parent = int(skeleton.parents[root])
    body = np.linspace(skeleton.heads[parent], skeleton.tails[parent], 16)
    references = np.stack([np.median(pixel_at(lab, body * factor), axis=0),
                           np.median(pixel_at(lab, path * factor), axis=0)])
    colours = pixel_at(lab, samples * factor)
    nearest = np.linalg.norm(colours[:, None] - references[None], axis=2).min(axis=1)
    return float(np.mean(nearest < SAME_COLOUR)) >= CONTINUES_SHARE


def _bend(path: np.ndarray) -> np.ndarray | None:
    """Where a two-bone limb's path bends (a knee, a horse's poll): its point farthest from the chord between its
    ends, if that is at least BEND_SHARE of the chord away and not near either end; None for a straight limb."""
    chord = path[-1] - path[0]
    length = float(np.linalg.norm(chord))
    if len(path) < 5 or length < 1e-9:
        return None
    offsets = np.abs(chord[0] * (path[:, 1] - path[0, 1]) - chord[1] * (path[:, 0] - path[0, 0])) / length
    farthest = int(np.argmax(offsets))
    share = ((path[farthest] - path[0]) @ chord) / length ** 2
    if offsets[farthest] < BEND_SHARE * length or not BEND_SPAN[0] <= share <= BEND_SPAN[1]:
        return None
    return path[farthest]


def _keeps_directions(skeleton: Skeleton, chain: list[int], joints: np.ndarray) -> bool:
    """Whether every bone laid along the path points within MAX_TURN of where the fitted rig points it: a path
    that zig-zags through the body (an arm's extremity reached through the torso) is no limb of this rig."""
    for i, bone in enumerate(chain):
        fitted = skeleton.tails[bone] - skeleton.heads[bone]
        laid = joints[i + 1] - joints[i]
        cosine = fitted @ laid / max(np.linalg.norm(fitted) * np.linalg.norm(laid), 1e-9)
        if cosine < np.cos(MAX_TURN):
            return False
    return True


def _limb_paths(skeleton: Skeleton, axis: MedialAxis, chains: dict[int, list[int]],
                side: int) -> dict[int, tuple[float, np.ndarray]]:
    """Per limb matched on `axis` to a limb-like path: (elongation, path in crop pixels from the limb's root to
    its end)."""
    paths = {}
    for end, node in match_limbs(skeleton, axis, side, chains)[0]:
        root = chains[end][-1]
        path = _limb_path(axis, node, skeleton.heads[root] * axis.factor)
        elongation = _elongation(axis, path)
        if len(path) >= 2 and elongation >= ELONGATION:
            paths[end] = (elongation, path[::-1] / axis.factor)
    return paths


def fit_rig(rig: Rig, analysis: DrivingAnalysis, figure: np.ndarray, rgb: np.ndarray, product_facing: str,
            fit: str) -> tuple[int, Alignment, Skeleton, Driver]:
    """The reference pose and placement of a rig on the product (`figure`: its matte without a base): among the
    clip frames, the one whose silhouette overlaps the product's best and whose limb ends land nearest the
    product's extremities; then the limbs laid onto the product's. Returns (reference frame, alignment,
    skeleton, driver)."""
    axis = MedialAxis(figure)
    mirrors = mirror_options(analysis.facing, product_facing)
    product_mask = figure.astype(np.float32)
    side = max(figure.shape)
    best: tuple[float, int, Candidate] | None = None
    for frame in range(0, analysis.n_frames, REFERENCE_STEP):
        candidate = coarse_alignment(analysis.masks[frame], product_mask, mirrors, FITS[fit])
        placed, _ = rig_skeleton(rig, candidate.matrix, frame)
        miss = match_limbs(placed, axis, side)[1]
        score = candidate.score - LIMB_MISS_WEIGHT * miss + (FIRST_FRAME_BONUS if frame == 0 else 0.0)
        if best is None or score > best[0]:
            best = (score, frame, candidate)
    _, reference, coarse = best
    alignment = refined_alignment(analysis.masks[reference], product_mask, coarse, FITS[fit])
    skeleton, driver = rig_skeleton(rig, alignment.matrix, reference)
    return reference, alignment, refine_bones(skeleton, figure, rgb, axis), driver
