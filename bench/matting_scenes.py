"""Ground-truth scenes for the matting and inpainting benchmark: objects cut from real photos (scikit-image's
bundled samples, CC0/public domain) with masks known by construction, composited onto plain, gradient, white
and textured backdrops (real texture photos), some with soft shadows, a second object, or touching the border.

Every scene keeps what it was made of: the main object's alpha, its shadow, and the clean background (the
photo without the main object and its shadow), so matting and inpainting can be scored exactly."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from skimage import data

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))
from make_examples import PRODUCTS, SS, coffee_cutout, value_noise, wood_texture  # noqa: E402 (the example catalog's

WIDTH, HEIGHT = 800, 600
EXAMPLE_TRUTH = REPO / "tests" / "fixtures" / "example_alpha"  # make_examples.py --truth writes it
TEXTURED_EXAMPLES = {"mug"}  # the example products photographed on a textured backdrop


@dataclass(frozen=True)
class Cutout:
    rgb: np.ndarray  # hxwx3 float32 in [0,1]
    alpha: np.ndarray  # hxw float32 in [0,1]


@dataclass(frozen=True)
class Scene:
    name: str
    backdrop: str  # "plain" | "textured": what the matting targets are judged by
    photo_u8: np.ndarray  # HxWx3 uint8: what a method sees (JPEG-compressed, with sensor noise)
    alpha: np.ndarray  # HxW float32: the main object's true alpha
    shadow: np.ndarray  # HxW float32 in [0,1]: how much the main object's shadow darkens the backdrop
    background_u8: np.ndarray  # HxWx3 uint8: the truth behind the main object and its shadow


def _crop_to_alpha(rgb: np.ndarray, alpha: np.ndarray, pad: int = 4) -> Cutout:
    ys, xs = np.nonzero(alpha > 0.01)
    y0, y1 = max(0, ys.min() - pad), min(alpha.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(alpha.shape[1], xs.max() + pad + 1)
    return Cutout(rgb[y0:y1, x0:x1].astype(np.float32), alpha[y0:y1, x0:x1].astype(np.float32))


def _largest(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])) if count > 1 else mask


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    return (mask | (flood[1:-1, 1:-1] == 0)).astype(bool)


def _soft(mask: np.ndarray, sigma: float = 0.7) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


@cache
def cup() -> Cutout:
    """Espresso cup, saucer and spoon (`coffee`): a mostly white object with a thin spoon handle."""
    rgb, alpha = coffee_cutout()
    return _crop_to_alpha(rgb, alpha)


@cache
def astronaut_bust() -> Cutout:
    """The astronaut above her helmet (`astronaut`), cut flat at the bottom: placed on the photo's lower edge it is
    a product touching the border. Mask: GrabCut seeded by hand-placed head, neck, suit, lining and flag regions.
    The suit's lining inside the neck ring is light grey like the studio wall behind her: unseeded, GrabCut put it
    and the ring's upper left into the background and kept only the lining's dark fold, a hole in the suit."""
    image = data.astronaut()
    gc = np.full(image.shape[:2], cv2.GC_BGD, np.uint8)
    cv2.rectangle(gc, (15, 20), (360, 511), cv2.GC_PR_FGD, -1)
    cv2.fillPoly(gc, [np.array([(0, 0), (92, 0), (92, 200), (60, 260), (30, 300), (0, 330)], np.int32)],
                 cv2.GC_BGD)  # the flag
    cv2.ellipse(gc, (226, 100), (50, 65), 0, 0, 360, cv2.GC_FGD, -1)  # head
    cv2.rectangle(gc, (200, 160), (260, 230), cv2.GC_FGD, -1)  # neck
    cv2.ellipse(gc, (209, 215), (60, 40), 0, 0, 360, cv2.GC_FGD, -1)  # the lining inside the neck ring
    cv2.fillPoly(gc, [np.array([(60, 300), (330, 300), (330, 511), (40, 511)], np.int32)], cv2.GC_FGD)  # suit
    cv2.setRNGSeed(0)
    cv2.grabCut(image[..., ::-1].copy(), gc, None, np.zeros((1, 65)), np.zeros((1, 65)), 8, cv2.GC_INIT_WITH_MASK)
    mask = _fill_holes(_largest(np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))[:340]))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)).astype(bool)
    alpha = _soft(mask)
    alpha[-3:] = mask[-3:]  # keep the flat cut hard so it meets the border without a fade
    return _crop_to_alpha(image[:340] / 255.0, alpha, pad=0)


@cache
def rocket() -> Cutout:
    """The rocket and its gantry arms (`rocket`): a tall thin object; mask = far from the sky's colour surface."""
    image = data.rocket()[70:330, 285:360]
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    sky = np.zeros(image.shape[:2], bool)
    sky[:, :6], sky[:, -6:] = True, True
    ys, xs = np.nonzero(sky)
    design = np.stack([np.ones_like(ys), ys / 260.0, (ys / 260.0) ** 2, xs / 75.0], axis=1).astype(np.float32)
    coef, *_ = np.linalg.lstsq(design, lab[ys, xs], rcond=None)
    gy, gx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    surface = (np.stack([np.ones_like(gy), gy / 260.0, (gy / 260.0) ** 2, gx / 75.0], axis=-1) @ coef)
    mask = np.linalg.norm(lab - surface, axis=2) > 18
    mask = _fill_holes(_largest(mask))
    return _crop_to_alpha(image / 255.0, _soft(mask))


