#!/usr/bin/env python3
"""(Re)create the bundled example catalog: ``examples/images/*.jpg`` and ``examples/catalog.csv``.

Generation-time dependencies: numpy, opencv and pillow (already runtime deps) plus
scikit-image, used only for its bundled public-domain sample photos
(``pip install scikit-image==0.26.0``). Nothing is downloaded.

The output is deterministic: every random field comes from a fixed-seed generator and
GrabCut's internal RNG is seeded, so re-running reproduces the same pixels (JPEG bytes
may differ only if the libjpeg build differs).

Usage::

    python examples/make_examples.py            # all four products
    python examples/make_examples.py --only mug # iterate on one
    python examples/make_examples.py --truth tests/fixtures/example_alpha  # the products' true alpha
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
IMAGES_DIR = HERE / "images"
CATALOG = HERE / "catalog.csv"

SS = 2  # draw at 2x and downsample with INTER_AREA: cheap anti-aliasing for procedural edges
JPEG_QUALITY = 90
MAX_BYTES = 200_000  # keep the repo light; the README promises < 200 KB per photo

Array = np.ndarray
RGB = tuple[float, float, float]

# Key light from the upper left and slightly in front (x right, y down, z towards the viewer).
LIGHT = np.array([-0.45, -0.65, 0.62], np.float32)
LIGHT /= np.linalg.norm(LIGHT)
HALF = LIGHT + np.array([0.0, 0.0, 1.0], np.float32)
HALF /= np.linalg.norm(HALF)


# --------------------------------------------------------------------------------------
# Small raster toolkit (all float32, colours in 0..1, coordinates in *output* pixels;
# the drawing helpers scale by SS themselves so scene code reads in final-image units).
# --------------------------------------------------------------------------------------


def smoothstep(e0: float, e1: float, x: Array) -> Array:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def value_noise(shape: tuple[int, int], cell: float, rng: np.random.Generator,
                octaves: int = 1, persistence: float = 0.5) -> Array:
    """fBm of bicubically upsampled random grids, normalised to 0..1.

    Cheaper than Perlin and good enough for patina, fabric and scale textures.
    """
    h, w = shape
    out = np.zeros(shape, np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        c = max(cell / 2**o, 1.0)
        gh, gw = int(np.ceil(h / c)) + 3, int(np.ceil(w / c)) + 3
        grid = rng.random((gh, gw)).astype(np.float32)
        up = cv2.resize(grid, (int(gw * c), int(gh * c)), interpolation=cv2.INTER_LINEAR)
        # Blurring after the upsample hides the lattice that plain value noise shows.
        out += amp * blur(up, 0.5 * c)[:h, :w]
        total += amp
        amp *= persistence
    out -= out.min()
    return out / (out.max() + 1e-6)


def blur(a: Array, sigma: float) -> Array:
    return cv2.GaussianBlur(a, (0, 0), sigma) if sigma > 0 else a


def _pts(points: Sequence[tuple[float, float]]) -> Array:
    # cv2 drawing with 4 fractional bits keeps sub-pixel placement.
    return (np.asarray(points, np.float64) * SS * 16).round().astype(np.int32)


def ellipse_mask(shape: tuple[int, int], center: tuple[float, float],
                 axes: tuple[float, float], angle: float = 0.0) -> Array:
    m = np.zeros(shape, np.uint8)
    c = tuple(int(v) for v in _pts([center])[0])
    ax = tuple(int(round(v * SS * 16)) for v in axes)
    cv2.ellipse(m, c, ax, angle, 0, 360, 255, -1, cv2.LINE_AA, 4)
    return m.astype(np.float32) / 255.0


def poly_mask(shape: tuple[int, int], points: Sequence[tuple[float, float]]) -> Array:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [_pts(points)], 255, cv2.LINE_AA, 4)
    return m.astype(np.float32) / 255.0


def tube_mask(shape: tuple[int, int], path: Array, radii: Array) -> Array:
    """Union of discs along a path: a smooth tapered limb/tail/neck."""
    m = np.zeros(shape, np.uint8)
    # Resample so consecutive discs overlap densely (no scalloped outline).
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    s = np.r_[0.0, np.cumsum(seg)]
    n = max(int(s[-1] / 0.5), 2)
    ss = np.linspace(0.0, s[-1], n)
    xs, ys = np.interp(ss, s, path[:, 0]), np.interp(ss, s, path[:, 1])
    rs = np.interp(ss, s, radii)
    for x, y, r in zip(xs, ys, rs):
        c = tuple(int(v) for v in _pts([(x, y)])[0])
        cv2.circle(m, c, int(round(r * SS * 16)), 255, -1, cv2.LINE_AA, 4)
    return m.astype(np.float32) / 255.0


def dome_height(mask: Array, radius: float, smooth: float = 0.0) -> Array:
    """Height field that rounds the silhouette like an inflated/cast object.

    Circular profile of the (clamped) distance to the outline: steep at the rim, flat
    inside; radius and smoothing are in output pixels.
    """
    binary = (mask > 0.5).astype(np.uint8)
    d = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    r = radius * SS
    d = np.minimum(d, r)
    h = np.sqrt(np.maximum(d * (2 * r - d), 0.0)) / SS
    return blur(h.astype(np.float32), smooth * SS)


def normals(height: Array, strength: float = 1.0) -> Array:
    gy, gx = np.gradient(height * SS)  # height is in output px; gradient per SS px
    n = np.dstack([-gx * strength, -gy * strength, np.ones_like(height)])
    return n / np.linalg.norm(n, axis=2, keepdims=True)


def lambert(n: Array, light: Array = LIGHT) -> Array:
    return np.clip(n @ light, 0.0, 1.0)


def blinn(n: Array, shininess: float, half: Array = HALF) -> Array:
    return np.clip(n @ half, 0.0, 1.0) ** shininess


def shade_plastic(albedo: Array, n: Array, *, ambient: float = 0.38, diffuse: float = 0.72,
                  spec: float = 0.45, shininess: float = 40.0, rim: float = 0.12,
                  ao: Array | None = None) -> Array:
    """Lambert + Blinn highlight + a cool rim: reads as glossy moulded plastic."""
    d = lambert(n)
    light = ambient + diffuse * d
    if ao is not None:
        light = light * ao
    out = albedo * light[..., None]
    out += (spec * blinn(n, shininess))[..., None]
    # Rim: edges facing away from the camera pick up the bright backdrop.
    rim_amt = rim * (1.0 - np.clip(n[..., 2], 0.0, 1.0)) ** 2
    out += rim_amt[..., None] * np.array([0.9, 0.93, 1.0], np.float32)
    return out


def over(canvas: Array, rgb: Array, alpha: Array) -> Array:
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    return canvas * (1.0 - a) + rgb * a


def darken(canvas: Array, amount: Array, tint: RGB = (0.0, 0.0, 0.0)) -> Array:
    """Multiply towards a (dark) tint: used for shadows so they keep backdrop texture."""
    a = np.clip(amount, 0.0, 1.0)[..., None]
    return canvas * (1.0 - a) + canvas * a * np.asarray(tint, np.float32)


def shift(a: Array, dx: float, dy: float) -> Array:
    m = np.float32([[1, 0, dx * SS], [0, 1, dy * SS]])
    return cv2.warpAffine(a, m, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def palette(x: Array, stops: Sequence[tuple[float, RGB]]) -> Array:
    """Piecewise-linear colour ramp (used for the copper tones)."""
    xs = np.array([s[0] for s in stops], np.float32)
    cols = np.array([s[1] for s in stops], np.float32)
    out = np.empty(x.shape + (3,), np.float32)
    for c in range(3):
        out[..., c] = np.interp(x, xs, cols[:, c])
    return out


def studio_backdrop(size: tuple[int, int], top: RGB, bottom: RGB,
                    rng: np.random.Generator, vignette: float = 0.06) -> Array:
    """Seamless paper sweep: vertical gradient, gentle vignette, a hint of grain."""
    w, h = size
    H, W = h * SS, w * SS
    y = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None, None]
    t = smoothstep(0.0, 1.0, y)
    bg = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    bg = np.broadcast_to(bg, (H, W, 3)).copy()
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r2 = ((xx / W - 0.5) / 0.75) ** 2 + ((yy / H - 0.55) / 0.9) ** 2
    bg *= (1.0 - vignette * r2)[..., None]
    # Grain stops 8-bit banding in the smooth gradient once it is JPEG'd.
    bg += (rng.standard_normal((H, W, 1)).astype(np.float32) * 0.004)
    return bg


def contact_shadow(canvas: Array, center: tuple[float, float], axes: tuple[float, float],
                   strength: float, softness: float) -> Array:
    H, W = canvas.shape[:2]
    e = ellipse_mask((H, W), center, axes)
    return darken(canvas, blur(e, softness * SS) * strength, (0.25, 0.24, 0.24))


def finish(canvas: Array) -> Image.Image:
    """Downsample the supersampled float canvas to the final 8-bit RGB image."""
    H, W = canvas.shape[:2]
    small = cv2.resize(np.clip(canvas, 0.0, 1.0), (W // SS, H // SS),
                       interpolation=cv2.INTER_AREA)
    return Image.fromarray((small * 255.0 + 0.5).astype(np.uint8))


def save_jpeg(img: Image.Image, path: Path) -> int:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=False)
    data = buf.getvalue()
    if len(data) > MAX_BYTES:
        raise SystemExit(f"{path.name}: {len(data)} bytes exceeds {MAX_BYTES}")
    path.write_bytes(data)
    return len(data)


def catmull_rom(points: Sequence[tuple[float, float]], per_seg: int = 40) -> tuple[Array, Array]:
    """Smooth curve through the points; also returns the fractional knot index per sample
    so per-knot attributes (radii) can be interpolated along it."""
    p = np.asarray(points, np.float64)
    p = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    out, idx = [], []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for t in np.linspace(0.0, 1.0, per_seg, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                              + (-p0 + 3 * p1 - 3 * p2 + p3) * t3))
            idx.append(i - 1 + t)
    out.append(p[-2])
    idx.append(len(points) - 1)
    return np.array(out), np.array(idx)


def limb(shape: tuple[int, int], knots: Sequence[tuple[float, float, float]]) -> Array:
    """Tube through (x, y, radius) knots: tails, necks, legs, arms."""
    path, idx = catmull_rom([(x, y) for x, y, _ in knots])
    radii = np.interp(idx, np.arange(len(knots)), [r for _, _, r in knots])
    return tube_mask(shape, path, radii)


def scale_bumps(shape: tuple[int, int], cell: float, rng: np.random.Generator) -> Array:
    """Voronoi 'reptile scale' relief: each cell a small dome, grooves between cells."""
    H, W = shape
    c = cell * SS
    seeds = np.ones(shape, np.uint8)
    gy, gx = np.mgrid[0:H:c, 0:W:c].astype(np.float64)
    jy = np.clip(gy + rng.uniform(0, c, gy.shape), 0, H - 1).astype(int)
    jx = np.clip(gx + rng.uniform(0, c, gx.shape), 0, W - 1).astype(int)
    seeds[jy, jx] = 0
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_CCOMP)
    edge = (labels != np.roll(labels, 1, 0)) | (labels != np.roll(labels, 1, 1))
    d = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5)
    return np.sqrt(np.minimum(d, c / 2)).astype(np.float32) / np.sqrt(c / 2)


def cast_on(canvas: Array, obj: Array, part: Array, dx: float, dy: float, soft: float,
            strength: float) -> Array:
    """Shadow of a part onto what is already drawn of the object (not the backdrop)."""
    sh = blur(shift(part, dx, dy), soft * SS) * np.clip(obj, 0, 1) * (1 - np.clip(part, 0, 1))
    return darken(canvas, sh * strength)


# --------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------


def make_copper_horse() -> Image.Image:
    """Copper horse statue on a dark plinth, from skimage's CC0 horse silhouette."""
    from skimage import data

    rng = np.random.default_rng(1001)
    w, h = 800, 600
    H, W = h * SS, w * SS
    canvas = studio_backdrop((w, h), (0.90, 0.90, 0.91), (0.97, 0.97, 0.965), rng)

    # Silhouette: True is background in skimage's image; the horse already faces right.
    src = (~data.horse()).astype(np.float32)
    ys, xs = np.nonzero(src > 0.5)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    scale = 480.0 / (x1 - x0)  # horse ~60% of the frame width
    top = 62.0
    left = (w - (x1 - x0) * scale) / 2.0
    # Blur before the upscale + re-threshold so the enlarged outline is smooth, not blocky.
    src = blur(src, 0.8)
    M = np.float32([[scale * SS, 0, (left - x0 * scale) * SS],
                    [0, scale * SS, (top - y0 * scale) * SS]])
    horse = cv2.warpAffine(src, M, (W, H), flags=cv2.INTER_CUBIC)
    horse = smoothstep(0.42, 0.58, horse)
    hoof_y = top + (y1 - y0) * scale  # lowest hoof, output px
    hx0, hx1 = left, left + (x1 - x0) * scale

    # --- plinth: polished dark stone block seen slightly from above -------------------
    px0, px1 = hx0 + 10, hx1 - 30
    t_back, t_front, bottom = hoof_y - 16, hoof_y + 10, hoof_y + 52
    inset = 10.0  # perspective: back edge of the top face is a little narrower
    top_face = poly_mask((H, W), [(px0 + inset, t_back), (px1 - inset, t_back),
                                  (px1, t_front), (px0, t_front)])
    front_face = poly_mask((H, W), [(px0, t_front), (px1, t_front),
                                    (px1, bottom), (px0, bottom)])
    canvas = contact_shadow(canvas, ((px0 + px1) / 2, bottom + 2), ((px1 - px0) / 2 + 30, 16),
                            0.75, 14)
    canvas = contact_shadow(canvas, ((px0 + px1) / 2, bottom), ((px1 - px0) / 2 + 2, 4),
                            0.8, 3)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) / SS
    stone = value_noise((H, W), 40 * SS, rng, octaves=4)
    veins = np.abs(value_noise((H, W), 90 * SS, rng, octaves=3) - 0.5) < 0.012
    stone_tex = 0.9 + 0.2 * stone[..., None] + 0.25 * blur(veins.astype(np.float32), 1.2)[..., None]
    top_col = np.array([0.16, 0.155, 0.15], np.float32) * stone_tex
    top_col = top_col * (0.85 + 0.35 * smoothstep(px1, px0, xx))[..., None]
    front_g = smoothstep(t_front, bottom, yy)
    front_col = np.array([0.085, 0.08, 0.078], np.float32) * stone_tex
    front_col = front_col * (1.15 - 0.35 * front_g)[..., None]
    # Reflection of the key light sweeping across the polished front.
    front_col += (0.06 * np.exp(-((xx - (px0 + 0.3 * (px1 - px0))) / 90.0) ** 2))[..., None]
    canvas = over(canvas, top_col, top_face)
    canvas = over(canvas, front_col, front_face)
    bevel = np.exp(-((yy - t_front) / 1.2) ** 2) * ((xx > px0) & (xx < px1))
    canvas += (0.35 * bevel)[..., None] * np.array([1.0, 0.97, 0.94], np.float32)
    # Hoof contact shadows on the top face.
    feet = horse * smoothstep(hoof_y - 24, hoof_y - 6, yy)
    canvas = darken(canvas, blur(shift(feet, 4, 3), 4 * SS) * 0.8 * top_face)

    # --- copper shading ------------------------------------------------------------------
    # Two dome scales: small rounds the legs/ears, large gives the barrel of the body.
    height = dome_height(horse, 9, 2.0) + 1.4 * dome_height(horse, 48, 8.0)
    # Sculpted, slightly hammered surface.
    height += 1.0 * value_noise((H, W), 30 * SS, rng, octaves=3) * smoothstep(0.3, 1.0, horse)
    n = normals(height, 1.0)
    ndl = lambert(n)
    # Metals are mostly reflection: a fake studio environment (softbox upper left, strip
    # light at right, dark floor) indexed by the reflected view vector.
    r = np.dstack([2 * n[..., 2] * n[..., 0], 2 * n[..., 2] * n[..., 1], 2 * n[..., 2] ** 2 - 1])

    def lobe(d: Sequence[float], width: float) -> Array:
        v = np.asarray(d, np.float32)
        v /= np.linalg.norm(v)
        return np.exp((r @ v - 1.0) / width)

    env = (1.0 * lobe((-0.55, -0.6, 0.6), 0.06) + 0.7 * lobe((0.85, -0.25, 0.45), 0.03)
           # Horizon of the studio: bright ceiling above, dark floor below -> chrome-like bands.
           + 0.30 * smoothstep(0.05, -0.35, r[..., 1]) - 0.22 * smoothstep(0.0, 0.6, r[..., 1]))
    intensity = 0.12 + 0.30 * ndl + 0.70 * env
    patina = value_noise((H, W), 60 * SS, rng, octaves=4)
    intensity *= 0.9 + 0.18 * patina
    # Cavities/edges (where the surface turns away) darken like oxidised recesses.
    cavity = 1.0 - np.clip(n[..., 2], 0, 1)
    intensity -= 0.10 * cavity
    col = palette(intensity, [(0.0, (0.06, 0.025, 0.012)), (0.22, (0.26, 0.10, 0.045)),
                              (0.45, (0.58, 0.27, 0.13)), (0.65, (0.84, 0.45, 0.24)),
                              (0.82, (0.98, 0.66, 0.43)), (1.0, (1.0, 0.85, 0.68)),
                              (1.3, (1.0, 0.96, 0.9))])
    # Dark oxidised mottling in the recesses: aged metal rather than fresh paint.
    ox = smoothstep(0.55, 0.8, value_noise((H, W), 14 * SS, rng, octaves=2)) * cavity * 0.15
    col *= (1.0 - ox)[..., None]
    col += (0.6 * blinn(n, 140))[..., None] * np.array([1.0, 0.88, 0.75], np.float32)
    canvas = over(canvas, col, horse)
    return finish(canvas)


