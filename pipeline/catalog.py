"""Reading the catalog CSV into items, and fetching each item's image bytes (local path or http(s) URL)."""
from __future__ import annotations

import csv
import http.client
import io
import re
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import CatalogError, ProductError

REQUIRED_COLUMNS = ("product_id", "image", "category")
OPTIONAL_COLUMNS = ("motion", "title")
MAX_ID_LENGTH = 128
MAX_ID_BYTES = 255  # a file name's limit on common file systems
MAX_DOWNLOAD_BYTES = 40 * 1024 * 1024
MAX_FILE_BYTES = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT_S = 20.0  # per connect/read
DOWNLOAD_DEADLINE_S = 60.0  # for the whole download
_SAFE_ID = re.compile(r"^[\w][\w.\- ]*$", re.UNICODE)


@dataclass(frozen=True)
class CatalogItem:
    line: int  # line number in the CSV (the header is line 1)
    product_id: str
    image: str  # as written in the catalog
    category: str
    motion: str  # empty when the row names none
    title: str
    catalog_dir: Path
    error: str | None = None  # a problem found while reading the row; the product fails with it

    @property
    def is_url(self) -> bool:
        return self.image.lower().startswith(("http://", "https://"))


def product_id_problem(product_id: str) -> str | None:
    """Why `product_id` cannot name a folder under the output root, or None if it can."""
    if not product_id:
        return "product_id is empty"
    if any(unicodedata.category(ch).startswith("C") for ch in product_id):
        return f"product_id {product_id!r} contains control characters"
    if len(product_id) > MAX_ID_LENGTH or len(product_id.encode("utf-8")) > MAX_ID_BYTES:
        return f"product_id is longer than {MAX_ID_LENGTH} characters ({MAX_ID_BYTES} bytes in UTF-8)"
    if product_id in (".", "..") or not _SAFE_ID.match(product_id) or product_id.endswith((" ", ".")):
        return (f"product_id {product_id!r} is unsafe as a folder name; use letters, digits, '_', '-', '.' "
                "and spaces, starting with a letter or digit")
    return None


def _rows_with_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each record. Only CR/LF end a line (str.splitlines would also split on
    form feeds, U+2028 and other characters inside values), and quoted values may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CatalogError(f"catalog is not valid CSV near line {reader.line_num}: {exc}") from None
        yield start, fields


def read_catalog(path: Path) -> list[CatalogItem]:
    """Parse the CSV. Raises CatalogError if the file cannot be used at all; bad rows become items with `error`."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"catalog not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"catalog {path} is unreadable: {exc}") from None
    # rows whose fields are all blank (empty lines, ",,," left by spreadsheets) are not products
    records = ((line, fields) for line, fields in _rows_with_lines(text) if any(f.strip() for f in fields))
    try:
        _, header = next(records, (1, []))
        columns = [c.strip().lower() for c in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise CatalogError(f"lacks required column(s) {', '.join(missing)}; the header must include "
                               f"{','.join(REQUIRED_COLUMNS)} (optional: {','.join(OPTIONAL_COLUMNS)})")
        items: list[CatalogItem] = []
        seen: dict[str, int] = {}  # product_id -> line of its first usable row
        for line, fields in records:
            values = {name: value.strip() for name, value in zip(columns, fields) if name}
            product_id = values.get("product_id", "")
            error = product_id_problem(product_id)
            if error is None and product_id in seen:
                error = f"duplicate product_id {product_id!r} (first used on line {seen[product_id]})"
            if error is None and not values.get("image"):
                error = "the image column is empty"
            if error is None and len(fields) > len(columns) and any(f.strip() for f in fields[len(columns):]):
                error = "the row has more fields than the header"
            if error is None:
                seen[product_id] = line
            items.append(CatalogItem(
                line=line, product_id=product_id, image=values.get("image", ""),
                category=values.get("category", "").lower().replace(" ", "_"),
                motion=values.get("motion", ""), title=values.get("title", ""),
                catalog_dir=path.parent.resolve(), error=error,
            ))
    except CatalogError as exc:
        raise CatalogError(f"catalog {path}: {exc}") from None
    return items


def _looks_like_html(content_type: str, data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return "html" in content_type or head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def _download(url: str) -> bytes:
    """GET `url` with a per-read timeout, an overall deadline and a size cap; reject HTML pages."""
    request = urllib.request.Request(url, headers={"User-Agent": "animate-products/0.1"})
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_S  # a server trickling bytes cannot hold a worker forever
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
                raise ProductError(f"image URL {url} is too large ({int(declared)} bytes; "
                                   f"limit {MAX_DOWNLOAD_BYTES})")
            content_type = (response.headers.get("Content-Type") or "").lower()
            chunks: list[bytes] = []
            received = 0
            while received <= MAX_DOWNLOAD_BYTES:
                if time.monotonic() > deadline:
                    raise ProductError(f"image URL {url} took longer than {DOWNLOAD_DEADLINE_S:g} s to download")
                chunk = response.read1(min(1 << 16, MAX_DOWNLOAD_BYTES + 1 - received))  # what has arrived
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
    except ProductError:
        raise
    except urllib.error.HTTPError as exc:
        raise ProductError(f"image URL {url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProductError(f"image URL {url} could not be downloaded: {reason}") from None
    if received > MAX_DOWNLOAD_BYTES:
        raise ProductError(f"image URL {url} is larger than the {MAX_DOWNLOAD_BYTES} byte limit")
    data = b"".join(chunks)
    if not data:
        raise ProductError(f"image URL {url} returned an empty body")
    if _looks_like_html(content_type, data):
        raise ProductError(f"image URL {url} returned an HTML page (Content-Type {content_type or 'unset'}), "
                           "not an image; link the image file itself")
    return data


def fetch_image_bytes(item: CatalogItem) -> bytes:
    """The raw bytes of the item's image, from disk (relative to the catalog) or over http(s)."""
    if item.is_url:
        return _download(item.image)
    if "://" in item.image:
        raise ProductError(f"image {item.image!r} uses an unsupported URL scheme; use a path or http(s)")
    path = Path(item.image)
    if not path.is_absolute():
        path = item.catalog_dir / path
    try:
        if not path.is_file():
            raise ProductError(f"image file not found: {path}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ProductError(f"image file {path} is absurdly large ({size} bytes; limit {MAX_FILE_BYTES})")
        return path.read_bytes()
    except (OSError, ValueError) as exc:  # unreadable, a name too long, a NUL byte in the path
        reason = getattr(exc, "strerror", None) or exc
        raise ProductError(f"image file {path} could not be read: {reason}") from None
