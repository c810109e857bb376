"""--engine ray on a real local Ray: the same results as the local engine, and a lost worker costs no product."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import FAST_SETTINGS, write_catalog
from pipeline.cli import main
from pipeline.errors import EXIT_SOME_FAILED

pytestmark = pytest.mark.slow
TIMING_FILES = {"manifest.json", "superres.json"}  # hold seconds, which differ between any two runs


def artifacts(out: Path) -> dict[str, Path]:
    return {str(p.relative_to(out)): p for p in sorted(out.glob("*/0*_*/**/*")) if p.is_file()}


def statuses(out: Path) -> dict[str, tuple[str, str]]:
    report = json.loads((out / "report.json").read_text())
    return {p["product_id"] or p["line"]: (p["status"], p["error"]) for p in report["products"]}


def with_bad_row(catalog: Path) -> Path:
    with open(catalog, "a") as handle:
        handle.write("ghost,missing.png,mug\n")
    return catalog


def test_ray_engine_gives_the_local_engines_results(tmp_path: Path, ray_session) -> None:
    catalog = with_bad_row(write_catalog(tmp_path / "catalog", 3))
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert main([str(catalog), "-o", str(local), *FAST_SETTINGS]) == EXIT_SOME_FAILED
    assert main([str(catalog), "-o", str(on_ray), *FAST_SETTINGS, "--engine", "ray"]) == EXIT_SOME_FAILED
    assert statuses(on_ray) == statuses(local)
    assert statuses(on_ray)["ghost"][0] == "failed"
    ours, theirs = artifacts(on_ray), artifacts(local)
    assert ours.keys() == theirs.keys() and len(ours) > 3 * 20
    for name, path in ours.items():
        if path.name not in TIMING_FILES:
            assert path.read_bytes() == theirs[name].read_bytes(), name


def _kill_an_actor_once(stop: threading.Event, killed: list[int]) -> None:
    while not stop.is_set():
        found = subprocess.run(["pgrep", "-f", "ray::AcceleratedStages.run"], capture_output=True, text=True)
        pids = [int(p) for p in found.stdout.split()]
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
            return
        time.sleep(0.05)


def test_a_killed_ray_worker_is_restarted_and_no_product_is_lost(tmp_path: Path, ray_session) -> None:
    catalog = write_catalog(tmp_path / "catalog", 4)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_an_actor_once, args=(stop, killed))
    killer.start()
    try:
        code = main([str(catalog), "-o", str(tmp_path / "out"), *FAST_SETTINGS, "--engine", "ray"])
    finally:
        stop.set()
        killer.join()
    assert killed, "the actor was never seen running"
    assert code == 0
    assert {status for status, _ in statuses(tmp_path / "out").values()} == {"done"}