@cache
def horse(coat: str) -> Cutout:
    """The `horse` silhouette (thin legs and tail) dressed in a real photo's texture: "fur" takes the cat's coat
    (`chelsea`), "white" a pale porcelain shading with a faint real texture (white product for white backdrops)."""
    mask = ~data.horse()
    mask = cv2.resize(mask.astype(np.uint8), None, fx=1.3, fy=1.3, interpolation=cv2.INTER_NEAREST).astype(bool)
    height, width = mask.shape
    distance = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    relief = np.clip(distance / 14.0, 0, 1)[..., None]
    if coat == "fur":
        fur = cv2.resize(data.chelsea()[40:290, 60:420], (width, height), interpolation=cv2.INTER_AREA) / 255.0
        rgb = fur * (0.7 + 0.3 * relief)
    else:
        grain = cv2.resize(data.gravel(), (width, height)).astype(np.float32)[..., None] / 255.0
        rgb = (0.80 + 0.13 * relief + 0.04 * (grain - 0.5)) * np.array([1.0, 0.99, 0.97])
    return _crop_to_alpha(np.clip(rgb, 0, 1), _soft(mask))


@cache
def logo() -> Cutout:
    """scikit-image's logo, which ships with its own alpha channel."""
    rgba = data.logo().astype(np.float32) / 255.0
    return _crop_to_alpha(rgba[..., :3], rgba[..., 3])


@cache
def retina() -> Cutout:
    """The round fundus photo (`retina`) on black: mask = brighter than the black surround."""
    image = cv2.resize(data.retina(), (420, 420), interpolation=cv2.INTER_AREA)
    mask = _fill_holes(_largest(image.max(axis=2) > 30))
    return _crop_to_alpha(image / 255.0, _soft(mask, 1.0))


OBJECTS = {"cup": cup, "astronaut": astronaut_bust, "rocket": rocket, "horse": lambda: horse("fur"),
           "white_horse": lambda: horse("white"), "logo": logo, "retina": retina}


