"""Publish a run's approved products: `animate-products publish RUN_DIR --to DEST`, and a job's `publish:` block.

Approved: `done` (also `reused` and `skipped`: finished, nothing held) products, plus `review` products a
reviewer approved in RUN_DIR/approvals.csv (columns product_id, decision, note; decision approve or reject). A
reject leaves out any product. A `review` product with no row stays approved when its files are byte-identical
to the ones approved before (the approval was of that content), so a nightly run that reused it keeps it
published. Failed, rejected and unapproved products are left out and listed.

Layout: every publish builds a complete set in DEST/.versions/<time>/ (product folders and manifest.json) and
then swaps the one symlink DEST/.current to it (a rename: atomic). DEST/manifest.json and DEST/<product_id> are
fixed symlinks through .current, so readers see the old set or the new one, never a mix; an interrupted publish
leaves the old set in place. A file whose sha256 is unchanged is hard-linked from the previous set (not
rewritten), and a set identical to the published one writes nothing at all."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.atomic import atomic_write_json, remove_stale_temps
from pipeline.catalog import product_id_problem
from pipeline.errors import PublishError, UsageError
from pipeline.manifest import sha256_file
from pipeline.report import DONE, FAILED, REUSED, REVIEW, SKIPPED
from pipeline.run_lock import output_lock
from pipeline.stages.fusion import FusionStage

APPROVALS = "approvals.csv"
MANIFEST = "manifest.json"
VERSIONS = ".versions"
CURRENT = ".current"  # DEST/.current -> .versions/<name>: the published set
KEEP_VERSIONS = 2  # the set just replaced stays a while for readers that resolved .current before the swap
FINISHED = (DONE, REUSED, SKIPPED)
APPROVE, REJECT = "approve", "reject"
DECISIONS = {"approve": APPROVE, "approved": APPROVE, "yes": APPROVE, "reject": REJECT, "rejected": REJECT,
             "no": REJECT}
RESERVED = {MANIFEST}


@dataclass(frozen=True)
class Approval:
    product_id: str
    decision: str  # APPROVE | REJECT
    note: str
    line: int


@dataclass
class PublishResult:
    dest: Path
    version: str | None  # the set's folder under .versions; None when the published set was already this one
    published: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)  # products whose files changed (or are new) in this set
    left_out: list[dict[str, str]] = field(default_factory=list)
    approval_problems: list[str] = field(default_factory=list)


def read_approvals(path: Path) -> tuple[dict[str, Approval], list[str]]:
    """The reviewer's decisions by product id, and the rows that could not be used (each named by its line).
    A missing file is no decisions; a later row for the same product overrides an earlier one."""
    if not path.is_file():
        return {}, []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"{path}: unreadable ({exc})"]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = {name.strip().lower() for name in reader.fieldnames or [] if name}
    if not {"product_id", "decision"} <= columns:
        return {}, [f"{path}: needs the columns product_id,decision[,note]; found {sorted(columns) or 'none'}"]
    decisions: dict[str, Approval] = {}
    problems = []
    for row in reader:
        line = reader.line_num
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
        product_id, decision = row.get("product_id", ""), DECISIONS.get(row.get("decision", "").lower())
        if not product_id:
            problems.append(f"{path.name} line {line}: no product_id")
        elif decision is None:
            problems.append(f"{path.name} line {line}: decision {row.get('decision', '')!r} for {product_id} is not "
                            "approve or reject")
        else:
            decisions[product_id] = Approval(product_id, decision, row.get("note", ""), line)
    return decisions, problems


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def published_manifest(dest: Path) -> dict[str, Any] | None:
    data = _read_json(dest / CURRENT / MANIFEST)
    return data if isinstance(data, dict) else None


def _product_files(run_dir: Path, product_id: str) -> tuple[dict[str, Path], dict[str, Any]] | str:
    """{role: file} of a finished product (mp4, poster and the optional formats) and its fusion facts, or why not."""
    fusion = run_dir / product_id / FusionStage().folder
    facts = _read_json(fusion / "fusion.json")
    if not isinstance(facts, dict) or not isinstance(facts.get("outputs"), dict):
        return f"no fusion.json in {fusion}"
    files = {fmt: fusion / str(name) for fmt, name in facts["outputs"].items()}
    files["poster"] = fusion / "poster.jpg"
    missing = sorted(str(p.name) for p in files.values() if not p.is_file())
    return f"missing {', '.join(missing)}" if missing else (files, facts)


def _describe(files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {role: {"name": path.name, "sha256": sha256_file(path), "size": path.stat().st_size}
            for role, path in sorted(files.items())}


def _same_files(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {r: f["sha256"] for r, f in a.items()} == {r: f["sha256"] for r, f in b.items()}


@dataclass
class _Plan:
    entries: list[dict[str, Any]]
    sources: dict[str, dict[str, Path]]  # product -> role -> file in the run
    left_out: list[dict[str, str]]


def _plan(run_dir: Path, report: dict[str, Any], approvals: dict[str, Approval],
          before: dict[str, dict[str, Any]], problems: list[str]) -> _Plan:
    plan = _Plan([], {}, [])
    seen = set()
    for product in report.get("products", []):
        product_id, status = str(product.get("product_id", "")), str(product.get("status", FAILED))
        seen.add(product_id)
        decision = approvals.get(product_id)

        def leave(reason: str) -> None:
            plan.left_out.append({"product_id": product_id, "status": status, "reason": reason})

        problem = product_id_problem(product_id) or (f"{product_id!r} is a reserved name in the published folder"
                                                      if product_id in RESERVED else None)
        if status not in FINISHED + (REVIEW,):
            leave(f"failed at {product.get('error_stage') or '?'}: {product.get('error') or 'no reason given'}")
            if decision is not None and decision.decision == APPROVE:
                problems.append(f"{APPROVALS} line {decision.line}: {product_id} failed; there is nothing to approve")
            continue
        if problem:
            leave(problem)
            continue
        if decision is not None and decision.decision == REJECT:
            leave(f"rejected: {decision.note}" if decision.note else "rejected")
            continue
        found = _product_files(run_dir, product_id)
        if isinstance(found, str):
            leave(found)
            continue
        files, facts = found
        described = _describe(files)
        previous = before.get(product_id)
        entry: dict[str, Any] = {"product_id": product_id, "status": DONE, "run": run_dir.name,
                                 "files": described, "frames": facts.get("frames"), "fps": facts.get("fps"),
                                 "duration_s": round(facts["frames"] / facts["fps"], 3)
                                 if facts.get("frames") and facts.get("fps") else None}
        if status == REVIEW:
            if decision is not None:
                entry.update(status="approved", note=decision.note, approved_in=run_dir.name)
            elif previous is not None and previous.get("status") == "approved" and _same_files(
                    previous["files"], described):
                entry.update(status="approved", note=previous.get("note", ""), approved_in=previous.get("approved_in"))
            else:
                failed = "; ".join(c.get("name", "?") for c in product.get("checks", []) if c.get("passed") is False)
                leave(f"held for review ({failed or 'failed checks'}); not approved in {APPROVALS}")
                continue
        if previous is not None and _same_files(previous["files"], described):
            entry["run"] = previous.get("run", entry["run"])  # the files are the ones published from that run
        plan.entries.append(entry)
        plan.sources[product_id] = files
    problems.extend(f"{APPROVALS} line {a.line}: {a.product_id} is not in this run" for a in approvals.values()
                    if a.product_id not in seen)
    return plan


def _place(source: Path, target: Path, copy: bool) -> None:
    """Hard-link `source` at `target` (copy where links are not possible, or when asked to copy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not copy:
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copy2(source, target)
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())


