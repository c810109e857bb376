"""Output paths never leave the output root, whatever a product_id or an image URL says: through the CLI (every path
created under a parent folder is under the output root) and, as defence in depth, for a job whose item was built
without read_catalog's checks."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import pytest

from pipeline.catalog import CatalogItem, product_id_problem
from pipeline.config import PipelineConfig
from pipeline.errors import ProductError
from pipeline.motions_library import MotionSpec
from pipeline.runner import run_product
from pipeline.stages.base import ProductJob, Stage
from pipeline.video import read_clip
from conftest import FAST_SETTINGS as FAST, product_photo
from test_batch_bad_rows import run_cli, write_csv

MOTIONS = Path(__file__).resolve().parent.parent / "motions"


def unsafe_ids(parent: Path) -> list[str]:
    """product_ids that must never name a folder; `parent` holds the output root (absolute ids point into it)."""
    return [
        "../x", "..\\x", "..", ".", "/etc/animate-products-escape", str(parent / "abs-escape"), "C:\\x", "C:",
        "a/../../b", "a/b", "%2e%2e%2f", "%2e%2e", "\uff0e\uff0e\uff0f",  # fullwidth "../"
        "\u2024\u2024\u2215x",  # one-dot leaders and a division slash: look like "../x"
        "nul\x00x", "line\nbreak", "x" * 129,
        "CON", "nul.txt", "com1", "trailing.", "-rf", ".hidden", "~root",
    ]


def tree(folder: Path) -> set[Path]:
    """Every path under `folder` (hidden ones too), symlinks not followed."""
    found = set()
    for root, dirs, files in os.walk(folder):
        found.update(Path(root) / name for name in dirs + files)
    return found


def write_short_clip(folder: Path, frames: int = 8) -> None:
    """The first frames of the bundled sway clip as a folder of frames: a cheap driving clip to analyse."""
    folder.mkdir(parents=True)
    clip, _ = read_clip(MOTIONS / "sway.mp4")
    for index, frame in enumerate(clip[:frames]):
        cv2.imwrite(str(folder / f"{index:02d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def test_no_path_outside_the_output_root_whatever_the_ids_and_urls(tmp_path: Path, loopback_http) -> None:
    inputs, out = tmp_path / "inputs", tmp_path / "runs" / "out"
    write_short_clip(inputs / "clip")
    (inputs / "photo.png").write_bytes(product_photo((205, 35, 45), seed=1))
    photo = product_photo((35, 70, 210), seed=2)
    # URLs whose path says "go up", "somewhere else" or "too long to be a file name": only the id names folders
    tricky_urls = [loopback_http.add(path, photo) + fragment for path, fragment in (
        ("/img/../../etc/passwd.png?name=../../x.png&to=%2Fetc%2Fx", "#../../fragment"),  # (never sent)
        ("/img/..%2F..%2F..%2Fescape.png", ""),
        ("/img/" + "n" * 300 + ".png", ""),
        ("/img/..", ""),
    )]
    ids = unsafe_ids(tmp_path)
    rows = [["Case-Sku", "photo.png", "vase", "clip/", ""],
            ["case-sku", "photo.png", "vase", "clip/", ""]]  # the same folder on macOS and Windows
    rows += [[f"url-{n}", url, "vase", "clip/", ""] for n, url in enumerate(tricky_urls)]
    rows += [[pid, "photo.png", "vase", "clip/", ""] for pid in ids]
    catalog = write_csv(inputs / "catalog.csv", rows)
    before = tree(tmp_path)

    assert run_cli([str(catalog), "-o", str(out), *FAST]) == 3

    created = tree(tmp_path) - before
    outside = sorted(str(p) for p in created if out != p and out not in p.parents and p not in out.parents)
    assert outside == []
    assert before - tree(tmp_path) == set()  # nothing outside was removed either
    assert not Path("/etc/animate-products-escape").exists()
    products = json.loads((out / "report.json").read_text())["products"]
    status = {p["product_id"]: (p["status"], p["error_stage"], p["error"]) for p in products}
    good = ["Case-Sku"] + [f"url-{n}" for n in range(len(tricky_urls))]
    # finished; the quality gate may hold them for review (8 frames cut from a clip do not loop seamlessly)
    assert all(status[pid][0] in ("done", "review") for pid in good), status
    assert status["case-sku"][:2] == ("failed", "catalog") and "only in case" in status["case-sku"][2]
    for pid in ids:
        assert status[pid][:2] == ("failed", "catalog"), (pid, status[pid])
    folders = {p.name for p in out.iterdir() if p.is_dir()}
    assert {name for name in folders if not name.startswith(".")} == set(good)  # .cache: the clip analysis
    for name in folders:  # one plain path component each
        assert "/" not in name and "\\" not in name and name not in (".", "..") and Path(name).name == name
    for product in products:  # the report's output paths are under the root too
        for path in product["outputs"].values():
            assert out in Path(path).parents


@pytest.mark.parametrize("product_id", ["x" * 300, "\u00e9" * 200])  # 300 bytes, 400 bytes
def test_an_id_too_long_for_a_file_name_fails_alone(tmp_path: Path, product_id: str) -> None:
    # no file system takes a name this long: nothing may try to stat or create it, the report included
    (tmp_path / "photo.png").write_bytes(product_photo((205, 35, 45), seed=1))
    catalog = write_csv(tmp_path / "catalog.csv", [[product_id, "photo.png", "vase", "", ""]])
    out = tmp_path / "out"

    assert run_cli([str(catalog), "-o", str(out), *FAST]) == 3

    (product,) = json.loads((out / "report.json").read_text())["products"]
    assert product["status"] == "failed" and "longer than 128" in product["error"]
    assert [p.name for p in out.iterdir() if p.is_dir()] == []


class TouchStage(Stage):
    """A stand-in stage that writes one file into its folder, wherever the job says that folder is."""

    name = "localize"
    number = 1
    code_modules = ()
    reads_source = True

    def params(self, job: ProductJob) -> dict:
        return {}

    def input_hashes(self, job: ProductJob) -> dict:
        return {"source": job.source_hash}

    def produce(self, job: ProductJob, out_dir: Path) -> dict:
        (out_dir / "touched.txt").write_text("x")
        return {}


UNSAFE_FOR_JOBS = ["..", "../x", "a/../../b", "a/b", "/abs", "..\\x"]


@pytest.mark.parametrize("product_id", UNSAFE_FOR_JOBS)
def test_a_job_built_without_the_catalog_check_stays_under_the_root(tmp_path: Path, product_id: str) -> None:
    assert product_id_problem(product_id) is not None
    if product_id == "/abs":
        product_id = str(tmp_path / "abs")
    parent = tmp_path / "parent"
    out = parent / "runs" / "out"
    out.mkdir(parents=True)
    (parent / "photo.png").write_bytes(product_photo((205, 35, 45), seed=1))
    victim = parent / "runs" / ".victim.tmp-1-abcdef12"  # what remove_stale_temps would clear in the wrong folder
    victim.write_text("not the pipeline's")
    item = CatalogItem(line=2, product_id=product_id, image="photo.png", category="vase", motion="", title="",
                       catalog_dir=parent)
    motion = MotionSpec(name="sway", path=MOTIONS / "sway.mp4", fps=24.0, facing="front")
    job = ProductJob(item, PipelineConfig(output=out), motion, out / ".cache" / "none.npz", "none")
    before = tree(tmp_path)

    try:
        folder = Path(os.path.normpath(job.product_dir))
    except (ProductError, ValueError):
        folder = None  # refused: the guard works
    report = run_product(job, [TouchStage()])

    assert folder is None or folder.parent == out
    assert report.status == "failed" and "unsafe" in report.error
    created = tree(tmp_path) - before
    assert all(out in p.parents for p in created), sorted(map(str, created))
    assert victim.exists()
