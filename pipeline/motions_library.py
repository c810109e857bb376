"""The driving-clip library (`motions/registry.yaml`) and the choice of a motion per product."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from pipeline.catalog import CatalogItem
from pipeline.errors import MissingFileError, ProductError, UsageError
from pipeline.motion.rig import KINDS, rig_path
from pipeline.video import is_clip_path

DEFAULT_LIBRARY = Path(__file__).resolve().parent.parent / "motions"
FACINGS = ("right", "left", "front")
FITS = ("shape", "box")


@dataclass(frozen=True)
class MotionSpec:
    name: str
    path: Path  # clip file or folder of frames
    fps: float  # 0 when unknown (a folder of frames): the run's --fps decides
    facing: str  # which way the driving object faces in its first frame
    categories: tuple[str, ...] = ()
    description: str = ""
    fit: str = "shape"  # shape: an articulated figure keeps its proportions; box: a stand-in fitted to any product
    kind: str = "articulated"  # articulated | rigid: the whole object moves as one body
    rig: Path | None = None  # the clip's skeleton track (library motions); None for a user's own clip


@dataclass(frozen=True)
class MotionLibrary:
    folder: Path
    motions: dict[str, MotionSpec]
    category_to_motion: dict[str, str]

    def names(self) -> list[str]:
        return sorted(self.motions)


def load_library(folder: Path = DEFAULT_LIBRARY) -> MotionLibrary:
    registry = Path(folder) / "registry.yaml"
    if not registry.is_file():
        raise MissingFileError("motion registry", str(registry),
                               "Reinstall the project or pass --motions-dir pointing at a folder with registry.yaml.")
    try:
        data = yaml.safe_load(registry.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"motion registry {registry} is not valid YAML: {exc}") from None
    motions: dict[str, MotionSpec] = {}
    for name, entry in (data.get("motions") or {}).items():
        facing, fit = str(entry.get("facing", "front")), str(entry.get("fit", "shape"))
        kind = str(entry.get("kind", "articulated"))
        if facing not in FACINGS or fit not in FITS or kind not in KINDS:
            raise UsageError(f"motion {name!r} in {registry}: facing must be one of {FACINGS}, fit one of {FITS} "
                             f"and kind one of {KINDS}, not {facing!r} / {fit!r} / {kind!r}")
        clip = Path(folder) / entry["file"]
        motions[name] = MotionSpec(
            name=name, path=clip, fps=float(entry.get("fps", 0) or 0), facing=facing,
            categories=tuple(entry.get("categories") or ()), description=str(entry.get("description", "")),
            fit=fit, kind=kind, rig=rig_path(clip) if rig_path(clip).is_file() else None,
        )
    mapping = {str(k).lower(): str(v) for k, v in (data.get("categories") or {}).items()}
    unknown = sorted({v for v in mapping.values() if v not in motions})
    if unknown:
        raise UsageError(f"{registry} maps categories to unknown motion(s): {', '.join(unknown)}")
    return MotionLibrary(Path(folder), motions, mapping)


def user_clip(path_text: str, facing: str = "front") -> MotionSpec:
    path = Path(path_text).expanduser()
    if not path.exists():
        raise MissingFileError("motion clip", str(path),
                               "Pass an existing mp4/gif/webm file or a folder of frames, or a library motion "
                               "name (see `animate-products motions list`).")
    return MotionSpec(name=path.stem, path=path.resolve(), fps=0.0, facing=facing)


def require_clip_file(spec: MotionSpec) -> MotionSpec:
    """A library motion with its clip and its rig on disk."""
    if not spec.path.exists():
        raise MissingFileError(f"clip for motion {spec.name!r}", str(spec.path),
                               "Regenerate the library with `make motions` or choose another "
                               "motion (`animate-products motions list`).")
    if spec.rig is None:
        raise MissingFileError(f"rig for motion {spec.name!r}", str(rig_path(spec.path)),
                               "Regenerate the library's clips and rigs with `make motions` or choose another "
                               "motion (`animate-products motions list`).")
    return spec


def with_category_motions(library: MotionLibrary, mapping: dict[str, str]) -> MotionLibrary:
    """The library with a job's own category -> motion choices laid over its registry's."""
    unknown = sorted({m for m in mapping.values() if m not in library.motions})
    if unknown:
        raise UsageError(f"category motions name unknown motions {', '.join(unknown)}; "
                         f"choose among {', '.join(library.names())}")
    merged = {**library.category_to_motion, **{k.lower(): v for k, v in mapping.items()}}
    return replace(library, category_to_motion=merged)


def resolve_global_motion(value: str | None, library: MotionLibrary) -> MotionSpec | None:
    """The run-wide --motion: a library name or a path to the user's clip. Problems here stop the run."""
    if not value:
        return None
    if value in library.motions:
        return require_clip_file(library.motions[value])
    if is_clip_path(value) or Path(value).exists():
        return user_clip(value)
    raise UsageError(f"unknown motion {value!r}; choose one of {', '.join(library.names())} or give a clip path")


def motion_for_item(item: CatalogItem, run_motion: MotionSpec | None, library: MotionLibrary) -> MotionSpec:
    """--motion, else the row's motion, else the category mapping; otherwise a row error saying how to fix it."""
    if run_motion is not None:
        return run_motion
    if item.motion:
        if item.motion in library.motions:
            return require_clip_file(library.motions[item.motion])
        if is_clip_path(item.motion):
            clip = Path(item.motion) if Path(item.motion).is_absolute() else item.catalog_dir / item.motion
            if clip.exists():
                return MotionSpec(name=clip.stem, path=clip.resolve(), fps=0.0, facing="front")
            raise ProductError(f"motion clip {clip} named in the catalog does not exist")
        raise ProductError(f"unknown motion {item.motion!r}; choose one of {', '.join(library.names())}")
    name = library.category_to_motion.get(item.category)
    if name:
        return require_clip_file(library.motions[name])
    raise ProductError(
        f"no motion for category {item.category!r}: fill the row's motion column, pass --motion, or map the "
        f"category in {library.folder / 'registry.yaml'} (known motions: {', '.join(library.names())})")
