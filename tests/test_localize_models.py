"""Localize/inpaint backends with model files, run on tiny stand-in models the tests build (an ONNX graph for rembg
and YOLO, a scripted torch module for LaMa), and the classical matting cases: white on white, soft shadows,
several objects, a product touching the border."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from models.lama import load_lama, pad_amounts
from models.rembg_matting import load_rembg_session
from models.weights import load_registry
from models.yolo import COCO_NAMES, load_yolo
from pipeline.cli import main
from pipeline.config import PipelineConfig
from pipeline.errors import MissingFileError
from pipeline.inpainting import inpaint_plate
from pipeline.matting import estimate_matte
from pipeline.model_options import check_model_files
from pipeline.object_pick import choose_detection

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "catalog.csv"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _save_onnx(nodes: list, inputs: list, outputs: list, initializers: list, path: Path) -> None:
    graph = helper.make_graph(nodes, "stand_in", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _red_square_on_blue(height: int = 120, width: int = 160) -> tuple[np.ndarray, np.ndarray]:
    photo = np.zeros((height, width, 3), np.uint8)
    photo[:] = (40, 60, 200)
    truth = np.zeros((height, width), bool)
    truth[30:90, 50:110] = True
    photo[truth] = (220, 50, 40)
    return photo, truth


@pytest.fixture
def u2net_stand_in(tmp_path: Path) -> Path:
    """u2net's interface (1x3x320x320 in, 1x1x320x320 first output) computing red minus blue."""
    weight = numpy_helper.from_array(np.array([1.0, 0.0, -1.0], np.float32).reshape(1, 3, 1, 1), "w")
    _save_onnx([helper.make_node("Conv", ["input.1", "w"], ["out"])],
               [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 320, 320])],
               [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 320, 320])], [weight],
               tmp_path / "u2net.onnx")
    return tmp_path


def test_rembg_session_uses_the_weights_folder_and_never_downloads(u2net_stand_in: Path, monkeypatch) -> None:
    import pooch

    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: pytest.fail("rembg tried to download"))
    monkeypatch.setenv("U2NET_HOME", "/nonexistent-elsewhere")
    session = load_rembg_session(load_registry()["rembg-u2net"], u2net_stand_in)
    photo, truth = _red_square_on_blue()
    saliency = session.predict(photo)
    assert saliency.shape == truth.shape and _iou(saliency > 0.5, truth) > 0.9
    matte = estimate_matte(photo, saliency=saliency)
    assert matte.method == "saliency-model" and _iou(matte.alpha > 0.5, truth) > 0.9
    import os

    assert os.environ["U2NET_HOME"] == "/nonexistent-elsewhere"  # restored after session creation


def test_missing_rembg_file_is_exit_78_naming_file_and_fallback(tmp_path: Path, capsys) -> None:
    with pytest.raises(MissingFileError, match="u2net.onnx") as error:
        load_rembg_session(load_registry()["rembg-u2net"], tmp_path)
    assert "--matting auto" in str(error.value)
    code = main([str(EXAMPLES), "-o", str(tmp_path / "out"), "--matting", "rembg:u2net", "--weights-dir", str(tmp_path)])
    assert code == 78 and "--matting auto" in capsys.readouterr().err


def test_unknown_model_options_are_usage_errors(tmp_path: Path) -> None:
    assert main([str(EXAMPLES), "-o", str(tmp_path), "--matting", "rembg:bria-rmbg"]) == 2  # non-commercial: absent
    assert main([str(EXAMPLES), "-o", str(tmp_path), "--detector", "ssd"]) == 2
    config = PipelineConfig(output=tmp_path, detector="yolo:mine.onnx", inpaint="lama", weights_dir=tmp_path)
    with pytest.raises(MissingFileError, match="big-lama.pt|mine.onnx"):
        check_model_files(config)


class _LamaStandIn(torch.nn.Module):
    """LaMa's interface; fills the hole with the mean colour outside it and insists on padded sizes."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if image.shape[2] % 8 != 0 or image.shape[3] % 8 != 0:
            raise RuntimeError("not padded to a multiple of 8")
        known = 1.0 - mask
        mean = (image * known).sum(dim=(2, 3), keepdim=True) / known.sum()
        return image * known + mean * mask


def test_lama_pads_to_eight_and_changes_only_the_hole(tmp_path: Path) -> None:
    path = tmp_path / "big-lama.pt"
    torch.jit.save(torch.jit.script(_LamaStandIn()), str(path))
    assert pad_amounts(50, 70) == (6, 2) and pad_amounts(48, 64) == (0, 0)
    photo = np.full((50, 70, 3), (10, 120, 230), np.uint8)
    hole = np.zeros((50, 70), bool)
    hole[10:30, 20:40] = True
    photo[hole] = (255, 0, 0)
    filled = load_lama(path)(photo, hole)
    assert filled.shape == photo.shape and np.array_equal(filled[~hole], photo[~hole])
    assert np.abs(filled[hole].astype(int) - (10, 120, 230)).max() <= 12  # the mean colour, not the red object


def _yolo_stand_in(path: Path, rows: list[tuple[float, float, float, float, int, float]]) -> None:
    """YOLOv8's interface (1x3x640x640 in, 1x84x8400 out) returning fixed boxes (cx, cy, w, h, class, score)."""
    table = np.zeros((1, 84, 8400), np.float32)
    for anchor, (cx, cy, w, h, class_id, score) in enumerate(rows):
        table[0, :4, anchor] = (cx, cy, w, h)
        table[0, 4 + class_id, anchor] = score
    nodes = [helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
             helper.make_node("Mul", ["total", "zero"], ["nothing"]),
             helper.make_node("Add", ["table", "nothing"], ["output0"])]
    _save_onnx(nodes, [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
               [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, 8400])],
               [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.zeros((), np.float32), "zero")],
               path)


