"""`run-job`: dated run folders, `latest`, reuse of unchanged results by content key, resumption of a killed
run, pruning, and the lock that keeps two runs off one output root."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import product_photo, write_catalog
from pipeline.cli import main
from pipeline.errors import EXIT_CONFIG, EXIT_LOCKED, EXIT_OK, EXIT_USAGE
from pipeline.jobs import LATEST, choose_run_folder, load_job, run_folders
from pipeline.run_lock import output_lock

FAST = {"video": {"size": 64, "frames": 4}, "settings": {"max_side": 200}}


def write_job(folder: Path, **fields) -> Path:
    spec = {"catalog": "catalog/catalog.csv", "output_root": "nightly", "keep_runs": 5, **FAST, **fields}
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def products(run_dir: Path) -> dict[str, dict]:
    return {p["product_id"]: p for p in json.loads((run_dir / "report.json").read_text())["products"]}


@pytest.mark.slow
def test_nightly_runs_reuse_unchanged_products_and_recompute_only_what_changed(tmp_path: Path) -> None:
    write_catalog(tmp_path / "catalog", 3)
    job = write_job(tmp_path)
    root = tmp_path / "nightly"

    assert main(["run-job", str(job)]) == EXIT_OK
    first = run_folders(root)[-1]
    assert (root / LATEST).resolve() == first.resolve()
    assert {p["status"] for p in products(first).values()} == {"done"}
    assert (first / "report.html").is_file()

    assert main(["run-job", str(job)]) == EXIT_OK
    second = run_folders(root)[-1]
    assert second != first and (root / LATEST).resolve() == second.resolve()
    for product in products(second).values():
        assert product["status"] == "reused"
        assert set(product["stages_reused"]) == {"localize", "inpaint", "motion", "superres", "fusion"}
    old, new = first / "p000/05_fusion/animation.mp4", second / "p000/05_fusion/animation.mp4"
    assert os.stat(old).st_ino == os.stat(new).st_ino  # linked, not copied or recomputed

    # a new photo for one product and a fusion-only setting: that product recomputes everything, the others
    # only the fusion stage
    (tmp_path / "catalog" / "p001.png").write_bytes(product_photo((200, 40, 40), 99))
    job = write_job(tmp_path, video={**FAST["video"], "formats": ["mp4", "webp"]})
    assert main(["run-job", str(job)]) == EXIT_OK
    third = products(run_folders(root)[-1])
    assert third["p001"]["status"] == "done" and third["p001"]["stages_reused"] == {}
    for pid in ("p000", "p002"):
        assert third[pid]["status"] == "done"
        assert set(third[pid]["stages_reused"]) == {"localize", "inpaint", "motion", "superres"}
        assert "webp" in third[pid]["outputs"]

    # deleting the run the results were linked from leaves the newer runs whole
    job = write_job(tmp_path, keep_runs=1)
    assert main(["run-job", str(job)]) == EXIT_OK
    remaining = run_folders(root)
    assert len(remaining) == 1 and (root / LATEST).resolve() == remaining[0].resolve()
    assert (remaining[0] / "p000/05_fusion/animation.mp4").stat().st_size > 0


def test_a_killed_run_is_resumed_by_the_next_one(tmp_path: Path) -> None:
    root = tmp_path / "nightly"
    finished = root / "runs" / "2026-11-20T020000Z"
    finished.mkdir(parents=True)
    (finished / "report.json").write_text("{}")
    folder, resumed = choose_run_folder(root)
    assert not resumed and folder.parent == root / "runs" and folder.name > finished.name
    killed = root / "runs" / "2026-11-21T020000Z"
    killed.mkdir()
    assert choose_run_folder(root) == (killed, True)


def test_a_second_run_on_the_same_root_exits_75_and_says_who_holds_it(tmp_path: Path, capsys) -> None:
    write_catalog(tmp_path / "catalog", 1)
    job = write_job(tmp_path)
    with output_lock(tmp_path / "nightly"):
        assert main(["run-job", str(job)]) == EXIT_LOCKED
    message = capsys.readouterr().err
    assert f"pid {os.getpid()}" in message and "locked" in message
    assert not (tmp_path / "nightly" / "runs").exists()


def test_the_main_command_locks_its_output_folder_too(tmp_path: Path, capsys) -> None:
    catalog = write_catalog(tmp_path / "catalog", 1)
    with output_lock(tmp_path / "out"):
        assert main([str(catalog), "-o", str(tmp_path / "out")]) == EXIT_LOCKED
    assert "two runs must not write the same output" in capsys.readouterr().err


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    import multiprocessing
    import signal
    import time

    ready = multiprocessing.get_context("fork").Event()

    def hold() -> None:
        with output_lock(tmp_path):
            ready.set()
            time.sleep(60)

    holder = multiprocessing.get_context("fork").Process(target=hold)
    holder.start()
    assert ready.wait(10)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    with output_lock(tmp_path):
        pass


def test_the_job_file_is_checked(tmp_path: Path, capsys) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("catalog: c.csv\noutput_root: out\nworkerz: 2\n")
    assert main(["run-job", str(job)]) == EXIT_USAGE
    assert "unknown key(s) workerz" in capsys.readouterr().err
    job.write_text("catalog: c.csv\noutput_root: out\nmodels: {matting: grabcut, superres: x}\n")
    assert main(["run-job", str(job)]) == EXIT_USAGE
    job.write_text("catalog: c.csv\noutput_root: out\ncategory_motions: {mug: moonwalk}\n")
    assert main(["run-job", str(job)]) == EXIT_USAGE
    assert "moonwalk" in capsys.readouterr().err


def test_the_shipped_nightly_job_loads() -> None:
    job = load_job(Path(__file__).parents[1] / "jobs" / "nightly.yaml")
    assert job.catalog.endswith("examples/catalog.csv") and Path(job.catalog).is_file()
    assert job.settings["engine"] == "local" and job.settings["category_motions"]["horse"] == "horse_gallop"


def test_a_catalog_url_is_fetched_into_the_run_folder(tmp_path: Path, loopback_http) -> None:
    photo = loopback_http.add("/p.png", product_photo((40, 90, 200), 1))
    catalog = loopback_http.add("/catalog.csv", f"product_id,image,category\nweb1,{photo},mug\n".encode(),
                                content_type="text/csv")
    job = write_job(tmp_path, catalog=catalog)
    assert main(["run-job", str(job)]) == EXIT_OK
    run_dir = run_folders(tmp_path / "nightly")[-1]
    assert (run_dir / "catalog.csv").is_file() and products(run_dir)["web1"]["status"] == "done"


def test_a_model_file_that_differs_from_its_pin_stops_the_job_with_78(tmp_path: Path, capsys) -> None:
    write_catalog(tmp_path / "catalog", 1)
    weights = tmp_path / "weights"
    (weights / "fomm").mkdir(parents=True)
    checkpoint = weights / "fomm" / "mgif-cpk.pth.tar"
    checkpoint.write_bytes(b"the file as delivered")
    assert main(["weights", "pin", "--weights-dir", str(weights)]) == EXIT_OK
    checkpoint.write_bytes(b"a file changed since it was pinned")
    job = write_job(tmp_path, weights_dir="weights")
    assert main(["run-job", str(job)]) == EXIT_CONFIG
    assert "mgif-cpk.pth.tar" in capsys.readouterr().err
    assert not list((tmp_path / "nightly").glob("runs/*/p000"))