def _link(path: Path, target: str) -> None:
    """Make `path` a symlink to `target`, replacing an older link in one rename."""
    if path.is_symlink() and os.readlink(path) == target:
        return
    if path.exists() and not path.is_symlink():
        raise PublishError(f"{path} exists and is not a link this publish made; move it out of the way")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.symlink_to(target)
    os.replace(tmp, path)


def _version_name(versions: Path) -> str:
    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    name, n = stamp, 1
    while (versions / name).exists():
        n += 1
        name = f"{stamp}-{n}"
    return name


def publish_run(run_dir: Path, dest: Path, copy: bool = False) -> PublishResult:
    """Publish `run_dir`'s approved products into `dest` (see the module's docstring)."""
    run_dir = Path(run_dir).resolve()  # a `latest` link names the run it points at now
    report = _read_json(run_dir / "report.json")
    if not isinstance(report, dict):
        raise UsageError(f"{run_dir} is not a finished run folder (no readable report.json)")
    dest = Path(dest)
    with output_lock(dest):
        versions = dest / VERSIONS
        versions.mkdir(exist_ok=True)
        remove_stale_temps(versions)
        remove_stale_temps(dest)
        approvals, problems = read_approvals(run_dir / APPROVALS)
        current = published_manifest(dest)
        before = {e["product_id"]: e for e in (current or {}).get("products", [])}
        plan = _plan(run_dir, report, approvals, before, problems)
        manifest = {"version": 1, "products": plan.entries, "left_out": plan.left_out,
                    "approval_problems": problems}
        result = PublishResult(dest, None, [e["product_id"] for e in plan.entries], [], plan.left_out, problems)
        result.rewritten = [e["product_id"] for e in plan.entries
                            if e["product_id"] not in before or not _same_files(before[e["product_id"]]["files"],
                                                                                e["files"])]
        if manifest == current:
            return result
        try:
            result.version = _build(dest, versions, plan, manifest, before, copy)
        except OSError as exc:
            raise PublishError(f"could not publish into {dest}: {exc}") from None
        return result


def _build(dest: Path, versions: Path, plan: _Plan, manifest: dict[str, Any],
           before: dict[str, dict[str, Any]], copy: bool) -> str:
    """Stage the new set, rename it into .versions, link the product names, swap .current, tidy up."""
    name = _version_name(versions)
    staging = versions / f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    published = (dest / CURRENT).resolve()
    for entry in plan.entries:
        product_id = entry["product_id"]
        previous = before.get(product_id, {}).get("files", {})
        for role, source in plan.sources[product_id].items():
            target = staging / product_id / source.name
            old = previous.get(role)
            kept = published / product_id / old["name"] if old is not None else None
            if kept is not None and old["sha256"] == entry["files"][role]["sha256"] and kept.is_file():
                _place(kept, target, copy=False)  # unchanged: the very file published before, not rewritten
            else:
                _place(source, target, copy)
    atomic_write_json(staging / MANIFEST, manifest)
    os.replace(staging, versions / name)
    _link(dest / MANIFEST, f"{CURRENT}/{MANIFEST}")
    for entry in plan.entries:
        _link(dest / entry["product_id"], f"{CURRENT}/{entry['product_id']}")
    _link(dest / CURRENT, f"{VERSIONS}/{name}")  # the commit point: readers now see the new set
    kept = {e["product_id"] for e in plan.entries}
    for product_id in set(before) - kept:
        link = dest / product_id
        if link.is_symlink() and os.readlink(link) == f"{CURRENT}/{product_id}":
            link.unlink()
    older = sorted(p for p in versions.iterdir() if not p.name.startswith(".") and p.name != name)
    for stale in older[: max(0, len(older) - (KEEP_VERSIONS - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return name
