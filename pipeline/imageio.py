"""Decoding product photos safely into one canonical form, and writing PNG/JPEG artifacts atomically."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.atomic import atomic_path
from pipeline.errors import ProductError

MIN_SIDE = 64
MAX_SIDE = 20_000
MAX_PIXELS = 60_000_000  # above this a file is treated as a decompression bomb, whatever its byte size
ALPHA_OPAQUE_U8 = 250  # an alpha channel counts as real only if some pixel is below this
NEVER_DECODE = {"EPS": "a PostScript (EPS) file"}  # Pillow renders EPS by running Ghostscript on the file
# the first bytes of files people put in catalogs that are not photos Pillow reads, to name them in the reason
_FOREIGN = ((b"%PDF-", "a PDF document"), (b"%!PS", "a PostScript (EPS) file"),
            (b"\xc5\xd0\xd3\xc6", "a PostScript (EPS) file"))
_RASTER = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
           (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


@dataclass(frozen=True)
class DecodedImage:
    rgb_u8: np.ndarray  # HxWx3 uint8, EXIF orientation applied
    alpha_u8: np.ndarray | None  # HxW uint8 when the file carried a real (not all-opaque) alpha channel
    source_mode: str  # Pillow mode of the file, for the report


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "f":
        array = np.nan_to_num(array)
        scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
        return np.clip(array * scale + 0.5, 0, 255).astype(np.uint8)
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:
        top = 65535.0  # 16-bit samples (I;16, any byte order): a dark image stays dark
    else:
        top = 65535.0 if array.max(initial=0) > 255 else 255.0  # 32-bit "I": 16-bit data, or 8-bit widened
    return np.clip(array.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _split_modes(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = _to_uint8(np.asarray(image))
        return np.repeat(gray[..., None], 3, axis=2), None
    if mode in ("LA", "PA", "RGBA", "RGBa", "La"):
        rgba = np.asarray(image.convert("RGBA"))
        return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
    return np.asarray(image.convert("RGB")), None


def _foreign_kind(data: bytes) -> str | None:
    """What a file Pillow cannot identify is, when its first bytes say so: "a PDF document", ..."""
    kind = next((name for magic, name in _FOREIGN if data.startswith(magic)), None)
    text = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if kind is None and text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        kind = "an HTML page"
    if kind is None and text.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg")) and b"<svg" in text:
        kind = "an SVG (vector) image"
    if kind is None and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        kind = "a HEIC/HEIF photo"
    return kind


def _unreadable_reason(data: bytes, label: str) -> str:
    """Why Pillow could not identify `data`, naming the format when the first bytes tell it."""
    kind = _foreign_kind(data)
    if kind is not None:
        return f"{label} is {kind}, not an image Pillow can read; export it as PNG or JPEG"
    raster = next((name for magic, name in _RASTER if data.startswith(magic)), None)
    if raster is not None:  # a recognised start, then nothing Pillow can use: cut short, or a zero width/height
        return f"{label} starts like a {raster} file but its header is truncated or corrupt"
    return f"{label} is not an image Pillow can read (PNG, JPEG, WebP, GIF, TIFF, BMP, AVIF, ...)"


def decode_image(data: bytes, label: str = "image") -> DecodedImage:
    """Decode bytes to RGB(+alpha); raise ProductError with a clear reason for anything unusable."""
    if not data:
        raise ProductError(f"{label} is an empty file")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.format in NEVER_DECODE:
                    raise ProductError(f"{label} is {NEVER_DECODE[opened.format]}, which is not decoded for "
                                       "safety; export it as PNG or JPEG")
                width, height = opened.size
                if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                    raise ProductError(f"{label} is absurdly large ({width}x{height}); the limit is "
                                       f"{MAX_PIXELS // 1_000_000} MP and {MAX_SIDE} px a side")
                if min(width, height) < MIN_SIDE:
                    raise ProductError(f"{label} is too small ({width}x{height}); need at least {MIN_SIDE} px a side")
                source_mode = opened.mode
                opened.load()
                image = ImageOps.exif_transpose(opened)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ProductError(f"{label} looks like a decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise ProductError(_unreadable_reason(data, label)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ProductError(f"{label} is truncated or corrupt: {exc}") from None
    try:
        if source_mode == "CMYK":
            image = image.convert("RGB")
        rgb_u8, alpha_u8 = _split_modes(image)
    except (OSError, ValueError) as exc:
        raise ProductError(f"{label} has colour mode {source_mode} that cannot be converted to RGB: {exc}") from None
    if alpha_u8 is not None and int(alpha_u8.min()) >= ALPHA_OPAQUE_U8:
        alpha_u8 = None
    return DecodedImage(np.ascontiguousarray(rgb_u8), alpha_u8, source_mode)


def resize_to_max_side(image: np.ndarray, max_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def write_png(path: Path, image_u8: np.ndarray, compression: int = 1) -> Path:
    """RGB, RGBA or gray uint8 array to PNG (fast compression: artifacts are rewritten often)."""
    if image_u8.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image_u8.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image_u8 = cv2.cvtColor(image_u8, code)
    ok, encoded = cv2.imencode(".png", image_u8, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise OSError(f"could not encode PNG {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return path


def write_jpeg(path: Path, rgb_u8: np.ndarray, quality: int = 90) -> Path:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"could not encode JPEG {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return path


def read_png(path: Path) -> np.ndarray:
    """PNG written by write_png back to RGB/RGBA/gray uint8."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise OSError(f"could not read {path}")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        image = cv2.cvtColor(image, code)
    return image
