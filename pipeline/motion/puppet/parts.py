"""Which bone each product pixel belongs to, by the product's structure: the geodesic distance inside the matte,
where crossing a colour edge costs extra, from the root bone's axis and from the far end of every limb (a hand, a
hoof, a tail tip). A limb laid along the product's own limb is seeded along its length; one the fit could not lay
only at its far end, because where a limb starts is where the fit is least sure: a doll's shoulder may lie under
her hair. A limb's pixels are then shared among its chain of bones (upper arm, forearm) by distance to their axes.
So a lock of hair beside an arm is reached from the head through the hair, not across the hair's edge from the
hand; a tail follows the body it grows from. A plinth-like base (a statue's) is its own static part."""
from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra

from pipeline.motion.puppet.pixels import pixel_at
from pipeline.motion.puppet.skeleton import Skeleton

WORK_SIDE = 256  # parts are found at this size, then brought to the crop's size along colour edges
EDGE_COST = 1.5  # extra path length per Lab unit of colour change between neighbouring pixels
COLOUR_BINS = 8  # per Lab axis, for the parts' colour histograms
DOUBT = 0.2  # a pixel is doubtful where its part has its colour at under this share of the best part's frequency
MIN_PATCH_WIDTH = 5  # working px: thinner strands are outlines and seams, not growths like hair
REACH = (0.8, 3.0)  # a limb's pixels lie within this many limb lengths (path cost) of its seeds; a lone end
# bone's (a head's, a tail's) within the second
SEED_SPANS = {"root": (0.15, 0.7), "end": (0.2, 1.0), "chain_end": (0.5, 1.0), "laid": (0.5, 1.0)}  # seeded stretch of a bone's axis
MEDIAN_SIZE = 5  # working px
MEAN_SHIFT = (6, 18)  # spatial and colour radius of the mean-shift flattening at the working size
EDGE_FLOOR = 4.0  # Lab units of change between neighbours that cost nothing


