"""Analysis of a driving clip, done once per clip and cached: foreground masks, K keypoint regions on the first
frame (clustered by how pixels move through the clip), and per region and frame an affine map from the first
frame, i.e. a keypoint plus a 2x2 Jacobian per frame as in FOMM."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.atomic import atomic_path
from pipeline.manifest import code_version
from pipeline.matting import backdrop_distance

ANALYSIS_SIDE = 256


@dataclass(frozen=True)
class DrivingAnalysis:
    masks: np.ndarray  # (T,H,W) bool foreground per frame
    labels0: np.ndarray  # (H,W) int16 region per first-frame pixel, -1 for background
    affines: np.ndarray  # (T,K,2,3) float64: region k's map from frame-0 to frame-t coordinates
    keypoints: np.ndarray  # (T,K,2) region centres moved by the affines (x,y in analysis pixels)
    facing: str

    @property
    def jacobians(self) -> np.ndarray:
        return self.affines[..., :2]

    @property
    def n_frames(self) -> int:
        return int(self.affines.shape[0])

    def save(self, path: Path) -> Path:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, masks=self.masks, labels0=self.labels0, affines=self.affines,
                                    keypoints=self.keypoints, facing=np.array(self.facing))
        return path

    @classmethod
    def load(cls, path: Path) -> "DrivingAnalysis":
        with np.load(path) as data:
            return cls(data["masks"], data["labels0"], data["affines"], data["keypoints"], str(data["facing"]))


def clip_foreground(frame_u8: np.ndarray) -> np.ndarray:
    """Foreground of a driving frame on a plain backdrop (border-colour model), cleaned up."""
    ring = max(3, frame_u8.shape[0] // 64)
    distance, _, spread = backdrop_distance(frame_u8, ring)
    mask = distance > max(10.0, 5.0 * spread)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, bool)
    keep[1:] = areas >= 0.02 * areas.max()
    return keep[labels]


def _flow(prev_gray: np.ndarray, next_gray: np.ndarray) -> np.ndarray:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)  # full resolution: driving clips are small and limbs are thin
    dis.setVariationalRefinementIterations(10)
    return dis.calc(prev_gray, next_gray, None)


def _sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear lookup of an HxWxC field at float (x,y) points."""
    xs = points[:, 0].astype(np.float32).reshape(-1, 1)
    ys = points[:, 1].astype(np.float32).reshape(-1, 1)
    return cv2.remap(field, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(len(points), -1)


def _step_flows(grays: list[np.ndarray], t_from: int, t_to: int) -> tuple[np.ndarray, np.ndarray]:
    return _flow(grays[t_from], grays[t_to]), _flow(grays[t_to], grays[t_from])


def _consistent(points: np.ndarray, forward: np.ndarray, backward: np.ndarray, mask: np.ndarray,
                limit_px: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Where the points go, and which of them are trustworthy: on the foreground and forward-backward consistent."""
    height, width = mask.shape
    moved = points + _sample(forward, points)
    returned = moved + _sample(backward, moved)
    xs = np.clip(np.round(points[:, 0]).astype(int), 0, width - 1)
    ys = np.clip(np.round(points[:, 1]).astype(int), 0, height - 1)
    good = mask[ys, xs] & (np.linalg.norm(returned - points, axis=1) < limit_px)
    return moved, good


def track_points(masks: np.ndarray, points0: np.ndarray,
                 flows: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Carry points through the clip by chained flow. Returns (T,N,2) positions and (T,N) per-step trust;
    an untrusted step does not stop a point, it only lowers how much clustering relies on it."""
    count = len(flows) + 1
    positions = np.zeros((count, len(points0), 2), np.float64)
    trusted = np.ones((count, len(points0)), bool)
    positions[0] = points0
    for t in range(1, count):
        forward, backward = flows[t - 1]
        positions[t], trusted[t] = _consistent(positions[t - 1], forward, backward, masks[t - 1])
    return positions, trusted


MOTION_FEATURE_WEIGHT = 2.0  # displacements count more than where a pixel starts: limbs split off by how they move


def cluster_regions(positions: np.ndarray, trusted: np.ndarray, n_regions: int, seed: int = 0) -> np.ndarray:
    """K-means on whole trajectories (start position plus weighted displacement in every frame) of the points
    tracked reliably; pixels that move together through the clip form one region (a limb). The rest join the
    region of their nearest reliable neighbour."""
    reliability = trusted.mean(axis=0)
    reliable = reliability >= 0.9
    if reliable.sum() < 4 * n_regions:
        reliable = reliability >= np.quantile(reliability, 0.5)
    displacement = (positions[1:] - positions[:1]) * MOTION_FEATURE_WEIGHT / np.sqrt(max(1, len(positions) - 1))
    features = np.concatenate([positions[0], displacement.transpose(1, 0, 2).reshape(positions.shape[1], -1)], axis=1)
    features = features.astype(np.float32)
    k = min(n_regions, int(reliable.sum()))
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.1)
    _, reliable_labels, _ = cv2.kmeans(features[reliable], k, None, criteria, 4, cv2.KMEANS_PP_CENTERS)
    start = positions[0]
    anchors = start[reliable]
    nearest = np.argmin(((start[:, None, :] - anchors[None, :, :]) ** 2).sum(axis=2), axis=1)
    return reliable_labels.ravel()[nearest]


STRETCH_EVIDENCE = 0.7  # the full affine must cut the rigid fit's median residual to this share to be used


def _median_residual(matrix: np.ndarray, src: np.ndarray, dst: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(src @ matrix[:, :2].T + matrix[:, 2] - dst, axis=1)))


