"""The contract every stage follows, and the per-product job it runs on."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pipeline.atomic import atomic_dir, atomic_write_json
from pipeline.catalog import CatalogItem
from pipeline.config import PipelineConfig
from pipeline.manifest import MANIFEST_NAME, code_version, list_outputs, manifest_matches, read_manifest
from pipeline.motions_library import MotionSpec

STAGE_ORDER = ("localize", "inpaint", "motion", "superres", "fusion")


@dataclass
class ProductJob:
    item: CatalogItem
    config: PipelineConfig
    motion: MotionSpec
    driving_analysis: Path  # cached analysis of the motion's clip (npz)
    driving_key: str  # content key of that analysis
    source_bytes: bytes = b""
    source_hash: str = ""
    memo: dict[str, Any] = field(default_factory=dict)  # arrays a later stage reuses within one run

    @property
    def product_dir(self) -> Path:
        return self.config.output / self.item.product_id

    def stage_dir(self, stage: "Stage") -> Path:
        return self.product_dir / stage.folder


@dataclass
class StageOutcome:
    stage: str
    skipped: bool
    seconds: float
    info: dict[str, Any]


class Stage(ABC):
    name: ClassVar[str]
    number: ClassVar[int]
    code_modules: ClassVar[tuple[str, ...]]

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
        with atomic_dir(stage_dir) as tmp:
            info = self.produce(job, tmp)
            seconds = time.perf_counter() - started
            # the manifest goes in last: a folder without one was never finished
            atomic_write_json(tmp / MANIFEST_NAME, {**key, "info": info, "seconds": round(seconds, 3),
                                                    "outputs": list_outputs(tmp)})
        return StageOutcome(self.name, False, seconds, info)