def coffee_cutout() -> tuple[Array, Array]:
    """Cup + saucer + spoon from skimage's CC0 ``coffee()`` photo, as (rgb, alpha).

    The saucer is a circle seen in perspective, so its outline is an ellipse fitted to
    rim points read off the photo; GrabCut (seeded, hence deterministic) only has to
    find the cup rim and spoon handle above it, where white/steel against wood is easy.
    """
    from skimage import data

    img = data.coffee()  # 400x600 RGB
    H, W = img.shape[:2]
    rim = np.array([(173, 73), (127, 97), (97, 133), (83, 167), (78, 207), (80, 250),
                    (95, 300), (130, 345), (183, 367), (300, 382), (400, 373), (418, 108),
                    (448, 137), (467, 173), (477, 213), (478, 253)], np.float32)
    (cx, cy), (ea, eb), ang = cv2.fitEllipse(rim)
    saucer = np.zeros((H, W), np.uint8)
    cv2.ellipse(saucer, ((cx, cy), (ea - 3, eb - 3), ang), 1, -1)

    def ell(c: tuple[int, int], ax: tuple[int, int], k: float) -> Array:
        m = np.zeros((H, W), np.uint8)
        cv2.ellipse(m, c, (int(ax[0] * k), int(ax[1] * k)), 0, 0, 360, 1, -1)
        return m.astype(bool)

    cup_c, cup_ax = (290, 112), (117, 95)
    spoon = np.zeros((H, W), np.uint8)
    cv2.fillPoly(spoon, [np.array([(398, 70), (412, 62), (424, 70), (418, 140),
                                   (405, 215), (395, 215)], np.int32)], 1)
    sure = ell(cup_c, cup_ax, 0.9) | spoon.astype(bool) | ell((277, 231), (201, 157), 0.94)
    maybe = (ell(cup_c, cup_ax, 1.06) | ell((277, 231), (201, 157), 1.05)
             | cv2.dilate(spoon, np.ones((15, 15), np.uint8)).astype(bool))
    gc = np.full((H, W), cv2.GC_BGD, np.uint8)
    gc[maybe] = cv2.GC_PR_FGD
    gc[sure] = cv2.GC_FGD
    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(img[:, :, ::-1]), gc, None, bgd, fgd, 6,
                cv2.GC_INIT_WITH_MASK)
    fg = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))
    above = np.arange(H)[:, None] < cy  # below the centre the ellipse alone is the outline
    mask = saucer.astype(bool) | (fg & above)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    mask = lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    alpha = blur(mask.astype(np.float32), 0.7)
    return img.astype(np.float32) / 255.0, alpha


