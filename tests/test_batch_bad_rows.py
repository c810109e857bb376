"""End to end through the CLI: every bad row fails alone with a clear reason, the good products are animated,
a rerun skips them, and run-wide problems map to their exit codes."""
from __future__ import annotations

import csv
import io
import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.catalog import product_id_problem
from pipeline.cli import main

FAST = ["--size", "64", "--frames", "4", "--max-side", "200"]


def product_photo(colour: tuple[int, int, int], seed: int) -> bytes:
    """160x160 PNG: a saturated, lightly textured rounded shape on a plain light-grey backdrop."""
    rng = np.random.default_rng(seed)
    image = np.full((160, 160, 3), 225, np.uint8)
    mask = np.zeros((160, 160), np.uint8)
    cv2.ellipse(mask, (80, 86), (44, 60), 0, 0, 360, 1, -1)
    texture = rng.integers(-25, 26, (160, 160, 1))
    body = np.clip(np.array(colour)[None, None, :] + texture, 0, 255)
    image[mask > 0] = body[mask > 0]
    return cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 140, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height: the header alone must get it refused."""
    data = bytearray(png((64, 64)))
    body = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = body
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + body))
    return bytes(data)


def write_csv(path: Path, rows: list[list[str]], header: str = "product_id,image,category,motion,title") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def run_cli(argv: list[str]) -> int:
    """The exit code, whether main returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_bad_rows_fail_alone_and_good_products_are_animated(tmp_path: Path, loopback_http) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "red.png").write_bytes(product_photo((205, 35, 45), seed=1))
    (photos / "spare.png").write_bytes(product_photo((40, 160, 60), seed=3))
    (photos / "empty.png").write_bytes(b"")
    full = png((300, 300))
    (photos / "truncated.png").write_bytes(full[: len(full) // 2])
    (photos / "notes.jpg").write_bytes(b"this is a text file someone saved as .jpg\n" * 5)
    (photos / "tiny.png").write_bytes(png((10, 10)))
    (photos / "bomb.png").write_bytes(png_declaring(30000, 30000))
    (photos / "banner.png").write_bytes(png_declaring(25000, 100))
    blue_url = loopback_http.add("/img/blue.png", product_photo((35, 70, 210), seed=2))
    html_url = loopback_http.add("/product/7", b"<!doctype html><html><body>Blue mug</body></html>",
                                 content_type="text/html; charset=utf-8")
    missing_url = loopback_http.url("/img/gone.png")

    # (product_id, image, category, motion, keyword the reason must contain; None for a good product)
    rows: list[tuple[str, str, str, str, str | None]] = [
        ("red-vase", "photos/red.png", "vase", "", None),  # motion from the category mapping (sway)
        ("missing-file", "photos/nope.png", "vase", "", "not found"),
        ("empty-file", "photos/empty.png", "vase", "", "empty file"),
        ("truncated", "photos/truncated.png", "vase", "", "truncated"),
        ("not-an-image", "photos/notes.jpg", "vase", "", "not an image"),
        ("too-small", "photos/tiny.png", "vase", "", "too small"),
        ("bomb", "photos/bomb.png", "vase", "", "decompression bomb"),
        ("huge-side", "photos/banner.png", "vase", "", "absurdly large"),
        ("red-vase", "photos/spare.png", "vase", "", "duplicate"),
        ("../escape", "photos/spare.png", "vase", "", "unsafe"),
        ("", "photos/spare.png", "vase", "", "product_id is empty"),
        ("/tmp/abs", "photos/spare.png", "vase", "", "unsafe"),
        ("a/b", "photos/spare.png", "vase", "", "unsafe"),
        ("bell\x07", "photos/spare.png", "vase", "", "control characters"),
        ("moonwalker", "photos/spare.png", "vase", "moonwalk", "unknown motion"),
        ("rocket", "photos/spare.png", "spaceship", "", "no motion for category"),
        ("url-404", missing_url, "vase", "", "http 404"),
        ("url-html", html_url, "vase", "", "html"),
        ("no-image", "", "vase", "", "image column is empty"),
        ("blue-mug", blue_url, "gadget", "sway", None),  # over http; the row's motion covers an unmapped category
    ]
    catalog = write_csv(tmp_path / "catalog.csv", [[pid, image, cat, motion, ""] for pid, image, cat, motion, _ in rows])
    out = tmp_path / "out"
    # the motion comes from each row / category (not --motion) so that unknown-motion rows can fail
    argv = [str(catalog), "-o", str(out), *FAST]

    assert run_cli(argv) == 3
    report = json.loads((out / "report.json").read_text())
    products = report["products"]
    assert [p["line"] for p in products] == list(range(2, 2 + len(rows)))  # every row, in catalog order
    good = {"red-vase", "blue-mug"}
    for product, (pid, _, _, _, keyword) in zip(products, rows):
        assert product["product_id"] == pid
        if keyword is None:
            assert product["status"] == "done", product["error"]
            mp4 = Path(product["outputs"]["mp4"])
            assert mp4 == out / pid / "05_fusion" / "animation.mp4"
            assert mp4.is_file() and mp4.stat().st_size > 1000
        else:
            assert product["status"] == "failed"
            assert keyword in product["error"].lower(), (pid, product["error"])
    assert report["counts"] == {"done": 2, "skipped": 0, "failed": len(rows) - 2}
    # unsafe ids never became folders, inside or outside the output root
    assert not (tmp_path / "escape").exists() and not (out / "a").exists()
    safe_ids = {pid for pid, *_ in rows if product_id_problem(pid) is None}
    assert {p.name for p in out.iterdir() if p.is_dir()} <= safe_ids | {".cache"}

    # the rerun does nothing for the good products and fails the bad rows the same way
    assert run_cli(argv) == 3
    again = json.loads((out / "report.json").read_text())["products"]
    for before, after in zip(products, again):
        if before["product_id"] in good and before["status"] == "done":
            assert after["status"] == "skipped"
        else:
            assert after["status"] == before["status"] and after["error"] == before["error"]
    assert (out / "report.csv").is_file()


@pytest.fixture
def small_catalog(tmp_path: Path) -> Path:
    (tmp_path / "a.png").write_bytes(product_photo((205, 35, 45), seed=1))
    return write_csv(tmp_path / "catalog.csv", [["sku-1", "a.png", "vase", "", "A vase"]])


def test_missing_catalog_exits_66(tmp_path: Path, capsys) -> None:
    assert run_cli([str(tmp_path / "nope.csv"), "-o", str(tmp_path / "out")]) == 66
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_catalog_without_required_column_exits_66(tmp_path: Path, capsys) -> None:
    catalog = write_csv(tmp_path / "c.csv", [["sku-1", "a.png"]], header="product_id,image")
    assert run_cli([str(catalog), "-o", str(tmp_path / "out")]) == 66
    assert "category" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--no-such-option"], ["--frames", "0"], ["--workers", "many"],
                                 ["--size", "5"], ["--format", "avi"], ["--matting", "magic"]])
def test_bad_option_exits_2(small_catalog: Path, tmp_path: Path, bad: list[str]) -> None:
    assert run_cli([str(small_catalog), "-o", str(tmp_path / "out"), *bad]) == 2
    assert not (tmp_path / "out").exists()


def test_missing_motion_clip_exits_78(small_catalog: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli([str(small_catalog), "-o", str(tmp_path / "out"), "--motion", "does_not_exist.mp4"]) == 78
    assert "does_not_exist.mp4" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_dry_run_writes_nothing(small_catalog: Path, tmp_path: Path) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert run_cli([str(small_catalog), "-o", str(tmp_path / "out"), "--dry-run", *FAST]) == 0
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
