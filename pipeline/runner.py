"""Runs the catalog: each product through the five stages, resumably, one product failing alone."""
from __future__ import annotations

import multiprocessing
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.atomic import remove_stale_temps
from pipeline.catalog import CatalogItem, fetch_image_bytes, read_catalog
from pipeline.config import PipelineConfig
from pipeline.errors import ProductError
from pipeline.manifest import sha256_bytes, sha256_file, sha256_paths
from pipeline.motion.driving import DrivingAnalysis, analyse_clip, clip_cache_key
from pipeline.motion.model_choice import resolve_motion_model
from pipeline.motions_library import (MotionLibrary, MotionSpec, load_library, motion_for_item, resolve_global_motion,
                                      with_category_motions)
from pipeline.gate.product import run_gate
from pipeline.report import DONE, FAILED, REUSED, REVIEW, SKIPPED, ProductReport, RunReport
from pipeline.model_options import check_model_files
from pipeline.sr_choice import check_sr_model
from pipeline.stages.base import STAGE_ORDER, ProductJob, Stage
from pipeline.stages.fusion import THUMB_NAME, FusionStage
from pipeline.stages.inpaint import InpaintStage
from pipeline.stages.localize import LocalizeStage
from pipeline.motion.stage import MotionStage
from pipeline.stages.superres import SuperresStage
from pipeline.video import FRAME_SUFFIXES, read_clip

ProgressFn = Callable[[str, str], None]  # (product_id, event: a stage name, "done", "skipped" or "failed")


def build_stages() -> list[Stage]:
    return [LocalizeStage(), MotionStage(), InpaintStage(), SuperresStage(), FusionStage()]


@dataclass
class Plan:
    items: list[CatalogItem]
    motions: dict[str, MotionSpec | ProductError]  # per product_id: its motion, or why it has none
    library: MotionLibrary


def select_items(items: list[CatalogItem], config: PipelineConfig) -> list[CatalogItem]:
    if config.only:
        wanted = set(config.only)
        items = [i for i in items if i.product_id in wanted]
    return items[: config.limit] if config.limit else items


def make_plan(catalog: Path, config: PipelineConfig) -> Plan:
    """Read the catalog and pick each product's motion. Raises for run-wide problems (exit 2/66/78)."""
    library = with_category_motions(load_library(config.motions_dir), config.category_motions)
    run_motion = resolve_global_motion(config.motion, library)
    resolve_motion_model(config.motion_model, config.weights_dir)  # a missing model file stops the run here
    check_sr_model(config)  # likewise for an explicitly named super-resolution network
    check_model_files(config)  # and for the matting, detector and inpainting models
    items = select_items(read_catalog(catalog), config)
    motions: dict[str, MotionSpec | ProductError] = {}
    for item in items:
        if item.error:
            continue
        try:
            motions[item.product_id] = motion_for_item(item, run_motion, library)
        except ProductError as exc:
            motions[item.product_id] = exc
    return Plan(items, motions, library)


def _clip_hash(path: Path) -> str:
    if path.is_dir():
        return sha256_paths(sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES))
    return sha256_file(path)


def ensure_driving_analysis(spec: MotionSpec, config: PipelineConfig) -> tuple[Path, str, float]:
    """Analyse a driving clip once and cache it under the output root, keyed by the clip's content.
    Returns the cache file, its key (with the rig's content, if the motion has one: a changed rig moves the product
    anew) and the seconds spent analysing (0 on a cache hit)."""
    key = clip_cache_key(_clip_hash(spec.path), config.keypoints)
    path = config.driving_cache / f"{key}.npz"
    started = time.perf_counter()
    if not path.is_file():
        frames, _ = read_clip(spec.path)
        analyse_clip(frames, spec.facing, n_regions=config.keypoints).save(path)
    seconds = time.perf_counter() - started
    DrivingAnalysis.load(path)  # a cache file that does not load is an error now, not in every product
    return path, key if spec.rig is None else f"{key}-rig-{sha256_file(spec.rig)[:16]}", seconds


def driving_clip_key(spec: MotionSpec) -> tuple[Path, str, float]:
    """Neural motion models read the clip itself: no classical analysis, the clip's content hash is its key."""
    return spec.path, f"clip-{_clip_hash(spec.path)}", 0.0