def stretched_noise(shape: tuple[int, int], cell: float, stretch: float,
                    rng: np.random.Generator, octaves: int = 3) -> Array:
    """Noise elongated along x (wood grain runs along the planks)."""
    h, w = shape
    n = value_noise((h, max(int(w / stretch), 8)), cell, rng, octaves)
    return cv2.resize(n, (w, h), interpolation=cv2.INTER_LINEAR)


def wood_texture(size: tuple[int, int], rng: np.random.Generator) -> Array:
    """Stained wooden table top: planks with irregular growth rings, fibres, seams and tint jitter."""
    w, h = size
    H, W = h * SS, w * SS
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) / SS
    plank_w = 124.0
    offset = 31.0
    plank = np.floor((yy + offset) / plank_w)
    v = (yy + offset) / plank_w - plank  # 0..1 across each plank
    warp_big = stretched_noise((H, W), 40 * SS, 6.0, rng)
    warp_small = stretched_noise((H, W), 6 * SS, 8.0, rng, 2)
    fib = rng.random((H, W)).astype(np.float32)
    # Fibres and pores: white noise smeared along the grain (x) -> fine streaks.
    fib = cv2.GaussianBlur(fib, (0, 0), sigmaX=25 * SS, sigmaY=0.5 * SS)
    fib = (fib - fib.mean()) / (fib.std() + 1e-6)
    # Blue-grey stained planks: a classic flat-lay backdrop whose hue is far from every
    # colour of the cup (white, crema, red glaze, steel), so it stays separable.
    light = np.array([0.50, 0.62, 0.75], np.float32)
    dark = np.array([0.25, 0.35, 0.48], np.float32)
    out = np.zeros((H, W, 3), np.float32)
    for k in np.unique(plank):
        sel = plank == k
        pr = np.random.default_rng(int(k) + 500)  # per-plank pattern, stable
        spacing = pr.uniform(9.0, 15.0)
        ring_pos = (yy + pr.uniform(40, 90) * warp_big + 2.5 * warp_small
                    + pr.uniform(-0.04, 0.04) * xx) / spacing + pr.uniform(0, 10)
        f = ring_pos - np.floor(ring_pos)
        # Growth ring: earlywood darkens gradually into latewood, then a sharp boundary.
        ring = smoothstep(0.55, 0.93, f) * (1.0 - smoothstep(0.93, 1.0, f))
        # Strong enough grain that the table clearly counts as a textured backdrop.
        t = np.clip(0.16 + 0.62 * ring + 0.16 * fib, 0, 1)
        tint = 1.0 + pr.uniform(-0.12, 0.08)
        col = ((1 - t)[..., None] * light + t[..., None] * dark) * tint
        out[sel] = col[sel]
    # Seams between planks: a dark gap with a soft bevel shadow.
    seam = np.exp(-(np.minimum(v, 1 - v) * plank_w / 1.2) ** 2)
    out *= (1.0 - 0.6 * seam)[..., None]
    out *= (0.9 + 0.1 * value_noise((H, W), 120 * SS, rng, octaves=2))[..., None]
    return out


