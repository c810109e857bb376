"""Stage manifests: what a stage consumed (input hashes), how (parameters, code version) and what it wrote.
A stage folder is complete exactly when its manifest is there (folders are renamed into place whole)."""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_paths(paths: list[Path]) -> str:
    """One hash over several files (a folder of frames), order-sensitive."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def code_version(modules: tuple[str, ...]) -> str:
    """Hash of the source of the modules a stage's output depends on: edited code reruns the stage. Read once
    per process: the source does not change under a running batch."""
    digest = hashlib.sha256()
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ImportError(f"cannot find module {module} to version a stage")
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:16]


def read_manifest(stage_dir: Path) -> dict[str, Any] | None:
    path = stage_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def manifest_matches(manifest: dict[str, Any] | None, stage_dir: Path, key: dict[str, Any]) -> bool:
    """Same inputs, parameters and code, and every listed output still present with its size."""
    if manifest is None:
        return False
    if any(manifest.get(name) != value for name, value in key.items()):
        return False
    for relative, size in (manifest.get("outputs") or {}).items():
        path = stage_dir / relative
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def list_outputs(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST_NAME}
