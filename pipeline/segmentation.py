"""Binary object masks from a backdrop model, one function per kind of backdrop. Pure array functions.

Plain backdrops: seeds where the photo clearly departs from the backdrop (strong colour distance or fine texture,
never shadow-like), then a watershed flooded from the seeds and from the backdrop: it stops at the sharpest edge
between them, which is the object's outline and not the soft edge of its shadow, and it holds for a white product
on a white sweep, whose interior barely differs from the backdrop.
Textured backdrops: seeds where colours are unlikely under the border's colour distribution, then GrabCut."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.backdrop import shadow_colour, shadow_like

SHADOW_REACH_PX = 6  # how far past a shadow's smooth body its colour alone marks the shadow
STRICT_SHADOW_HUE_SHIFT = 0.1  # Lab hue shift per unit of darkening allowed a shadow beside the object (0.2 elsewhere)
TINTED_SEED_REACH_PX = 4  # shadow-coloured seeds this close to seeds of another colour are left to the watershed
HIST_BINS = 16  # per Lab channel, for the border's colour distribution on textured backdrops
TEXTURE_SAMPLES = 12000  # pixels per class the textured path's classifier learns from
TEXTURE_TREES = 30
SURE_BACKDROP_P = 0.05  # classifier P(object) below which the second cut may not take a pixel
GAP_REACH_PX = 8  # narrow gaps: the object on both sides within this (at the 640 px working size)
GAP_LEVEL = 3.0  # log-likelihood margin by which the backdrop's colours must explain a gap pixel
GAP_UNLIKE = 15.0  # Lab units a gap's colours must lie from the object's colours beside it (median over the blob)
GAP_COMPONENTS = 5  # per colour mixture (object, backdrop)
GAP_SAMPLES = 6000  # pixels each mixture learns from
GAP_COV_FLOOR = 1.0  # Lab units² added to every mixture component's covariance
FGD_MARGIN_PX = 8  # how far into the working size's confident object labels the refinement-size cut may decide
WORKING_SIDE = 640  # the long side the pixel sizes here are tuned to (pipeline.matting.PROCESS_SIDE)
WHITEN_FLOOR = 9.0  # Lab units²: colour spread below this is treated as noise when whitening by the border


@dataclass(frozen=True)
class Segmentation:
    mask: np.ndarray  # HxW bool: the object (every blob found; picking the one to animate comes later)
    shadow: np.ndarray  # HxW bool: soft shadow on the backdrop, not part of the object
    backdrop_like: np.ndarray  # HxW bool: pixels that look like the backdrop (enclosed ones stay holes)
    sure_backdrop: np.ndarray  # HxW bool: pixels no refinement may give to the object
    cut_labels: np.ndarray | None = None  # HxW uint8 GrabCut labels the textured path's second cut started from


def _open(mask: np.ndarray, size: int = 3) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def segment_plain(rgb_u8: np.ndarray, lab: np.ndarray, distance: np.ndarray, surface: np.ndarray,
                  spread: float, ring: np.ndarray, detail: np.ndarray) -> Segmentation:
    """The object and its shadow on a plain backdrop (`detail`: backdrop.local_detail of `lab`)."""
    noise_detail = float(np.median(detail[ring]))
    shadowish = shadow_like(lab, surface, detail, noise_detail)
    # strong contrast: far from the backdrop, and at least half as far as the object nearby (a soft edge pixel a
    # fifth object is already far from the backdrop beside a dark product; this keeps the seeds inside its outline)
    local_peak = cv2.dilate(distance, np.ones((5, 5), np.uint8))
    strong = (distance > max(8.0, 5.0 * spread)) & (distance > 0.5 * local_peak)
    textured = (detail > 3.0 * noise_detail + 0.6) & (distance > 3.0 * spread + 1.0)
    # the detail measure spreads a few pixels past an edge; pull its seeds back inside
    textured = cv2.erode(textured.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    calm_distance = cv2.GaussianBlur(distance, (0, 0), 1.2)  # sensor and JPEG noise would leave gaps in the marker
    backdrop = (ring & (distance < 3.0 * spread + 1.0)) | _open(
        (calm_distance < 2.5 * spread + 1.0) & (detail < 2.0 * noise_detail + 0.3))
    # the shadow's smooth body on the open backdrop (not the shadow-coloured inside of a white product, which its
    # outline encloses), and around it the pixels whose colour a shadow explains: beside a foot the detail measure
    # is raised by the foot's own edge, so there the colour alone decides and such pixels are no seeds
    shadow_body = _open(shadowish, 5)
    shadow_body = _touching(shadow_body, backdrop)
    shadow_zone = _dilate(shadow_body, SHADOW_REACH_PX) & shadow_colour(lab, surface)
    seeds = _open((strong | textured) & ~shadowish)
    seeds &= ~shadow_zone
    # a seed of the backdrop's own hue, only darker, beside a seed of another colour is as often the object's shadow
    # as its shading (the doll's shadow under her hem, a plinth's contact shadow): the watershed decides there
    tinted = shadow_colour(lab, surface, hue_shift_per_darkening=STRICT_SHADOW_HUE_SHIFT)
    seeds &= ~(tinted & _dilate(seeds & ~tinted, TINTED_SEED_REACH_PX))
    # the backdrop seen through a narrow gap (between a tail and a leg) is not calm (both edges are near) but its
    # colour matches the backdrop closely
    close = cv2.GaussianBlur(distance, (0, 0), 0.7) < 2.0 * spread + 1.0
    backdrop |= _open(close & ~_dilate(seeds, 2))
    # the shadow's body is backdrop too: without this marker the object's flood can leak into it at the feet
    backdrop |= shadow_body & ~_dilate(seeds, 1)
    backdrop &= ~_dilate(seeds, 2)
    markers = np.zeros(distance.shape, np.int32)
    markers[backdrop] = 1
    sure_backdrop = backdrop.copy()
    markers[seeds] = 2
    backdrop_like = distance < 3.0 * spread + 1.5
    if not seeds.any():
        return Segmentation(seeds, np.zeros_like(seeds), backdrop_like, backdrop)
    smoothed = cv2.GaussianBlur(rgb_u8, (0, 0), 0.8)
    cv2.watershed(np.ascontiguousarray(smoothed[..., ::-1]), markers)
    obj = markers == 2
    # the watershed's object flood fills narrow gaps whose backdrop lies in the object's shadow (their edges raise
    # the detail measure, so no smooth shadow marks them): reopen them, and keep the matting out of them
    gaps = shadowed_gaps(lab, tinted, obj)
    obj &= ~gaps
    shadow = _open(shadowish & ~obj & (distance > 2.0 * spread + 0.5), 5)
    return Segmentation(obj, shadow, backdrop_like | gaps,
                        sure_backdrop | cv2.erode(gaps.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool))


def shadowed_gaps(lab: np.ndarray, tinted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The plain backdrop seen, in the object's shadow, through narrow gaps of `mask` (between a doll's arm and her
    dress, between two legs): pixels of the backdrop's own hue, only darker (`tinted`), in the mask or beside it,
    that the rest of the mask lies on both sides of within GAP_REACH_PX, and whose blob's colours are, by the median,
    GAP_UNLIKE from every object pixel beside them (the shading of a white product resembles its own neighbours).
    Those outside the mask are returned too, so the refinement leaves them to the backdrop."""
    rest = mask & ~_open(mask & tinted, 3)
    return _gaps_in_concavities(_open(tinted & ~rest, 3), rest, cv2.GaussianBlur(lab, (0, 0), 0.8))