def make_mug() -> Image.Image:
    """Real espresso cup photo (skimage ``coffee()``) re-staged on a stained plank table."""
    rng = np.random.default_rng(4004)
    w, h = 800, 600
    H, W = h * SS, w * SS
    canvas = wood_texture((w, h), rng)
    rgb, alpha = coffee_cutout()
    ys, xs = np.nonzero(alpha > 0.5)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    scale = 470.0 / (y1 - y0)  # object ~78% of the height, ~60 px margin top and bottom
    ox = (w - (x1 - x0) * scale) / 2.0 - x0 * scale
    oy = (h - (y1 - y0) * scale) / 2.0 - y0 * scale
    M = np.float32([[scale * SS, 0, ox * SS], [0, scale * SS, oy * SS]])
    a = cv2.warpAffine(alpha, M, (W, H), flags=cv2.INTER_LINEAR)
    photo = cv2.warpAffine(rgb, M, (W, H), flags=cv2.INTER_CUBIC)
    # Mild unsharp mask to offset the 1.2x enlargement softness.
    photo = np.clip(photo + 0.5 * (photo - blur(photo, 1.5 * SS)), 0, 1)
    # Shadow cast down-left like the original lighting, plus a tight contact shadow.
    canvas = darken(canvas, blur(shift(a, -6, 14), 16 * SS) * 0.5, (0.2, 0.2, 0.22))
    canvas = darken(canvas, blur(shift(a, 0, 3), 3 * SS) * 0.45, (0.15, 0.15, 0.17))
    # The photo was shot in a dim cafe; lift it a little to sit in the brighter scene.
    photo = np.clip(photo, 0, 1) ** 0.85 * 1.04
    canvas = over(canvas, photo, a)
    return finish(canvas)


