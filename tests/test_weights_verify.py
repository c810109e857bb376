"""Model files checked against the sha256 pinned in a registry: `weights verify`, `weights pin` and the
`verify_files` a run calls at start. Tiny fake files in a temp weights folder; nothing is loaded as a model."""
from __future__ import annotations

import difflib
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from models import weights as W
from pipeline.cli import main
from pipeline.errors import EXIT_CONFIG, MissingFileError

CHECKPOINT = "fomm/mgif-cpk.pth.tar"  # fomm-mgif's checkpoint; its config is bundled
ONNX = "u2net.onnx"  # rembg-u2net: no sha256 line in the shipped registry


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    weights = tmp_path / "weights"
    (weights / "fomm").mkdir(parents=True)
    (weights / CHECKPOINT).write_bytes(b"fake checkpoint")
    return weights


def registry_with(path: Path, weight_id: str, role: str, value: str) -> Path:
    """A temp registry: the shipped one with one pin set."""
    data = yaml.safe_load(W.REGISTRY.read_text())
    data["models"][weight_id]["sha256"] = {role: value}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_shipped_registry_invents_no_digests() -> None:
    assert all(not d for spec in W.load_registry().values() for d in spec.sha256.values())


def test_unpinned_files_are_reported_no_checksum(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "verify", "--weights-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "NO CHECKSUM  fomm-mgif (checkpoint)" in out and "BUNDLED      fomm-mgif (config)" in out
    checks = W.verify_files(None, folder)
    assert [(c.weight_id, c.role, c.status) for c in checks] == [("fomm-mgif", "checkpoint", W.NO_CHECKSUM),
                                                                 ("fomm-mgif", "config", W.BUNDLED)]


def test_matching_pin_is_ok(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = registry_with(tmp_path / "pins.yaml", "fomm-mgif", "checkpoint", digest(b"fake checkpoint"))
    assert main(["weights", "verify", "fomm-mgif", "--weights-dir", str(folder), "--registry", str(registry)]) == 0
    assert "OK           fomm-mgif (checkpoint)" in capsys.readouterr().out
    (check, _) = W.verify_files(["fomm-mgif"], folder, registry)
    assert check.status == W.OK and check.actual == check.expected == digest(b"fake checkpoint")


def test_mismatch_exits_78_naming_the_file_and_both_digests(folder: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    wrong = "0" * 64
    registry = registry_with(tmp_path / "pins.yaml", "fomm-mgif", "checkpoint", wrong)
    assert main(["weights", "verify", "--weights-dir", str(folder), "--registry", str(registry)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.out
    actual = digest(b"fake checkpoint")
    for text in (str(folder / CHECKPOINT), f"expected {wrong}", f"actual {actual}"):
        assert text in captured.err
    with pytest.raises(W.WeightsMismatchError) as caught:
        W.verify_files(["fomm-mgif"], folder, registry)
    assert caught.value.exit_code == EXIT_CONFIG and caught.value.checks[0].path == folder / CHECKPOINT


def test_missing_named_file_exits_78(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "verify", "fomm-vox", "--weights-dir", str(folder)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert "MISSING      fomm-vox (checkpoint)" in captured.out
    assert "fomm/vox-cpk.pth.tar" in captured.err and "--motion-model classical" in captured.err
    with pytest.raises(MissingFileError):
        W.verify_files(["fomm-vox"], folder)
    # not named: absent files are no error
    assert all(c.weight_id == "fomm-mgif" for c in W.verify_files(None, folder))


def test_names_can_be_file_names_and_unknown_names_are_usage_errors(folder: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (check,) = W.check_files([CHECKPOINT], folder)
    assert (check.weight_id, check.role, check.named) == ("fomm-mgif", "checkpoint", True)
    assert main(["weights", "verify", "no-such-model", "--weights-dir", str(folder)]) == 2
    assert "known ids" in capsys.readouterr().err


def test_pin_then_verify_then_tamper(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / ONNX).write_bytes(b"fake onnx")
    assert main(["weights", "pin", "--weights-dir", str(folder)]) == 0
    pins = folder / "registry.yaml"
    assert "wrote" in capsys.readouterr().out
    specs = W.load_registry(pins)
    assert specs["fomm-mgif"].sha256 == {"checkpoint": digest(b"fake checkpoint")}
    assert specs["rembg-u2net"].sha256 == {"model": digest(b"fake onnx")}
    # the shipped registry's text and comments are kept: only the two pinned entries' sha256 lines differ
    diff = list(difflib.unified_diff(W.REGISTRY.read_text().splitlines(), pins.read_text().splitlines(), n=0))
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    assert removed == ['    sha256: {checkpoint: ""}  # not pinned: no published hash we could verify']
    assert len(added) == 2 and all("sha256:" in line and "weights pin" in line for line in added)
    assert not list(folder.glob(".*tmp*"))  # written through a temp file, renamed into place

    assert main(["weights", "verify", "--weights-dir", str(folder)]) == 0  # DIR/registry.yaml is found
    assert capsys.readouterr().out.count("OK  ") == 2
    assert main(["weights", "pin", "--weights-dir", str(folder)]) == 0
    assert "unchanged" in capsys.readouterr().out

    (folder / CHECKPOINT).write_bytes(b"another version")
    assert main(["weights", "verify", "--weights-dir", str(folder)]) == EXIT_CONFIG
    assert main(["weights", "pin", "--weights-dir", str(folder)]) == EXIT_CONFIG  # no silent re-pin
    assert W.load_registry(pins)["fomm-mgif"].sha256["checkpoint"] == digest(b"fake checkpoint")
    assert main(["weights", "pin", "fomm-mgif", "--force", "--weights-dir", str(folder)]) == 0
    assert W.load_registry(pins)["fomm-mgif"].sha256["checkpoint"] == digest(b"another version")
    assert W.load_registry(pins)["rembg-u2net"].sha256["model"] == digest(b"fake onnx")  # other pins kept
    assert main(["weights", "verify", "--weights-dir", str(folder)]) == 0


def test_pins_for_another_file_name_are_ignored(folder: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(W.REGISTRY.read_text())
    data["models"]["fomm-mgif"]["files"]["checkpoint"] = "elsewhere/other.pth.tar"
    data["models"]["fomm-mgif"]["sha256"] = {"checkpoint": "0" * 64}
    registry = tmp_path / "pins.yaml"
    registry.write_text(yaml.safe_dump(data))
    (check, _) = W.verify_files(["fomm-mgif"], folder, registry)
    assert check.status == W.NO_CHECKSUM


def test_pin_falls_back_to_plain_yaml_for_a_layout_it_cannot_edit(folder: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    block_style = tmp_path / "shipped.yaml"
    block_style.write_text("# comment\nmodels:\n  fomm-mgif:\n    family: fomm\n    stage: motion\n"
                           "    files:\n      checkpoint: fomm/mgif-cpk.pth.tar\n    sha256:\n      checkpoint: ''\n")
    monkeypatch.setattr(W, "REGISTRY", block_style)
    result = W.pin_files(None, folder)
    assert result.written and not result.comments_kept
    assert W.load_registry(result.registry)["fomm-mgif"].sha256 == {"checkpoint": digest(b"fake checkpoint")}


def test_require_verify_mismatch_is_exit_78(folder: Path) -> None:
    spec = W.load_registry()["fomm-mgif"]
    pinned = W.WeightSpec(**{**spec.__dict__, "sha256": {"checkpoint": "0" * 64}})
    with pytest.raises(W.WeightsMismatchError) as caught:
        W.require(pinned, folder, verify=True)
    assert caught.value.exit_code == EXIT_CONFIG and str(folder / CHECKPOINT) in str(caught.value)


def test_weights_dir_default_follows_the_environment(tmp_path: Path) -> None:
    code = "from models.weights import WEIGHTS_DIR, REGISTRY; print(WEIGHTS_DIR); print(REGISTRY)"
    env = {**os.environ, W.WEIGHTS_ENV: str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          cwd=Path(W.__file__).resolve().parent.parent)
    weights_dir, registry = done.stdout.split()
    assert Path(weights_dir) == tmp_path and Path(registry) == W.REGISTRY  # the shipped registry stays
