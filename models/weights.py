"""The weights registry (`weights/registry.yaml`): which model files the project knows, where a user drops them,
and how they are checked. Files are never downloaded; a missing one is a MissingFileError (exit 78).

Checksums: an entry's `sha256` (role -> hex digest, "" when not pinned) is checked by `verify_files`. The shipped
registry pins nothing we could not verify; users pin their own files once with `animate-products weights pin`,
which writes `<weights folder>/registry.yaml` (the shipped registry plus their digests). Pins found there are laid
over the shipped registry (`load_pinned_registry`), so a newer image with more models still reads an older pin file.
A file that does not match its pin is a WeightsMismatchError (exit 78)."""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from pipeline.errors import EXIT_CONFIG, AnimateError, MissingFileError, UsageError
from pipeline.manifest import sha256_file

WEIGHTS_ENV = "ANIMATE_PRODUCTS_WEIGHTS_DIR"  # default model-file folder (the container sets /weights)
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
REGISTRY = SHIPPED_WEIGHTS_DIR / "registry.yaml"  # the shipped registry: every model the code knows
WEIGHTS_DIR = Path(os.environ.get(WEIGHTS_ENV) or SHIPPED_WEIGHTS_DIR).expanduser()
BUNDLED_DIR = Path(__file__).resolve().parent / "configs"
PINS_NAME = "registry.yaml"  # `weights pin` writes <weights folder>/registry.yaml

# statuses of a FileCheck, as `weights verify` prints them
OK, MISMATCH, MISSING, NO_CHECKSUM, BUNDLED, PINNED = "OK", "MISMATCH", "MISSING", "NO CHECKSUM", "BUNDLED", "PINNED"


@dataclass(frozen=True)
class WeightSpec:
    id: str  # "fomm-mgif", "realesrgan-x4plus"
    family: str  # fomm | tpsmm | realesrgan | rembg | lama | yolo
    stage: str  # the pipeline stage that uses it
    files: dict[str, str]  # role -> file name under the weights folder ("checkpoint", "config", ...)
    sha256: dict[str, str] = field(default_factory=dict)  # role -> expected hash ("" when not pinned)
    source: str = ""  # where a user can download it by hand
    license: str = ""
    fallback: str = ""  # the option to use instead when the file is missing
    options: dict = field(default_factory=dict)  # family-specific facts (scale, keypoints, ...)
    bundled: dict[str, str] = field(default_factory=dict)  # role -> file under models/configs/ shipped with us

    def path(self, role: str, folder: Path = WEIGHTS_DIR) -> Path:
        """The file in the weights folder; for a role we ship (a model's config YAML), our copy when the user
        dropped none there."""
        dropped = Path(folder) / self.files[role]
        if role in self.bundled and not dropped.is_file():
            return BUNDLED_DIR / self.bundled[role]
        return dropped

    def present(self, folder: Path = WEIGHTS_DIR) -> bool:
        return all(self.path(role, folder).is_file() for role in self.files)


@dataclass(frozen=True)
class FileCheck:
    """One registered file checked against its pinned sha256."""

    weight_id: str
    role: str  # "checkpoint", "config", "model"
    file: str  # the registry's name for it, relative to the weights folder
    path: Path  # where it was looked for (our bundled copy for BUNDLED)
    status: str  # OK | MISMATCH | MISSING | NO CHECKSUM | BUNDLED (| PINNED after `pin_files`)
    expected: str = ""  # the pinned digest ("" when none)
    actual: str = ""  # the file's digest (computed for OK/MISMATCH, and for NO CHECKSUM when asked)
    named: bool = False  # asked for by name: then MISSING is an error

    @property
    def failed(self) -> bool:
        return self.status == MISMATCH or (self.status == MISSING and self.named)


@dataclass(frozen=True)
class PinResult:
    registry: Path  # the pin file written (or left as it was)
    checks: list[FileCheck]  # per file, PINNED where a digest was recorded or changed
    written: bool  # False when every digest was already pinned
    comments_kept: bool  # False when the registry had to be rewritten by a YAML dump (comments lost)


class WeightsMismatchError(AnimateError):
    """A model file differs from the sha256 pinned for it: corrupt, truncated, or another version (exit 78)."""

    exit_code = EXIT_CONFIG

    def __init__(self, checks: list[FileCheck]):
        self.checks = checks
        parts = [f"model file for {c.weight_id} ({c.role}) does not match the sha256 pinned in the weights registry: "
                 f"{c.path}: expected {c.expected}, actual {c.actual}" for c in checks]
        super().__init__("; ".join(parts) + ". The file is corrupt or a different version: put the right file "
                         "back, or run `animate-products weights pin --force` if you replaced it on purpose.")


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"weights registry {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"weights registry {path} is not a mapping with a `models:` key")
    return data


