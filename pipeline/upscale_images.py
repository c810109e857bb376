"""`animate-products upscale`: stage 4's super-resolution for any image files (a photo, a poster, frames under
review) at any scale factor, as Real-ESRGAN's `-s/--outscale`: the network's x4, then an area downscale (or Lanczos
beyond x4). A transparent image keeps its alpha, upscaled without halos like the animation frames."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import PipelineConfig
from pipeline.errors import ProductError
from pipeline.imageio import decode_image, write_png
from pipeline.sr_choice import CLASSICAL, choose_sr_model, load_sr_handle, sr_settings
from pipeline.upscaling import Size, upscale_rgba_classical, upscale_rgba_network


@dataclass(frozen=True)
class UpscaleResult:
    source: Path
    output: Path | None  # None when the file could not be read
    size: Size | None = None
    error: str = ""


def output_size(height: int, width: int, outscale: float) -> Size:
    return max(1, round(height * outscale)), max(1, round(width * outscale))


@dataclass(frozen=True)
class UpscaleReport:
    model: str  # what `--sr-model` resolved to
    results: list[UpscaleResult]

    @property
    def failed(self) -> list[UpscaleResult]:
        return [result for result in self.results if result.output is None]


def upscale_files(paths: list[Path], out_dir: Path, config: PipelineConfig, outscale: float) -> UpscaleReport:
    """Each image to `out_dir/<stem>.png`; an unreadable file is reported and the others still run."""
    choice = choose_sr_model(config)
    handle = load_sr_handle(choice, sr_settings(config)) if choice.weights is not None else None
    results = []
    for path in paths:
        try:
            decoded = decode_image(Path(path).read_bytes(), label=str(path))
        except (OSError, ProductError) as exc:
            results.append(UpscaleResult(path, None, error=str(exc)))
            continue
        alpha = decoded.alpha_u8 if decoded.alpha_u8 is not None else np.full(decoded.rgb_u8.shape[:2], 255, np.uint8)
        rgba = np.dstack([decoded.rgb_u8, alpha])
        size = output_size(*rgba.shape[:2], outscale)
        if handle is None:
            upscaled = upscale_rgba_classical(rgba, size, CLASSICAL[choice.model])
        else:
            upscaled = next(upscale_rgba_network([rgba], size, handle, batch=1))
        output = write_png(out_dir / f"{Path(path).stem}.png", upscaled if decoded.alpha_u8 is not None
                           else np.ascontiguousarray(upscaled[..., :3]))
        results.append(UpscaleResult(path, output, size))
    return UpscaleReport(choice.model, results)