def make_toy_dinosaur() -> Image.Image:
    """Green plastic T-rex toy, side view facing right, procedurally modelled."""
    rng = np.random.default_rng(3003)
    w, h = 800, 600
    H, W = h * SS, w * SS
    shape = (H, W)
    canvas = studio_backdrop((w, h), (0.93, 0.94, 0.92), (0.985, 0.985, 0.975), rng)
    ground = 505.0

    # --- geometry (output px) ---------------------------------------------------------
    body = limb(shape, [(70, 430, 3), (135, 395, 13), (205, 345, 29), (275, 300, 50),
                        (345, 280, 74), (425, 282, 78), (492, 262, 60), (538, 228, 42),
                        (566, 200, 36)])
    cranium = ellipse_mask(shape, (598, 182), (50, 40), -8)
    snout = limb(shape, [(600, 183, 34), (645, 186, 29), (683, 192, 23)])
    jaw = limb(shape, [(582, 212, 18), (625, 222, 15), (668, 222, 10)])
    head = np.maximum(np.maximum(cranium, snout), jaw)
    near_leg = limb(shape, [(372, 292, 56), (392, 340, 50), (402, 378, 33), (388, 420, 24),
                            (370, 458, 18), (380, 488, 14)])
    def foot(dx: float) -> tuple[Array, Array]:
        # (inner toe, heel + outer toe): drawn separately so the toes read as two digits.
        inner = limb(shape, [(378 + dx, 489, 10), (405 + dx, 486, 7.5), (423 + dx, 485, 4.5)])
        outer = np.maximum(limb(shape, [(352 + dx, 494, 11), (385 + dx, 494, 12)]),
                           limb(shape, [(380 + dx, 495, 11), (412 + dx, 498, 8.5),
                                        (430 + dx, 499, 5)]))
        return inner, outer

    near_toe, near_foot = foot(0)
    far_leg = limb(shape, [(300, 340, 36), (290, 400, 24), (272, 450, 17), (284, 486, 13)])
    far_toe, far_foot = foot(-96)
    near_arm = limb(shape, [(500, 300, 12), (520, 318, 9), (540, 330, 7), (552, 328, 5)])
    far_arm = limb(shape, [(486, 296, 10), (505, 315, 7), (522, 324, 5)])
    main = np.maximum(body, head)

    # --- shadows on the backdrop -----------------------------------------------------
    canvas = contact_shadow(canvas, (330, ground + 2), (250, 12), 0.45, 14)
    for cx, half in ((392, 46), (292, 40)):
        canvas = contact_shadow(canvas, (cx, ground), (half, 4), 0.75, 3)

    # --- surface colour & relief -----------------------------------------------------
    green = np.array([0.26, 0.55, 0.16], np.float32)
    belly_col = np.array([0.78, 0.80, 0.36], np.float32)
    spot_col = np.array([0.10, 0.28, 0.08], np.float32)
    scales = scale_bumps(shape, 4.0, rng)
    spots = smoothstep(0.62, 0.68, value_noise(shape, 15 * SS, rng, octaves=2))
    yy = np.mgrid[0:H, 0:W][0].astype(np.float32) / SS

    def skin(mask: Array, dome_r: float, underside: float, tint: float) -> tuple[Array, Array]:
        """Albedo and normals for one part: belly paler, back spotted, scaly relief."""
        # Underside = pixels near the part's lower outline (mask is empty a bit below them).
        below = 1.0 - shift(mask, 0, -underside)
        belly = blur(np.clip(below, 0, 1), 5 * SS) * mask if underside > 0 else 0 * mask
        # ...but only where the part is thick: keeps the thin tail tip green.
        belly = belly * smoothstep(0.45, 0.7, blur(mask, 16 * SS))
        above = 1.0 - shift(mask, 0, underside * 1.6)
        back = smoothstep(0.2, 0.9, blur(np.clip(above, 0, 1), 14 * SS))
        alb = np.broadcast_to(green, mask.shape + (3,)).copy()
        alb = alb * (1 - belly[..., None]) + belly_col * belly[..., None]
        sp = spots * (1 - belly) * (0.35 + 0.65 * back)
        alb = alb * (1 - sp[..., None]) + spot_col * sp[..., None]
        alb *= tint
        height = dome_height(mask, dome_r, 3.0) + 0.45 * scales * mask
        return alb, normals(height, 1.0)

    def draw(canvas: Array, mask: Array, dome_r: float, underside: float, tint: float,
             drawn: Array) -> tuple[Array, Array]:
        canvas = cast_on(canvas, drawn, mask, 6, 8, 6, 0.45)
        alb, n = skin(mask, dome_r, underside, tint)
        canvas = over(canvas, shade_plastic(alb, n, spec=0.5, shininess=35), mask)
        return canvas, np.maximum(drawn, mask)

    drawn = np.zeros(shape, np.float32)
    # Far side first, a little darker: it is further from the key light.
    canvas, drawn = draw(canvas, far_leg, 20, 0, 0.72, drawn)
    canvas, drawn = draw(canvas, far_toe, 6, 0, 0.62, drawn)
    canvas, drawn = draw(canvas, far_foot, 8, 0, 0.72, drawn)
    canvas, drawn = draw(canvas, far_arm, 6, 0, 0.7, drawn)
    canvas, drawn = draw(canvas, main, 45, 26, 1.0, drawn)
    canvas, drawn = draw(canvas, near_leg, 40, 0, 1.0, drawn)
    canvas, drawn = draw(canvas, near_toe, 6, 0, 0.85, drawn)
    canvas, drawn = draw(canvas, near_foot, 9, 0, 1.0, drawn)
    canvas, drawn = draw(canvas, near_arm, 7, 0, 1.0, drawn)

    # --- details: mouth, teeth, eye, nostril, claws ------------------------------------
    mouth_path = catmull_rom([(606, 207), (640, 210), (684, 203)], 30)[0]
    mouth = tube_mask(shape, mouth_path, np.full(len(mouth_path), 2.2))
    canvas = darken(canvas, mouth * 0.85)
    teeth = np.zeros(shape, np.float32)
    for tx in np.arange(618, 682, 9.0):
        ty = float(np.interp(tx, mouth_path[:, 0], mouth_path[:, 1]))
        teeth = np.maximum(teeth, poly_mask(shape, [(tx - 3, ty), (tx + 3, ty), (tx, ty + 7)]))
    canvas = over(canvas, np.array([0.95, 0.93, 0.84], np.float32) * np.ones_like(canvas), teeth)
    brow = ellipse_mask(shape, (612, 160), (16, 7), -10)
    canvas = darken(canvas, blur(shift(brow, 1, 5), 2 * SS) * 0.35)
    eye_white = ellipse_mask(shape, (614, 170), (10, 9))
    iris = ellipse_mask(shape, (617, 170), (6, 7.5))
    glint = ellipse_mask(shape, (614.5, 167), (2.2, 2.2))
    canvas = over(canvas, np.full_like(canvas, 0.0) + np.array([0.98, 0.86, 0.2], np.float32),
                  eye_white)
    canvas = over(canvas, np.zeros_like(canvas) + 0.03, iris)
    canvas = over(canvas, np.ones_like(canvas), glint)
    canvas = darken(canvas, ellipse_mask(shape, (676, 177), (4, 2.5), -15) * 0.7)
    claws = np.zeros(shape, np.float32)
    for cx0, cy0 in ((430, 499), (424, 486), (334, 499), (328, 486), (555, 330), (552, 325)):
        size = 7 if cy0 > 400 else 4
        claws = np.maximum(claws, poly_mask(shape, [(cx0 - 3, cy0 - size * 0.6),
                                                    (cx0 + size, cy0 + 1),
                                                    (cx0 - 3, cy0 + size * 0.5)]))
    canvas = over(canvas, np.zeros_like(canvas) + np.array([0.9, 0.88, 0.78], np.float32),
                  claws)
    return finish(canvas)