def load_registry(path: Path | None = None) -> dict[str, WeightSpec]:
    """The models a registry file lists (default: the shipped registry)."""
    path = REGISTRY if path is None else path
    if not Path(path).is_file():
        raise MissingFileError("weights registry", str(path), "Reinstall the project: weights/registry.yaml ships with it.")
    data = _read_yaml(path)
    specs: dict[str, WeightSpec] = {}
    for weight_id, entry in (data.get("models") or {}).items():
        if weight_id in specs:
            raise UsageError(f"weights registry {path} lists {weight_id!r} twice")
        specs[weight_id] = WeightSpec(
            id=weight_id, family=entry["family"], stage=entry["stage"], files=dict(entry["files"]),
            sha256={k: str(v or "") for k, v in (entry.get("sha256") or {}).items()},
            source=str(entry.get("source", "")), license=str(entry.get("license", "")),
            fallback=str(entry.get("fallback", "")), options=dict(entry.get("options") or {}),
            bundled={k: str(v) for k, v in (entry.get("bundled") or {}).items()},
        )
    return specs


def _missing_error(spec: WeightSpec, role: str, folder: Path) -> MissingFileError:
    hint = f"Put {spec.files[role]} into {Path(folder).resolve()}"
    hint += f" (download it by hand from {spec.source})" if spec.source else ""
    hint += f", or use {spec.fallback} instead." if spec.fallback else "."
    return MissingFileError(f"model file for {spec.id} ({role})", str(spec.path(role, folder)), hint)


def require(spec: WeightSpec, folder: Path = WEIGHTS_DIR, verify: bool = False) -> dict[str, Path]:
    """Paths of every file of `spec`; MissingFileError naming the file, the folder and the fallback if one is
    absent; with `verify`, a WeightsMismatchError (exit 78) when a pinned sha256 does not match."""
    paths: dict[str, Path] = {}
    for role in spec.files:
        path = spec.path(role, folder)
        if not path.is_file():
            raise _missing_error(spec, role, folder)
        expected = spec.sha256.get(role, "").strip().lower()
        if verify and expected:
            actual = sha256_file(path)
            if actual != expected:
                raise WeightsMismatchError([FileCheck(spec.id, role, spec.files[role], path, MISMATCH, expected,
                                                      actual, named=True)])
        paths[role] = path
    return paths


# ---- pinned checksums: verify and pin ---------------------------------------------------------------------------

def pins_path(weights_dir: Path = WEIGHTS_DIR) -> Path:
    """Where `weights pin` writes the digests of a weights folder's files: the folder's own registry.yaml."""
    return Path(weights_dir) / PINS_NAME


def _pin_overlay(specs: dict[str, WeightSpec], pins: Path) -> dict[str, WeightSpec]:
    """`specs` with the non-empty digests of the registry file `pins` laid over them, for ids the code knows and
    roles whose file name is the same in both (a pin for another file name is someone else's file)."""
    data = _read_yaml(pins)
    merged = dict(specs)
    for weight_id, entry in (data.get("models") or {}).items():
        spec = merged.get(weight_id)
        if spec is None or not isinstance(entry, dict):
            continue
        files = entry.get("files") or {}
        digests = dict(spec.sha256)
        for role, digest in (entry.get("sha256") or {}).items():
            if digest and role in spec.files and files.get(role) == spec.files[role]:
                digests[role] = str(digest).strip().lower()
        merged[weight_id] = replace(spec, sha256=digests)
    return merged


def load_pinned_registry(weights_dir: Path = WEIGHTS_DIR, registry: Path | None = None) -> dict[str, WeightSpec]:
    """The shipped registry with the pins of `registry` (default: `<weights_dir>/registry.yaml` when there)."""
    specs = load_registry()
    if registry is not None and not Path(registry).is_file():
        raise MissingFileError("weights registry", str(registry),
                               "Run `animate-products weights pin` to write it, or leave out --registry.")
    pins = Path(registry) if registry is not None else pins_path(weights_dir)
    if pins.is_file() and pins.resolve() != REGISTRY.resolve():
        specs = _pin_overlay(specs, pins)
    return specs