def test_yolo_decodes_undoes_the_letterbox_and_suppresses_duplicates(tmp_path: Path) -> None:
    horse, cup = COCO_NAMES.index("horse"), COCO_NAMES.index("cup")
    # an 800x600 photo letterboxes at scale 0.8 with 80 grey rows on top
    _yolo_stand_in(tmp_path / "yolov8n.onnx", [(320, 320, 320, 240, horse, 0.9), (324, 322, 316, 236, horse, 0.6),
                                               (560, 520, 80, 80, cup, 0.7), (100, 100, 10, 10, cup, 0.1)])
    detections = load_yolo(tmp_path / "yolov8n.onnx")(np.zeros((600, 800, 3), np.uint8))
    assert [d.class_name for d in detections] == ["horse", "cup"]
    assert detections[0].box == (200, 150, 600, 450)
    assert choose_detection(detections, "Horse").class_name == "horse"
    assert choose_detection(detections, "mug").class_name == "cup"
    assert choose_detection(detections, "dinosaur") is None


def _plain_photo(objects: list[tuple[tuple[int, int], tuple[int, int], tuple[int, int, int]]],
                 shadow_under: int | None = None, size: tuple[int, int] = (240, 320)) -> tuple[np.ndarray, list]:
    """Ellipses on a light grey sweep with sensor noise; optional soft shadow under the first one."""
    height, width = size
    ramp = np.linspace(235, 215, height, dtype=np.float32)[:, None, None]
    photo = np.broadcast_to(ramp, (height, width, 3)).copy()
    masks = []
    if shadow_under is not None:
        shadow = np.zeros((height, width), np.float32)
        (cx, cy), (ax, ay), _ = objects[0]
        cv2.ellipse(shadow, (cx, cy + ay), (int(ax * 1.3), 8), 0, 0, 360, 1.0, -1)
        photo *= 1 - 0.35 * cv2.GaussianBlur(shadow, (0, 0), 6)[..., None]
    for (cx, cy), (ax, ay), colour in objects:
        mask = np.zeros((height, width), np.uint8)
        cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 255, -1)
        grain = np.random.default_rng(len(masks)).normal(0, 4, (height, width, 1))
        photo = np.where(mask[..., None] > 0, np.array(colour, np.float32) + grain, photo)
        masks.append(mask > 0)
    photo += np.random.default_rng(9).normal(0, 1.0, photo.shape)
    return np.clip(photo, 0, 255).astype(np.uint8), masks


def test_white_product_on_white_with_a_soft_shadow() -> None:
    photo, (truth,) = _plain_photo([((160, 110), (60, 70), (205, 205, 203))], shadow_under=0)
    result = estimate_matte(photo)
    assert result.backdrop == "plain" and _iou(result.alpha > 0.5, truth) > 0.95
    assert result.shadow.any() and not (result.shadow & truth).any()  # the shadow is found and is not the product


def test_several_objects_pick_the_central_one_or_the_detected_one() -> None:
    photo, (big, small) = _plain_photo([((150, 120), (60, 70), (200, 80, 40)), ((285, 40), (25, 25), (40, 90, 200))])
    result = estimate_matte(photo)
    assert result.picked == "largest-near-centre" and _iou(result.alpha > 0.5, big) > 0.95
    from pipeline.object_pick import Detection

    target = Detection((255, 10, 315, 70), "cup", 0.8)
    chosen = estimate_matte(photo, target=target)
    assert chosen.picked == "detector" and _iou(chosen.alpha > 0.5, small) > 0.9
    assert "cup" in " ".join(chosen.notes)


def test_product_touching_the_border_keeps_the_plain_backdrop_model() -> None:
    photo, (truth,) = _plain_photo([((160, 200), (90, 80), (190, 90, 60))])  # cut by the bottom edge
    result = estimate_matte(photo)
    assert result.backdrop == "plain" and _iou(result.alpha > 0.5, truth) > 0.95


def test_opaque_alpha_channel_is_ignored_and_real_alpha_is_used() -> None:
    photo, (truth,) = _plain_photo([((160, 120), (60, 70), (200, 80, 40))])
    assert estimate_matte(photo, np.full(truth.shape, 255, np.uint8)).method == "plain-backdrop"
    assert estimate_matte(photo, truth.astype(np.uint8) * 255).method == "alpha-channel"


def test_exemplar_fill_beats_telea_and_keeps_texture_on_stripes() -> None:
    height, width = 120, 160
    xs = np.arange(width)[None, :, None]
    backdrop = (128 + 60 * np.sin(xs / 2.5) * np.ones((height, 1, 1))).repeat(3, axis=2)
    backdrop = np.clip(backdrop + np.random.default_rng(0).normal(0, 3, backdrop.shape), 0, 255).astype(np.uint8)
    hole = np.zeros((height, width), bool)
    hole[40:80, 60:100] = True
    photo = backdrop.copy()
    photo[hole] = (250, 30, 30)
    errors = {}
    for method in ("exemplar", "telea"):
        plate = inpaint_plate(photo, hole, method)
        assert np.array_equal(plate.plate_u8[~hole], photo[~hole])
        errors[method] = np.mean((plate.plate_u8[hole].astype(float) - backdrop[hole]) ** 2)
        if method == "exemplar":  # deep in the hole the texture goes in at half contrast, TELEA smears it
            assert plate.plate_u8[hole].astype(float).std() > 0.4 * backdrop[hole].astype(float).std()
    assert errors["exemplar"] < errors["telea"]
