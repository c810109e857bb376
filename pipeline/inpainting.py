"""Classical background-plate inpainting. Plain backdrops: a robust colour surface through the ring around the hole
plus a harmonic (smoothest) fill of what the surface misses, which leaves no streaks or ghost of the object.
Regular textured backdrops (tiles, bricks: the ring's autocorrelation shows a lattice): copies along the lattice
(pipeline/lattice_fill.py), so mortar and grout lines run on through the hole. Other textured backdrops: the lighting continued harmonically from the hole's border, plus texture synthesised from
patches around it (pipeline/texture_fill.py), at full contrast near the hole's border and half deep inside; in that
border band, where the backdrop has a grain (wood, planks, courses of brick) that crosses the border, the texture is
carried in along it instead (pipeline/coherence_transport.py), so the grain and the seams do not break where a
swaying object uncovers the plate. Such plates are still flagged low quality (the texture continues, the exact
structure behind the object is a guess).
cv2.inpaint NS and TELEA stay selectable. `fill_plate` also reports the visible band's area and the fill's estimated
error there. Works on arrays; no file access."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

from pipeline.backdrop import fit_color_surface
from pipeline.coherence_transport import GRADIENT_REACH_PX, gradient_products, grain, transport
from pipeline.lattice_fill import Lattice, copy_along, find_lattice
from pipeline.texture_fill import synthesize_texture

RING_PX = 40  # the ring around the hole whose texture tells plain from textured
# the ring's 90th-percentile RGB residual (0-255) from the colour surface below which the surface fit is trusted;
# a percentile that high sees a brick wall's mortar lines, which a median misses (the bricks themselves are flat)
PLAIN_RING_RESIDUAL = 8.0
CLASSICAL_FILLS = ("surface", "lattice", "exemplar", "ns", "telea")  # what `method` may name besides "auto"
HARMONIC_MAX_UNKNOWNS = 40_000  # the harmonic fill is solved at a scale with at most this many hole pixels
LIGHT_SIGMA_SHARE = 0.008  # exemplar fill: lighting = the backdrop blurred by this share of the photo's long side
SEAM_SIGMA = 2.0  # px: the local mean matched across the hole's border
# share of the synthesised texture's contrast kept deep in the hole: a guess at structure that is not there costs
# PSNR as the square of its contrast, a blob costs the look; half keeps both ahead of cv2.inpaint TELEA
DEEP_TEXTURE_GAIN = 0.5
# ... and full contrast within this share of the long side from the hole's border, falling to DEEP_TEXTURE_GAIN by
# the second: the border band is what shows beside a swaying object, and there the texture is best predicted
FULL_CONTRAST_SHARES = (0.02, 0.06)
GRAIN_SIGMA_SHARE = 0.01  # the grain direction is the structure tensor smoothed over this share of the long side
# px: detail finer than this (sensor noise, pores) that the grain transport's weighted means smooth away is added
# back from the synthesised texture
FINE_DETAIL_SIGMA = 1.0
# a backdrop whose strongest repeat (lattice_fill.find_lattice's regularity) correlates at least this well is filled
# by copying along its lattice. On the bench: tiles 0.86, the brick photo 0.53-0.54, gravel and grass 0.00-0.06; the
# synthetic brick pavement in perspective (0.17-0.28) and the plank table (0.19) stay with the patch synthesis
REGULAR_MIN = 0.5
PROBE_WIDTH_PX = (4, 24)  # the probe ring's width: the visible band's mean depth, clamped to this range
LATTICE_SEAM_SHARE = 0.25  # the lattice fill's border step is measured over this share of a lattice cell
# the hole's margin past the matte keeps the photo, on a textured backdrop, where the photo's local mean (over
# MARGIN_MEAN_SIGMA px, the product's own pixels left out) is within MARGIN_MATCH of the fill's: there the photo
# shows backdrop, not the product's fringe or shadow, and no fill matches a texture as the photo does (the margin
# shows around the whole product in every frame). Motion ground truth (24 frames), L1 ratio vs static: horse on
# brick 0.62 -> 0.60, doll on gravel 1.16 -> 1.02. Looser (4 px, 20: 0.56 / 0.88) puts the saucer's dark rim back
# on the mug's plank plate as a thin line
MARGIN_MEAN_SIGMA = 2.0
MARGIN_MATCH = 10.0


@dataclass
class PlateResult:
    plate_u8: np.ndarray  # HxWx3 uint8: the photo with the object filled in
    hole: np.ndarray  # HxW bool: what was filled
    method: str  # "surface+harmonic" | "exemplar" | "ns" | "telea" | "none" | a model's name
    quality: str  # "good" | "low": a textured backdrop that a classical fill can only approximate
    ring_residual: float  # the ring's 90th-percentile residual from the colour surface


def make_hole(alpha: np.ndarray, shadow: np.ndarray, dilate_px: int) -> np.ndarray:
    """The product plus its contact shadow, dilated so no fringe of the object survives."""
    core = (alpha > 0.02) | shadow
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
    return cv2.dilate(core.astype(np.uint8), kernel).astype(bool)


def hole_ring(hole: np.ndarray) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING_PX + 1, 2 * RING_PX + 1))
    ring = cv2.dilate(hole.astype(np.uint8), kernel).astype(bool) & ~hole
    return ring if ring.sum() >= 50 else ~hole  # a hole covering almost everything: sample what is left


def harmonic_fill(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The smoothest (Laplace) continuation of `values` (HxWxC float) into `hole` from its border, solved at a
    reduced scale (the result is smooth anyway) and brought back to full size."""
    height, width = hole.shape
    scale = min(1.0, float(np.sqrt(HARMONIC_MAX_UNKNOWNS / max(1, hole.sum()))))
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    small_hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.0
    outside = (~hole).astype(np.float32)
    # average only pixels outside the hole, so the object's colours never reach the boundary values
    weight = cv2.resize(outside, size, interpolation=cv2.INTER_AREA)
    small = cv2.resize(values * outside[..., None], size, interpolation=cv2.INTER_AREA) / np.maximum(weight, 1e-6)[..., None]
    small_height, small_width = small_hole.shape
    ys, xs = np.nonzero(small_hole)
    index = -np.ones(small_hole.shape, np.int64)
    index[ys, xs] = np.arange(ys.size)
    rows, cols, rhs = [np.arange(ys.size)], [np.arange(ys.size)], np.zeros((ys.size, small.shape[2]))
    diagonal = np.zeros(ys.size)
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < small_height) & (nx >= 0) & (nx < small_width)
        diagonal += inside
        neighbour = np.where(inside, index[np.clip(ny, 0, small_height - 1), np.clip(nx, 0, small_width - 1)], -2)
        unknown = neighbour >= 0
        rows.append(np.nonzero(unknown)[0])
        cols.append(neighbour[unknown])
        known = inside & ~unknown
        rhs[known] += small[ny[known], nx[known]]
    data = np.concatenate([diagonal, -np.ones(sum(len(r) for r in rows[1:]))])
    system = coo_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(ys.size, ys.size)).tocsr()
    solved = small.copy()
    solved[ys, xs] = spsolve(system, rhs).reshape(ys.size, -1)
    full = cv2.resize(solved, (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)
    return np.where(hole[..., None], full, values)


def _masked_blur(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of `values` (HxWxC) that averages only pixels in `mask`."""
    weight = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    blurred = cv2.GaussianBlur(values * mask[..., None], (0, 0), sigma).reshape(values.shape)
    return blurred / np.maximum(weight, 1e-6)[..., None]


def border_band(hole: np.ndarray) -> np.ndarray:
    """Per pixel: 1 within FULL_CONTRAST_SHARES[0] of the long side from the hole's border, falling to 0 by the
    second."""
    depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    full, deep = (share * max(hole.shape) for share in FULL_CONTRAST_SHARES)
    return np.clip((deep - depth) / (deep - full), 0, 1)


def texture_gain(band: np.ndarray) -> np.ndarray:
    """Per pixel of the hole's `border_band`: the share of the synthesised texture's contrast the fill keeps."""
    return DEEP_TEXTURE_GAIN + (1 - DEEP_TEXTURE_GAIN) * band


def grain_transport(texture: np.ndarray, hole: np.ndarray, band: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The texture carried into the hole's border band along the backdrop's grain (coherence transport), and
    per pixel how much it should count: the band's weight (`band`, from `border_band`), times how clearly the
    backdrop has one direction there (the structure tensor of the pixels around the hole, continued into it), times
    how well known pixels along that direction supported the transport."""
    reach = 2 * GRADIENT_REACH_PX + 1
    outside = ~cv2.dilate(hole.astype(np.uint8), np.ones((reach, reach), np.uint8)).astype(bool)  # no object in it
    tensor = _masked_blur(gradient_products(texture.mean(axis=2)), outside, GRAIN_SIGMA_SHARE * max(hole.shape))
    along_y, along_x, coherence = grain(harmonic_fill(tensor, ~outside))
    carried, support = transport(texture, hole, along_y, along_x, FULL_CONTRAST_SHARES[1] * max(hole.shape))
    return carried, (band * coherence * support).astype(np.float32)


def exemplar_fill(rgb_u8: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Texture synthesis over a smooth lighting base. Patches copied from elsewhere carry their own lighting
    (vignetting, the object's soft shadow around the hole), which would show as a lighter or darker patchwork and
    a halo; so the texture is synthesised with the lighting taken out, and the lighting is continued into the
    hole from its border. In the border band the texture carried along the grain takes the synthesis's place as
    far as `grain_transport` trusts it, with the synthesis's finest detail on top."""
    image = rgb_u8.astype(np.float32)
    light = _masked_blur(image, ~hole, LIGHT_SIGMA_SHARE * max(hole.shape))
    texture = image - light
    band = border_band(hole)
    synthesised = texture_gain(band)[..., None] * synthesize_texture(texture, hole)
    synthesised_fine = synthesised - cv2.GaussianBlur(synthesised, (0, 0), FINE_DETAIL_SIGMA)
    carried, share = grain_transport(texture, hole, band)
    share = share[..., None]
    fill = harmonic_fill(light, hole) + share * (carried + synthesised_fine) + (1 - share) * synthesised
    return _blend_border(image, fill, hole, SEAM_SIGMA)


def _blend_border(image: np.ndarray, fill: np.ndarray, hole: np.ndarray, sigma: float) -> np.ndarray:
    """The fill with what is left of a step at the hole's border (its local mean, over `sigma` px, against the
    photo's just outside) spread smoothly inwards (a harmonic correction: Poisson blending of the border), as
    uint8."""
    seam = _masked_blur(image, ~hole, sigma) - _masked_blur(fill, hole, sigma)
    fill = fill + harmonic_fill(np.where(hole[..., None], 0, seam), hole)
    return np.clip(fill + 0.5, 0, 255).astype(np.uint8)


def lattice_plate(rgb_u8: np.ndarray, hole: np.ndarray, lattice: Lattice) -> np.ndarray:
    """Copy along the backdrop's lattice (pipeline/lattice_fill.py), the border's remaining step (lighting,
    perspective shading) blended away over a lattice cell; what no shift reached is continued harmonically."""
    image = rgb_u8.astype(np.float32)
    copied, reached = copy_along(image, hole, lattice.shifts)
    if not reached.all():
        copied = harmonic_fill(copied, ~reached)
    cell = float(np.hypot(*lattice.shifts[0]))
    return _blend_border(image, copied, hole, max(SEAM_SIGMA, LATTICE_SEAM_SHARE * cell))


def _inpaint_radius(hole: np.ndarray) -> int:
    return 5 if hole.mean() > 0.05 else 3


def inpaint_plate(rgb_u8: np.ndarray, hole: np.ndarray, method: str = "auto") -> PlateResult:
    """Fill `hole` in the photo. `method`: auto | surface | lattice | exemplar | ns | telea."""
    if not hole.any():
        return PlateResult(rgb_u8.copy(), hole, "none", "good", 0.0)
    ring = hole_ring(hole)
    surface = fit_color_surface(rgb_u8.astype(np.float32), ring, degree=2)
    residual = rgb_u8.astype(np.float32) - surface
    ring_residual = float(np.percentile(np.abs(residual[ring]), 90))
    plain = ring_residual < PLAIN_RING_RESIDUAL
    wants_lattice = method == "lattice" or (method == "auto" and not plain)
    lattice = find_lattice(rgb_u8.astype(np.float32), hole) if wants_lattice else None
    chosen = method
    if method == "auto":
        chosen = "surface" if plain else "lattice" if lattice.regularity >= REGULAR_MIN else "exemplar"
    hole_u8 = hole.astype(np.uint8) * 255
    if chosen == "surface":
        plate = np.clip(surface + harmonic_fill(residual, hole) + 0.5, 0, 255).astype(np.uint8)
        name = "surface+harmonic"
    elif chosen == "lattice" and len(lattice.shifts):
        plate, name = lattice_plate(rgb_u8, hole, lattice), "lattice"
    elif chosen in ("exemplar", "lattice"):  # a lattice fill with no lattice found falls back to the synthesis
        plate, name = exemplar_fill(rgb_u8, hole), "exemplar"
    else:
        flag = cv2.INPAINT_TELEA if chosen == "telea" else cv2.INPAINT_NS
        plate, name = cv2.inpaint(rgb_u8, hole_u8, _inpaint_radius(hole), flag), chosen
    plate = np.where(hole[..., None], plate, rgb_u8)
    return PlateResult(plate, hole, name, "good" if plain else "low", ring_residual)


def keep_backdrop_in_margin(photo_rgb: np.ndarray, result: PlateResult, margin: np.ndarray) -> PlateResult:
    """`result` with the photo put back in `margin` (the part of the hole past the product and its shadow) where
    the photo's local mean agrees with the fill's (MARGIN_MATCH): a fringe or a shadow left beside the product
    differs in its mean, a texture that the fill only approximates does not. Only textured plates (quality
    "low") change: on a plain backdrop the fill already matches the photo."""
    if result.quality != "low" or not margin.any():
        return result
    outside = ~(result.hole & ~margin)  # everything but the product's own pixels
    photo = photo_rgb.astype(np.float32)
    agree = np.abs(_masked_blur(photo, outside, MARGIN_MEAN_SIGMA)
                   - _masked_blur(result.plate_u8.astype(np.float32), outside, MARGIN_MEAN_SIGMA)).max(axis=2)
    keep = margin & result.hole & (agree < MARGIN_MATCH)
    plate = np.where(keep[..., None], photo_rgb, result.plate_u8)
    return PlateResult(plate, result.hole, result.method, result.quality, result.ring_residual)


def probe_ring(hole: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Known backdrop beside the hole, as wide as the visible band is deep on average (its area over the hole's
    outline, PROBE_WIDTH_PX at least): hidden and filled along with the hole, it stands in for the visible band,
    whose truth is unknown."""
    outline = max(1, cv2.countNonZero(cv2.morphologyEx(hole.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3)))))
    width = int(np.clip(round(2 * visible.sum() / outline), *PROBE_WIDTH_PX))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return cv2.dilate(hole.astype(np.uint8), kernel).astype(bool) & ~hole


PlateFill = Callable[[np.ndarray, np.ndarray], PlateResult]  # (photo, hole) -> plate, as inpaint_plate


def fill_plate(photo_rgb: np.ndarray, hole_mask: np.ndarray, visible_band: np.ndarray | None = None,
               fill: PlateFill = inpaint_plate) -> tuple[np.ndarray, dict[str, float | int | str]]:
    """The clean plate (HxWx3 uint8) and facts about it: `method`, `quality` ("good" | "low"), `ring_residual`,
    `visible_band_px` (the band's area; the whole hole when no band is given) and `visible_band_error`: the mean
    absolute error (0-255) the fill is expected to make where the plate shows, estimated without the truth by
    hiding a ring of known backdrop beside the hole (`probe_ring`), filling hole and ring the same way, and
    comparing the ring with the photo. `fill`: inpaint_plate (auto) unless the caller picks a method or model."""
    visible = hole_mask if visible_band is None else visible_band & hole_mask
    result = fill(photo_rgb, hole_mask)
    facts: dict[str, float | int | str] = {"method": result.method, "quality": result.quality,
                                           "ring_residual": round(result.ring_residual, 2),
                                           "visible_band_px": int(visible.sum()), "visible_band_error": 0.0}
    if visible.any():
        ring = probe_ring(hole_mask, visible)
        probe = fill(photo_rgb, hole_mask | ring).plate_u8
        error = np.abs(probe[ring].astype(np.float32) - photo_rgb[ring].astype(np.float32)).mean()
        facts["visible_band_error"] = round(float(error), 2)
    return result.plate_u8, facts