def _select(names: Iterable[str] | None, specs: dict[str, WeightSpec],
            folder: Path) -> list[tuple[WeightSpec, list[str], bool]]:
    """(spec, roles, named): the named ids or file names; without names every model with a file dropped in
    `folder` (all of its roles, so a missing companion file shows)."""
    names = [n for n in (names or []) if n]
    if not names:
        return [(spec, list(spec.files), False) for _, spec in sorted(specs.items())
                if any((folder / name).is_file() for name in spec.files.values())]
    chosen: dict[str, tuple[WeightSpec, list[str], bool]] = {}
    for name in names:
        if name in specs:
            chosen[name] = (specs[name], list(specs[name].files), True)
            continue
        wanted = Path(name).as_posix().removeprefix("./")
        hits = [(spec, role) for spec in specs.values() for role, file in spec.files.items() if file == wanted]
        if not hits:
            raise UsageError(f"{name!r} is neither a model id nor a file name in the weights registry; known ids: "
                             f"{', '.join(sorted(specs))} (see `animate-products weights list`)")
        for spec, role in hits:
            roles = chosen.get(spec.id, (spec, [], True))[1]
            chosen[spec.id] = (spec, roles + [role] if role not in roles else roles, True)
    return list(chosen.values())


def _check(spec: WeightSpec, role: str, folder: Path, named: bool, digest_unpinned: bool) -> FileCheck:
    dropped = folder / spec.files[role]
    expected = spec.sha256.get(role, "").strip().lower()
    base = dict(weight_id=spec.id, role=role, file=spec.files[role], named=named, expected=expected)
    if not dropped.is_file():
        if role in spec.bundled:
            return FileCheck(path=spec.path(role, folder), status=BUNDLED, **base)
        return FileCheck(path=dropped, status=MISSING, **base)
    if not expected:
        return FileCheck(path=dropped, status=NO_CHECKSUM, actual=sha256_file(dropped) if digest_unpinned else "",
                         **base)
    actual = sha256_file(dropped)
    return FileCheck(path=dropped, status=OK if actual == expected else MISMATCH, actual=actual, **base)


def check_files(names: Iterable[str] | None = None, weights_dir: Path = WEIGHTS_DIR, registry: Path | None = None,
                digest_unpinned: bool = False) -> list[FileCheck]:
    """Check files against their pinned sha256 and report, raising nothing for what it finds (UsageError for an
    unknown name). `names`: registry ids or registered file names; None/empty: every model with a file present."""
    folder = Path(weights_dir)
    specs = load_pinned_registry(folder, registry)
    return [_check(spec, role, folder, named, digest_unpinned)
            for spec, roles, named in _select(names, specs, folder) for role in roles]


def raise_for_checks(checks: list[FileCheck], weights_dir: Path = WEIGHTS_DIR) -> None:
    """MissingFileError (exit 78) for the first named file that is missing; WeightsMismatchError (exit 78) naming
    every file that differs from its pin."""
    for check in checks:
        if check.status == MISSING and check.named:
            spec = load_registry()[check.weight_id]
            raise _missing_error(spec, check.role, weights_dir)
    mismatched = [c for c in checks if c.status == MISMATCH]
    if mismatched:
        raise WeightsMismatchError(mismatched)


def verify_files(names: Iterable[str] | None = None, weights_dir: Path = WEIGHTS_DIR,
                 registry: Path | None = None) -> list[FileCheck]:
    """What a run calls at start: every file of the named models must be there (else MissingFileError, exit 78)
    and every file checked must match its pinned sha256 (else WeightsMismatchError, exit 78). Without names, every
    file present in `weights_dir` is checked and absent ones are no error. Returns the checks (NO CHECKSUM for
    files nobody pinned, BUNDLED for configs we ship)."""
    checks = check_files(names, weights_dir, registry)
    raise_for_checks(checks, weights_dir)
    return checks


_FLOW_VALUE = re.compile(r"^(?P<key>\s*sha256:)\s*(?:\{[^{}#]*\}|\"\"|''|~|null)?\s*(?:#.*)?$")
_FILES_LINE = re.compile(r"^\s*files:\s*\{[^{}]*\}\s*(?:#.*)?$")
_PIN_COMMENT = "  # pinned by `animate-products weights pin` from the files in this folder"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _flow(digests: dict[str, str]) -> str:
    return "{" + ", ".join(f'{role}: "{digest}"' for role, digest in digests.items()) + "}"