def start_report(job: ProductJob) -> ProductReport:
    item = job.item
    return ProductReport(item.product_id, item.line, motion=job.motion.name, category=item.category)


def run_stages(job: ProductJob, stages: list[Stage], report: ProductReport,
               progress: ProgressFn | None = None) -> ProductReport:
    """Run `stages` in order for one product, recording each in `report`; a failure stops the product alone.
    The Ray engine calls this for a product's CPU and GPU stages in different workers, so all state between
    stages is on disk."""
    if report.error:
        return report
    current = "fetch"
    try:
        if any(stage.reads_source for stage in stages):
            remove_stale_temps(job.product_dir)  # what a killed run left half-written
            job.source_bytes = fetch_image_bytes(job.item, job.config.allow_hosts)
            job.source_hash = sha256_bytes(job.source_bytes)
        for stage in stages:
            current = stage.name
            if progress:
                progress(job.item.product_id, stage.name)
            outcome = stage.run(job)
            report.stage_seconds[stage.name] = round(outcome.seconds, 3)
            report.facts[stage.name] = outcome.info
            if outcome.skipped:
                report.stages_skipped.append(stage.name)
            if outcome.reused_from is not None:
                report.stages_reused[stage.name] = str(outcome.reused_from.parent.parent)
    except ProductError as exc:
        report.error, report.error_stage = exc.reason, current
    except Exception as exc:  # one product's bug or bad data must not take the batch down
        report.error = f"{type(exc).__name__}: {exc}"
        report.error_stage = current
        report.facts["traceback"] = traceback.format_exc(limit=8)
    return report


def finish_report(job: ProductJob, report: ProductReport, progress: ProgressFn | None = None) -> ProductReport:
    """Status and output paths once every stage has run (or one failed)."""
    if not report.error:
        computed = len(STAGE_ORDER) - len(report.stages_skipped) - len(report.stages_reused)
        report.status = DONE if computed else (REUSED if report.stages_reused else SKIPPED)
        fusion_dir = job.product_dir / "05_fusion"
        outputs = report.facts.get("fusion", {}).get("outputs", {})
        report.outputs = {fmt: str(fusion_dir / name) for fmt, name in outputs.items()}
        report.outputs["poster"] = str(fusion_dir / "poster.jpg")
        report.outputs["poster_thumb"] = str(fusion_dir / THUMB_NAME)  # the review page's card image
        apply_gate(job, report)
    if progress:
        progress(job.item.product_id, report.status)
    return report


def apply_gate(job: ProductJob, report: ProductReport) -> None:
    """The quality checks on the finished product (--gate warn|hold); under hold a failed check makes it `review`.
    A crash in the gate fails the product like a stage's would."""
    if job.config.gate == "off":
        return
    try:
        report.checks = run_gate(job.product_dir, job.config)
    except Exception as exc:
        report.status, report.error, report.error_stage = FAILED, f"{type(exc).__name__}: {exc}", "gate"
        report.facts["traceback"] = traceback.format_exc(limit=8)
        return
    if job.config.gate == "hold" and report.failed_checks:
        report.status = REVIEW


def unexpected_failure(report: ProductReport) -> bool:
    """A crash rather than a reason about the product's data: worth one more attempt on another worker."""
    return not report.ok and "traceback" in report.facts


def run_product(job: ProductJob, stages: list[Stage], progress: ProgressFn | None = None) -> ProductReport:
    return finish_report(job, run_stages(job, stages, start_report(job), progress), progress)


def _worker_run(job: ProductJob, queue) -> ProductReport:
    stages = build_stages()
    return run_product(job, stages, lambda pid, event: queue.put((pid, event)))


def _failed(item: CatalogItem, reason: str, stage: str, motion: str = "") -> ProductReport:
    return ProductReport(item.product_id, item.line, FAILED, motion=motion, category=item.category,
                         error=reason, error_stage=stage)


