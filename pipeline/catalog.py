"""Reading the catalog CSV into items, and fetching each item's image bytes (local path or http(s) URL)."""
from __future__ import annotations

import csv
import http.client
import io
import math
import os
import re
import time
import unicodedata
import urllib.error
import urllib.parse
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
MAX_REDIRECTS = 5
# environment variables that override the three download limits above for a run (worker processes inherit them)
TIMEOUT_ENV = "ANIMATE_PRODUCTS_DOWNLOAD_TIMEOUT_S"
DEADLINE_ENV = "ANIMATE_PRODUCTS_DOWNLOAD_DEADLINE_S"
MAX_BYTES_ENV = "ANIMATE_PRODUCTS_MAX_DOWNLOAD_BYTES"
_URL_SAFE = "/%:@!$&'()*+,;=~?[]"  # characters a URL's path and query keep as they are
_SAFE_ID = re.compile(r"^[\w][\w.\- ]*$", re.UNICODE)
# names Windows maps to devices in every folder, with or without an extension: such a product folder would
# write to the device instead of under the output root when the outputs land on (or are copied to) Windows
_RESERVED_NAMES = re.compile(r"^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?$",
                             re.IGNORECASE)


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
        return is_http_url(self.image)


def is_http_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


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
    if _RESERVED_NAMES.match(product_id):
        return f"product_id {product_id!r} is a reserved device name on Windows (CON, NUL, COM1, ...); rename it"
    return None


def folder_key(product_id: str) -> str:
    """Ids with the same key name the same folder on case-insensitive or normalising file systems (macOS,
    Windows): 'SKU-1' and 'sku-1', or 'café' composed and decomposed."""
    return unicodedata.normalize("NFC", product_id).casefold()


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


def _duplicate_problem(product_id: str, seen: dict[str, tuple[str, int]]) -> str | None:
    first = seen.get(folder_key(product_id))
    if first is None:
        return None
    first_id, first_line = first
    if first_id == product_id:
        return f"duplicate product_id {product_id!r} (first used on line {first_line})"
    return (f"product_id {product_id!r} differs from {first_id!r} (line {first_line}) only in case or Unicode form; "
            "both would write to the same folder on macOS and Windows file systems")


def _row_length_problem(columns: list[str], fields: list[str]) -> str | None:
    """A row shorter than the header (a lost comma shifts values) or longer (an unquoted comma)."""
    absent = [name for name in REQUIRED_COLUMNS if columns.index(name) >= len(fields)]
    if absent:
        return (f"the row has {len(fields)} field(s) but the header has {len(columns)}; "
                f"no value for {', '.join(absent)}")
    if len(fields) > len(columns) and any(f.strip() for f in fields[len(columns):]):
        return "the row has more fields than the header"
    return None


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
        seen: dict[str, tuple[str, int]] = {}  # folder_key -> (product_id, line) of its first usable row
        for line, fields in records:
            values = {name: value.strip() for name, value in zip(columns, fields) if name}
            product_id = values.get("product_id", "")
            error = product_id_problem(product_id) or _duplicate_problem(product_id, seen)
            if error is None:
                error = _row_length_problem(columns, fields)
            if error is None and not values.get("image"):
                error = "the image column is empty"
            if error is None:
                seen[folder_key(product_id)] = (product_id, line)
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