def _edit_pins(text: str, changes: dict[str, dict[str, str]]) -> str | None:
    """`text` with the `sha256:` line of each changed entry rewritten (or added after its `files:` line), every
    other line and comment kept; None when the layout is not the one-line flow style this knows."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"^models:\s*(#.*)?$", line)), None)
    if start is None:
        return None
    entries: dict[str, tuple[int, int]] = {}  # id -> (header line, end line exclusive)
    entry_indent = None
    current = None
    end = len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not _is_content(line):
            continue
        indent = _indent(line)
        if indent == 0:
            end = i
            break
        if entry_indent is None:
            entry_indent = indent
        if indent == entry_indent:
            match = re.match(r"^\s*([^\s#:'\"]+):\s*(#.*)?$", line)
            if not match:
                return None
            if current is not None:
                entries[current] = (entries[current][0], i)
            current = match.group(1)
            entries[current] = (i, end)
        elif indent < entry_indent:
            return None
    if current is not None:
        entries[current] = (entries[current][0], end)
    inserts: dict[int, str] = {}
    for weight_id, digests in changes.items():
        if weight_id not in entries:
            return None
        head, stop = entries[weight_id]
        body = [i for i in range(head + 1, stop) if _is_content(lines[i])]
        if not body:
            return None
        key_indent = _indent(lines[body[0]])
        keys = [i for i in body if _indent(lines[i]) == key_indent]
        new_line = " " * key_indent + f"sha256: {_flow(digests)}{_PIN_COMMENT}\n"
        sha = [i for i in keys if lines[i].lstrip().startswith("sha256:")]
        if sha:
            if not _FLOW_VALUE.match(lines[sha[0]].rstrip("\n")):
                return None
            lines[sha[0]] = new_line if lines[sha[0]].endswith("\n") else new_line.rstrip("\n")
            continue
        files = [i for i in keys if lines[i].lstrip().startswith("files:")]
        if not files or not _FILES_LINE.match(lines[files[0]].rstrip("\n")):
            return None
        if not lines[files[0]].endswith("\n"):
            return None
        inserts[files[0]] = new_line
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if i in inserts:
            out.append(inserts[i])
    return "".join(out)


def pin_files(names: Iterable[str] | None = None, weights_dir: Path = WEIGHTS_DIR, registry: Path | None = None,
              force: bool = False) -> PinResult:
    """Record the sha256 of the files present (all, or the named models/files) in `registry` (default
    `<weights_dir>/registry.yaml`), written atomically: the shipped registry's text, comments kept, with the pins
    already there and the new ones. A file that differs from an existing pin is a WeightsMismatchError unless
    `force`; a named file that is missing is a MissingFileError; nothing is written then."""
    from pipeline.atomic import atomic_write_bytes

    folder = Path(weights_dir)
    target = Path(registry) if registry is not None else pins_path(folder)
    specs = load_pinned_registry(folder, target if target.is_file() else REGISTRY)  # a new file: no old pins
    checks = [_check(spec, role, folder, named, digest_unpinned=True)
              for spec, roles, named in _select(names, specs, folder) for role in roles]
    raise_for_checks([c for c in checks if c.status != MISMATCH or not force], folder)

    shipped_text = REGISTRY.read_text()
    data = _read_yaml(REGISTRY)
    shipped = load_registry()
    pinned = {wid: {r: d for r, d in spec.sha256.items()} for wid, spec in specs.items()}
    results = []
    for check in checks:
        if check.status in (NO_CHECKSUM, MISMATCH):
            pinned[check.weight_id][check.role] = check.actual
            check = replace(check, status=PINNED, expected=check.actual)
        results.append(check)
    changes: dict[str, dict[str, str]] = {}
    for weight_id, digests in pinned.items():
        spec = shipped[weight_id]
        ordered = {role: digests.get(role, "") for role in spec.files if role in spec.sha256 or digests.get(role)}
        if ordered != {r: spec.sha256.get(r, "") for r in ordered} or set(ordered) != set(spec.sha256):
            changes[weight_id] = ordered
            data["models"][weight_id]["sha256"] = dict(ordered)
    text = _edit_pins(shipped_text, changes)
    comments_kept = text is not None and _read_yaml_text(text) == data
    if not comments_kept:
        text = ("# weights registry with the sha256 of the files in this folder, written by `animate-products "
                "weights pin`\n" + yaml.safe_dump(data, sort_keys=False, width=4096, allow_unicode=True))
    written = not (target.is_file() and target.read_text() == text)
    if written:
        atomic_write_bytes(target, text.encode())
    return PinResult(target, results, written, comments_kept)


def _read_yaml_text(text: str) -> dict | None:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None
