"""Reading the catalog CSV into items, and fetching each item's image bytes (local path or http(s) URL)."""
from __future__ import annotations

import csv
import re
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import CatalogError, ProductError

REQUIRED_COLUMNS = ("product_id", "image", "category")
OPTIONAL_COLUMNS = ("motion", "title")
MAX_ID_LENGTH = 128
MAX_DOWNLOAD_BYTES = 40 * 1024 * 1024
MAX_FILE_BYTES = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT_S = 20.0
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
    if len(product_id) > MAX_ID_LENGTH:
        return f"product_id is longer than {MAX_ID_LENGTH} characters"
    if product_id in (".", "..") or not _SAFE_ID.match(product_id) or product_id.endswith((" ", ".")):
        return (f"product_id {product_id!r} is unsafe as a folder name; use letters, digits, '_', '-', '.' "
                "and spaces, starting with a letter or digit")
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
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise CatalogError(f"catalog {path} lacks required column(s) {', '.join(missing)}; "
                           f"the header must include {','.join(REQUIRED_COLUMNS)} (optional: {','.join(OPTIONAL_COLUMNS)})")
    reader.fieldnames = columns
    items: list[CatalogItem] = []
    seen: set[str] = set()
    for offset, row in enumerate(reader):
        line = offset + 2
        values = {k: (v or "").strip() if isinstance(v, str) else "" for k, v in row.items() if k}
        product_id = values.get("product_id", "")
        error = product_id_problem(product_id)
        if error is None and product_id in seen:
            error = f"duplicate product_id {product_id!r} (first used earlier in the catalog)"
        if error is None and not values.get("image"):
            error = "the image column is empty"
        if error is None and None in row:
            error = "the row has more fields than the header"
        if error is None:
            seen.add(product_id)
        items.append(CatalogItem(
            line=line, product_id=product_id, image=values.get("image", ""),
            category=values.get("category", "").lower().replace(" ", "_"),
            motion=values.get("motion", ""), title=values.get("title", ""),
            catalog_dir=path.parent.resolve(), error=error,
        ))
    return items


def _download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "animate-products/0.1"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
                raise ProductError(f"image URL {url} is too large ({int(declared)} bytes; "
                                   f"limit {MAX_DOWNLOAD_BYTES})")
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except ProductError:
        raise
    except urllib.error.HTTPError as exc:
        raise ProductError(f"image URL {url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProductError(f"image URL {url} could not be downloaded: {reason}") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ProductError(f"image URL {url} is larger than the {MAX_DOWNLOAD_BYTES} byte limit")
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
    if not path.is_file():
        raise ProductError(f"image file not found: {path}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ProductError(f"image file {path} is absurdly large ({size} bytes)")
    return path.read_bytes()