def _fit_step(points: np.ndarray, moved: np.ndarray, good: np.ndarray) -> np.ndarray | None:
    """One region's motion between consecutive frames. Limbs are rigid, so a similarity is preferred; a full
    affine (squash, stretch, shear) is taken only when it explains the flow clearly better."""
    if good.sum() < 6:
        return None
    src, dst = points[good], moved[good]
    full, _ = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                   maxIters=500, refineIters=10)
    rigid, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                           maxIters=500, refineIters=10)
    if rigid is None or full is None:
        return full if rigid is None else rigid
    rigid_error = _median_residual(rigid, src, dst)
    return full if _median_residual(full, src, dst) < STRETCH_EVIDENCE * rigid_error - 0.02 else rigid


def _to3(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class DirectEvidence:
    """Long-range flow from the first frame to every frame, and the frames themselves: a second opinion for
    each region's chained track, checked photometrically."""
    grays: list[np.ndarray]
    masks: np.ndarray
    flows: list[tuple[np.ndarray, np.ndarray]]  # (frame 0 -> t, t -> frame 0) for t = 1..T-1


OFF_MASK_PENALTY = 50.0  # grey levels charged per unit share of a region's points landing off the foreground


def _photometric_error(matrix: np.ndarray, members: np.ndarray, evidence: DirectEvidence, t: int,
                       reference: np.ndarray) -> float:
    """How well frame t, looked up where `matrix` puts the region's first-frame pixels, reproduces them."""
    landed = members @ matrix[:2, :2].T + matrix[:2, 2]
    seen = _sample(evidence.grays[t].astype(np.float32), landed)[:, 0]
    height, width = evidence.masks[t].shape
    xs = np.clip(np.round(landed[:, 0]).astype(int), 0, width - 1)
    ys = np.clip(np.round(landed[:, 1]).astype(int), 0, height - 1)
    off_mask = 1.0 - evidence.masks[t][ys, xs].mean()
    return float(np.abs(seen - reference).mean() + OFF_MASK_PENALTY * off_mask)


def _direct_candidate(members: np.ndarray, evidence: DirectEvidence, t: int) -> np.ndarray | None:
    forward, backward = evidence.flows[t - 1]
    moved, good = _consistent(members, forward, backward, evidence.masks[0])
    step = _fit_step(members, moved, good)
    return None if step is None else _to3(step)


def fit_region_affines(points0: np.ndarray, labels: np.ndarray, masks: np.ndarray,
                       flows: list[tuple[np.ndarray, np.ndarray]], n_regions: int,
                       start: np.ndarray | None = None, evidence: DirectEvidence | None = None) -> np.ndarray:
    """Per region a chain of affine steps: each step moves the whole region (as currently placed) by a robust
    affine fit to the fresh flow between consecutive frames, so no point is ever lost for good. With
    `evidence`, a fit to the direct first-frame-to-frame-t flow competes with the chained one at every frame
    and the photometrically better one is kept, which stops drift on thin, fast limbs. Returns
    (len(flows)+1, K, 3, 3) maps from first-frame pixels, beginning at `start` (default identity)."""
    count = len(flows) + 1
    affines = np.tile(np.eye(3), (count, n_regions, 1, 1))
    if start is not None:
        affines[0] = start
    for region in range(n_regions):
        members = points0[labels == region]
        reference = _sample(evidence.grays[0].astype(np.float32), members)[:, 0] if evidence else None
        for t in range(1, count):
            placed = members @ affines[t - 1, region, :2, :2].T + affines[t - 1, region, :2, 2]
            forward, backward = flows[t - 1]
            moved, good = _consistent(placed, forward, backward, masks[t - 1])
            step = _fit_step(placed, moved, good)
            if step is None:  # the region is hidden: carry it by its median flow
                shift = np.median(moved - placed, axis=0) if len(placed) else np.zeros(2)
                step = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
            chained = _to3(step) @ affines[t - 1, region]
            affines[t, region] = chained
            direct = _direct_candidate(members, evidence, t) if evidence is not None else None
            if direct is not None and (_photometric_error(direct, members, evidence, t, reference)
                                       < _photometric_error(chained, members, evidence, t, reference)):
                affines[t, region] = direct
    return affines


def reassign_by_motion(points0: np.ndarray, positions: np.ndarray, trusted: np.ndarray,
                       affines: np.ndarray) -> np.ndarray:
    """Give each point the region whose affine track best explains where the point was seen while its tracking
    was still trustworthy: clustering guessed the regions, this lets limbs claim their own pixels back."""
    reliable_until = np.cumprod(trusted, axis=0).astype(np.float64)  # (T,N): 1 until the first untrusted step
    predicted = np.einsum("tkij,nj->tnki", affines[:, :, :2, :2], points0) + affines[:, None, :, :2, 2]
    error = np.linalg.norm(predicted - positions[:, :, None, :], axis=3)  # (T,N,K)
    score = (error * reliable_until[..., None]).sum(axis=0) / np.maximum(reliable_until.sum(axis=0), 1.0)[:, None]
    return np.argmin(score, axis=1)


def smooth_labels(points0: np.ndarray, labels: np.ndarray, neighbours: int = 12, rounds: int = 2) -> np.ndarray:
    """Majority vote among each point's nearest first-frame neighbours: regions must be spatially coherent
    pieces (they are carried onto a differently shaped product), not speckle."""
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(points0).query(points0, k=min(neighbours, len(points0)))
    n_labels = int(labels.max()) + 1
    for _ in range(rounds):
        votes = np.zeros((len(points0), n_labels), np.int32)
        np.add.at(votes, (np.repeat(np.arange(len(points0)), nearest.shape[1]), labels[nearest].ravel()), 1)
        labels = np.argmax(votes, axis=1)
    return labels


def close_loop(affines: np.ndarray, closing: np.ndarray) -> np.ndarray:
    """Spread the drift of a looping clip over its frames: `closing` (K,3,3) is where chaining one more step
    (last frame -> first) lands each region; ideally the identity. Frame t gets t/T of the correction."""
    count = affines.shape[0]
    corrected = affines.copy()
    for region in range(affines.shape[1]):
        error = np.linalg.inv(closing[region]) - np.eye(3)
        for t in range(1, count):
            corrected[t, region] = (np.eye(3) + (t / count) * error) @ affines[t, region]
    return corrected


def smooth_affines(affines: np.ndarray, sigma_frames: float = 0.8) -> np.ndarray:
    """Light temporal smoothing removes tracking jitter without lagging the motion."""
    if sigma_frames <= 0 or affines.shape[0] < 3:
        return affines
    radius = max(1, int(round(3 * sigma_frames)))
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma_frames) ** 2)
    padded = np.concatenate([affines[:1].repeat(radius, 0), affines, affines[-1:].repeat(radius, 0)])
    smoothed = sum(w * padded[radius + o: radius + o + len(affines)] for o, w in zip(offsets, weights))
    smoothed = smoothed / weights.sum()
    smoothed[0] = affines[0]
    return smoothed