def make_doll() -> Image.Image:
    """Toy doll, front view, standing: vinyl head/limbs, cotton dress, rooted hair."""
    rng = np.random.default_rng(2002)
    w, h = 640, 800
    H, W = h * SS, w * SS
    shape = (H, W)
    canvas = studio_backdrop((w, h), (0.84, 0.89, 0.95), (0.94, 0.96, 0.985), rng)
    yy, xx = (np.mgrid[0:H, 0:W].astype(np.float32) / SS)
    cx, ground = 320.0, 738.0

    def mirror(knots: Sequence[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
        return [(2 * cx - x, y, r) for x, y, r in knots]

    # --- geometry ----------------------------------------------------------------------
    leg_l = [(293, 570, 20), (291, 640, 17), (290, 700, 15)]
    legs = np.maximum(limb(shape, leg_l), limb(shape, mirror(leg_l)))
    shoe_l = ellipse_mask(shape, (288, 718), (27, 19))
    shoe_r = ellipse_mask(shape, (2 * cx - 288, 718), (27, 19))
    shoes = np.maximum(shoe_l, shoe_r)
    arm_l = [(254, 368, 15), (236, 420, 14), (222, 470, 12.5), (208, 512, 11.5)]
    arms = np.maximum(limb(shape, arm_l), limb(shape, mirror(arm_l)))
    hands = np.maximum(ellipse_mask(shape, (204, 527), (14, 18), 15),
                       ellipse_mask(shape, (2 * cx - 204, 527), (14, 18), -15))
    neck = limb(shape, [(cx, 290, 18), (cx, 350, 18)])
    head = ellipse_mask(shape, (cx, 222), (86, 92))
    # Dress: fitted bodice, flared skirt with a hem that curves towards the viewer.
    hem = [(cx + dx, 588 + 12 * (1 - (dx / 140) ** 2) + 3 * np.sin(dx / 9.0))
           for dx in np.linspace(140, -140, 57)]
    dress_pts = [(cx - 40, 338), (cx + 40, 338), (cx + 62, 352), (cx + 63, 380),
                 (cx + 54, 440)] + hem + [(cx - 54, 440), (cx - 63, 380), (cx - 62, 352)]
    dress = poly_mask(shape, dress_pts)
    sleeves = np.maximum(ellipse_mask(shape, (260, 364), (33, 27), 25),
                         ellipse_mask(shape, (2 * cx - 260, 364), (33, 27), -25))
    collar = np.maximum(ellipse_mask(shape, (cx - 19, 352), (24, 15), 18),
                        ellipse_mask(shape, (cx + 19, 352), (24, 15), -18))
    collar *= (yy > 340).astype(np.float32)
    sash = dress * ((yy > 428) & (yy < 448)).astype(np.float32)
    hair_back = np.maximum.reduce([
        ellipse_mask(shape, (cx, 210), (104, 100)),
        # Long hair falls behind the neck and shoulders (no backdrop hole beside the neck).
        poly_mask(shape, [(232, 210), (408, 210), (410, 380), (230, 380)]),
        limb(shape, [(238, 220, 34), (228, 300, 34), (232, 370, 28), (246, 400, 16)]),
        limb(shape, mirror([(238, 220, 34), (228, 300, 34), (232, 370, 28), (246, 400, 16)])),
    ])
    fringe_y = 168 + 16 * np.abs(np.sin((xx - cx) / 24.0)) + 0.0015 * (xx - cx) ** 2
    cap = ellipse_mask(shape, (cx, 212), (96, 96)) * (yy < fringe_y).astype(np.float32)
    locks = np.maximum(limb(shape, [(246, 180, 16), (240, 240, 15), (246, 300, 10)]),
                       limb(shape, mirror([(246, 180, 16), (240, 240, 15), (246, 300, 10)])))
    hair_front = np.maximum(cap, locks * ellipse_mask(shape, (cx, 215), (110, 110)))
    bow = np.maximum.reduce([poly_mask(shape, [(388, 128), (416, 104), (422, 140)]),
                             poly_mask(shape, [(388, 128), (362, 102), (356, 138)]),
                             ellipse_mask(shape, (389, 124), (9, 9))])
    silhouette = np.maximum.reduce([legs, shoes, arms, hands, neck, head, dress, sleeves,
                                    hair_back, bow])

    # --- backdrop shadows -------------------------------------------------------------
    canvas = darken(canvas, blur(shift(silhouette, 16, 10), 22 * SS) * 0.16)
    canvas = contact_shadow(canvas, (cx, ground), (110, 12), 0.45, 12)
    for sx in (288, 2 * cx - 288):
        canvas = contact_shadow(canvas, (sx, ground - 2), (26, 4), 0.8, 3)

    # --- materials ---------------------------------------------------------------------
    skin = np.array([1.0, 0.85, 0.75], np.float32)
    red = np.array([0.76, 0.10, 0.15], np.float32)
    hair_c = np.array([0.46, 0.26, 0.12], np.float32)
    drawn = np.zeros(shape, np.float32)

    def put(canvas: Array, drawn: Array, mask: Array, albedo: Array | np.ndarray,
            height: Array, **kw: float) -> tuple[Array, Array]:
        canvas = cast_on(canvas, drawn, mask, 4, 7, 5, 0.4)
        alb = np.broadcast_to(np.asarray(albedo, np.float32), mask.shape + (3,))
        canvas = over(canvas, shade_plastic(alb, normals(height), **kw), mask)
        return canvas, np.maximum(drawn, mask)

    # Hair strands: noise sampled along the angle around the crown -> radial streaks.
    ang = np.arctan2(xx - cx, yy - 95.0)
    rad = np.hypot(xx - cx, yy - 95.0)
    strand_tex = value_noise((64, 2048), 3.0, rng, octaves=2)
    map_x = ((ang + np.pi) / (2 * np.pi) * 2047).astype(np.float32)
    map_y = np.clip(rad / 600.0 * 63, 0, 63).astype(np.float32)
    strands = cv2.remap(strand_tex, map_x, map_y, cv2.INTER_LINEAR)
    hair_alb = hair_c * (0.75 + 0.5 * strands)[..., None]

    hb_h = dome_height(hair_back, 40, 4) + 2.5 * strands
    canvas, drawn = put(canvas, drawn, hair_back, hair_alb * 0.8, hb_h, spec=0.35,
                        shininess=18, ambient=0.3)
    canvas, drawn = put(canvas, drawn, legs, skin, dome_height(legs, 16, 2), spec=0.3,
                        shininess=25, ambient=0.5, diffuse=0.55)
    # Socks with a knit rib.
    socks = legs * (yy > 668).astype(np.float32)
    rib = 0.9 + 0.1 * np.sin(xx / 2.2)
    # Pink, not white: white socks would melt into the pale backdrop for the matting step.
    sock_alb = np.array([0.97, 0.70, 0.76], np.float32) * rib[..., None]
    canvas, drawn = put(canvas, drawn, socks, sock_alb, dome_height(legs, 16, 2), spec=0.05,
                        ambient=0.45, diffuse=0.6)
    shoe_h = dome_height(shoes, 14, 2)
    canvas, drawn = put(canvas, drawn, shoes, np.array([0.30, 0.03, 0.05], np.float32),
                        shoe_h, spec=0.9, shininess=60, ambient=0.35)
    straps = shoes * (np.abs(yy - 707) < 3).astype(np.float32)
    canvas = darken(canvas, straps * 0.5)
    canvas, drawn = put(canvas, drawn, arms, skin, dome_height(arms, 13, 2), spec=0.3,
                        shininess=25, ambient=0.5, diffuse=0.55)
    canvas, drawn = put(canvas, drawn, hands, skin, dome_height(hands, 12, 2), spec=0.3,
                        shininess=25, ambient=0.5, diffuse=0.55)
    canvas, drawn = put(canvas, drawn, neck, skin * 0.9, dome_height(neck, 14, 2), spec=0.2,
                        ambient=0.5, diffuse=0.55)

    # Cotton: white polka dots, weave noise, folds radiating from the waist.
    dot_grid = np.zeros(shape, np.float32)
    for j, y in enumerate(np.arange(330, 620, 21.0)):
        for x in np.arange(150 + (j % 2) * 12, 500, 24.0):
            dot_grid = np.maximum(dot_grid, ellipse_mask(shape, (x, y), (3.6, 3.6)))
    weave = 0.93 + 0.07 * rng.random(shape).astype(np.float32)
    weave = blur(weave, 0.6)
    fabric = red * (1 - dot_grid[..., None]) + np.array([0.97, 0.95, 0.92]) * dot_grid[..., None]
    fabric = fabric * weave[..., None]
    fold_ang = np.arctan2(xx - cx, yy - 360.0)
    fold_noise = value_noise(shape, 60 * SS, rng, octaves=2)
    folds = np.sin(fold_ang * 26 + 3 * fold_noise) * smoothstep(445, 590, yy)
    dress_h = dome_height(dress, 45, 6) + 5.0 * folds
    canvas, drawn = put(canvas, drawn, dress, fabric, dress_h, spec=0.06, shininess=8,
                        ambient=0.42, diffuse=0.68, rim=0.05)
    sash_h = dome_height(dress, 45, 6)
    canvas, drawn = put(canvas, drawn, sash, np.array([0.98, 0.97, 0.95], np.float32),
                        sash_h, spec=0.25, shininess=20)
    canvas = darken(canvas, blur(sash * (np.abs(yy - 447) < 2), 1.5 * SS) * 0.5)
    canvas, drawn = put(canvas, drawn, sleeves, fabric, dome_height(sleeves, 24, 4),
                        spec=0.06, shininess=8, ambient=0.42, diffuse=0.68)
    canvas, drawn = put(canvas, drawn, collar, np.array([0.98, 0.98, 0.96], np.float32),
                        dome_height(collar, 6, 1.5), spec=0.1, ambient=0.5, diffuse=0.55)

    # Head, then face paint, then the fringe on top.
    canvas, drawn = put(canvas, drawn, head, skin, dome_height(head, 60, 6), spec=0.25,
                        shininess=20, ambient=0.55, diffuse=0.5)
    blush = blur(np.maximum(ellipse_mask(shape, (270, 272), (18, 11)),
                            ellipse_mask(shape, (370, 272), (18, 11))), 6 * SS)
    canvas = over(canvas, np.zeros_like(canvas) + np.array([0.95, 0.50, 0.52], np.float32),
                  blush * 0.45)
    for ex, flip in ((287.0, -1.0), (353.0, 1.0)):
        ey = 240.0
        white = ellipse_mask(shape, (ex, ey), (16, 14))
        iris = ellipse_mask(shape, (ex, ey + 1), (11, 12)) * white
        pupil = ellipse_mask(shape, (ex, ey + 1), (5.5, 6)) * white
        lid_path = catmull_rom([(ex - 18, ey + 2), (ex, ey - 15), (ex + 18, ey + 2)], 20)[0]
        lid = tube_mask(shape, lid_path, np.linspace(1.6, 2.6, len(lid_path)))
        lash = limb(shape, [(ex + 16 * flip, ey - 5, 1.8), (ex + 23 * flip, ey - 11, 1.0)])
        brow_path = catmull_rom([(ex - 15, ey - 26), (ex, ey - 31), (ex + 15, ey - 27)], 20)[0]
        brow = tube_mask(shape, brow_path, np.full(len(brow_path), 1.6))
        canvas = over(canvas, np.ones_like(canvas) * 0.97, white)
        iris_col = np.array([0.22, 0.42, 0.72], np.float32) * (
            0.7 + 0.5 * smoothstep(ey - 10, ey + 12, yy))[..., None]
        canvas = over(canvas, iris_col, iris)
        canvas = over(canvas, np.zeros_like(canvas) + 0.04, pupil)
        canvas = over(canvas, np.ones_like(canvas), ellipse_mask(shape, (ex - 4, ey - 4), (3, 3)))
        canvas = over(canvas, np.ones_like(canvas), ellipse_mask(shape, (ex + 4, ey + 5), (1.5, 1.5)))
        canvas = over(canvas, np.zeros_like(canvas) + 0.06, np.maximum(lid, lash))
        canvas = over(canvas, np.zeros_like(canvas) + np.array([0.35, 0.2, 0.1], np.float32), brow)
    nose = ellipse_mask(shape, (cx + 1, 266), (4, 3))
    canvas = darken(canvas, blur(nose, 1.5 * SS) * 0.18)
    mouth_path = catmull_rom([(cx - 12, 283), (cx, 289), (cx + 12, 283)], 20)[0]
    mouth = tube_mask(shape, mouth_path, np.linspace(2.2, 2.2, len(mouth_path)))
    canvas = over(canvas, np.zeros_like(canvas) + np.array([0.80, 0.22, 0.28], np.float32), mouth)

    hf_h = dome_height(hair_front, 18, 3) + 2.5 * strands + 0.6 * dome_height(head, 70, 6)
    canvas, drawn = put(canvas, drawn, hair_front, hair_alb, hf_h, spec=0.4, shininess=16,
                        ambient=0.32)
    canvas, drawn = put(canvas, drawn, bow, red, dome_height(bow, 8, 2), spec=0.35,
                        shininess=30)
    return finish(canvas)


@dataclass(frozen=True)
class Product:
    product_id: str
    category: str
    title: str
    render: Callable[[], Image.Image]


PRODUCTS: list[Product] = [
    Product("copper_horse", "horse", "Hand-finished copper horse statue on black marble base",
            make_copper_horse),
    Product("doll", "doll", "Classic vinyl doll in red polka-dot dress", make_doll),
    Product("toy_dinosaur", "dinosaur", "Green T-rex toy figure, soft-touch vinyl",
            make_toy_dinosaur),
    Product("mug", "mug", "Espresso cup and saucer, glazed red porcelain", make_mug),
]


def true_alpha(product: Product) -> Array:
    """The product's true coverage (HxW float32 in [0,1]), for scoring matting on the example photos: rendered twice,
    on a black and on a white backdrop with every shadow off, at the float precision of the drawing (no JPEG);
    where the two differ the backdrop shows through."""
    module = globals()
    drawing = {name: module[name] for name in ("studio_backdrop", "wood_texture", "darken", "contact_shadow", "finish")}
    renders = []
    try:
        for level in (0.0, 1.0):
            module["studio_backdrop"] = module["wood_texture"] = \
                lambda size, *_, level=level, **__: np.full((size[1] * SS, size[0] * SS, 3), level, np.float32)
            module["darken"] = lambda canvas, *_, **__: canvas
            module["contact_shadow"] = lambda canvas, *_, **__: canvas
            module["finish"] = lambda canvas: cv2.resize(canvas, (canvas.shape[1] // SS, canvas.shape[0] // SS),
                                                         interpolation=cv2.INTER_AREA)
            renders.append(product.render())
    finally:
        module.update(drawing)
    return np.clip(1.0 - (renders[1] - renders[0]).mean(axis=2), 0.0, 1.0).astype(np.float32)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="product ids to (re)render")
    ap.add_argument("--truth", type=Path, metavar="DIR",
                    help="write each product's true alpha to DIR/<product_id>.png instead of the photos")
    args = ap.parse_args(argv)
    try:
        import skimage  # noqa: F401  (sample photos; generation-time only)
    except ImportError:
        raise SystemExit("make_examples.py needs scikit-image: pip install scikit-image==0.26.0")
    if args.truth:
        args.truth.mkdir(parents=True, exist_ok=True)
        for p in PRODUCTS:
            if not args.only or p.product_id in args.only:
                Image.fromarray((true_alpha(p) * 255 + 0.5).astype(np.uint8)).save(args.truth / f"{p.product_id}.png")
        return
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    for p in PRODUCTS:
        if args.only and p.product_id not in args.only:
            continue
        img = p.render()
        n = save_jpeg(img, IMAGES_DIR / f"{p.product_id}.jpg")
        print(f"{p.product_id}: {img.size[0]}x{img.size[1]} {n} bytes")
    with CATALOG.open("w", newline="", encoding="utf-8") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(["product_id", "image", "category", "motion", "title"])
        for p in PRODUCTS:
            wr.writerow([p.product_id, f"images/{p.product_id}.jpg", p.category, "", p.title])


if __name__ == "__main__":
    main()
