"""Reading the catalog CSV, product_id safety, and fetching image bytes from disk or a loopback HTTP server."""
from __future__ import annotations

import csv
import io
import os
import socket
import time
import unicodedata
from pathlib import Path

import pytest
from PIL import Image

import pipeline.catalog as catalog
import pipeline.download as download
from pipeline.catalog import CatalogItem, fetch_image_bytes, product_id_problem, read_catalog
from pipeline.errors import CatalogError, ProductError
from test_batch_bad_rows import CannedServer, redirect


def png_bytes(size: tuple[int, int] = (80, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_catalog(folder: Path, text: str, name: str = "catalog.csv", encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def item_for(image: str, folder: Path, product_id: str = "sku-1") -> CatalogItem:
    return CatalogItem(line=2, product_id=product_id, image=image, category="mug", motion="", title="",
                       catalog_dir=folder)


# ---- read_catalog ------------------------------------------------------------------------------------------


def test_reads_rows_with_bom_whitespace_and_no_optional_columns(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, "\ufeff product_id , image ,category\r\n"
                                   "  sku-1 ,  photos/a.png , Vase Of Flowers \r\n"
                                   "sku-2,https://example.invalid/b.jpg,mug\r\n", encoding="utf-8")
    items = read_catalog(path)
    assert [i.product_id for i in items] == ["sku-1", "sku-2"]
    first = items[0]
    assert first.line == 2 and first.image == "photos/a.png" and first.error is None
    assert first.category == "vase_of_flowers"  # lower case, spaces to underscores
    assert first.motion == "" and first.title == ""
    assert first.catalog_dir == tmp_path.resolve()
    assert not first.is_url and items[1].is_url


def test_optional_columns_in_any_order(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, "title,motion,category,image,product_id\n"
                                   '"Mug, blue",sway,mug,m.png,mug-1\n')
    (item,) = read_catalog(path)
    assert (item.product_id, item.image, item.category, item.motion, item.title) == \
        ("mug-1", "m.png", "mug", "sway", "Mug, blue")


def test_line_numbers_follow_the_file(tmp_path: Path) -> None:
    # a quoted value spanning two lines and a blank line: each item keeps the line its row starts on
    path = write_catalog(tmp_path, 'product_id,image,category,title\n'
                                   'a,a.png,mug,"two\nlines"\n'
                                   '\n'
                                   'b,b.png,mug,plain\n'
                                   ',,,\n'
                                   'c,c.png,mug,x\n')
    items = read_catalog(path)
    assert [(i.product_id, i.line) for i in items] == [("a", 2), ("b", 5), ("c", 7)]
    assert items[0].title == "two\nlines"


def test_only_cr_lf_end_rows(tmp_path: Path) -> None:
    # form feed and vertical tab are line breaks to str.splitlines, but not to CSV
    path = write_catalog(tmp_path, "product_id,image,category,title\n"
                                   "a\x0bb,a.png,mug,x\n"
                                   "c,c.png,mug,form\x0cfeed\n")
    items = read_catalog(path)
    assert len(items) == 2
    assert "control characters" in (items[0].error or "")
    assert items[1].error is None and items[1].title == "form\x0cfeed"


def test_duplicate_id_fails_the_second_row_only(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, "product_id,image,category\nsku,a.png,mug\nother,b.png,mug\nsku,c.png,mug\n")
    first, other, second = read_catalog(path)
    assert first.error is None and other.error is None
    assert second.error is not None and "duplicate" in second.error and "sku" in second.error
    assert "line 2" in second.error  # points at the row that keeps the id
    assert second.line == 4


def test_row_level_problems_become_item_errors(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, "product_id,image,category\n"
                                   "../x,a.png,mug\n"
                                   ",b.png,mug\n"
                                   "no-image,,mug\n"
                                   "extra,e.png,mug,surplus\n"
                                   "trailing-comma,t.png,mug,\n"
                                   "short,s.png\n")
    errors = {i.line: i.error or "" for i in read_catalog(path)}
    assert "unsafe" in errors[2]
    assert "empty" in errors[3] and "product_id" in errors[3]
    assert "image column is empty" in errors[4]
    assert "more fields" in errors[5]
    assert errors[6] == ""  # an empty trailing field (spreadsheet export) is harmless
    assert errors[7] == "the row has 2 field(s) but the header has 3; no value for category"


def test_rows_may_leave_out_trailing_optional_columns(tmp_path: Path) -> None:
    (item,) = read_catalog(write_catalog(tmp_path, "product_id,image,category,motion,title\nsku,a.png,mug\n"))
    assert item.error is None and item.motion == "" and item.title == ""


@pytest.mark.parametrize("first, second", [("SKU-1", "sku-1"), ("Straße", "STRASSE"), ("Café", "CAFÉ"),
                                           (unicodedata.normalize("NFC", "한국-1"),  # 2 syllables, or 6 jamo
                                            unicodedata.normalize("NFD", "한국-1"))])
def test_ids_naming_the_same_folder_on_macos_or_windows_are_duplicates(tmp_path: Path, first: str,
                                                                       second: str) -> None:
    path = write_catalog(tmp_path, f"product_id,image,category\n{first},a.png,mug\n{second},b.png,mug\n")
    kept, refused = read_catalog(path)
    assert kept.error is None
    assert refused.error is not None and "only in case or Unicode form" in refused.error
    assert repr(first) in refused.error and "line 2" in refused.error


def test_header_names_are_case_insensitive(tmp_path: Path) -> None:
    (item,) = read_catalog(write_catalog(tmp_path, "Product_ID,Image,Category\np,p.png,mug\n"))
    assert item.product_id == "p" and item.image == "p.png"


@pytest.mark.parametrize("header", ["product_id,image\n", "image,category,title\n", "id,picture,kind\n", ""])
def test_missing_required_column_is_a_catalog_error(tmp_path: Path, header: str) -> None:
    path = write_catalog(tmp_path, header + "a,b,c\n" if header else "")
    with pytest.raises(CatalogError) as caught:
        read_catalog(path)
    message = str(caught.value)
    assert "required column" in message and str(path) in message
    assert caught.value.exit_code == 66


def test_malformed_csv_is_a_catalog_error(tmp_path: Path) -> None:
    huge_field = "x" * (csv.field_size_limit() + 10)
    path = write_catalog(tmp_path, f"product_id,image,category\na,a.png,mug\nb,{huge_field},mug\n")
    with pytest.raises(CatalogError, match="not valid CSV near line 3"):
        read_catalog(path)


def test_missing_catalog_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        read_catalog(tmp_path / "nope.csv")


def test_undecodable_catalog_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("product_id,image,category\ncaf\xe9,a.png,mug\n".encode("latin-1"))
    with pytest.raises(CatalogError, match="unreadable"):
        read_catalog(path)


# ---- product_id_problem ------------------------------------------------------------------------------------


@pytest.mark.parametrize("product_id", ["sku-1", "SKU_2", "Blue Mug 3", "v1.2", "café-ü", "a" * 128, "CONSOLE",
                                        "com10", "nullable"])
def test_safe_ids(product_id: str) -> None:
    assert product_id_problem(product_id) is None


@pytest.mark.parametrize("product_id, keyword", [
    ("", "empty"),
    ("../x", "unsafe"),
    ("..", "unsafe"),
    (".", "unsafe"),
    (".hidden", "unsafe"),
    ("a/b", "unsafe"),
    ("a\\b", "unsafe"),
    ("/etc/passwd", "unsafe"),
    ("C:\\temp", "unsafe"),
    ("C:", "unsafe"),
    ("trailing.", "unsafe"),
    ("-rf", "unsafe"),
    ("bell\x07", "control"),
    ("tab\there", "control"),
    ("new\nline", "control"),
    ("nul\x00", "control"),
    ("zero\u200bwidth", "control"),
    ("a" * 129, "longer"),
    ("\u6f22" * 100, "longer"),  # 100 characters but 300 bytes: too long for a file name
    ("CON", "reserved"),  # Windows device names, in any case, with or without an extension
    ("nul", "reserved"),
    ("Aux.txt", "reserved"),
    ("COM1", "reserved"),
    ("lpt9.png", "reserved"),
    ("\uff0e\uff0e\uff0f", "unsafe"),  # fullwidth "../"
    ("%2e%2e%2f", "unsafe"),
])
def test_unsafe_ids(product_id: str, keyword: str) -> None:
    problem = product_id_problem(product_id)
    assert problem is not None and keyword in problem


# ---- fetch_image_bytes: files ------------------------------------------------------------------------------


def test_relative_path_is_resolved_against_the_catalog_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "photos").mkdir()
    data = png_bytes()
    (tmp_path / "photos" / "a.png").write_bytes(data)
    monkeypatch.chdir("/")  # the current directory must not matter
    assert fetch_image_bytes(item_for("photos/a.png", tmp_path)) == data
    assert fetch_image_bytes(item_for(str(tmp_path / "photos" / "a.png"), Path("/"))) == data


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProductError, match="not found") as caught:
        fetch_image_bytes(item_for("photos/none.png", tmp_path))
    assert str(tmp_path / "photos" / "none.png") in caught.value.reason


def test_directory_is_not_an_image_file(tmp_path: Path) -> None:
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ProductError, match="is a folder, not an image file"):
        fetch_image_bytes(item_for("folder.png", tmp_path))