def _touching(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The blobs of `mask` that touch (or overlap) `other`."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    hit = np.unique(labels[_dilate(other, 1) & mask])
    return np.isin(labels, hit[hit > 0])


def _colour_bins(lab: np.ndarray) -> np.ndarray:
    lo, hi = np.array([0, -64, -64], np.float32), np.array([100, 64, 64], np.float32)
    scaled = np.clip((lab - lo) / (hi - lo) * HIST_BINS, 0, HIST_BINS - 1).astype(np.int32)
    return (scaled[..., 0] * HIST_BINS + scaled[..., 1]) * HIST_BINS + scaled[..., 2]


def unlikely_under_border(lab: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """How unlikely each pixel's neighbourhood is under the border's colour distribution (0 = typical of it)."""
    bins = _colour_bins(lab)
    hist = np.bincount(bins[ring], minlength=HIST_BINS ** 3).astype(np.float32).reshape((HIST_BINS,) * 3)
    hist = cv2.GaussianBlur(hist.reshape(HIST_BINS, -1), (3, 3), 0.7).reshape((HIST_BINS,) * 3)  # share mass
    probability = hist.ravel() / hist.sum()
    surprise = -np.log(probability[bins] + 1e-6)
    surprise -= np.median(surprise[ring])
    return cv2.blur(np.maximum(surprise, 0), (9, 9))


def texture_features(lab: np.ndarray) -> np.ndarray:
    """Per-pixel colour and texture descriptors (HxWx14 float32): the colour, its local means at two scales, the
    lightness's local spread at both, the fine-detail energy, and the structure tensor's strength and coherence
    (grass blades are oriented, gravel is not, fur is finer than either)."""
    lightness = lab[..., 0]
    channels = list(cv2.split(cv2.GaussianBlur(lab, (0, 0), 1.0)))
    for sigma in (3.0, 8.0):
        channels += list(cv2.split(cv2.GaussianBlur(lab, (0, 0), sigma)))
        variance = cv2.GaussianBlur(lightness * lightness, (0, 0), sigma) - cv2.GaussianBlur(lightness, (0, 0),
                                                                                            sigma) ** 2
        channels.append(np.sqrt(np.maximum(variance, 0.0)))
    high = lightness - cv2.GaussianBlur(lightness, (0, 0), 1.5)
    channels.append(np.sqrt(cv2.GaussianBlur(high * high, (0, 0), 2.0)))
    gx, gy = cv2.Sobel(lightness, cv2.CV_32F, 1, 0), cv2.Sobel(lightness, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cv2.GaussianBlur(v, (0, 0), 3.0) for v in (gx * gx, gy * gy, gx * gy))
    strength = jxx + jyy + 1e-3
    channels += [np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / strength, np.log(strength)]
    return np.stack(channels, axis=-1).astype(np.float32)


def object_probability(features: np.ndarray, object_px: list[np.ndarray], backdrop_px: np.ndarray,
                       samples: int = TEXTURE_SAMPLES) -> np.ndarray:
    """P(object) per pixel from a random forest (cv2.ml) trained on colour+texture descriptors of pixels known to
    be object and known to be backdrop: a per-pixel unary that tells a fur-coloured grass blade from fur by its
    neighbourhood, which a colour model cannot."""
    rng = np.random.default_rng(0)

    def sample(mask: np.ndarray, count: int) -> np.ndarray:
        ys, xs = np.nonzero(mask)
        chosen = rng.choice(len(ys), min(len(ys), count), replace=False)
        return features[ys[chosen], xs[chosen]]

    backdrop = sample(backdrop_px, samples)
    obj = np.concatenate([sample(mask, samples // len(object_px)) for mask in object_px])
    data = np.concatenate([backdrop, obj])
    responses = np.concatenate([np.zeros(len(backdrop)), np.ones(len(obj))]).astype(np.int32)
    forest = cv2.ml.RTrees_create()
    forest.setMaxDepth(12)
    forest.setMinSampleCount(5)
    forest.setTermCriteria((cv2.TERM_CRITERIA_MAX_ITER, TEXTURE_TREES, 0))
    cv2.setRNGSeed(0)
    forest.train(data, cv2.ml.ROW_SAMPLE, responses)
    votes = forest.getVotes(features.reshape(-1, features.shape[-1]), 0)  # first row: the class labels
    column = int(np.nonzero(votes[0] == 1)[0][0])
    return (votes[1:, column] / np.maximum(votes[1:].sum(axis=1), 1)).reshape(features.shape[:2]).astype(np.float32)


def whitened_colours(lab: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """The photo in colour coordinates whitened by the border's colour spread (regularised), as 8-bit: a textured
    backdrop varies mostly in lightness, so lightness counts less and the hue, which tells it from the object,
    more. GrabCut's colour models and its edge term work on this."""
    values = lab[ring].reshape(-1, 3).astype(np.float64)
    covariance = np.cov(values.T) + np.eye(3) * WHITEN_FLOOR
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    transform = eigenvectors @ np.diag(1.0 / np.sqrt(eigenvalues)) @ eigenvectors.T
    white = (lab.reshape(-1, 3) - values.mean(axis=0)) @ transform.T
    return np.clip(white.reshape(lab.shape) * 20.0 + 128.0, 0, 255).astype(np.uint8)


def segment_textured(rgb_u8: np.ndarray, lab: np.ndarray, ring: np.ndarray) -> Segmentation:
    """The object on a textured backdrop (`ring`: the border pixels known to show the backdrop). GrabCut seeded by
    colours the border does not have gives a first mask; a colour+texture classifier trained on the seeds and that
    mask's inside against what lies clearly outside it then tells object from backdrop per pixel, and a second GrabCut, on
    backdrop-whitened colours and held by that classifier's confident pixels, cuts the outline; the narrow gaps its
    smoothness closed are reopened (`backdrop_gaps`) and kept from the matting."""
    surprise = unlikely_under_border(lab, ring)
    ring_level = float(np.quantile(surprise[ring], 0.95))
    seeds = _open(surprise > max(2.0, 2.0 * ring_level), 5)
    no_shadow = np.zeros_like(seeds)
    if not seeds.any():
        return Segmentation(seeds, no_shadow, ~seeds, no_shadow)
    ys, xs = np.nonzero(_largest_with_neighbours(seeds))
    pad = round(0.06 * max(np.ptp(ys), np.ptp(xs)))
    box = np.zeros_like(seeds)
    box[max(0, ys.min() - pad): ys.max() + pad + 1, max(0, xs.min() - pad): xs.max() + pad + 1] = True
    labels = np.where(box, cv2.GC_PR_BGD, cv2.GC_BGD).astype(np.uint8)
    labels[box & (surprise > ring_level)] = cv2.GC_PR_FGD
    sure_fg = cv2.erode(seeds.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    labels[sure_fg] = cv2.GC_FGD
    labels[ring & (surprise <= ring_level) & ~box] = cv2.GC_BGD
    bgr = np.ascontiguousarray(rgb_u8[..., ::-1])
    cv2.setRNGSeed(0)
    cv2.grabCut(bgr, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), 5, cv2.GC_INIT_WITH_MASK)
    first = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    clear_backdrop = ~_dilate(first, 6)
    if sure_fg.sum() < 50 or clear_backdrop.sum() < 50:
        return Segmentation(first, no_shadow, surprise <= ring_level, no_shadow)
    # the object's samples: the first mask's inside, not only the seeds (parts of the object whose colours the
    # backdrop has too, a black collar on gravel); backdrop the first mask took in is a minority of them and
    # still scores low, since the far more numerous backdrop samples look the same
    inside = cv2.erode(first.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    probability = object_probability(texture_features(lab), [sure_fg, inside | sure_fg], clear_backdrop)
    region = box | _dilate(first, 10)  # the seeds' box, and around what the first cut found beyond it
    labels = np.where(region, np.where(probability >= 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD), cv2.GC_BGD)
    labels = labels.astype(np.uint8)
    labels[probability < SURE_BACKDROP_P] = cv2.GC_BGD
    labels[cv2.erode((probability > 0.95).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & region] = \
        cv2.GC_FGD
    if not (labels == cv2.GC_FGD).any():
        return Segmentation(first, no_shadow, surprise <= ring_level, no_shadow)
    cut_labels = labels.copy()
    mask = _cut(whitened_colours(lab, ring), labels)
    # GrabCut's smoothness closes narrow gaps between two parts of the object (a tail and a leg): reopen them, and
    # keep the matting out of them
    gaps = backdrop_gaps(lab, mask)
    sure_backdrop = cv2.erode(gaps.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return Segmentation(mask & ~gaps, no_shadow, (surprise <= ring_level) | (probability < 0.5) | gaps,
                        sure_backdrop, cut_labels)


def _cut(image_u8: np.ndarray, labels: np.ndarray, iterations: int = 3) -> np.ndarray:
    """GrabCut from a label map (changed in place); the object it finds."""
    cv2.setRNGSeed(0)
    cv2.grabCut(image_u8, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), iterations, cv2.GC_INIT_WITH_MASK)
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))


def recut_textured(lab: np.ndarray, white_u8: np.ndarray, labels: np.ndarray, mask: np.ndarray,
                   sure_backdrop: np.ndarray, px: float) -> tuple[np.ndarray, np.ndarray]:
    """The textured path's outline found again at the refinement size, where a 3 px gap between two legs is no
    longer a blend of both: the second cut rerun from its labels (`labels`, scaled up; changed in place) on the
    whitened colours `white_u8`, then the narrow gaps it still closes reopened (`narrow_gaps`). `mask` (the picked
    object from the working size, scaled up) keeps other blobs out; `px`: pixels per working-size pixel. Returns
    the object and the pixels no refinement may take."""
    # the working size's confident object labels are blends across a gap a few pixels wide: within
    # FGD_MARGIN_PX of their edge the cut may decide again at this size
    confident = labels == cv2.GC_FGD
    labels[confident & _dilate(~confident, round(FGD_MARGIN_PX * px))] = cv2.GC_PR_FGD
    found = _cut(white_u8, labels) & _dilate(mask, round(10 * px)) & ~sure_backdrop
    gaps = narrow_gaps(lab, white_u8, found, sure_backdrop, px)
    return found & ~gaps, sure_backdrop | cv2.erode(gaps.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def fine_features(lab: np.ndarray) -> np.ndarray:
    """Per-pixel descriptors at the pixel's own scale (HxWx8 float32): the colour lightly smoothed and at 2 px,
    the lightness's spread at 1.5 px and its finest detail. Unlike `texture_features` they do not blur across a
    gap a few pixels wide."""
    lightness = lab[..., 0]
    channels = list(cv2.split(cv2.GaussianBlur(lab, (0, 0), 0.7))) + list(cv2.split(cv2.GaussianBlur(lab, (0, 0),
                                                                                                      2.0)))
    variance = cv2.GaussianBlur(lightness * lightness, (0, 0), 1.5) - cv2.GaussianBlur(lightness, (0, 0), 1.5) ** 2
    channels.append(np.sqrt(np.maximum(variance, 0.0)))
    high = lightness - cv2.GaussianBlur(lightness, (0, 0), 1.0)
    channels.append(np.sqrt(cv2.GaussianBlur(high * high, (0, 0), 1.0)))
    return np.stack(channels, axis=-1).astype(np.float32)


def narrow_gaps(lab: np.ndarray, white_u8: np.ndarray, mask: np.ndarray, sure_backdrop: np.ndarray,
                px: float) -> np.ndarray:
    """Backdrop that a cut closed inside narrow concavities of `mask` (`px`: pixels per working-size pixel).
    Colour mixtures of the mask's inside and of the backdrop around it say which mask pixels have the object's
    colours; a per-pixel classifier (`fine_features`) learnt from those against the backdrop marks what is
    clearly object (held) and clearly backdrop (taken out, unless its colour is the object's); a cut free to move
    everything else drops pixels, and of those only the ones that a closing of what it kept covers (a gap with
    the object on both sides, GAP_REACH_PX across at most) count: elsewhere the first outline stands. A gap that
    does not open onto the outside must also lie GAP_UNLIKE from the object's colours beside it."""
    inside = ~_dilate(~mask, round(3 * px))
    around = _dilate(mask, round(24 * px)) & ~_dilate(mask, round(2.5 * px))
    if inside.sum() < 200 or around.sum() < 200:
        return np.zeros_like(mask)
    features = fine_features(lab)
    # the closed gaps lie inside the mask and would be learnt as object: colour mixtures (smooth enough that the
    # few gap pixels among the object's samples barely shape them) take what the backdrop's explains better out
    object_coloured = mask & (_colour_log_ratio(features[..., :3], mask, inside, around) > 0)
    probability = object_probability(features, [inside & object_coloured], around)
    labels = np.full(mask.shape, cv2.GC_BGD, np.uint8)
    labels[_dilate(mask, round(6 * px))] = cv2.GC_PR_BGD
    labels[mask] = cv2.GC_PR_FGD
    held = cv2.erode((object_coloured & (probability > 0.9)).astype(np.uint8),
                     np.ones((2 * round(2.5 * px) + 1,) * 2, np.uint8)).astype(bool)
    labels[held] = cv2.GC_FGD
    labels[(sure_backdrop & ~mask) | ((probability < SURE_BACKDROP_P) & ~object_coloured)] = cv2.GC_BGD
    kept = _cut(white_u8, labels)
    reach = round(GAP_REACH_PX * px)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
    closed = cv2.morphologyEx(kept.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    # a gap may be 2 px wide here, which an opening would erase: drop specks by their size instead
    gaps = _without_specks(mask & ~kept & closed, round(16 * px * px))
    # a gap the mask encloses (two legs crossing) needs more than colour: the grey lining inside a suit's neck
    # ring is explained by the gravel's colours too, but it resembles the object beside it
    opening = _touching(gaps, ~mask)
    return opening | _unlike_object_nearby(features[..., :3], gaps & ~opening, kept, round((GAP_REACH_PX + 2) * px),
                                           GAP_UNLIKE)


def _without_specks(mask: np.ndarray, least_area: int) -> np.ndarray:
    """`mask` without its blobs smaller than `least_area` pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.nonzero(stats[:, cv2.CC_STAT_AREA] >= least_area)[0]
    return np.isin(labels, keep[keep > 0])


def _colour_log_ratio(colours: np.ndarray, mask: np.ndarray, inside: np.ndarray, around: np.ndarray) -> np.ndarray:
    """For each pixel of `mask` (0 elsewhere): the log-likelihood of its colour under a mixture of the colours in
    `inside` minus under one of the colours in `around`."""
    ys, xs = np.nonzero(mask)
    values = colours[ys, xs].astype(np.float64)
    ratio = np.zeros(mask.shape, np.float32)
    ratio[ys, xs] = _log_likelihood(_gaussian_mixture(colours[inside]), values) - _log_likelihood(
        _gaussian_mixture(colours[around]), values)
    return ratio


def _gaussian_mixture(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A full-covariance Gaussian mixture (cv2.ml.EM) of the samples: weights, means, covariances."""
    rng = np.random.default_rng(0)
    chosen = samples[rng.choice(len(samples), min(len(samples), GAP_SAMPLES), replace=False)]
    em = cv2.ml.EM_create()
    em.setClustersNumber(GAP_COMPONENTS)
    em.setCovarianceMatrixType(cv2.ml.EM_COV_MAT_GENERIC)
    em.setTermCriteria((cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 30, 1e-3))
    cv2.setRNGSeed(0)
    em.trainEM(chosen.astype(np.float32))
    return em.getWeights().ravel(), em.getMeans(), np.asarray(em.getCovs())


def _log_likelihood(model: tuple[np.ndarray, np.ndarray, np.ndarray], values: np.ndarray) -> np.ndarray:
    weights, means, covs = model
    terms = []
    for weight, mean, cov in zip(weights, means, covs):
        cov = cov + np.eye(cov.shape[0]) * GAP_COV_FLOOR  # sensor noise: no component narrower than this
        offset = values - mean
        terms.append(np.log(weight + 1e-12) - 0.5 * np.einsum("ni,ij,nj->n", offset, np.linalg.inv(cov), offset)
                     - 0.5 * np.log(np.linalg.det(cov)))
    return np.logaddexp.reduce(np.stack(terms), axis=0)


def backdrop_gaps(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The backdrop seen through narrow gaps of `mask` (between a tail and a leg, between two legs) that a cut
    with a smoothness term closed. A pixel is such a gap when
    - its colour is likelier under a colour mixture of the backdrop around the object than under one of the
      object's inside (eroded by GAP_REACH_PX, so the closed gaps themselves are not learned as object), by
      GAP_LEVEL in log-likelihood;
    - it connects to the outside through pixels the backdrop's model explains at least as well (an enclosed
      backdrop-coloured print on a product is never opened);
    - the object lies on both sides of it within GAP_REACH_PX (a closing of the rest covers it: a narrow concavity,
      not the edge of a convex part such as a dark rim);
    - its blob's colours are, by the median, at least GAP_UNLIKE Lab units from every object pixel within reach
      (a grey part of the object beside grey stones resembles its own neighbours and stays)."""
    inside = ~_dilate(~mask, GAP_REACH_PX)
    around = _dilate(mask, 25) & ~_dilate(mask, 2)
    if inside.sum() < 200 or around.sum() < 200:
        return np.zeros_like(mask)
    smooth = cv2.GaussianBlur(lab, (0, 0), 0.8)
    ratio = _colour_log_ratio(smooth, mask, inside, around)
    candidates = mask & (ratio < -GAP_LEVEL) & _touching(mask & (ratio < 0), ~mask)
    candidates = _open(candidates, 3)
    return _gaps_in_concavities(candidates, mask & ~candidates, smooth)


def _gaps_in_concavities(candidates: np.ndarray, rest: np.ndarray, smooth_lab: np.ndarray) -> np.ndarray:
    """The `candidates` that `rest` (the object without them) lies on both sides of within GAP_REACH_PX (a closing of
    it covers them) and whose blob's colours are, by the median, GAP_UNLIKE from every object pixel beside them."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GAP_REACH_PX + 1,) * 2)
    gaps = candidates & cv2.morphologyEx(rest.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    gaps &= _unlike_object_nearby(smooth_lab, gaps, rest, GAP_REACH_PX + 2, GAP_UNLIKE)
    return _open(gaps, 3)


def _unlike_object_nearby(colours: np.ndarray, pixels: np.ndarray, obj: np.ndarray, radius: int,
                          least: float) -> np.ndarray:
    """The blobs of `pixels` whose colours are, by the median, at least `least` from the nearest-coloured object
    pixel (away from the object's outline, where colours blend) within `radius`."""
    core = ~_dilate(~obj, 2)
    ys, xs = np.nonzero(pixels)
    height, width = pixels.shape
    nearest = np.full(len(ys), np.inf, np.float32)
    own = colours[ys, xs]
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx > radius * radius:
                continue
            y2, x2 = np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)
            distance = np.linalg.norm(own - colours[y2, x2], axis=1)
            nearest = np.where(core[y2, x2], np.minimum(nearest, distance), nearest)
    result = np.zeros_like(pixels)
    count, labels = cv2.connectedComponents(pixels.astype(np.uint8), connectivity=8)
    blob = labels[ys, xs]
    for index in range(1, count):
        chosen = blob == index
        result[ys[chosen], xs[chosen]] = np.median(nearest[chosen]) >= least
    return result


def _largest_with_neighbours(mask: np.ndarray) -> np.ndarray:
    """The largest blob plus the blobs close to it (parts of one object split by a thin gap)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    main = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    near = _dilate(labels == main, max(3, round(0.03 * max(mask.shape))))
    keep = np.unique(labels[near & mask])
    return np.isin(labels, keep[keep > 0])


def fill_enclosed(mask: np.ndarray, keep_open: np.ndarray) -> np.ndarray:
    """Fill holes enclosed by the object unless they look like the backdrop (`keep_open`: a mug handle's opening
    shows the backdrop; a white product's pale interior does not quite)."""
    inverse = (~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inverse, connectivity=4)
    height, width = mask.shape
    filled = mask.copy()
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        if x == 0 or y == 0 or x + w == width or y + h == height:
            continue
        hole = labels == index
        if keep_open[hole].mean() < 0.5:
            filled[hole] = True
    return filled