def run_plan(plan: Plan, config: PipelineConfig, progress: ProgressFn | None = None) -> RunReport:
    started = time.perf_counter()
    config.output.mkdir(parents=True, exist_ok=True)
    for folder in (config.output, config.driving_cache):  # what a killed run left half-written (products: per job)
        remove_stale_temps(folder)
    reports: dict[str, ProductReport] = {}
    jobs: list[ProductJob] = []
    analyses: dict[Path, tuple[Path, str, float]] = {}
    neural = resolve_motion_model(config.motion_model, config.weights_dir) is not None
    for item in plan.items:
        motion = plan.motions.get(item.product_id)
        if item.error or isinstance(motion, ProductError):
            reason = item.error or motion.reason
            reports[f"line{item.line}"] = _failed(item, reason, "catalog")
            if progress:
                progress(item.product_id, FAILED)
            continue
        try:
            if motion.path not in analyses:
                analyses[motion.path] = (driving_clip_key(motion) if neural
                                         else ensure_driving_analysis(motion, config))
        except Exception as exc:  # an unusable user clip fails the products that use it
            reports[f"line{item.line}"] = _failed(item, f"driving clip {motion.path} could not be analysed: {exc}",
                                                  "motion", motion.name)
            if progress:
                progress(item.product_id, FAILED)
            continue
        analysis_path, key, _ = analyses[motion.path]
        jobs.append(ProductJob(item, config, motion, analysis_path, key))
    if config.fail_fast and reports:
        jobs = []
    for report in _execute(jobs, config, progress):
        reports[f"line{report.line}"] = report
    ordered = [reports[f"line{i.line}"] for i in plan.items if f"line{i.line}" in reports]
    driving_seconds = {str(path): round(seconds, 3) for path, (_, _, seconds) in analyses.items()}
    return RunReport(ordered, config.output, time.perf_counter() - started, config.to_dict(), driving_seconds)


MAX_ATTEMPTS = 2  # a product whose worker died, or that crashed unexpectedly, gets one more try


def _execute(jobs: list[ProductJob], config: PipelineConfig, progress: ProgressFn | None):
    if config.engine == "ray":
        from pipeline.ray_engine import execute_on_ray

        yield from execute_on_ray(jobs, config, progress)
    elif config.workers == 1 or len(jobs) <= 1:
        yield from _execute_here(jobs, config, progress)
    else:
        yield from _execute_in_processes(jobs, config, progress)


def _execute_here(jobs: list[ProductJob], config: PipelineConfig, progress: ProgressFn | None):
    stages = build_stages()
    for job in jobs:
        report = run_product(job, stages, progress)
        if unexpected_failure(report):
            report = run_product(job, stages, progress)
            report.attempts = 2
        yield report
        if config.fail_fast and not report.ok:
            return


def _execute_in_processes(jobs: list[ProductJob], config: PipelineConfig, progress: ProgressFn | None):
    """Products in spawned worker processes. A worker that dies (killed, out of memory) breaks the pool: the
    products it held are retried in a fresh pool, up to MAX_ATTEMPTS, then reported failed, never dropped."""
    context = multiprocessing.get_context("spawn")  # fork after OpenCV/torch threads start is not safe
    attempts = {id(job): 0 for job in jobs}
    queue_jobs = list(jobs)
    with context.Manager() as manager:
        events = manager.Queue()
        while queue_jobs:
            retry: list[ProductJob] = []
            with ProcessPoolExecutor(max_workers=config.workers, mp_context=context) as pool:
                pending = {pool.submit(_worker_run, job, events): job for job in queue_jobs}
                for job in queue_jobs:
                    attempts[id(job)] += 1
                while pending:
                    done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    while not events.empty():
                        if progress:
                            progress(*events.get())
                    for future in done:
                        job = pending.pop(future)
                        tries = attempts[id(job)]
                        try:
                            report = future.result()
                        except Exception as exc:  # the worker died under this product or another one
                            if tries < MAX_ATTEMPTS:
                                retry.append(job)
                                continue
                            report = _failed(job.item, f"worker process lost {tries} times: {exc}", "worker",
                                             job.motion.name)
                        if unexpected_failure(report) and tries < MAX_ATTEMPTS:
                            retry.append(job)
                            continue
                        report.attempts = tries
                        yield report
                        if config.fail_fast and not report.ok:
                            for other in pending:
                                other.cancel()
                            return
            queue_jobs = retry
