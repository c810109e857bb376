"""kill -9 at random moments during a 20-product run (several seeds), then a rerun: every product completes, no
artifact is ever corrupt or half-written, and stages finished before a kill are not recomputed."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import pytest

from conftest import FAST_SETTINGS, write_catalog
from pipeline.manifest import MANIFEST_NAME

pytestmark = pytest.mark.slow
PRODUCTS = 20
KILL_SEEDS = (0, 1, 2, 3)
COMMAND = [sys.executable, "-m", "pipeline.cli"]


def finished_stage_dirs(out: Path) -> list[Path]:
    return [d for d in sorted(out.glob("*/0[1-5]_*")) if d.is_dir()]


def assert_every_artifact_whole(out: Path) -> None:
    """Stage folders appear whole or not at all: each has its manifest, every listed output at its size, and
    every image and video decodes."""
    for stage_dir in finished_stage_dirs(out):
        manifest = json.loads((stage_dir / MANIFEST_NAME).read_text())
        for name, size in manifest["outputs"].items():
            path = stage_dir / name
            assert path.stat().st_size == size, path
            if path.suffix == ".png":
                assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None, path
            elif path.suffix == ".mp4":
                with av.open(str(path)) as container:
                    assert sum(1 for _ in container.decode(video=0)) == 4, path
    if (out / "report.json").exists():
        json.loads((out / "report.json").read_text())


def run_and_kill(catalog: Path, out: Path, rng: random.Random) -> bool:
    """Start a 2-worker run; once it has finished one more stage, wait a random moment and SIGKILL its whole
    process group (the way a machine or container dies). True if it was still running when killed."""
    done_before = len(finished_stage_dirs(out))
    process = subprocess.Popen([*COMMAND, str(catalog), "-o", str(out), *FAST_SETTINGS, "--workers", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while len(finished_stage_dirs(out)) <= done_before and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        process.wait(rng.uniform(0.0, 4.0))
        return False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        time.sleep(0.3)  # let the kernel reap the workers, so no stray process writes after the check
        return True


def test_kill_minus_nine_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog", PRODUCTS)
    out = tmp_path / "out"
    kills = 0
    for seed in KILL_SEEDS:
        kills += run_and_kill(catalog, out, random.Random(seed))
        assert_every_artifact_whole(out)
    assert kills >= 3, "the runs finished before they could be killed"
    print(f"{kills} kill -9s mid-run")
    before = {d: (d / MANIFEST_NAME).stat().st_mtime_ns for d in finished_stage_dirs(out)}
    assert before, "nothing was finished before the kills: the test proves nothing"

    final = subprocess.run([*COMMAND, str(catalog), "-o", str(out), *FAST_SETTINGS, "--workers", "2"],
                           capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert_every_artifact_whole(out)
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["failed"] == 0 and len(report["products"]) == PRODUCTS
    for product in report["products"]:
        assert Path(product["outputs"]["mp4"]).is_file()
    for stage_dir, mtime in before.items():  # finished before the last kill: read, never redone
        assert (stage_dir / MANIFEST_NAME).stat().st_mtime_ns == mtime, stage_dir
    leftovers = [p for p in out.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]
    assert not leftovers, leftovers
