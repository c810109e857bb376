"""End to end through the CLI: every kind of bad input (files, rows, URLs) fails alone with a clear reason, the good
products are animated, a rerun skips them, and run-wide problems map to their exit codes."""
from __future__ import annotations

import csv
import io
import json
import socket
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from pipeline.catalog import product_id_problem
from pipeline.download import DEADLINE_ENV, MAX_BYTES_ENV, TIMEOUT_ENV
from conftest import FAST_SETTINGS as FAST, product_photo
from pipeline.cli import main

def reencode(png_bytes: bytes, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(png_bytes)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def animated_gif(*pngs: bytes) -> bytes:
    frames = [Image.open(io.BytesIO(data)).convert("RGB") for data in pngs]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


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


class CannedServer:
    """What the loopback_http fixture cannot serve: answers every connection on 127.0.0.1 with the same raw bytes
    (redirects), or with `None` accepts and never answers (a hung server). `hold`: keep the connection open after
    the bytes, as a server stalling mid-body does."""

    def __init__(self, response: bytes | None, hold: bool = False) -> None:
        self.response, self.hold = response, hold
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}{path}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.held.append(connection)
            try:
                connection.recv(65536)  # the request
                if self.response is not None:
                    connection.sendall(self.response)
                    if not self.hold:
                        connection.close()
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redirect(location: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()


@dataclass(frozen=True)
class Case:
    kind: str  # what is wrong with this input (or, for a good product, what is unusual about it)
    product_id: str
    image: str
    stage: str | None = None  # error_stage of a bad row; None: a good product, which must be done
    phrase: str = ""  # the reason must contain this (compared in lower case)
    category: str = "vase"
    motion: str = ""
    row: tuple[str, ...] | None = None  # the CSV fields as written, for rows of the wrong length

    @property
    def fields(self) -> list[str]:
        return list(self.row) if self.row is not None else [self.product_id, self.image, self.category, self.motion, ""]


def test_bad_inputs_fail_alone_and_good_products_are_animated(tmp_path: Path, loopback_http, monkeypatch) -> None:
    # small download limits so that the timeout, oversize and slow-drip cases cost about a second each
    monkeypatch.setenv(TIMEOUT_ENV, "1")
    monkeypatch.setenv(DEADLINE_ENV, "1.5")
    monkeypatch.setenv(MAX_BYTES_ENV, "100000")
    photos = tmp_path / "photos"
    photos.mkdir()
    red, green, blue = (product_photo(c, seed) for seed, c in enumerate([(205, 35, 45), (40, 160, 60),
                                                                         (35, 70, 210)], start=1))
    jpeg = reencode(product_photo((150, 60, 200), seed=4), "JPEG", quality=90)
    files = {
        "red.png": red, "spare.png": green, "olive.png": jpeg,  # olive.png: a JPEG with the wrong extension
        "empty.png": b"", "truncated.png": red[: len(red) // 2], "truncated.jpg": jpeg[: len(jpeg) // 2],
        "notes.png": b"this is a text file someone saved as .png\n" * 5,
        "tiny.png": png((1, 1)), "zero.png": png_declaring(0, 0),
        "bomb.png": png_declaring(30000, 30000), "banner.png": png_declaring(25000, 100),
        "logo.svg": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">'
                    b'<rect width="200" height="200" fill="red"/></svg>\n',
        "sheet.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        "art.eps": reencode(red, "EPS"),
        "iphone.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200),
    }
    for name, data in files.items():
        (photos / name).write_bytes(data)
    (photos / "folder.png").mkdir()
    web = loopback_http
    big = green + bytes(150_000)  # a valid PNG start, past the 100 kB cap
    urls = {
        "blue": web.add("/img/blue.png", blue),
        "gif": web.add("/img/animated.png", animated_gif(green, blue, red)),  # a GIF served as image/png
        "html": web.add("/product/7", b"<!doctype html><html><body>Blue mug</body></html>"),  # as image/png
        "html-typed": web.add("/product/8", b"<html><body>Blue mug</body></html>", content_type="text/html"),
        "500": web.add("/img/broken.png", b"oops", content_type="text/plain", status=500),
        "empty": web.add("/img/empty.png", b""),
        "big": web.add("/img/big.png", big),
        "big-unsized": web.add("/img/big-unsized.png", big, send_length=False),
        "drip": web.add("/img/drip.png", green + bytes(40_000), send_length=False, trickle_s=0.02),
        "404": web.url("/img/gone.png"),
    }
    hung, loop = CannedServer(None), CannedServer(redirect("/loop"))
    to_ftp = CannedServer(redirect("ftp://127.0.0.1/a.png"))
    refused = f"http://127.0.0.1:{free_port()}/img/a.png"

    cases = [
        Case("good: local PNG, motion from the category mapping", "red-vase", "photos/red.png"),
        Case("good: over http, the row's motion covers an unmapped category", "blue-mug", urls["blue"],
             category="gadget", motion="sway"),
        Case("good: an animated GIF served as image/png", "gif-as-png", urls["gif"]),
        Case("good: a JPEG named .png", "jpeg-as-png", "photos/olive.png"),
        # files
        Case("missing file", "missing-file", "photos/nope.png", "fetch", "not found"),
        Case("a folder given as the image", "folder", "photos/folder.png", "fetch", "is a folder"),
        Case("empty file", "empty-file", "photos/empty.png", "localize", "empty file"),
        Case("truncated PNG", "truncated-png", "photos/truncated.png", "localize", "truncated"),
        Case("truncated JPEG", "truncated-jpeg", "photos/truncated.jpg", "localize", "truncated"),
        Case("a text file named .png", "text-as-png", "photos/notes.png", "localize", "not an image"),
        Case("1x1 image", "too-small", "photos/tiny.png", "localize", "too small (1x1)"),
        Case("PNG declaring 0x0", "zero-size", "photos/zero.png", "localize", "header is truncated or corrupt"),
        Case("decompression bomb (30000x30000 declared)", "bomb", "photos/bomb.png", "localize",
             "decompression bomb"),
        Case("a side past the limit", "huge-side", "photos/banner.png", "localize", "absurdly large"),
        Case("SVG", "vector", "photos/logo.svg", "localize", "svg"),
        Case("PDF", "document", "photos/sheet.pdf", "localize", "pdf document"),
        Case("EPS (would run Ghostscript)", "postscript", "photos/art.eps", "localize", "postscript"),
        Case("HEIC", "heic", "photos/iphone.heic", "localize", "heic"),
        Case("file:// URL", "file-scheme", f"file://{photos / 'red.png'}", "fetch", "unsupported url scheme"),
        Case("ftp:// URL", "ftp-scheme", "ftp://127.0.0.1/red.png", "fetch", "unsupported url scheme"),
        # rows
        Case("duplicate product_id", "red-vase", "photos/spare.png", "catalog", "duplicate product_id"),
        Case("product_id differing from another only in case", "RED-VASE", "photos/spare.png", "catalog",
             "only in case"),
        Case("product_id ../escape", "../escape", "photos/spare.png", "catalog", "unsafe"),
        Case("absolute product_id", str(tmp_path / "abs"), "photos/spare.png", "catalog", "unsafe"),
        Case("product_id with a slash", "a/b", "photos/spare.png", "catalog", "unsafe"),
        Case("product_id ..", "..", "photos/spare.png", "catalog", "unsafe"),
        Case("product_id with a control character", "bell\x07", "photos/spare.png", "catalog", "control characters"),
        Case("product_id too long", "x" * 129, "photos/spare.png", "catalog", "longer than 128"),
        Case("empty product_id", "", "photos/spare.png", "catalog", "product_id is empty"),
        Case("Windows device name", "CON", "photos/spare.png", "catalog", "reserved device name"),
        Case("empty image cell", "no-image", "", "catalog", "image column is empty"),
        Case("unknown motion", "moonwalker", "photos/spare.png", "catalog", "unknown motion 'moonwalk'",
             motion="moonwalk"),
        Case("missing motion clip", "clipless", "photos/spare.png", "catalog", "does not exist",
             motion="clips/none.mp4"),
        Case("category with no mapping", "rocket", "photos/spare.png", "catalog", "no motion for category 'spaceship'",
             category="spaceship"),
        Case("row with too few fields", "short-row", "", "catalog", "no value for category",
             row=("short-row", "photos/spare.png")),
        Case("row with too many fields", "long-row", "", "catalog", "more fields than the header",
             row=("long-row", "photos/spare.png", "vase", "", "a title", "surplus")),
        # URLs
        Case("HTTP 404", "url-404", urls["404"], "fetch", "http 404"),
        Case("HTTP 500", "url-500", urls["500"], "fetch", "http 500"),
        Case("HTML page sent as image/png", "url-html", urls["html"], "fetch", "html page"),
        Case("HTML page sent as text/html", "url-html-typed", urls["html-typed"], "fetch", "html page"),
        Case("empty body", "url-empty", urls["empty"], "fetch", "empty body"),
        Case("Content-Length past the cap", "url-big", urls["big"], "fetch", "too large"),
        Case("no Content-Length, body past the cap", "url-big-unsized", urls["big-unsized"], "fetch",
             "larger than the 100000 byte limit"),
        Case("slow drip past the deadline", "url-drip", urls["drip"], "fetch", "took longer than 1.5 s"),
        Case("server accepts and never answers", "url-hung", hung.url("/img/a.png"), "fetch",
             "sent nothing for 1 s"),
        Case("connection refused", "url-refused", refused, "fetch", "refused"),
        Case("redirect loop", "url-loop", loop.url("/loop"), "fetch", "redirects in a loop"),
        Case("redirect to ftp://", "url-to-ftp", to_ftp.url("/a.png"), "fetch", "not an http(s) url"),
    ]
    good = [c for c in cases if c.stage is None]
    bad_kinds = {c.kind for c in cases if c.stage is not None}
    assert len(good) >= 3 and len(bad_kinds) >= 20 and len(bad_kinds) == len(cases) - len(good)
    catalog = write_csv(tmp_path / "catalog.csv", [c.fields for c in cases])
    out = tmp_path / "out"
    # the motion comes from each row / category (not --motion) so that unknown-motion rows can fail
    argv = [str(catalog), "-o", str(out), *FAST]

    try:
        assert run_cli(argv) == 3
        report = json.loads((out / "report.json").read_text())
        products = report["products"]
        assert [p["line"] for p in products] == list(range(2, 2 + len(cases)))  # every row, in catalog order
        for product, case in zip(products, cases):
            assert product["product_id"] == case.product_id, case.kind
            if case.stage is None:
                assert product["status"] == "done", (case.kind, product["error"])
                mp4 = Path(product["outputs"]["mp4"])
                assert mp4 == out / case.product_id / "05_fusion" / "animation.mp4"
                assert mp4.is_file() and mp4.stat().st_size > 1000
                continue
            error = product["error"]
            assert product["status"] == "failed", case.kind
            assert product["error_stage"] == case.stage, (case.kind, product["error_stage"], error)
            assert case.phrase in error.lower(), (case.kind, error)
            if case.stage in ("fetch", "localize"):  # the reason names the file or URL
                assert Path(case.image).name in error or case.image in error, (case.kind, error)
        assert (report["counts"]["done"], report["counts"]["failed"]) == (len(good), len(bad_kinds))
        # unsafe ids never became folders, inside or outside the output root
        assert not (tmp_path / "escape").exists() and not (tmp_path / "abs").exists() and not (out / "a").exists()
        safe_ids = {c.product_id for c in cases if product_id_problem(c.product_id) is None}
        assert {p.name for p in out.iterdir() if p.is_dir()} <= safe_ids | {".cache"}

        # the rerun does nothing for the good products and fails the bad rows the same way
        assert run_cli(argv) == 3
        again = json.loads((out / "report.json").read_text())["products"]
        for before, after, case in zip(products, again, cases):
            if case.stage is None:
                assert after["status"] == "skipped", case.kind
            else:
                assert after["status"] == before["status"] and after["error"] == before["error"], case.kind
        assert (out / "report.csv").is_file()
    finally:
        for server in (hung, loop, to_ftp):
            server.close()


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
