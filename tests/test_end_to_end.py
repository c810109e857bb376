"""The example catalog through the real command at a small size: every product animates, the object moves while
the background away from it stays still, and a second run skips every stage."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.imageio import read_png
from pipeline.stages.base import STAGE_ORDER
from pipeline.video import even_size, probe_video

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "examples" / "catalog.csv"
FRAMES = 8
# the quality gate records its checks but holds nothing here (its verdicts are tests/test_gate*.py's subject):
# these tests are about running, resuming and skipping
ARGS = ["--size", "96", "--frames", str(FRAMES), "--max-side", "320", "--gate", "warn"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    out = tmp_path_factory.mktemp("e2e") / "out"
    code = main([str(CATALOG), "-o", str(out), *ARGS, "-f", "mp4,webp"])
    return out, code


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_every_example_product_is_animated(first_run: tuple[Path, int]) -> None:
    out, code = first_run
    assert code == 0
    products = _report(out)["products"]
    assert len(products) == 4 and {p["status"] for p in products} == {"done"}
    for product in products:
        fusion = out / product["product_id"] / "05_fusion"
        source = read_png(out / product["product_id"] / "01_localize" / "source.png")
        count, width, height = probe_video(fusion / "animation.mp4")
        assert count == FRAMES
        assert (width, height) == even_size(source.shape[1], source.shape[0])
        assert (fusion / "animation.webp").stat().st_size > 0 and (fusion / "poster.jpg").stat().st_size > 0
        assert len(list((fusion / "frames").glob("*.png"))) == FRAMES


def test_object_moves_and_background_stays(first_run: tuple[Path, int]) -> None:
    out, _ = first_run
    for product in _report(out)["products"]:
        folder = out / product["product_id"]
        matte = read_png(folder / "01_localize" / "matte.png") > 127
        x0, y0, side = json.loads((folder / "01_localize" / "localize.json").read_text())["crop_box"]
        frames = [read_png(p).astype(np.float32) for p in sorted((folder / "05_fusion" / "frames").glob("*.png"))]
        change = np.mean([np.abs(b - a).mean(axis=2) for a, b in zip(frames, frames[1:])], axis=0)
        assert change[matte].mean() > 1.5, f"{product['product_id']} hardly moves inside the object"
        outside = np.ones(matte.shape, bool)
        outside[max(0, y0): y0 + side, max(0, x0): x0 + side] = False
        if outside.any():
            assert change[outside].max() == 0.0, f"{product['product_id']} background moves outside the crop"


def test_second_run_skips_every_stage(first_run: tuple[Path, int]) -> None:
    out, _ = first_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("manifest.json")}
    assert main([str(CATALOG), "-o", str(out), *ARGS, "-f", "mp4,webp"]) == 0
    products = _report(out)["products"]
    assert {p["status"] for p in products} == {"skipped"}
    assert all(sorted(p["stages_skipped"]) == sorted(STAGE_ORDER) for p in products)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("manifest.json")} == before


def test_resume_redoes_only_what_is_missing_or_changed(first_run: tuple[Path, int]) -> None:
    out, _ = first_run
    shutil.rmtree(out / "doll" / "05_fusion")  # as if the run had been killed before fusion finished
    assert main([str(CATALOG), "-o", str(out), *ARGS, "-f", "mp4,webp"]) == 0
    by_id = {p["product_id"]: p for p in _report(out)["products"]}
    assert by_id["doll"]["status"] == "done"
    assert sorted(by_id["doll"]["stages_skipped"]) == sorted(set(STAGE_ORDER) - {"fusion"})
    assert by_id["mug"]["status"] == "skipped"
    # a setting that only fusion uses recomputes fusion alone
    assert main([str(CATALOG), "-o", str(out), *ARGS, "-f", "mp4", "--only", "mug"]) == 0
    mug = _report(out)["products"][0]
    assert mug["product_id"] == "mug" and mug["stages_skipped"] == ["localize", "motion", "inpaint", "superres"]