def test_fifo_is_refused_without_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")  # reading it would block until a writer came
    with pytest.raises(ProductError, match="not a regular file"):
        fetch_image_bytes(item_for("pipe.png", tmp_path))


def test_oversize_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "big.png").write_bytes(b"\0" * 2000)
    monkeypatch.setattr(catalog, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ProductError, match="absurdly large"):
        fetch_image_bytes(item_for("big.png", tmp_path))


def test_unreadable_path_is_a_product_error(tmp_path: Path) -> None:
    with pytest.raises(ProductError, match="could not be read"):
        fetch_image_bytes(item_for("x" * 5000 + ".png", tmp_path))  # name too long for the file system


def test_unsupported_scheme(tmp_path: Path) -> None:
    with pytest.raises(ProductError, match="unsupported URL scheme"):
        fetch_image_bytes(item_for("ftp://127.0.0.1/a.png", tmp_path))


def test_empty_file_reads_as_empty_bytes(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    assert fetch_image_bytes(item_for("empty.png", tmp_path)) == b""  # decode_image then says "empty"


# ---- fetch_image_bytes: URLs (loopback server only) ---------------------------------------------------------


@pytest.mark.parametrize("send_length", [True, False])
def test_url_200_returns_the_body(loopback_http, tmp_path: Path, send_length: bool) -> None:
    data = png_bytes()
    url = loopback_http.add("/img.png", data, send_length=send_length)
    assert fetch_image_bytes(item_for(url, tmp_path)) == data


def test_url_404(loopback_http, tmp_path: Path) -> None:
    url = loopback_http.url("/missing.png")
    with pytest.raises(ProductError) as caught:
        fetch_image_bytes(item_for(url, tmp_path))
    assert "HTTP 404" in caught.value.reason and url in caught.value.reason


def test_url_500(loopback_http, tmp_path: Path) -> None:
    url = loopback_http.add("/broken.png", b"oops", content_type="text/plain", status=500)
    with pytest.raises(ProductError, match="HTTP 500"):
        fetch_image_bytes(item_for(url, tmp_path))


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_url_returning_html(loopback_http, tmp_path: Path, content_type: str) -> None:
    # a product page instead of the image: caught by the Content-Type or, when that lies, by the body
    page = b"<!DOCTYPE html>\n<html><head><title>Blue mug</title></head><body>...</body></html>"
    url = loopback_http.add("/product/42", page, content_type=content_type)
    with pytest.raises(ProductError, match="HTML"):
        fetch_image_bytes(item_for(url, tmp_path))


def test_url_empty_body(loopback_http, tmp_path: Path) -> None:
    url = loopback_http.add("/empty.png", b"")
    with pytest.raises(ProductError, match="empty"):
        fetch_image_bytes(item_for(url, tmp_path))


@pytest.mark.parametrize("send_length", [True, False])
def test_url_larger_than_the_cap(loopback_http, tmp_path: Path, monkeypatch, send_length: bool) -> None:
    monkeypatch.setattr(download, "MAX_DOWNLOAD_BYTES", 1000)
    url = loopback_http.add("/huge.png", png_bytes() + b"\0" * 5000, send_length=send_length)
    with pytest.raises(ProductError) as caught:
        fetch_image_bytes(item_for(url, tmp_path))
    assert "large" in caught.value.reason and "1000" in caught.value.reason


def test_url_just_under_the_cap_is_fine(loopback_http, tmp_path: Path, monkeypatch) -> None:
    data = png_bytes()
    monkeypatch.setattr(download, "MAX_DOWNLOAD_BYTES", len(data))
    url = loopback_http.add("/exact.png", data, send_length=False)
    assert fetch_image_bytes(item_for(url, tmp_path)) == data


def test_url_trickling_forever_hits_the_deadline(loopback_http, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(download, "DOWNLOAD_DEADLINE_S", 0.5)
    url = loopback_http.add("/slow.png", png_bytes() + b"\0" * 20_000, send_length=False, trickle_s=0.02)
    with pytest.raises(ProductError, match="took longer"):
        fetch_image_bytes(item_for(url, tmp_path))


def test_unreachable_url(loopback_http, tmp_path: Path) -> None:  # the fixture keeps proxies off loopback
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProductError, match="could not be downloaded"):
        fetch_image_bytes(item_for(f"http://127.0.0.1:{port}/a.png", tmp_path))


def test_download_limits_from_the_environment(loopback_http, tmp_path: Path, monkeypatch) -> None:
    url = loopback_http.add("/img.png", png_bytes() + b"\0" * 5000)
    monkeypatch.setenv(download.MAX_BYTES_ENV, "1000")
    with pytest.raises(ProductError, match="limit 1000"):
        fetch_image_bytes(item_for(url, tmp_path))
    monkeypatch.setenv(download.MAX_BYTES_ENV, "lots")
    with pytest.raises(ProductError, match=f"{download.MAX_BYTES_ENV}='lots' must be a positive number"):
        fetch_image_bytes(item_for(url, tmp_path))


def test_url_with_spaces_and_non_ascii_is_percent_encoded(loopback_http, tmp_path: Path) -> None:
    data = png_bytes()
    loopback_http.add("/img/Blue%20Mug%20gr%C3%BCn.png?v=1%202", data)
    url = loopback_http.url("/img/Blue Mug grün.png?v=1 2")
    assert fetch_image_bytes(item_for(url, tmp_path)) == data


def test_redirect_to_the_image_is_followed_without_reading_the_redirect_body(loopback_http, tmp_path: Path,
                                                                             monkeypatch) -> None:
    # the redirect sends no Content-Length, a few bytes of body and then stalls: reading that body to its end
    # would wait for the read timeout and fail
    monkeypatch.setenv(download.TIMEOUT_ENV, "2")
    data = png_bytes()
    target = loopback_http.add("/cdn/img.png", data)
    stalling = CannedServer(f"HTTP/1.1 302 Found\r\nLocation: {target}\r\n\r\nmoved".encode(), hold=True)
    try:
        started = time.monotonic()
        assert fetch_image_bytes(item_for(stalling.url("/img.png"), tmp_path)) == data
        assert time.monotonic() - started < 1.5
    finally:
        stalling.close()


def test_redirect_chain_longer_than_the_limit(tmp_path: Path, loopback_http) -> None:
    servers = [CannedServer(None)]  # the last hop: never reached
    for _ in range(download.MAX_REDIRECTS + 1):
        servers.append(CannedServer(redirect(servers[-1].url("/next"))))
    try:
        with pytest.raises(ProductError, match=f"more than {download.MAX_REDIRECTS} times"):
            fetch_image_bytes(item_for(servers[-1].url("/first"), tmp_path))
    finally:
        for server in servers:
            server.close()