def _env_limit(name: str, default: float) -> float:
    """`default`, unless the environment variable `name` sets another positive number."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ProductError(f"environment variable {name}={text!r} must be a positive number")
    return value


def _quoted_url(url: str) -> str:
    """`url` with spaces and non-ASCII characters in its path and query percent-encoded, as browsers send them
    (http.client refuses them raw, and catalogs exported by shops contain them); escapes already there stay."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=urllib.parse.quote(parts.path, safe=_URL_SAFE),
                                                  query=urllib.parse.quote(parts.query, safe=_URL_SAFE)))


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most MAX_REDIRECTS redirects, to http(s) only, within the download's deadline. urllib's own
    handler would also follow one to ftp:// and would read a redirect's body to its end, however long a server
    makes it."""

    def __init__(self, what: str, url: str, deadline: float, deadline_s: float) -> None:
        self.what, self.url, self.deadline, self.deadline_s = what, url, deadline, deadline_s

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 (urllib's signature)
        fp.close()  # the caller reads what is left of the body; closed, nothing is left
        visited = getattr(req, "redirect_dict", {})
        if newurl in visited or len(visited) >= MAX_REDIRECTS:
            raise ProductError(f"{self.what} {self.url} redirects in a loop or more than {MAX_REDIRECTS} times "
                               f"(last to {newurl})")
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise ProductError(f"{self.what} {self.url} redirects to {newurl}, which is not an http(s) URL")
        if time.monotonic() > self.deadline:
            raise ProductError(f"{self.what} {self.url} took longer than {self.deadline_s:g} s to download")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download_bytes(url: str, what: str = "image URL") -> bytes:
    """GET `url` with a per-read timeout, an overall deadline and a size cap; reject HTML pages. Problems raise
    ProductError naming `what` was being fetched."""
    timeout = _env_limit(TIMEOUT_ENV, DOWNLOAD_TIMEOUT_S)
    deadline_s = _env_limit(DEADLINE_ENV, DOWNLOAD_DEADLINE_S)
    max_bytes = int(_env_limit(MAX_BYTES_ENV, MAX_DOWNLOAD_BYTES))
    deadline = time.monotonic() + deadline_s  # a server trickling bytes cannot hold a worker forever
    try:
        request = urllib.request.Request(_quoted_url(url), headers={"User-Agent": "animate-products/0.1"})
        opener = urllib.request.build_opener(_Redirects(what, url, deadline, deadline_s))
        with opener.open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > max_bytes:
                raise ProductError(f"{what} {url} is too large ({int(declared)} bytes; limit {max_bytes})")
            content_type = (response.headers.get("Content-Type") or "").lower()
            chunks: list[bytes] = []
            received = 0
            while received <= max_bytes:
                if time.monotonic() > deadline:
                    raise ProductError(f"{what} {url} took longer than {deadline_s:g} s to download")
                chunk = response.read1(min(1 << 16, max_bytes + 1 - received))  # what has arrived
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
    except ProductError:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()  # its body is never read
        raise ProductError(f"{what} {url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):  # socket.timeout's message is only "timed out"
            reason = f"the server sent nothing for {timeout:g} s"
        raise ProductError(f"{what} {url} could not be downloaded: {reason}") from None
    if received > max_bytes:
        raise ProductError(f"{what} {url} is larger than the {max_bytes} byte limit")
    data = b"".join(chunks)
    if not data:
        raise ProductError(f"{what} {url} returned an empty body")
    if _looks_like_html(content_type, data):
        raise ProductError(f"{what} {url} returned an HTML page (Content-Type {content_type or 'unset'}), "
                           "not the file itself; link the file, not a page showing it")
    return data


def fetch_image_bytes(item: CatalogItem) -> bytes:
    """The raw bytes of the item's image, from disk (relative to the catalog) or over http(s)."""
    if item.is_url:
        return download_bytes(item.image)
    if "://" in item.image:
        raise ProductError(f"image {item.image!r} uses an unsupported URL scheme; use a path or http(s)")
    path = Path(item.image)
    if not path.is_absolute():
        path = item.catalog_dir / path
    try:
        if path.is_dir():
            raise ProductError(f"image path {path} is a folder, not an image file")
        if not path.is_file():  # missing, or a FIFO or device, whose reading would block or never end
            raise ProductError(f"image file {'not a regular file' if path.exists() else 'not found'}: {path}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ProductError(f"image file {path} is absurdly large ({size} bytes; limit {MAX_FILE_BYTES})")
        return path.read_bytes()
    except (OSError, ValueError) as exc:  # unreadable, a name too long, a NUL byte in the path
        reason = getattr(exc, "strerror", None) or exc
        raise ProductError(f"image file {path} could not be read: {reason}") from None
