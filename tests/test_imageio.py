"""decode_image: every valid colour mode becomes RGB uint8; every unusable file fails with a clear reason."""
from __future__ import annotations

import io
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.errors import ProductError
from pipeline.imageio import MIN_SIDE, decode_image

W, H = 120, 80  # landscape, so a rotation is visible in the shape


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def noise_rgb(width: int = W, height: int = H, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_declaring(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR is patched to declare width x height (no pixels are ever allocated)."""
    data = bytearray(encode(Image.new("RGB", (64, 64), (10, 20, 30))))
    assert data[12:16] == b"IHDR"
    body = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = body
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + body))
    return bytes(data)


def assert_rgb(decoded, width: int = W, height: int = H) -> None:
    assert decoded.rgb_u8.dtype == np.uint8
    assert decoded.rgb_u8.shape == (height, width, 3)
    assert decoded.rgb_u8.flags["C_CONTIGUOUS"]


# ---- valid modes -------------------------------------------------------------------------------------------


def test_rgb_png_round_trips_exactly() -> None:
    pixels = noise_rgb()
    decoded = decode_image(encode(Image.fromarray(pixels)))
    assert_rgb(decoded)
    assert np.array_equal(decoded.rgb_u8, pixels)
    assert decoded.alpha_u8 is None and decoded.source_mode == "RGB"


def test_cmyk_jpeg_converts_to_rgb() -> None:
    data = encode(Image.new("CMYK", (W, H), (0, 255, 255, 0)), "JPEG", quality=95)  # pure red in CMYK
    decoded = decode_image(data)
    assert decoded.source_mode == "CMYK"
    assert_rgb(decoded)
    r, g, b = decoded.rgb_u8.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60


def test_16bit_gray_png_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, W).astype(np.uint16), (H, 1))
    data = cv2.imencode(".png", ramp)[1].tobytes()
    decoded = decode_image(data)
    assert decoded.source_mode.startswith("I")
    assert_rgb(decoded)
    row = decoded.rgb_u8[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255 and row[W // 2] in range(120, 136)
    assert np.array_equal(decoded.rgb_u8[..., 0], decoded.rgb_u8[..., 2])  # gray stays gray
    assert np.all(np.diff(row) >= 0)


def test_dark_16bit_gray_png_stays_dark() -> None:
    # values up to 255 out of 65535 are almost black, not a full-range 8-bit image
    dark = np.full((H, W), 200, np.uint16)
    decoded = decode_image(cv2.imencode(".png", dark)[1].tobytes())
    assert int(decoded.rgb_u8.max()) <= 1


def test_16bit_rgb_png_converts() -> None:
    rgb16 = np.zeros((H, W, 3), np.uint16)
    rgb16[..., 0] = 65535  # red in RGB order
    rgb16[..., 2] = 32768
    data = cv2.imencode(".png", cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))[1].tobytes()
    decoded = decode_image(data)
    assert_rgb(decoded)
    assert decoded.rgb_u8[0, 0].tolist() == [255, 0, 128]


def test_grayscale_converts_to_three_equal_channels() -> None:
    gray = noise_rgb()[..., 0]
    decoded = decode_image(encode(Image.fromarray(gray)))
    assert decoded.source_mode == "L"
    assert_rgb(decoded)
    for channel in range(3):
        assert np.array_equal(decoded.rgb_u8[..., channel], gray)


def test_palette_without_transparency() -> None:
    image = Image.new("RGB", (W, H), (0, 128, 255)).convert("P")
    decoded = decode_image(encode(image))
    assert decoded.source_mode == "P"
    assert_rgb(decoded)
    assert decoded.alpha_u8 is None
    expected = np.asarray(image.convert("RGB"))
    assert np.array_equal(decoded.rgb_u8, expected)
    assert abs(int(expected[5, 5, 2]) - 255) < 60  # the palette kept the colour roughly


def test_palette_with_transparency_gives_alpha() -> None:
    image = Image.new("P", (W, H), 1)
    image.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    image.paste(0, (0, 0, 30, H))  # left strip uses the transparent index
    decoded = decode_image(encode(image, transparency=0))
    assert_rgb(decoded)
    assert decoded.alpha_u8 is not None and decoded.alpha_u8.shape == (H, W)
    assert decoded.alpha_u8[:, :30].max() == 0 and decoded.alpha_u8[:, 30:].min() == 255
    assert decoded.rgb_u8[10, 60].tolist() == [200, 30, 30]


def test_rgba_with_real_alpha_gives_the_matte() -> None:
    rgba = np.dstack([noise_rgb(), np.zeros((H, W), np.uint8)])
    rgba[20:60, 30:90, 3] = 255
    decoded = decode_image(encode(Image.fromarray(rgba)))
    assert decoded.source_mode == "RGBA"
    assert_rgb(decoded)
    assert decoded.alpha_u8 is not None
    assert np.array_equal(decoded.alpha_u8, rgba[..., 3])
    assert np.array_equal(decoded.rgb_u8[20:60, 30:90], rgba[20:60, 30:90, :3])


def test_fully_opaque_alpha_is_ignored() -> None:
    rgba = np.dstack([noise_rgb(), np.full((H, W), 255, np.uint8)])
    decoded = decode_image(encode(Image.fromarray(rgba)))
    assert_rgb(decoded)
    assert decoded.alpha_u8 is None


def test_gray_with_alpha_gives_alpha() -> None:
    image = Image.new("LA", (W, H), (90, 0))
    image.paste((90, 255), (40, 20, 80, 60))
    decoded = decode_image(encode(image))
    assert_rgb(decoded)
    assert decoded.alpha_u8 is not None and decoded.alpha_u8[40, 60] == 255 and decoded.alpha_u8[0, 0] == 0


def test_exif_orientation_6_rotates_the_image() -> None:
    pixels = np.full((H, W, 3), 40, np.uint8)
    pixels[:, :20] = (250, 250, 250)  # a bright band on the stored image's left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = decode_image(encode(Image.fromarray(pixels), "JPEG", quality=95, exif=exif))
    assert_rgb(decoded, width=H, height=W)  # width and height swap
    # after a clockwise turn the stored left edge is at the top
    assert decoded.rgb_u8[:15].mean() > 200 and decoded.rgb_u8[-40:].mean() < 80


# ---- invalid files -----------------------------------------------------------------------------------------


def reason_of(data: bytes) -> str:
    with pytest.raises(ProductError) as caught:
        decode_image(data, label="image 'x.png'")
    assert caught.value.reason == str(caught.value)
    assert "image 'x.png'" in caught.value.reason  # the report says which file
    return caught.value.reason.lower()


def test_empty_file() -> None:
    assert "empty" in reason_of(b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(fmt: str) -> None:
    data = encode(Image.fromarray(noise_rgb(200, 200)), fmt)
    assert "truncated" in reason_of(data[: len(data) // 2])


@pytest.mark.parametrize("data", [b"product_id,image\nsku,1.png\n" * 20,
                                  b"<!doctype html><html><body>Not found</body></html>"])
def test_not_an_image(data: bytes) -> None:
    assert "not an image" in reason_of(data)


@pytest.mark.parametrize("data, keyword", [
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"/>', "an svg"),
    (b"\xef\xbb\xbf<svg xmlns='http://www.w3.org/2000/svg'></svg>", "an svg"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n", "a pdf document"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100), "a heic/heif photo"),
    (b"<!DOCTYPE html><html><body>404</body></html>", "an html page"),
])
def test_formats_pillow_does_not_read_are_named(data: bytes, keyword: str) -> None:
    reason = reason_of(data)
    assert keyword in reason and "not an image" in reason and "export it as png or jpeg" in reason


def test_eps_is_refused_before_ghostscript_runs(monkeypatch) -> None:
    import PIL.EpsImagePlugin

    def no_ghostscript(*args: object, **kwargs: object) -> None:
        raise AssertionError("Ghostscript must not run on catalog input")

    monkeypatch.setattr(PIL.EpsImagePlugin, "Ghostscript", no_ghostscript)
    reason = reason_of(encode(Image.new("RGB", (W, H), (200, 30, 30)), "EPS"))
    assert "postscript (eps)" in reason and "export it as png or jpeg" in reason


@pytest.mark.parametrize("data, fmt", [(png_declaring(0, 0), "png"), (png_declaring(0, 100), "png"),
                                       (encode(Image.new("RGB", (W, H)))[:12], "png"),
                                       (encode(Image.new("RGB", (W, H)), "JPEG")[:3], "jpeg"),
                                       (encode(Image.new("RGB", (W, H)), "GIF")[:8], "gif")])
def test_a_broken_header_names_the_format(data: bytes, fmt: str) -> None:
    assert f"starts like a {fmt} file but its header is truncated or corrupt" in reason_of(data)


@pytest.mark.parametrize("size", [(10, 10), (MIN_SIDE - 1, 400), (400, MIN_SIDE - 1)])
def test_too_small(size: tuple[int, int]) -> None:
    reason = reason_of(encode(Image.new("RGB", size, (1, 2, 3))))
    assert "too small" in reason and f"{size[0]}x{size[1]}" in reason


def test_decompression_bomb_header_is_refused_without_decoding() -> None:
    started = time.perf_counter()
    reason = reason_of(png_declaring(30000, 30000))
    assert "decompression bomb" in reason
    assert time.perf_counter() - started < 1.0


def test_bomb_just_over_the_pixel_limit() -> None:
    assert "decompression bomb" in reason_of(png_declaring(9000, 9000))  # 81 MP: Pillow warns, we refuse


def test_absurdly_long_side() -> None:
    reason = reason_of(png_declaring(25000, 100))  # few pixels, but a side past the limit
    assert "absurdly large" in reason and "25000x100" in reason


def test_compressed_single_colour_bomb() -> None:
    # a real file: 10000x7000 of one colour compresses to well under a megabyte
    data = encode(Image.new("L", (10000, 7000), 255), optimize=False, compress_level=9)
    assert len(data) < 1_000_000
    assert "decompression bomb" in reason_of(data)
