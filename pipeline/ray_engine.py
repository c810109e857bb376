"""--engine ray: the same products and stages on a Ray cluster. Localize, inpaint and fusion run as CPU tasks;
motion transfer and super-resolution run in actors that keep their stages (and the networks those load) for
the whole run and take a GPU each when the cluster has them. Every stage writes to the output folder, which must
be a path all nodes share; a product's state passes between workers through it, as it does between reruns.
A task whose worker is lost is retried by Ray, an actor that dies is restarted; a product that still fails, or
that crashed with an unexpected error, is resubmitted once and then reported failed, never dropped."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.errors import UsageError
from pipeline.report import ProductReport
from pipeline.runner import (MAX_ATTEMPTS, ProgressFn, build_stages, finish_report, run_stages, start_report,
                             unexpected_failure)
from pipeline.stages.base import ProductJob

CPU_BEFORE = ("localize",)
ACCELERATED = ("motion", "superres")
# inpaint reads only the motion frames, not super-resolution's, so it joins fusion after the actor's call: one
# hop to the actor per product, as before the stages were reordered
CPU_AFTER = ("inpaint", "fusion")
SYSTEM_RETRIES = 2  # Ray's own retries of a task or actor call whose worker process died


def _stages(names: tuple[str, ...]):
    return [stage for stage in build_stages() if stage.name in names]


def cpu_stages(job: ProductJob, names: tuple[str, ...], report: ProductReport) -> ProductReport:
    return run_stages(job, _stages(names), report)


class AcceleratedStages:
    """One per GPU (or one on a CPU-only cluster): its stage objects cache loaded networks between products."""

    def __init__(self) -> None:
        self.stages = _stages(ACCELERATED)

    def run(self, job: ProductJob, report: ProductReport) -> ProductReport:
        return run_stages(job, self.stages, report)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'animate-products[ray]'") from None
    return ray


class RayPipeline:
    """Submits each product as a chain CPU task -> actor call -> CPU task and hands back finished reports."""

    def __init__(self, ray, config: PipelineConfig) -> None:
        self.ray = ray
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actor_class = ray.remote(AcceleratedStages).options(
            num_gpus=1 if gpus else 0, num_cpus=1, max_restarts=SYSTEM_RETRIES, max_task_retries=SYSTEM_RETRIES)
        self.actors = [actor_class.remote() for _ in range(max(1, gpus))]
        self.cpu_task = ray.remote(cpu_stages).options(num_cpus=1, max_retries=SYSTEM_RETRIES)
        self.submitted = 0

    def submit(self, job: ProductJob) -> Any:
        actor = self.actors[self.submitted % len(self.actors)]
        self.submitted += 1
        before = self.cpu_task.remote(job, CPU_BEFORE, start_report(job))
        accelerated = actor.run.remote(job, before)  # Ray passes the first task's result, not the reference
        return self.cpu_task.remote(job, CPU_AFTER, accelerated)


def execute_on_ray(jobs: list[ProductJob], config: PipelineConfig,
                   progress: ProgressFn | None) -> Iterator[ProductReport]:
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.ray_address, num_cpus=None if config.ray_address else config.workers + 1,
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield from _run(RayPipeline(ray, config), jobs, config, progress)
    finally:
        if started_here:
            ray.shutdown()


def _run(pipeline: RayPipeline, jobs: list[ProductJob], config: PipelineConfig,
         progress: ProgressFn | None) -> Iterator[ProductReport]:
    ray = pipeline.ray
    pending = {pipeline.submit(job): (job, 1) for job in jobs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        job, attempt = pending.pop(done[0])
        try:
            report = ray.get(done[0])
        except Exception as exc:  # Ray gave up on the product's worker after its own retries
            report = start_report(job)
            report.error, report.error_stage = f"Ray worker lost after retries: {type(exc).__name__}: {exc}", "worker"
            report.facts["traceback"] = str(exc)[:2000]
        if unexpected_failure(report) and attempt < MAX_ATTEMPTS:
            pending[pipeline.submit(job)] = (job, attempt + 1)
            continue
        report.attempts = attempt
        yield finish_report(job, report, progress)
        if config.fail_fast and not report.ok:
            for ref in pending:
                ray.cancel(ref)
            return
