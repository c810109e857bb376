"""Reading the catalog CSV into items, and fetching each item's image bytes (local path or http(s) URL)."""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.download import download_bytes
from pipeline.errors import CatalogError, ProductError

REQUIRED_COLUMNS = ("product_id", "image", "category")
OPTIONAL_COLUMNS = ("motion", "title")
MAX_ID_LENGTH = 128
MAX_ID_BYTES = 255  # a file name's limit on common file systems
MAX_FILE_BYTES = 200 * 1024 * 1024
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


def fetch_image_bytes(item: CatalogItem, allow_hosts: Iterable[str] = ()) -> bytes:
    """The raw bytes of the item's image, from disk (relative to the catalog) or over http(s) to a public address
    or one `allow_hosts` (host names, addresses, CIDR networks) opens."""
    if item.is_url:
        return download_bytes(item.image, allow_hosts=allow_hosts)
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
