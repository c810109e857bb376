"""The run report: per product status, motion, per-stage seconds, error and output paths (JSON and CSV)."""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.atomic import atomic_write_bytes, atomic_write_json
from pipeline.gate.checks import Check
from pipeline.review_page import write_review_page
from pipeline.stages.base import STAGE_ORDER

DONE, SKIPPED, REUSED, FAILED = "done", "skipped", "reused", "failed"
REVIEW = "review"  # finished, but a quality-gate check failed (--gate hold): a person looks before publishing
STATUSES = (DONE, REUSED, SKIPPED, REVIEW, FAILED)


@dataclass
class ProductReport:
    product_id: str
    line: int
    status: str = FAILED  # done: something was computed; skipped: every stage was already done in this folder;
    # reused: nothing computed, some stages linked in from an earlier run (same content key); review: finished,
    # held by a failed quality check; failed
    motion: str = ""
    category: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stages_skipped: list[str] = field(default_factory=list)
    stages_reused: dict[str, str] = field(default_factory=dict)  # stage -> the earlier run folder it came from
    attempts: int = 1  # more than 1 when a lost worker or an unexpected error was retried
    error: str = ""
    error_stage: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)  # the quality gate's checks (empty with --gate off)

    @property
    def ok(self) -> bool:
        """Finished without error (a product held for review is finished too)."""
        return self.status in (DONE, SKIPPED, REUSED, REVIEW)

    @property
    def failed_checks(self) -> list[Check]:
        return [check for check in self.checks if check.failed]


@dataclass
class RunReport:
    products: list[ProductReport]
    output: Path
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    driving_seconds: dict[str, float] = field(default_factory=dict)  # clip analysis (0 when read from the cache)

    @property
    def failed(self) -> list[ProductReport]:
        return [p for p in self.products if not p.ok]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for product in self.products:
            counts[product.status] += 1
        return counts

    def write(self) -> tuple[Path, Path]:
        json_path, csv_path = self.output / "report.json", self.output / "report.csv"
        atomic_write_json(json_path, {"counts": self.counts(), "seconds": round(self.seconds, 3),
                                      "settings": self.settings,
                                      "driving_seconds": self.driving_seconds, "products": [asdict(p) for p in self.products]})
        buffer = io.StringIO()
        columns = ["product_id", "line", "status", "motion", "category", "error_stage", "error", "mp4",
                   "reused_stages", "failed_checks"] + [f"seconds_{s}" for s in STAGE_ORDER]
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        for p in self.products:
            row = {"product_id": p.product_id, "line": p.line, "status": p.status, "motion": p.motion,
                   "category": p.category, "error_stage": p.error_stage, "error": p.error,
                   "mp4": p.outputs.get("mp4", ""), "reused_stages": " ".join(p.stages_reused),
                   "failed_checks": "; ".join(check.describe() for check in p.failed_checks)}
            row.update({f"seconds_{s}": p.stage_seconds.get(s, "") for s in STAGE_ORDER})
            writer.writerow(row)
        atomic_write_bytes(csv_path, buffer.getvalue().encode())
        write_review_page(self)  # report.html beside them
        return json_path, csv_path
