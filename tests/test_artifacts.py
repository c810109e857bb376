"""Atomic writes, stage manifests and the settings layer (config file, flags, validation)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.atomic import atomic_dir, atomic_path, remove_stale_temps
from pipeline.cli import main
from pipeline.config import PipelineConfig, apply_overrides, load_config_file
from pipeline.errors import UsageError
from pipeline.manifest import manifest_matches


def test_atomic_path_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_atomic_dir_replaces_a_stage_folder_whole_or_not_at_all(tmp_path: Path) -> None:
    stage = tmp_path / "03_motion"
    with atomic_dir(stage) as tmp:
        (tmp / "frames").mkdir()
        (tmp / "frames" / "0000.png").write_bytes(b"x")
    assert (stage / "frames" / "0000.png").exists()
    with pytest.raises(ValueError):
        with atomic_dir(stage) as tmp:
            (tmp / "partial").write_text("y")
            raise ValueError
    assert sorted(p.name for p in stage.iterdir()) == ["frames"]
    assert [p.name for p in tmp_path.iterdir()] == ["03_motion"]


def test_stale_temps_from_a_killed_run_are_cleared(tmp_path: Path) -> None:
    (tmp_path / ".03_motion.tmp-123-abcd").mkdir()
    (tmp_path / ".report.tmp-123-abcd.json").write_text("{")
    (tmp_path / "01_localize").mkdir()
    remove_stale_temps(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["01_localize"]


def test_manifest_matches_only_same_key_and_intact_outputs(tmp_path: Path) -> None:
    (tmp_path / "plate.png").write_bytes(b"12345")
    key = {"stage": "inpaint", "code": "abc", "params": {"inpaint": "auto"}, "inputs": {"matte.png": "h1"}}
    manifest = {**key, "outputs": {"plate.png": 5}}
    assert manifest_matches(manifest, tmp_path, key)
    assert not manifest_matches(manifest, tmp_path, {**key, "inputs": {"matte.png": "h2"}})
    assert not manifest_matches(manifest, tmp_path, {**key, "params": {"inpaint": "ns"}})
    (tmp_path / "plate.png").write_bytes(b"123")  # truncated by something outside the pipeline
    assert not manifest_matches(manifest, tmp_path, key)
    assert not manifest_matches(None, tmp_path, key)


def test_config_file_then_flags_override(tmp_path: Path) -> None:
    config_file = tmp_path / "job.yaml"
    config_file.write_text("workers: 2\nformat: mp4,gif\nsize: 256\nmotion: sway\n")
    config = apply_overrides(PipelineConfig(), load_config_file(config_file))
    config = apply_overrides(config, {"size": 128, "workers": None}).validate()
    assert (config.workers, config.formats, config.size, config.motion) == (2, ("mp4", "gif"), 128, "sway")


@pytest.mark.parametrize("overrides", [{"formats": "mp4,avi"}, {"workers": 0}, {"size": 8}, {"device": "tpu"}])
def test_invalid_settings_are_usage_errors(overrides: dict) -> None:
    with pytest.raises(UsageError):
        apply_overrides(PipelineConfig(), overrides).validate()


def test_unknown_config_key_is_rejected(tmp_path: Path) -> None:
    config_file = tmp_path / "job.yaml"
    config_file.write_text("wrokers: 2\n")
    catalog = tmp_path / "c.csv"
    catalog.write_text("product_id,image,category\n")
    assert main([str(catalog), "--config", str(config_file)]) == 2


def test_motions_list_shows_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["motions", "list"]) == 0
    shown = capsys.readouterr().out
    for name in ("horse_gallop", "doll_wave", "dino_walk", "sway", "bounce"):
        assert name in shown
