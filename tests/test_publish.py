"""`animate-products publish`: approved products only (done, and review products approved in approvals.csv),
failed and rejected ones left out and listed, bad approval rows reported, the new set swapped in at once (an
interrupted publish leaves the old set), and an unchanged product never rewritten."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline import publish
from pipeline.cli import main
from pipeline.errors import EXIT_CANT_PUBLISH, EXIT_OK
from pipeline.publish import CURRENT, MANIFEST, VERSIONS, publish_run
from pipeline.run_lock import LOCK_NAME
from pipeline.stages.fusion import FusionStage

FUSION = FusionStage().folder


def make_product(run: Path, product_id: str, content: bytes, formats: tuple[str, ...] = ("mp4",)) -> None:
    folder = run / product_id / FUSION
    folder.mkdir(parents=True, exist_ok=True)
    outputs = {fmt: f"animation.{fmt}" for fmt in formats}
    for name in outputs.values():
        (folder / name).write_bytes(content + name.encode())
    (folder / "poster.jpg").write_bytes(b"poster " + content)
    (folder / "fusion.json").write_text(json.dumps({"frames": 48, "fps": 24.0, "outputs": outputs}))


def make_run(run: Path, statuses: dict[str, str], contents: dict[str, bytes] | None = None) -> Path:
    products = []
    for product_id, status in statuses.items():
        entry = {"product_id": product_id, "status": status, "error": "", "error_stage": "", "checks": []}
        if status == "failed":
            entry.update(error="no object found", error_stage="localize")
        else:
            make_product(run, product_id, (contents or {}).get(product_id, product_id.encode()),
                         ("mp4", "webp") if product_id == "a" else ("mp4",))
        if status == "review":
            entry["checks"] = [{"name": "loop_seam", "value": 3.1, "threshold": 2.5, "passed": False}]
        products.append(entry)
    (run / "report.json").write_text(json.dumps({"products": products}))
    return run


def approvals(run: Path, *rows: str) -> None:
    (run / "approvals.csv").write_text("product_id,decision,note\n" + "".join(f"{row}\n" for row in rows))


def published(dest: Path) -> dict[str, dict]:
    return {e["product_id"]: e for e in json.loads((dest / MANIFEST).read_text())["products"]}


def test_only_approved_products_are_published_and_the_rest_listed(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run1", {"a": "done", "b": "review", "c": "review", "d": "failed", "e": "reused",
                                       "f": "done"})
    approvals(run, "b,approve,seam is fine", "f,reject,wrong colour", "c,maybe,", "zz,approve,", ",approve,",
              "d,approve,")
    result = publish_run(run, tmp_path / "pub")
    assert sorted(result.published) == ["a", "b", "e"]
    left = {e["product_id"]: e["reason"] for e in result.left_out}
    assert left["c"].startswith("held for review (loop_seam)") and left["f"] == "rejected: wrong colour"
    assert left["d"].startswith("failed at localize")
    assert len(result.approval_problems) == 4  # 'maybe', an unknown product, no id, approving a failure
    assert any("line 4" in p and "maybe" in p for p in result.approval_problems)

    dest = tmp_path / "pub"
    manifest = json.loads((dest / MANIFEST).read_text())
    assert {e["product_id"] for e in manifest["left_out"]} == {"c", "d", "f"}
    entries = published(dest)
    assert entries["b"]["status"] == "approved" and entries["b"]["note"] == "seam is fine"
    assert entries["a"]["duration_s"] == 2.0 and entries["a"]["run"] == "run1"
    assert set(entries["a"]["files"]) == {"mp4", "webp", "poster"}
    for product_id, entry in entries.items():
        for info in entry["files"].values():
            path = dest / product_id / info["name"]
            assert path.stat().st_size == info["size"]
            assert publish.sha256_file(path) == info["sha256"]
    assert not (dest / "c").exists() and not (dest / "d").exists()


def test_republishing_an_unchanged_run_rewrites_nothing(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run1", {"a": "done", "b": "done"})
    dest = tmp_path / "pub"
    first = publish_run(run, dest)

    def state() -> dict[Path, tuple[int, int]]:  # every published file (the lock records who holds it: not one)
        return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dest.rglob("*") if p.is_file()
                and p.name != LOCK_NAME}

    files = state()
    again = publish_run(run, dest)
    assert again.version is None and again.rewritten == [] and sorted(again.published) == ["a", "b"]
    assert state() == files and len(list((dest / VERSIONS).rglob("*.*"))) == 6  # a: 3 files, b: 2, manifest
    assert os.readlink(dest / CURRENT) == f"{VERSIONS}/{first.version}"


def test_a_new_run_rewrites_only_the_changed_product(tmp_path: Path) -> None:
    dest = tmp_path / "pub"
    publish_run(make_run(tmp_path / "run1", {"a": "done", "b": "done"}), dest)
    a_before = (dest / "a" / "animation.mp4").stat()
    result = publish_run(make_run(tmp_path / "run2", {"a": "reused", "b": "done"}, {"b": b"new b"}), dest)
    assert result.version is not None and result.rewritten == ["b"]
    a_after = (dest / "a" / "animation.mp4").stat()
    assert (a_after.st_ino, a_after.st_mtime_ns) == (a_before.st_ino, a_before.st_mtime_ns)
    entries = published(dest)
    assert entries["a"]["run"] == "run1" and entries["b"]["run"] == "run2"
    assert (dest / "b" / "animation.mp4").read_bytes() == b"new banimation.mp4"
    # a product that leaves the set disappears from DEST with it
    publish_run(make_run(tmp_path / "run3", {"a": "done", "b": "failed"}), dest)
    assert not (dest / "b").exists() and set(published(dest)) == {"a"}
    assert len(list((dest / VERSIONS).iterdir())) == publish.KEEP_VERSIONS


def test_an_approval_carries_over_to_identical_files_only(tmp_path: Path) -> None:
    dest = tmp_path / "pub"
    run1 = make_run(tmp_path / "run1", {"a": "review"})
    approvals(run1, "a,approve,ok")
    publish_run(run1, dest)
    # the next night reuses the product (same files, still `review`) with no approvals.csv: it stays published
    publish_run(make_run(tmp_path / "run2", {"a": "review"}), dest)
    assert published(dest)["a"]["approved_in"] == "run1"
    # changed files need a new approval
    result = publish_run(make_run(tmp_path / "run3", {"a": "review"}, {"a": b"changed"}), dest)
    assert result.published == [] and not (dest / "a").exists()


def test_an_interrupted_publish_leaves_the_old_set(tmp_path: Path, monkeypatch) -> None:
    dest = tmp_path / "pub"
    publish_run(make_run(tmp_path / "run1", {"a": "done", "b": "done"}), dest)
    old = (dest / MANIFEST).read_bytes()
    placed = []
    real_place = publish._place

    def failing_place(source: Path, target: Path, copy: bool) -> None:
        if placed:
            raise OSError(28, "No space left on device")
        placed.append(target)
        real_place(source, target, copy)

    monkeypatch.setattr(publish, "_place", failing_place)
    run2 = make_run(tmp_path / "run2", {"a": "done", "b": "done", "c": "done"}, {"a": b"a2", "b": b"b2"})
    assert main(["publish", str(run2), "--to", str(dest)]) == EXIT_CANT_PUBLISH
    assert (dest / MANIFEST).read_bytes() == old
    assert (dest / "a" / "animation.mp4").read_bytes() == b"aanimation.mp4"
    monkeypatch.setattr(publish, "_place", real_place)
    assert main(["publish", str(run2), "--to", str(dest)]) == EXIT_OK  # and the next publish completes
    assert set(published(dest)) == {"a", "b", "c"}
    assert not [p for p in (dest / VERSIONS).iterdir() if p.name.startswith(".")]  # the half-built set is gone


def test_publish_refuses_to_replace_a_folder_it_did_not_make(tmp_path: Path, capsys) -> None:
    dest = tmp_path / "pub"
    (dest / "a").mkdir(parents=True)
    run = make_run(tmp_path / "run1", {"a": "done"})
    assert main(["publish", str(run), "--to", str(dest)]) == EXIT_CANT_PUBLISH
    assert "is not a link this publish made" in capsys.readouterr().err
    assert not (dest / CURRENT).exists()


def test_publish_needs_a_finished_run(tmp_path: Path, capsys) -> None:
    (tmp_path / "run").mkdir()
    assert main(["publish", str(tmp_path / "run"), "--to", str(tmp_path / "pub")]) == 2
    assert "not a finished run folder" in capsys.readouterr().err


@pytest.mark.parametrize("header", ["id,decision", "product_id,verdict,note"])
def test_an_approvals_file_without_its_columns_is_reported(tmp_path: Path, header: str) -> None:
    run = make_run(tmp_path / "run1", {"a": "done", "b": "review"})
    (run / "approvals.csv").write_text(f"{header}\nb,approve\n")
    result = publish_run(run, tmp_path / "pub")
    assert result.published == ["a"] and "needs the columns" in result.approval_problems[0]