def assign_labels(mask0: np.ndarray, points0: np.ndarray, point_labels: np.ndarray) -> np.ndarray:
    """Give every first-frame foreground pixel the region of its nearest tracked sample point."""
    from scipy.ndimage import distance_transform_edt

    seeds = np.full(mask0.shape, -1, np.int32)
    xs, ys = points0[:, 0].astype(int), points0[:, 1].astype(int)
    seeds[ys, xs] = point_labels
    _, (near_y, near_x) = distance_transform_edt(seeds < 0, return_indices=True)
    labels = seeds[near_y, near_x]
    return np.where(mask0, labels, -1).astype(np.int16)


REASSIGN_ROUNDS = 2
LOOP_MAX_DIFFERENCE = 6.0  # mean grey-level difference between last and first frame for a clip to count as a loop


def analyse_clip(frames_u8: list[np.ndarray], facing: str, n_regions: int = 10,
                 sample_step: int = 3) -> DrivingAnalysis:
    """Frames at the clip's size are resized to ANALYSIS_SIDE (long side) first."""
    height, width = frames_u8[0].shape[:2]
    scale = ANALYSIS_SIDE / max(height, width)
    size = (round(width * scale), round(height * scale))
    frames = [cv2.resize(f[..., :3], size, interpolation=cv2.INTER_AREA) for f in frames_u8]
    masks = np.stack([clip_foreground(f) for f in frames])
    grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    ys, xs = np.nonzero(masks[0])
    keep = (ys % sample_step == 0) & (xs % sample_step == 0)
    points0 = np.stack([xs[keep], ys[keep]], axis=1).astype(np.float64)
    if len(points0) < n_regions * 6:
        raise ValueError("the driving clip's first frame shows too small an object to track")
    flows = [_step_flows(grays, t - 1, t) for t in range(1, len(grays))]
    evidence = DirectEvidence(grays, masks, [_step_flows(grays, 0, t) for t in range(1, len(grays))])
    positions, trusted = track_points(masks, points0, flows)
    point_labels = cluster_regions(positions, trusted, n_regions)
    k = int(point_labels.max()) + 1
    affines = fit_region_affines(points0, point_labels, masks, flows, k, evidence=evidence)
    for _ in range(REASSIGN_ROUNDS):
        point_labels = smooth_labels(points0, reassign_by_motion(points0, positions, trusted, affines))
        point_labels = np.unique(point_labels, return_inverse=True)[1]  # regions left empty disappear
        k = int(point_labels.max()) + 1
        affines = fit_region_affines(points0, point_labels, masks, flows, k, evidence=evidence)
    is_loop = len(grays) > 2 and float(np.abs(grays[-1].astype(np.float32) - grays[0]).mean()) < LOOP_MAX_DIFFERENCE
    if is_loop:
        closing_flow = [_step_flows(grays, len(grays) - 1, 0)]
        closing = fit_region_affines(points0, point_labels, masks[-1:], closing_flow, k, start=affines[-1])[1]
        affines = close_loop(affines, closing)
    affines = smooth_affines(affines)
    labels0 = assign_labels(masks[0], points0, point_labels)
    centres = np.array([points0[point_labels == r].mean(axis=0) for r in range(k)])
    keypoints = np.einsum("tkij,kj->tki", affines[:, :, :2, :2], centres) + affines[:, :, :2, 2]
    return DrivingAnalysis(masks, labels0, affines[:, :, :2, :], keypoints, facing)


def clip_cache_key(clip_bytes_hash: str, n_regions: int) -> str:
    """Cache key of an analysis: the clip's content, the settings and this module's code (edits re-analyse)."""
    code = code_version((__name__, "pipeline.matting"))
    return hashlib.sha256(f"{clip_bytes_hash}:{n_regions}:{ANALYSIS_SIDE}:{code}".encode()).hexdigest()[:24]
