"""Nightly jobs: `animate-products run-job JOB.yaml`. Each run writes a dated folder under the job's output root,
reuses every unchanged stage result of earlier runs by content key, and points `latest` at it when it ends."""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.atomic import atomic_write_bytes
from pipeline.catalog import is_http_url
from pipeline.download import download_bytes
from pipeline.config import PipelineConfig, apply_overrides
from pipeline.errors import CatalogError, ProductError, UsageError

RUNS = "runs"
LATEST = "latest"
REPORT_NAME = "report.json"  # written last: a run folder without it never finished
JOB_KEYS = {"catalog", "output_root", "keep_runs", "reuse_runs", "models", "video", "gate", "publish", "settings"}
MODEL_KEYS = {"matting", "detector", "inpaint", "motion_model", "sr_model"}
VIDEO_KEYS = {"formats", "size", "fps", "frames", "crf"}
GATE_KEYS = {"mode", "max_stretch", "flipped_triangles", "rigid_unexplained", "plate_error", "background_flicker",
             "alpha_coverage", "detached_pieces", "loop_seam"}  # settings gate (mode) and gate_<key> (thresholds)
PUBLISH_KEYS = {"to", "copy"}
RUN_KEYS = {"motion", "category_motions", "workers", "engine", "ray_address", "device", "weights_dir",
            "motions_dir"}


@dataclass(frozen=True)
class JobSpec:
    path: Path
    catalog: str  # a path (relative to the job file) or an http(s) URL
    output_root: Path
    keep_runs: int  # finished run folders kept; older ones are deleted
    reuse_runs: int  # how many earlier runs are searched for unchanged results
    settings: dict[str, Any]  # pipeline settings, same names as the command-line options
    publish_to: Path | None = None  # where the run's approved products are published when it ends (publish.py)
    publish_copy: bool = False  # copy the files there instead of hard-linking them

    @property
    def catalog_is_url(self) -> bool:
        return is_http_url(self.catalog)


def _mapping(data: Any, where: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a mapping of name: value")
    return data


def _resolve(base: Path, value: Any) -> Path:
    path = Path(os.path.expandvars(str(value))).expanduser()
    return path if path.is_absolute() else base / path


def load_job(path: Path) -> JobSpec:
    """Read and check a job file; paths in it are relative to its own folder."""
    if not path.is_file():
        raise UsageError(f"job file not found: {path}")
    try:
        data = _mapping(yaml.safe_load(path.read_text()), f"job file {path}")
    except yaml.YAMLError as exc:
        raise UsageError(f"job file {path} is not valid YAML: {exc}") from None
    allowed = JOB_KEYS | RUN_KEYS
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UsageError(f"job file {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    for key in ("catalog", "output_root"):
        if not data.get(key):
            raise UsageError(f"job file {path} must set {key}")
    base = path.resolve().parent
    models, video = _mapping(data.get("models"), "models"), _mapping(data.get("video"), "video")
    gate, publish = _mapping(data.get("gate"), "gate"), _mapping(data.get("publish"), "publish")
    for block, keys, name in ((models, MODEL_KEYS, "models"), (video, VIDEO_KEYS, "video"), (gate, GATE_KEYS, "gate"),
                              (publish, PUBLISH_KEYS, "publish")):
        extra = sorted(set(block) - keys)
        if extra:
            raise UsageError(f"job file {path}: unknown {name} key(s) {', '.join(extra)}; known: {', '.join(sorted(keys))}")
    gate_settings = {("gate" if key == "mode" else f"gate_{key}"): value for key, value in gate.items()}
    settings = {**_mapping(data.get("settings"), "settings"), **models, **video, **gate_settings,
                **{k: data[k] for k in RUN_KEYS if k in data}}
    if publish and not publish.get("to"):
        raise UsageError(f"job file {path}: the publish block must say where to publish (to: FOLDER)")
    for key in ("weights_dir", "motions_dir"):
        if settings.get(key):
            settings[key] = _resolve(base, settings[key])
    if isinstance(settings.get("formats"), list):
        settings["formats"] = ",".join(settings["formats"])
    catalog = str(data["catalog"])
    if not is_http_url(catalog):
        catalog = str(_resolve(base, catalog))
    keep, reuse = int(data.get("keep_runs", 14)), int(data.get("reuse_runs", 7))
    if keep < 1 or reuse < 0:
        raise UsageError(f"job file {path}: keep_runs must be at least 1 and reuse_runs at least 0")
    publish_to = _resolve(base, publish["to"]) if publish else None
    return JobSpec(path, catalog, _resolve(base, data["output_root"]), keep, reuse, settings, publish_to,
                   bool(publish.get("copy", False)))


def run_folders(root: Path) -> list[Path]:
    """The run folders under `root`, oldest first (their names are UTC timestamps)."""
    folder = root / RUNS
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def is_finished(run_dir: Path) -> bool:
    return (run_dir / REPORT_NAME).is_file()


def choose_run_folder(root: Path, now: float | None = None) -> tuple[Path, bool]:
    """(folder, resumed): the newest run folder if it never finished (a killed run), else a new dated one."""
    runs = run_folders(root)
    if runs and not is_finished(runs[-1]):
        return runs[-1], True
    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime(now))
    folder, n = root / RUNS / stamp, 1
    while folder.exists():
        n += 1
        folder = root / RUNS / f"{stamp}-{n}"
    return folder, False


def fetch_catalog(job: JobSpec, run_dir: Path, allow_hosts: tuple[str, ...]) -> Path:
    """The catalog file this run reads: the job's own path, or a URL's content saved into the run folder
    (relative image paths in it then resolve against the run folder, so such catalogs should hold URLs).
    The URL may reach a public address or one `allow_hosts` (the run's setting) opens; else exit 66."""
    if not job.catalog_is_url:
        return Path(job.catalog)
    try:
        data = download_bytes(job.catalog, "catalog URL", allow_hosts)
    except ProductError as exc:
        raise CatalogError(exc.reason) from None
    return atomic_write_bytes(run_dir / "catalog.csv", data)


def point_latest(root: Path, run_dir: Path) -> None:
    """Swap the `latest` link to `run_dir` in one rename, so readers never see it missing."""
    link = root / LATEST
    tmp = root / f".{LATEST}.tmp-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.relative_to(root))
    os.replace(tmp, link)


def prune_runs(root: Path, keep: int, current: Path) -> list[Path]:
    """Delete finished run folders beyond the newest `keep` (never the current one). Results reused from them
    by hard link stay valid in the runs that reused them."""
    finished = [r for r in run_folders(root) if is_finished(r) and r != current]
    doomed = finished[: max(0, len(finished) - (keep - 1))]
    for run_dir in doomed:
        shutil.rmtree(run_dir, ignore_errors=True)
    return doomed


def job_config(job: JobSpec, run_dir: Path, overrides: dict[str, Any]) -> PipelineConfig:
    earlier = [r for r in reversed(run_folders(job.output_root)) if r != run_dir][: job.reuse_runs]
    config = apply_overrides(PipelineConfig(), job.settings)
    config = apply_overrides(config, overrides)
    return replace(config, output=run_dir, reuse_from=tuple(earlier),
                   cache_dir=job.output_root / "cache").validate()


def finish_run(job: JobSpec, run_dir: Path) -> None:
    """After the run's report is written: `latest` points at it and old runs beyond keep_runs go."""
    point_latest(job.output_root, run_dir)
    prune_runs(job.output_root, job.keep_runs, run_dir)