def flat_colour(rgb: np.ndarray, median: bool = True) -> np.ndarray:
    """Lab colour flattened within regions (mean shift): a print or a shading texture is no edge, a region's
    outline is."""
    rgb_u8 = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    # `median`: first take out lines a few pixels thin (a shaded rim, an outline) that paths would follow
    flat = cv2.pyrMeanShiftFiltering(cv2.medianBlur(rgb_u8, MEDIAN_SIZE) if median else rgb_u8, *MEAN_SHIFT)
    return cv2.cvtColor(flat.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def neighbour_slices(shape: tuple[int, int]) -> list[tuple[tuple[slice, slice], tuple[slice, slice], float]]:
    """For 8-connected pixel graphs: (slices of a pixel, slices of its neighbour, step length) for the four
    forward directions, so each neighbouring pair is visited once."""
    height, width = shape
    pairs = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        x0, x1 = max(0, -dx), width - max(0, dx)
        pairs.append(((slice(0, height - dy), slice(x0, x1)), (slice(dy, height), slice(x0 + dx, x1 + dx)),
                      float(np.hypot(dy, dx))))
    return pairs


def pixel_graph(inside: np.ndarray, lab: np.ndarray | None = None) -> tuple[csr_matrix, np.ndarray]:
    """8-connected graph of the `inside` pixels and the node index of each pixel (-1 outside). An edge costs its
    step length, plus EDGE_COST per Lab unit of colour change beyond EDGE_FLOOR when `lab` is given."""
    ys, xs = np.nonzero(inside)
    index = np.full(inside.shape, -1, np.int64)
    index[ys, xs] = np.arange(len(ys))
    rows, cols, costs = [], [], []
    for here, there, step in neighbour_slices(inside.shape):
        a, b = index[here], index[there]
        both = (a >= 0) & (b >= 0)
        rows.append(a[both])
        cols.append(b[both])
        cost = np.full(int(both.sum()), step)
        if lab is not None:
            change = np.linalg.norm(lab[here] - lab[there], axis=2)[both]
            cost = cost + EDGE_COST * np.maximum(change - EDGE_FLOOR, 0.0)
        costs.append(cost)
    graph = coo_matrix((np.concatenate(costs), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(len(ys), len(ys))).tocsr()
    return graph, index


def limb_chains(skeleton: Skeleton) -> dict[int, list[int]]:
    """Per end bone (a bone without children, not a root), its chain: the end bone and its ancestors up to, not
    including, the first one that has other children or is a root. Roots own only themselves."""
    children = {k: [c for c in range(skeleton.count) if skeleton.parents[c] == k] for k in range(skeleton.count)}
    chains = {}
    for k in range(skeleton.count):
        if skeleton.parents[k] < 0:
            chains[k] = [k]
        elif not children[k]:
            chain, bone = [k], int(skeleton.parents[k])
            while skeleton.parents[bone] >= 0 and len(children[bone]) == 1:
                chain.append(bone)
                bone = int(skeleton.parents[bone])
            chains[k] = chain
    return chains


def _seed_pixels(skeleton: Skeleton, chain: list[int], factor: float, index: np.ndarray) -> np.ndarray:
    """Graph nodes on a chain's axes (end bone first): the middle of a root, most of a lone end bone (a head, a
    tail), the far half of a chain's end bone (a forearm and hand); a chain laid along the product's own limb is
    seeded all along but for its first half bone (its joint lies in the body)."""
    end = chain[0]
    if skeleton.parents[end] < 0:
        spans = {end: SEED_SPANS["root"]}
    elif end in skeleton.laid:
        spans = {bone: SEED_SPANS["laid"] if bone == chain[-1] else (0.0, 1.0) for bone in chain}
    else:
        spans = {end: SEED_SPANS["end" if len(chain) == 1 else "chain_end"]}
    nodes = []
    for bone, (start, stop) in spans.items():
        head, tail = skeleton.heads[bone] * factor, skeleton.tails[bone] * factor
        count = max(2, int(np.linalg.norm(tail - head) * 2))
        points = head[None] + np.linspace(start, stop, count)[:, None] * (tail - head)[None]
        nodes.append(pixel_at(index, points))
    found = np.concatenate(nodes)
    return np.unique(found[found >= 0])


def _nearest_node(point: np.ndarray, index: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(index >= 0)
    nearest = int(np.argmin((xs - point[0]) ** 2 + (ys - point[1]) ** 2))
    return index[ys[nearest], xs[nearest]][None]


def _to_crop_size(work_labels: np.ndarray, work_lab: np.ndarray, crop_lab: np.ndarray,
                  support: np.ndarray) -> np.ndarray:
    """Labels at the crop's size: each pixel takes, among the labels of the four nearest working pixels, the one
    whose colour is nearest its own, so part boundaries follow colour edges at full resolution."""
    height, width = support.shape
    wh, ww = work_labels.shape
    fy, fx = wh / height, ww / width
    ys = (np.arange(height) + 0.5) * fy - 0.5
    xs = (np.arange(width) + 0.5) * fx - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, wh - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, ww - 1)
    best_cost = np.full((height, width), np.inf, np.float32)
    best = np.full((height, width), -1, np.int32)
    for oy in (0, 1):
        for ox in (0, 1):
            yy = np.clip(y0 + oy, 0, wh - 1)[:, None]
            xx = np.clip(x0 + ox, 0, ww - 1)[None, :]
            candidate = work_labels[yy, xx]
            cost = np.linalg.norm(work_lab[yy, xx] - crop_lab, axis=2)
            cost = np.where(candidate >= 0, cost, np.inf)
            better = cost < best_cost
            best_cost = np.where(better, cost, best_cost)
            best = np.where(better, candidate, best)
    if (support & (best < 0)).any():  # pixels whose working neighbours are all background: nearest label
        from scipy.ndimage import distance_transform_edt

        _, (near_y, near_x) = distance_transform_edt(best < 0, return_indices=True)
        best = best[near_y, near_x]
    return np.where(support, best, -1).astype(np.int32)


def _segment_distance(points: np.ndarray, head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    along = tail - head
    share = np.clip(((points - head) @ along) / max(float(along @ along), 1e-9), 0.0, 1.0)
    return np.linalg.norm(points - (head + share[:, None] * along), axis=1)


def _split_chains(labels: np.ndarray, chains: dict[int, list[int]], skeleton: Skeleton, factor: float) -> np.ndarray:
    """Each limb's pixels go to the nearest bone of its chain."""
    out = labels.copy()
    for end, chain in chains.items():
        if len(chain) < 2:
            continue
        ys, xs = np.nonzero(labels == end)
        points = np.stack([xs, ys], axis=1).astype(np.float64)
        distances = np.stack([_segment_distance(points, skeleton.heads[b] * factor, skeleton.tails[b] * factor)
                              for b in chain])
        out[ys, xs] = np.array(chain)[np.argmin(distances, axis=0)]
    return out


def _colour_bins(lab: np.ndarray) -> np.ndarray:
    """Flat index of each pixel's Lab colour in a COLOUR_BINS^3 histogram."""
    scaled = (lab - (0.0, -128.0, -128.0)) / (100.0, 256.0, 256.0)
    cells = np.clip((scaled * COLOUR_BINS).astype(int), 0, COLOUR_BINS - 1)
    return (cells[..., 0] * COLOUR_BINS + cells[..., 1]) * COLOUR_BINS + cells[..., 2]


def _by_colour(labels: np.ndarray, lab: np.ndarray, distance: np.ndarray, receivers: set[int]) -> np.ndarray:
    """Patches of a part whose colour that part hardly has near its bone, touching a lone end part (a head, a
    tail: what long hair, a mane or a plume grows from) that has it, go to that part: a lock of hair reached first
    from the dress, but of the hair's colour. A part's colours are those of its nearer half (by path cost from its
    seeds)."""
    bins = _colour_bins(lab)
    parts = [int(p) for p in np.unique(labels[labels >= 0])]
    if len(parts) < 2:
        return labels
    histograms = []
    for part in parts:
        member = labels == part
        near = member & (distance <= np.median(distance[member]))
        histograms.append(np.bincount(bins[near], minlength=COLOUR_BINS ** 3) / max(1, int(near.sum())))
    histograms = np.stack(histograms)
    index = np.full(int(labels.max()) + 1, -1)
    index[parts] = np.arange(len(parts))
    own = np.where(labels >= 0, histograms[index[np.maximum(labels, 0)], bins], 1.0)
    best = histograms[:, bins].max(axis=0)
    doubtful = (labels >= 0) & (own < DOUBT * best)
    # patches are the thick cores of the doubtful pixels grown back by their rim: a shaded outline or a seam is
    # no growth, and must not join a patch to a far part it runs along to (a horse's mane along its back to the tail)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (MIN_PATCH_WIDTH, MIN_PATCH_WIDTH))
    cores = cv2.morphologyEx(doubtful.astype(np.uint8), cv2.MORPH_OPEN, disc)
    patches = cv2.dilate(cores, disc) & doubtful.astype(np.uint8)
    count, pieces = cv2.connectedComponents(patches, connectivity=8)
    out = labels.copy()
    ring = np.ones((3, 3), np.uint8)
    for piece in range(1, count):
        members = pieces == piece
        beside = cv2.dilate(members.astype(np.uint8), ring).astype(bool) & ~members & (labels >= 0)
        neighbours = np.array([n for n in np.unique(labels[beside]) if n in receivers], int)
        if not len(neighbours):
            continue
        fit = histograms[index[neighbours]][:, bins[members]].mean(axis=1)
        mine = histograms[index[labels[members]], bins[members]].mean()
        if fit.max() > mine / DOUBT:
            out[members] = neighbours[int(np.argmax(fit))]
    return out


def _root_of(skeleton: Skeleton, bone: int) -> int:
    while skeleton.parents[bone] >= 0:
        bone = int(skeleton.parents[bone])
    return bone


def _within_reach(owners: np.ndarray, distance: np.ndarray, chains: dict[int, list[int]], skeleton: Skeleton,
                  factor: float) -> np.ndarray:
    """Pixels a limb reached only from far beyond its own length (a leg the fit found no bones for, reached from
    the tail) go to the limb's root part instead: they then move with the body rather than with a stranger."""
    out = owners.copy()
    for end, chain in chains.items():
        if skeleton.parents[end] < 0:
            continue
        length = sum(float(np.linalg.norm(skeleton.tails[b] - skeleton.heads[b])) for b in chain) * factor
        reach = REACH[0] if len(chain) > 1 else REACH[1]  # a lone end bone (a head) may own locks of hair
        out[(owners == end) & (distance > reach * length)] = _root_of(skeleton, end)
    return out


def assign_parts(rgba: np.ndarray, support: np.ndarray, skeleton: Skeleton, base_row: int | None) -> np.ndarray:
    """(H, W) int32 part per crop pixel of `support` (bone index; skeleton.count for the static base rows at and
    below `base_row`), -1 elsewhere."""
    height, width = support.shape
    factor = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    rgb = rgba[..., :3]
    work_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    work_support = cv2.resize(support.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    base = np.zeros_like(work_support)
    if base_row is not None:
        base[int(base_row * factor):] = True
    # paths run through the object itself: its faint soft edge is one thin ring of backdrop-coloured pixels that
    # would carry a part all the way round the outline; it takes the nearest part's label afterwards
    solid = cv2.resize(rgba[..., 3], size, interpolation=cv2.INTER_AREA) >= 0.5
    movable = work_support & solid & ~base
    work_lab = flat_colour(work_rgb)
    graph, index = pixel_graph(movable, work_lab)
    chains = limb_chains(skeleton)
    sources, owners = [], []
    for k in chains:
        nodes = _seed_pixels(skeleton, chains[k], factor, index)
        if not len(nodes) and movable.any():
            nodes = _nearest_node(0.5 * (skeleton.heads[k] + skeleton.tails[k]) * factor, index)
        sources.append(nodes)
        owners.append(np.full(len(nodes), k))
    work_labels = np.full(work_support.shape, -1, np.int32)
    all_sources = np.concatenate(sources) if sources else np.zeros(0, np.int64)
    if len(all_sources):
        owner_of = np.full(graph.shape[0], -1, np.int64)
        owner_of[all_sources] = np.concatenate(owners)  # a seed two bones share goes to one of them
        distance, _, nearest = dijkstra(graph, directed=False, indices=np.unique(all_sources), min_only=True,
                                        return_predecessors=True)
        lookup = np.where(nearest >= 0, owner_of[np.maximum(nearest, 0)], -1)
        lookup = _within_reach(lookup, distance, chains, skeleton, factor)
        ys, xs = np.nonzero(index >= 0)
        work_labels[ys, xs] = lookup[index[ys, xs]]
        work_distance = np.full(work_labels.shape, np.inf)
        work_distance[ys, xs] = distance[index[ys, xs]]
        lone_ends = {end for end, chain in chains.items() if len(chain) == 1 and skeleton.parents[end] >= 0}
        work_labels = _by_colour(work_labels, work_lab, work_distance, lone_ends)
    work_labels = _split_chains(work_labels, chains, skeleton, factor)
    work_labels[base & work_support] = skeleton.count
    return _to_crop_size(work_labels, work_lab, cv2.cvtColor(cv2.GaussianBlur(rgb, (0, 0), 0.5 / factor), cv2.COLOR_RGB2LAB), support)
