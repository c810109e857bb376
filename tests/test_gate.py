"""The quality gate: its measures on tiny known-good and known-bad frames, the checks against thresholds (missing
facts are "not measured", never a crash), gate.json caching, and the calibration cases at a small size: the
ground-truth figures pass and each broken output is held by the check meant for it."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.config import PipelineConfig
from pipeline.gate import measures, product
from pipeline.gate.checks import evaluate
from pipeline.gate.product import GATE_FILE, StageFolders, measure, run_gate
from pipeline.gate.rigidity import unexplained_change

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import gate_calibration as calibration  # noqa: E402

SIDE = 64


def textured_box(angle: float = 0.0, shift: tuple[float, float] = (0.0, 0.0), bend: float = 0.0) -> np.ndarray:
    """A float RGBA 64 px crop: a textured upright bar, turned about its base, moved, or bent at its middle."""
    rng = np.random.default_rng(0)
    rgba = np.zeros((SIDE, SIDE, 4), np.float32)
    rgba[12:56, 26:38, :3] = rng.uniform(0.2, 0.9, (44, 12, 3))
    rgba[12:56, 26:38, 3] = 1.0
    rgba[..., :3] = cv2.GaussianBlur(rgba[..., :3], (0, 0), 1.0)
    if bend:  # the upper half turns about the bar's middle
        top = cv2.warpAffine(rgba, cv2.getRotationMatrix2D((32, 34), bend, 1.0), (SIDE, SIDE))
        rgba = np.where(np.arange(SIDE)[:, None, None] < 34, top, rgba)
    matrix = cv2.getRotationMatrix2D((32, 56), angle, 1.0)
    matrix[:, 2] += shift
    return cv2.warpAffine(rgba, matrix, (SIDE, SIDE))


def test_rigidity_explains_a_large_turn_and_not_a_bend() -> None:
    first = textured_box()
    assert unexplained_change(first, textured_box(angle=25.0)) < 0.05  # past where ECC from the identity gives up
    rigid = measures.rigid_unexplained([textured_box(angle=a, shift=(a / 5, 0)) for a in (0, 6, 12, 18, 12, 6)])
    bent = measures.rigid_unexplained([textured_box(bend=b) for b in (0, 8, 16, 24, 16, 8)])
    assert rigid.value < 0.1 < bent.value
    assert bent.frame in (2, 3, 4)  # the most bent frames, not frame 0


def test_background_flicker_is_zero_when_only_the_crop_changes() -> None:
    photo = np.full((40, 60, 3), 128, np.uint8)
    moved = photo.copy()
    moved[10:30, 20:40] = 0  # inside the crop box (20, 10, 20)
    assert measures.background_flicker([photo, moved, photo], (20, 10, 20)) == (0.0, None)
    wobble = photo.copy()
    wobble[0, 0] += 5
    assert measures.background_flicker(iter([photo, moved, wobble]), (20, 10, 20)) == (5.0, 2)


def test_alpha_coverage_catches_a_vanishing_or_doubled_part() -> None:
    source = np.zeros((32, 32), np.float32)
    source[8:24, 8:24] = 1.0
    half = source.copy()
    half[8:16] = 0.0
    assert measures.alpha_coverage([source, source], source).value == pytest.approx(1.0)
    assert measures.alpha_coverage([source, half, source], source) == (pytest.approx(2.0), 1)
    doubled = cv2.resize(source, (64, 64))  # another size: mean alpha, not the sum
    assert measures.alpha_coverage([doubled], source).value == pytest.approx(1.0, abs=0.01)


def test_detached_pieces_counts_parts_breaking_off() -> None:
    """A leg that floats free of the body is one piece more than the photo has; a speck, the photo's own second
    piece (a pair of shoes) and a body-sized piece (a statue lifting off its plinth) are not."""
    source = np.zeros((64, 64), np.uint8)
    source[10:40, 10:50] = 255  # body
    source[40:56, 14:20] = 255  # a leg joined to it
    source[50:60, 54:62] = 255  # a separate small piece the photo shows too
    broken = source.copy()
    broken[40:56, 14:20] = 0
    broken[44:60, 14:20] = 255
    broken[40:44, 14:20] = 0  # the leg slid off
    speck = source.copy()
    speck[2:4, 2:4] = 255
    assert measures.detached_pieces([source, speck], source) == (0.0, None)
    assert measures.detached_pieces([source, broken, source], source) == (1.0, 1)
    statue = np.zeros((64, 64), np.uint8)
    statue[10:40, 10:50] = 255  # the figure, standing on
    statue[40:52, 4:60] = 255  # its plinth
    lifted = statue.copy()
    lifted[36:40] = 0  # a hop: figure and plinth apart, each a body-sized piece
    assert measures.detached_pieces([lifted], statue).value == 0.0


def test_loop_seam_tells_a_loop_from_a_pop() -> None:
    def frames(levels: list[int]) -> list[np.ndarray]:
        return [np.full((8, 8), 100 + 10 * level, np.uint8) for level in levels]

    assert measures.loop_seam(frames([0, 1, 2, 3, 4, 5, 4, 3, 2, 1])).value == pytest.approx(1.0)
    assert measures.loop_seam(frames([0, 1, 2, 3, 4, 5, 6, 7])) == (pytest.approx(7.0), 7)  # jumps back 7 steps
    still = [np.full((8, 8), 100, np.uint8)] * 6
    assert measures.loop_seam(still).value == 0.0


def test_checks_compare_with_the_configured_thresholds() -> None:
    found = {"loop_seam": {"value": 3.0, "frame": 11, "note": ""},
             "alpha_coverage": {"value": 1.05, "frame": 2, "note": ""}}
    checks = {c.name: c for c in evaluate(found, PipelineConfig())}
    assert checks["loop_seam"].failed and checks["loop_seam"].describe() == "loop_seam=3>2.5 (frame 11)"
    assert checks["alpha_coverage"].passed is True
    assert checks["motion_stretch"].passed is None  # absent: not measured
    relaxed = {c.name: c for c in evaluate(found, replace(PipelineConfig(), gate_loop_seam=4.0))}
    assert relaxed["loop_seam"].passed is True


@pytest.mark.parametrize("band, passed", [(None, False), (0, True), (120, False)])
def test_a_low_quality_plate_fails_only_where_the_motion_uncovers_it(band: int | None, passed: bool) -> None:
    found = {"plate_quality": {"value": "low", "frame": None, "note": "", "visible_band_px": band}}
    check = {c.name: c for c in evaluate(found, PipelineConfig())}["plate_quality"]
    assert check.passed is passed


def _product(tmp_path: Path, spec_name: str = "horse gallop") -> StageFolders:
    spec = next(s for s in calibration.SPECS if s.name == spec_name)
    return calibration.write_product(calibration.build(spec, 64, 8), tmp_path / "p1")


def test_facts_missing_from_older_stage_outputs_are_not_measured(tmp_path: Path) -> None:
    folders = _product(tmp_path)
    (folders.motion / "motion.json").write_text(json.dumps({"model": "classical"}))  # no kind, no deformation
    (folders.inpaint / "inpaint.json").write_text(json.dumps({"quality": "good"}))  # no visible band facts
    checks = {c.name: c for c in evaluate(measure(folders), PipelineConfig())}
    for name in ("motion_stretch", "motion_flipped_triangles", "rigid_unexplained", "plate_band_error"):
        assert checks[name].passed is None and checks[name].note
    assert checks["plate_quality"].passed and checks["loop_seam"].passed and checks["alpha_coverage"].passed
    for path in folders.fusion.glob("frames/*.png"):  # no fusion frames at all: still no crash
        path.unlink()
    assert measure(folders)["loop_seam"]["value"] is None


def test_gate_json_is_reused_while_the_stage_manifests_match(tmp_path: Path, monkeypatch) -> None:
    folders = _product(tmp_path)
    for folder in folders.all():
        (folder / "manifest.json").write_text(json.dumps({"stage": folder.name}))
    config = replace(PipelineConfig(), gate_loop_seam=0.0)
    first = run_gate(tmp_path / "p1", config)
    record = json.loads((tmp_path / "p1" / GATE_FILE).read_text())
    assert record["failed"] == ["loop_seam"] and [c.to_dict() for c in first] == record["checks"]
    written = (tmp_path / "p1" / GATE_FILE).stat().st_mtime_ns

    def no_measuring(_: StageFolders) -> dict:
        raise AssertionError("measured again")

    monkeypatch.setattr(product, "measure", no_measuring)
    assert run_gate(tmp_path / "p1", config) == first
    assert (tmp_path / "p1" / GATE_FILE).stat().st_mtime_ns == written  # unchanged: not rewritten
    relaxed = run_gate(tmp_path / "p1", PipelineConfig())  # new thresholds: re-checked, not re-measured
    assert not any(c.failed for c in relaxed)
    # an earlier run's folder of the same product with the same key is used as well
    other = tmp_path / "run2" / "p1"
    for folder in folders.all():
        target = other / folder.name
        target.mkdir(parents=True)
        (target / "manifest.json").write_text((folder / "manifest.json").read_text())
    assert run_gate(other, replace(PipelineConfig(), reuse_from=(tmp_path,))) == relaxed
    (folders.fusion / "manifest.json").write_text("{}")  # fusion re-ran: measure again
    with pytest.raises(AssertionError, match="measured again"):
        run_gate(tmp_path / "p1", config)


@pytest.mark.parametrize("spec", calibration.SPECS, ids=lambda s: s.name.replace(" ", "_"))
def test_calibration_case(spec: calibration.Spec, tmp_path: Path) -> None:
    """Small frames (96 px, 16 frames): good outputs pass, broken ones are held by the check meant for them."""
    checks, _ = calibration.gate_case(spec, 96, 16, PipelineConfig(), tmp_path)
    failed = [c.name for c in checks if c.failed]
    if spec.expect:
        assert spec.expect in failed
    else:
        assert failed == []
