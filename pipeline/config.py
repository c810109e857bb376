"""Run settings: one frozen dataclass, filled from defaults, then a YAML config file, then command-line flags."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import UsageError
from models.weights import WEIGHTS_DIR
from pipeline.motions_library import DEFAULT_LIBRARY
from pipeline.net_policy import allow_entry_problem

FORMATS = ("mp4", "webp", "gif")
DEVICES = ("auto", "cpu", "cuda")
MATTING_METHODS = ("auto", "plain", "grabcut")  # built in; "rembg:NAME" selects a rembg model file
INPAINT_METHODS = ("auto", "surface", "lattice", "exemplar", "ns", "telea", "lama")
SHADOW_MODES = ("redraw", "keep", "off")
MOTION_MODELS = ("classical",)  # built in; neural models are registry ids or checkpoint paths (motion/model_choice)
ENGINES = ("local", "ray")
SR_MODELS = ("auto", "none", "lanczos")  # built in; networks are weights-registry names or checkpoint paths
GATE_MODES = ("off", "warn", "hold")  # quality gate: skip, record the checks, or hold failing products for review


@dataclass(frozen=True)
class PipelineConfig:
    output: Path = Path("out")
    motion: str | None = None  # library name or clip path for every product; else per row / category
    motions_dir: Path = DEFAULT_LIBRARY
    weights_dir: Path = WEIGHTS_DIR  # where model files are looked for; never downloaded
    workers: int = 1
    device: str = "auto"
    frames: int | None = None  # default: the driving clip's length
    fps: float | None = None  # default: the driving clip's fps, else 24
    size: int | None = None  # cap on the side of the square the classical motion stage renders at (default: the
    # crop's own size, so stage 4 passes frames through); stage 4 brings smaller frames back to the crop's size
    max_side: int = 2048  # larger photos are downscaled to this long side first
    formats: tuple[str, ...] = ("mp4",)
    overwrite: bool = False
    reuse_from: tuple[Path, ...] = ()  # earlier output folders whose finished stages are reused (hard links) when
    # their manifest matches this run's content key: how a nightly run in a fresh dated folder skips unchanged work
    cache_dir: Path | None = None  # driving-clip analyses; default <output>/.cache
    category_motions: dict[str, str] = field(default_factory=dict)  # category -> motion, over the library's map
    engine: str = "local"
    ray_address: str | None = None  # None: a local Ray; "auto" or host:port: an existing cluster
    fail_fast: bool = False
    limit: int | None = None
    only: tuple[str, ...] = ()
    dry_run: bool = False
    matting: str = "auto"
    detector: str = "none"  # "yolo" or "yolo:FILE": picks the category's object among several
    crop_margin: float = 0.12  # of the object's larger side, on each side of the square crop
    inpaint: str = "auto"
    hole_dilate: float = 0.012  # of the photo's long side: how far the hole reaches past the matte
    motion_model: str = "classical"
    keypoints: int = 10
    batch_size: int = 8  # driving frames per neural forward pass; does not change the output
    sr_model: str = "auto"  # x4plus on a GPU, animevideov3 on the CPU, Lanczos without weights (sr_choice.py)
    sr_tile: int = 512  # frames with a side above this run through the network in tiles; 0: never tile
    sr_tile_pad: int = 10  # overlap (input px) around each tile
    sr_batch: int = 4  # frames per super-resolution forward pass; does not change the output
    sr_fp32: bool = False  # CUDA only: no fp16 autocast
    feather: float = 0.04  # of the crop side: width of the blend at the crop's edge
    shadow: str = "redraw"  # contact shadow in fusion: redraw (moves with the feet), keep (as photographed), off
    crf: int = 20
    allow_hosts: tuple[str, ...] = ()  # host names, addresses, CIDR networks image URLs may reach besides public
    # addresses (internal image servers); ANIMATE_PRODUCTS_ALLOW_HOSTS adds more (pipeline/net_policy.py)
    # quality gate after fusion (pipeline/gate, docs/quality_gate.md): each check passes at value <= threshold
    gate: str = "hold"  # off | warn (record the checks, keep `done`) | hold (a failing product becomes `review`)
    gate_max_stretch: float = 1.7  # puppet mesh: worst triangle stretch max(s1, 1/s2), any frame
    gate_flipped_triangles: int = 0  # puppet mesh: folded-over triangles in any frame
    gate_rigid_unexplained: float = 0.1  # rigid-kind motions: share of a frame's change no homography explains
    gate_plate_error: float = 12.0  # plate's estimated mean abs error (0-255) where the motion uncovers the hole
    gate_background_flicker: float = 2.0  # largest change (0-255) of a pixel outside the crop across frames
    gate_alpha_coverage: float = 1.15  # worst frame's object area vs the source's, as max(r, 1/r)
    gate_detached_pieces: int = 0  # pieces of the object breaking off, in any frame, beyond the photo's own
    gate_loop_seam: float = 2.5  # last-to-first jump over the median frame-to-frame change

    def validate(self) -> "PipelineConfig":
        checks = [
            (self.workers >= 1, "--workers must be at least 1"),
            (self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}"),
            (self.engine in ENGINES, f"--engine must be one of {', '.join(ENGINES)}"),
            (self.frames is None or 1 <= self.frames <= 2000, "--frames must be between 1 and 2000"),
            (self.fps is None or 1 <= self.fps <= 120, "--fps must be between 1 and 120"),
            (self.size is None or 32 <= self.size <= 4096, "--size must be between 32 and 4096"),
            (64 <= self.max_side <= 16384, "--max-side must be between 64 and 16384"),
            (bool(self.formats) and all(f in FORMATS for f in self.formats),
             f"--format takes a comma list of {', '.join(FORMATS)}"),
            (self.limit is None or self.limit >= 1, "--limit must be at least 1"),
            (self.matting in MATTING_METHODS or self.matting.startswith("rembg:"),
             f"--matting must be one of {', '.join(MATTING_METHODS)} or rembg:NAME"),
            (self.detector in ("none", "yolo") or self.detector.startswith("yolo:"),
             "--detector must be none, yolo or yolo:FILE"),
            (self.inpaint in INPAINT_METHODS, f"--inpaint must be one of {', '.join(INPAINT_METHODS)}"),
            (self.shadow in SHADOW_MODES, f"--shadow must be one of {', '.join(SHADOW_MODES)}"),
            (bool(self.motion_model.strip()), "--motion-model must name classical, a model id or a checkpoint"),
            (1 <= self.batch_size <= 1024, "--batch-size must be between 1 and 1024"),
            (bool(self.sr_model.strip()), f"--sr-model must be {', '.join(SR_MODELS)}, a model id or a checkpoint"),
            (self.sr_tile == 0 or self.sr_tile >= 32, "--sr-tile must be 0 (no tiling) or at least 32"),
            (0 <= self.sr_tile_pad <= 256, "--sr-tile-pad must be between 0 and 256"),
            (1 <= self.sr_batch <= 256, "--sr-batch must be between 1 and 256"),
            (2 <= self.keypoints <= 32, "--keypoints must be between 2 and 32"),
            (0.0 <= self.crop_margin <= 1.0, "crop_margin must be between 0 and 1"),
            (0 <= self.crf <= 51, "--crf must be between 0 and 51"),
            *((False, f"allow_hosts: {problem}") for problem in map(allow_entry_problem, self.allow_hosts) if problem),
            (self.gate in GATE_MODES, f"--gate must be one of {', '.join(GATE_MODES)}"),
            (min(self.gate_max_stretch, self.gate_flipped_triangles, self.gate_rigid_unexplained,
                 self.gate_plate_error, self.gate_background_flicker, self.gate_alpha_coverage,
                 self.gate_detached_pieces, self.gate_loop_seam) >= 0, "gate thresholds must not be negative"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        return self

    @property
    def driving_cache(self) -> Path:
        return (self.cache_dir or self.output / ".cache") / "driving"

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            return value

        return {k: plain(v) for k, v in asdict(self).items()}


_FIELD_TYPES = {f.name: f.type for f in fields(PipelineConfig)}


def _coerce(name: str, value: Any) -> Any:
    kind = str(_FIELD_TYPES[name])
    if value is None:
        return None
    if "Path" in kind and "tuple" not in kind:
        return Path(value)
    if "tuple" in kind:
        items = value.split(",") if isinstance(value, str) else list(value)
        texts = tuple(str(i).strip() for i in items if str(i).strip())
        return tuple(Path(t) for t in texts) if "Path" in kind else texts
    if kind.startswith("dict"):
        if not isinstance(value, dict):
            raise TypeError("expected a mapping")
        return {str(k): str(v) for k, v in value.items()}
    if kind.startswith("int"):
        return int(value)
    if kind.startswith("float"):
        return float(value)
    if kind == "bool":
        return bool(value)
    return value


def apply_overrides(config: PipelineConfig, overrides: dict[str, Any]) -> PipelineConfig:
    """Merge settings whose value is not None (flags the user did not set never override)."""
    clean: dict[str, Any] = {}
    for key, value in overrides.items():
        name = key.replace("-", "_")
        if name == "format":
            name = "formats"
        if name not in _FIELD_TYPES:
            raise UsageError(f"unknown setting {key!r}")
        if value is not None:
            try:
                clean[name] = _coerce(name, value)
            except (TypeError, ValueError):
                raise UsageError(f"setting {key!r} has an invalid value {value!r}") from None
    return replace(config, **clean)


def load_config_file(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a mapping of setting: value")
    return data
