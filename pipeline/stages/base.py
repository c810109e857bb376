"""The contract every stage follows, and the per-product job it runs on."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pipeline.atomic import atomic_dir, atomic_write_json, link_tree
from pipeline.catalog import CatalogItem, product_id_problem
from pipeline.config import PipelineConfig
from pipeline.errors import ProductError
from pipeline.manifest import MANIFEST_NAME, code_version, list_outputs, manifest_matches, read_manifest
from pipeline.motions_library import MotionSpec

# motion needs only the crop; inpaint reads the motion frames (where the plate shows), so it runs after motion
STAGE_ORDER = ("localize", "motion", "inpaint", "superres", "fusion")


@dataclass
class ProductJob:
    item: CatalogItem
    config: PipelineConfig
    motion: MotionSpec
    driving_analysis: Path  # cached analysis of the motion's clip (npz)
    driving_key: str  # content key of that analysis
    source_bytes: bytes = b""
    source_hash: str = ""

    @property
    def product_dir(self) -> Path:
        problem = product_id_problem(self.item.product_id)
        if problem:  # read_catalog refuses such ids; this stops an item built any other way from leaving the root
            raise ProductError(problem)
        return self.config.output / self.item.product_id

    def stage_dir(self, stage: "Stage") -> Path:
        return self.product_dir / stage.folder


@dataclass
class StageOutcome:
    stage: str
    skipped: bool  # already done in this output folder
    seconds: float
    info: dict[str, Any]
    reused_from: Path | None = None  # the earlier run's stage folder whose result was linked in


class Stage(ABC):
    name: ClassVar[str]
    number: ClassVar[int]
    code_modules: ClassVar[tuple[str, ...]]
    reads_source: ClassVar[bool] = False  # needs the product's photo bytes (fetched before it runs)

    @property
    def folder(self) -> str:
        return f"{self.number:02d}_{self.name}"

    @abstractmethod
    def params(self, job: ProductJob) -> dict[str, Any]:
        """The settings that change this stage's output."""

    @abstractmethod
    def input_hashes(self, job: ProductJob) -> dict[str, str]:
        """Hashes of everything this stage reads (upstream artifacts, the image, the clip analysis)."""

    @abstractmethod
    def produce(self, job: ProductJob, out_dir: Path) -> dict[str, Any]:
        """Write this stage's artifacts into `out_dir` (a temp folder) and return facts for the manifest."""

    def run(self, job: ProductJob) -> StageOutcome:
        stage_dir = job.stage_dir(self)
        key = {"stage": self.name, "code": code_version(self.code_modules), "params": self.params(job),
               "inputs": self.input_hashes(job)}
        manifest = read_manifest(stage_dir)
        if not job.config.overwrite and manifest_matches(manifest, stage_dir, key):
            return StageOutcome(self.name, True, 0.0, manifest.get("info", {}))
        started = time.perf_counter()
        earlier = None if job.config.overwrite else self._earlier_result(job, key)
        if earlier is not None:
            with atomic_dir(stage_dir) as tmp:
                link_tree(earlier, tmp)
            info = read_manifest(stage_dir).get("info", {})
            return StageOutcome(self.name, False, time.perf_counter() - started, info, reused_from=earlier)
        with atomic_dir(stage_dir) as tmp:
            info = self.produce(job, tmp)
            seconds = time.perf_counter() - started
            # the manifest goes in last: a folder without one was never finished
            atomic_write_json(tmp / MANIFEST_NAME, {**key, "info": info, "seconds": round(seconds, 3),
                                                    "outputs": list_outputs(tmp)})
        return StageOutcome(self.name, False, seconds, info)

    def _earlier_result(self, job: ProductJob, key: dict[str, Any]) -> Path | None:
        """The newest earlier run's folder of this stage for this product with the same content key, if any."""
        for run_dir in job.config.reuse_from:
            candidate = run_dir / job.product_dir.name / self.folder
            if manifest_matches(read_manifest(candidate), candidate, key):
                return candidate
        return None
