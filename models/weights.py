"""The weights registry (`weights/registry.yaml`): which model files the project knows, where a user drops them,
and how they are checked. Files are never downloaded; a missing one is a MissingFileError (exit 78)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.errors import MissingFileError, UsageError
from pipeline.manifest import sha256_file

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
REGISTRY = WEIGHTS_DIR / "registry.yaml"
BUNDLED_DIR = Path(__file__).resolve().parent / "configs"


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


def load_registry(path: Path = REGISTRY) -> dict[str, WeightSpec]:
    if not Path(path).is_file():
        raise MissingFileError("weights registry", str(path), "Reinstall the project: weights/registry.yaml ships with it.")
    data = yaml.safe_load(Path(path).read_text()) or {}
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


def require(spec: WeightSpec, folder: Path = WEIGHTS_DIR, verify: bool = False) -> dict[str, Path]:
    """Paths of every file of `spec`; MissingFileError naming the file, the folder and the fallback if one is
    absent; with `verify`, a UsageError when a pinned sha256 does not match."""
    paths: dict[str, Path] = {}
    for role in spec.files:
        path = spec.path(role, folder)
        if not path.is_file():
            hint = f"Put {spec.files[role]} into {Path(folder).resolve()}"
            hint += f" (download it by hand from {spec.source})" if spec.source else ""
            hint += f", or use {spec.fallback} instead." if spec.fallback else "."
            raise MissingFileError(f"model file for {spec.id} ({role})", str(path), hint)
        expected = spec.sha256.get(role, "")
        if verify and expected and sha256_file(path) != expected:
            raise UsageError(f"{path} does not match the sha256 in the weights registry for {spec.id}; "
                             "the file is corrupt or a different version")
        paths[role] = path
    return paths
