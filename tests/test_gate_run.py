"""The gate in real small runs: `--gate hold` marks a product failing a check `review` (exit code still 0, the
failed check in report.json, report.csv, gate.json and on its card), `warn` keeps it done, `off` measures
nothing; a rerun recomputes no stage; a nightly job's gate thresholds and publish block."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from conftest import FAST_SETTINGS, write_catalog
from pipeline.cli import main
from pipeline.errors import EXIT_OK
from pipeline.gate.product import GATE_FILE
from pipeline.jobs import LATEST, run_folders
from pipeline.publish import MANIFEST
from pipeline.stages.base import STAGE_ORDER

pytestmark = pytest.mark.slow


def _report(out: Path) -> dict[str, dict]:
    return {p["product_id"]: p for p in json.loads((out / "report.json").read_text())["products"]}


def _strict_seam(tmp_path: Path) -> Path:
    """A config whose loop-seam threshold every animation fails (any seam > 0)."""
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump({"gate_loop_seam": 0.0}))
    return path


def test_hold_warn_and_off(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog", 2)
    out = tmp_path / "out"
    strict = _strict_seam(tmp_path)
    assert main([str(catalog), "-o", str(out), *FAST_SETTINGS, "-c", str(strict)]) == EXIT_OK
    products = _report(out)
    assert {p["status"] for p in products.values()} == {"review"}
    failed = [c for c in products["p000"]["checks"] if c["passed"] is False]
    assert [(c["name"], c["threshold"]) for c in failed] == [("loop_seam", 0.0)] and failed[0]["value"] > 0
    gate = json.loads((out / "p000" / GATE_FILE).read_text())
    assert gate["failed"] == ["loop_seam"] and gate["mode"] == "hold"
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert rows[0]["status"] == "review" and rows[0]["failed_checks"].startswith("loop_seam=")
    page = (out / "report.html").read_text()
    assert page.count('<table class="checks"><caption>failed checks</caption><tr><th>loop_seam</th>') == 2
    assert json.loads((out / "report.json").read_text())["counts"]["review"] == 2

    # a rerun recomputes no stage and re-measures nothing: the same gate.json, untouched
    written = (out / "p000" / GATE_FILE).stat().st_mtime_ns
    manifests = {p: p.stat().st_mtime_ns for p in out.rglob("manifest.json")}
    assert main([str(catalog), "-o", str(out), *FAST_SETTINGS, "-c", str(strict)]) == EXIT_OK
    again = _report(out)
    assert {p["status"] for p in again.values()} == {"review"}
    assert all(sorted(p["stages_skipped"]) == sorted(STAGE_ORDER) for p in again.values())
    assert {p: p.stat().st_mtime_ns for p in out.rglob("manifest.json")} == manifests
    assert (out / "p000" / GATE_FILE).stat().st_mtime_ns == written

    assert main([str(catalog), "-o", str(out), *FAST_SETTINGS, "-c", str(strict), "--gate", "warn"]) == EXIT_OK
    warned = _report(out)
    assert {p["status"] for p in warned.values()} == {"skipped"}
    assert all(any(c["passed"] is False for c in p["checks"]) for p in warned.values())

    assert main([str(catalog), "-o", str(out), *FAST_SETTINGS, "--gate", "off"]) == EXIT_OK
    assert all(p["checks"] == [] and p["status"] == "skipped" for p in _report(out).values())


def test_a_nightly_job_applies_its_gate_block_and_publishes(tmp_path: Path) -> None:
    write_catalog(tmp_path / "catalog", 2)
    job = tmp_path / "job.yaml"
    spec = {"catalog": "catalog/catalog.csv", "output_root": "nightly", "video": {"size": 64, "frames": 4},
            "settings": {"max_side": 200}, "gate": {"mode": "hold", "loop_seam": 0.0},
            "publish": {"to": "published"}}
    job.write_text(yaml.safe_dump(spec))
    assert main(["run-job", str(job)]) == EXIT_OK
    run = run_folders(tmp_path / "nightly")[-1]
    assert {p["status"] for p in _report(run).values()} == {"review"}
    dest = tmp_path / "published"
    manifest = json.loads((dest / MANIFEST).read_text())
    assert manifest["products"] == [] and {e["product_id"] for e in manifest["left_out"]} == {"p000", "p001"}

    # the reviewer approves one in the run folder (`latest`) and publishes by hand
    (tmp_path / "nightly" / LATEST / "approvals.csv").write_text("product_id,decision,note\np001,approve,ok\n")
    assert main(["publish", str(tmp_path / "nightly" / LATEST), "--to", str(dest)]) == EXIT_OK
    entry = json.loads((dest / MANIFEST).read_text())["products"][0]
    assert entry["product_id"] == "p001" and entry["status"] == "approved" and entry["run"] == run.name
    assert (dest / "p001" / "animation.mp4").stat().st_size == entry["files"]["mp4"]["size"]
    assert (dest / "p001" / "poster.jpg").is_file() and not (dest / "p000").exists()

    # the next night reuses both; with the default thresholds they pass and are published, p001's files unchanged
    spec["gate"] = {"mode": "hold"}
    job.write_text(yaml.safe_dump(spec))
    before = (dest / "p001" / "animation.mp4").stat().st_ino
    assert main(["run-job", str(job)]) == EXIT_OK
    assert {p["status"] for p in _report(run_folders(tmp_path / "nightly")[-1]).values()} == {"reused"}
    assert sorted(e["product_id"] for e in json.loads((dest / MANIFEST).read_text())["products"]) == ["p000", "p001"]
    assert (dest / "p001" / "animation.mp4").stat().st_ino == before


def test_the_job_file_checks_its_gate_and_publish_blocks(tmp_path: Path, capsys) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"catalog": "c.csv", "output_root": "o", "gate": {"seam": 1}}))
    assert main(["run-job", str(job)]) == 2
    assert "unknown gate key(s) seam" in capsys.readouterr().err
    job.write_text(yaml.safe_dump({"catalog": "c.csv", "output_root": "o", "publish": {"copy": True}}))
    assert main(["run-job", str(job)]) == 2
    assert "publish block must say where" in capsys.readouterr().err