def _texture(name: str, tint: tuple[float, float, float]) -> np.ndarray:
    gray = getattr(data, name)().astype(np.float32) / 255.0
    gray = cv2.resize(gray, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return np.clip(gray[..., None] * np.array(tint, np.float32) * 1.25, 0, 1)


def backdrop(kind: str) -> np.ndarray:
    ys = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    xs = np.linspace(-1, 1, WIDTH, dtype=np.float32)[None, :, None]
    vignette = 1.0 - 0.04 * (xs ** 2 + (2 * ys - 1) ** 2)
    if kind == "plain":
        return np.broadcast_to(np.array([0.88, 0.88, 0.87], np.float32) * vignette, (HEIGHT, WIDTH, 3)).copy()
    if kind == "gradient":
        top, bottom = np.array([0.94, 0.95, 0.97], np.float32), np.array([0.74, 0.78, 0.84], np.float32)
        return np.broadcast_to(top + (bottom - top) * ys, (HEIGHT, WIDTH, 3)).copy()
    if kind == "white":
        return np.broadcast_to(np.array([0.975, 0.975, 0.97], np.float32) * (1 - 0.3 * (1 - vignette)),
                               (HEIGHT, WIDTH, 3)).copy()
    if kind in REGULAR_MAKERS:
        return REGULAR_MAKERS[kind]()
    tints = {"brick": (0.85, 0.55, 0.45), "grass": (0.55, 0.75, 0.45), "gravel": (0.7, 0.68, 0.62)}
    return _texture(kind, tints[kind])


def _running_bond(size: tuple[int, int], brick: tuple[int, int], joint: int, rng: np.random.Generator) -> np.ndarray:
    """A flat brick pavement (HxWx3 float in [0, 1]): `brick` (w, h) px bricks in half-offset courses, `joint` px of
    mortar, each brick's own tint, and a fine grain on everything."""
    height, width = size
    ys, xs = np.mgrid[0:height, 0:width]
    course = ys // brick[1]
    shifted = xs + (course % 2) * (brick[0] // 2)
    column = shifted // brick[0]
    tints = rng.uniform(0.8, 1.1, (course.max() + 1, column.max() + 1))[course, column]
    rgb = np.array([0.72, 0.36, 0.25], np.float32) * tints[..., None].astype(np.float32)
    mortar = ((ys % brick[1]) < joint) | ((shifted % brick[0]) < joint)
    rgb[mortar] = (0.78, 0.75, 0.70)
    grain = cv2.resize(data.gravel(), (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    return np.clip(rgb * (0.8 + 0.4 * grain[..., None]), 0, 1)


def brick_perspective() -> np.ndarray:
    """A running-bond brick pavement seen from above at a slant: courses shrink and joints converge towards the
    top (a homography of a flat pavement, supersampled twice)."""
    flat = _running_bond((1800, 2400), (190, 84), 12, np.random.default_rng(11))
    corners = np.float32([[0, 0], [2400, 0], [2400, 1800], [0, 1800]])
    seen = np.float32([[0.22, 0.0], [0.78, 0.0], [1.12, 1.0], [-0.12, 1.0]]) * np.float32([2 * WIDTH, 2 * HEIGHT])
    warp = cv2.getPerspectiveTransform(corners, seen)
    big = cv2.warpPerspective(flat, warp, (2 * WIDTH, 2 * HEIGHT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
    return cv2.resize(big, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def tiles() -> np.ndarray:
    """Square ceramic floor tiles (66 px, 4 px grey grout, slightly turned), each with its own mottled glaze."""
    rng = np.random.default_rng(12)
    side, grout, turn = 66, 4, np.deg2rad(4.0)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    u, v = xs * np.cos(turn) + ys * np.sin(turn) + 1000, -xs * np.sin(turn) + ys * np.cos(turn) + 1000
    row, col = (v // side).astype(int), (u // side).astype(int)
    tint = rng.uniform(0.9, 1.05, (row.max() + 1, col.max() + 1)).astype(np.float32)[row, col]
    mottle = value_noise((HEIGHT, WIDTH), 14.0, rng, octaves=3)
    rgb = np.array([0.86, 0.82, 0.70], np.float32) * (tint * (0.9 + 0.2 * mottle))[..., None]
    rgb[((u % side) < grout) | ((v % side) < grout)] = (0.45, 0.44, 0.42)
    return np.clip(rgb, 0, 1)


def planks() -> np.ndarray:
    """The example mug's stained plank table (examples/make_examples.py), with its own rng."""
    big = wood_texture((WIDTH, HEIGHT), np.random.default_rng(13))
    return cv2.resize(big, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA) if SS != 1 else big


REGULAR_MAKERS = {"brick_perspective": brick_perspective, "tiles": tiles, "planks": planks}
REGULAR_BACKDROPS = ("brick", *REGULAR_MAKERS)  # lattices: bricks, tiles, plank seams
STOCHASTIC_BACKDROPS = ("grass", "gravel")


@dataclass(frozen=True)
class Placement:
    object: str
    height_fraction: float  # object height / photo height
    centre: tuple[float, float]  # (x, y) as fractions of the photo; y is the bottom edge when `on_floor`


def _place(cutout: Cutout, placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """The cut-out scaled and positioned on a full-size canvas: (rgb, alpha), alpha 0 outside."""
    scale = placement.height_fraction * HEIGHT / cutout.alpha.shape[0]
    width, height = max(1, round(cutout.alpha.shape[1] * scale)), max(1, round(cutout.alpha.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    rgb = np.clip(cv2.resize(cutout.rgb, (width, height), interpolation=interpolation), 0, 1)
    alpha = np.clip(cv2.resize(cutout.alpha, (width, height), interpolation=interpolation), 0, 1)
    x0 = round(placement.centre[0] * WIDTH - width / 2)
    y0 = round(placement.centre[1] * HEIGHT - height / 2)
    canvas_rgb, canvas_alpha = np.zeros((HEIGHT, WIDTH, 3), np.float32), np.zeros((HEIGHT, WIDTH), np.float32)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(WIDTH, x0 + width), min(HEIGHT, y0 + height)
    canvas_rgb[sy0:sy1, sx0:sx1] = rgb[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    canvas_alpha[sy0:sy1, sx0:sx1] = alpha[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    return canvas_rgb, canvas_alpha


def contact_shadow(alpha: np.ndarray, strength: float) -> np.ndarray:
    """A soft shadow on the floor under the object: its footprint squashed flat, spread wide and blurred."""
    ys, xs = np.nonzero(alpha > 0.5)
    bottom, left, right = ys.max(), xs.min(), xs.max()
    shadow = np.zeros_like(alpha)
    width = right - left
    cv2.ellipse(shadow, (int((left + right) / 2), int(bottom)), (int(0.55 * width), max(4, int(0.06 * width))),
                0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 0.035 * width + 3)
    return np.clip(strength * shadow / max(shadow.max(), 1e-6), 0, 1)


def _finish(image: np.ndarray, seed: int) -> np.ndarray:
    """Sensor noise and JPEG compression, as product photos arrive (the same noise for the same seed)."""
    rng = np.random.default_rng(seed)
    noisy = np.clip(image * 255.0 + rng.normal(0, 1.2, image.shape), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", noisy[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy()


@dataclass(frozen=True)
class SceneSpec:
    name: str
    backdrop: str  # plain | gradient | white | brick | grass | gravel
    main: Placement
    shadow: float = 0.0  # strength of the main object's contact shadow
    distractor: Placement | None = None  # a second, smaller object that is not the one to animate


SCENES = (
    SceneSpec("cup-plain-shadow", "plain", Placement("cup", 0.62, (0.5, 0.52)), shadow=0.35),
    SceneSpec("cup-white", "white", Placement("cup", 0.6, (0.48, 0.5)), shadow=0.25),
    SceneSpec("horse-gradient-shadow", "gradient", Placement("horse", 0.7, (0.5, 0.5)), shadow=0.4),
    SceneSpec("white-horse-white-shadow", "white", Placement("white_horse", 0.7, (0.52, 0.5)), shadow=0.3),
    SceneSpec("astronaut-gradient-border", "gradient", Placement("astronaut", 0.75, (0.5, 1.0 - 0.375))),
    SceneSpec("rocket-plain", "plain", Placement("rocket", 0.85, (0.5, 0.5))),
    SceneSpec("logo-gradient-second-object", "gradient", Placement("logo", 0.55, (0.45, 0.5)),
              distractor=Placement("retina", 0.22, (0.86, 0.2))),
    SceneSpec("horse-plain-second-object", "plain", Placement("horse", 0.6, (0.46, 0.52)), shadow=0.3,
              distractor=Placement("cup", 0.25, (0.88, 0.8))),
    SceneSpec("retina-white", "white", Placement("retina", 0.6, (0.5, 0.5))),
    SceneSpec("horse-left-border", "gradient", Placement("horse", 0.7, (0.2, 0.5)), shadow=0.3),
    SceneSpec("cup-brick", "brick", Placement("cup", 0.62, (0.5, 0.5))),
    SceneSpec("horse-grass", "grass", Placement("horse", 0.7, (0.5, 0.5))),
    SceneSpec("astronaut-gravel-border", "gravel", Placement("astronaut", 0.75, (0.5, 1.0 - 0.375))),
    SceneSpec("logo-grass-second-object", "grass", Placement("logo", 0.55, (0.45, 0.5)),
              distractor=Placement("retina", 0.22, (0.86, 0.2))),
    SceneSpec("retina-brick", "brick", Placement("retina", 0.6, (0.5, 0.5))),
    SceneSpec("white-horse-gravel-shadow", "gravel", Placement("white_horse", 0.7, (0.5, 0.5)), shadow=0.3),
)


def render(spec: SceneSpec, seed: int = 0) -> Scene:
    background = backdrop(spec.backdrop)
    if spec.distractor is not None:
        other_rgb, other_alpha = _place(OBJECTS[spec.distractor.object](), spec.distractor)
        background = background * (1 - other_alpha[..., None]) + other_rgb * other_alpha[..., None]
    rgb, alpha = _place(OBJECTS[spec.main.object](), spec.main)
    shadow = contact_shadow(alpha, spec.shadow) * (1 - alpha) if spec.shadow else np.zeros_like(alpha)
    shaded = background * (1 - shadow[..., None])
    photo = shaded * (1 - alpha[..., None]) + rgb * alpha[..., None]
    kind = "textured" if spec.backdrop in (*REGULAR_BACKDROPS, *STOCHASTIC_BACKDROPS) else "plain"
    return Scene(spec.name, kind, _finish(photo, seed), alpha, shadow, _finish(background, seed))


def all_scenes() -> list[Scene]:
    return [render(spec, seed) for seed, spec in enumerate(SCENES)]


# the inpainting table's textured classes besides the scenes above: figures on lattices and on stochastic textures
TEXTURE_SCENES = (
    SceneSpec("horse-brick-perspective", "brick_perspective", Placement("horse", 0.7, (0.5, 0.5)), shadow=0.3),
    SceneSpec("cup-tiles", "tiles", Placement("cup", 0.62, (0.5, 0.5)), shadow=0.3),
    SceneSpec("astronaut-planks-border", "planks", Placement("astronaut", 0.75, (0.5, 1.0 - 0.375))),
    SceneSpec("rocket-brick-perspective", "brick_perspective", Placement("rocket", 0.85, (0.42, 0.5))),
    SceneSpec("horse-gravel-shadow", "gravel", Placement("horse", 0.7, (0.5, 0.5)), shadow=0.3),
    SceneSpec("cup-grass", "grass", Placement("cup", 0.62, (0.5, 0.5))),
)


def texture_class(scene_backdrop: str) -> str:
    """plain | regular | stochastic: which of the inpainting table's classes a backdrop belongs to."""
    if scene_backdrop in REGULAR_BACKDROPS:
        return "regular"
    return "stochastic" if scene_backdrop in STOCHASTIC_BACKDROPS else "plain"


def inpainting_scenes() -> list[tuple[Scene, str]]:
    """Every scene with its texture class: the matting scenes and the extra textured ones."""
    specs = (*SCENES, *TEXTURE_SCENES)
    return [(render(spec, seed), texture_class(spec.backdrop)) for seed, spec in enumerate(specs)]


SWAY_DEGREES = (-6.0, -3.0, 3.0, 6.0)  # a gentle sway, rocking about the bottom of the object


def swayed_visible_band(alpha: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The part of `hole` that an object swaying about its base uncovers in some frame: the hole minus what every
    swayed pose covers (as the inpaint stage computes it from the motion's frames)."""
    ys, xs = np.nonzero(alpha > 0.5)
    pivot = (float(xs.mean()), float(ys.max()))
    always = alpha > 0.5
    for angle in SWAY_DEGREES:
        turn = cv2.getRotationMatrix2D(pivot, angle, 1.0)
        always &= cv2.warpAffine(alpha, turn, alpha.shape[::-1], flags=cv2.INTER_LINEAR) > 0.5
    return hole & ~always


@dataclass(frozen=True)
class ExamplePhoto:
    name: str
    backdrop: str  # "plain" | "textured"
    photo_u8: np.ndarray  # HxWx3 uint8: the example catalog's photo as the pipeline reads it
    alpha: np.ndarray  # HxW float32: the product's true coverage, from its drawing


def example_photos() -> list[ExamplePhoto]:
    """The example catalog's photos with their true alpha (rendered by make_examples.py --truth): the products
    `make demo` animates, with their own shadows, gaps and backdrops."""
    photos = []
    for product in PRODUCTS:
        bgr = cv2.imread(str(REPO / "examples" / "images" / f"{product.product_id}.jpg"))
        alpha = cv2.imread(str(EXAMPLE_TRUTH / f"{product.product_id}.png"), cv2.IMREAD_GRAYSCALE)
        photos.append(ExamplePhoto(product.product_id, "textured" if product.product_id in TEXTURED_EXAMPLES
                                   else "plain", np.ascontiguousarray(bgr[..., ::-1]),
                                   alpha.astype(np.float32) / 255.0))
    return photos
