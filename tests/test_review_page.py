"""report.html: one card per product, failures and held products first, everything escaped, relative links, a
small thumbnail per card and the animation only while the card is on screen; in headless Chromium the videos in
view play, those out of view are not loaded (on a 2,000-product run too), the status filter works, and the
approve/reject control on `review` cards gives the approvals.csv lines."""
from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from PIL import Image

from pipeline.imageio import write_jpeg, write_png
from pipeline.report import DONE, FAILED, SKIPPED, ProductReport, RunReport
from pipeline.review_page import REVIEW, write_review_page
from pipeline.stages.fusion import THUMB_NAME, write_poster_thumb
from pipeline.video import encode_mp4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from review_page_bench import CHROMIUM, CHROMIUM_ARGS, status_of, synthetic_run  # noqa: E402

EVIL_ID = '<script>alert("x")</script>'
EVIL_ERROR = 'image is not a photo: <img src=x onerror=alert(1)> & "quotes"'
TIMINGS = {"localize": 0.4, "inpaint": 0.2, "motion": 1.1, "superres": 0.05, "fusion": 0.3}
# the quality gate's checks (pipeline/gate/checks.py Check: name, value, threshold, passed, frame)
HELD_CHECKS = [SimpleNamespace(name="loop_seam", value=0.3125, threshold=0.12, passed=False, frame=23),
               SimpleNamespace(name="<b>flicker</b>", value=2.5, threshold=1.0, passed=False, frame=None),
               SimpleNamespace(name="max_stretch", value=1.1, threshold=1.6, passed=True, frame=4),
               SimpleNamespace(name="plate_band_error", value=None, threshold=12.0, passed=None, frame=None)]


class PageParser(HTMLParser):
    """Cards (article attributes), the elements inside each card, and every URL in the page."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, str | None]] = []
        self.card_tags: list[list[tuple[str, dict[str, str | None]]]] = []
        self.urls: list[str] = []
        self.script_tags = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.script_tags += 1
        if tag == "article":
            self.cards.append(attributes)
            self.card_tags.append([])
        elif self.card_tags:
            self.card_tags[-1].append((tag, attributes))
        for name in ("src", "href", "poster", "data-video"):
            if attributes.get(name):
                self.urls.append(attributes[name])


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


def tiny_animation(folder: Path, shade: int, thumbnail: bool = True) -> dict[str, Path]:
    """A real 2 s H.264 loop (the pipeline's own encoder), its poster, its thumbnail unless a run from before
    thumbnails is imitated, and the product's source photo."""
    frames = []
    for index in range(24):
        frame = np.full((64, 64, 3), shade, np.uint8)
        frame[20:44, (index * 2) % 48:(index * 2) % 48 + 16] = (220, 60, 40)
        frames.append(frame)
    fusion = folder / "05_fusion"
    fusion.mkdir(parents=True)
    write_png(folder / "01_localize" / "source.png", frames[0])
    encode_mp4(frames, fusion / "animation.mp4", fps=12)
    write_jpeg(fusion / "poster.jpg", frames[0])
    files = {"mp4": fusion / "animation.mp4", "poster": fusion / "poster.jpg"}
    if thumbnail:
        files["poster_thumb"] = write_poster_thumb(fusion / THUMB_NAME, frames[0])
    return files


def facts_for(matting: str) -> dict:
    return {"localize": {"method": matting, "picked": "given"}, "inpaint": {"method": "surface", "quality": "good"},
            "motion": {"model": "classical", "frames": 24}, "superres": {"model": "lanczos", "from": 32, "to": 64},
            "fusion": {"frames": 24, "fps": 12.0, "outputs": {"mp4": "animation.mp4"}}}


def held_product(output: Path, product_id: str, line: int, shade: int) -> ProductReport:
    """A product the quality gate held for review, with the checks it failed (and one it passed)."""
    files = tiny_animation(output / product_id, shade)
    product = ProductReport(product_id, line, REVIEW, motion="sway", category="lamp", stage_seconds=dict(TIMINGS),
                            outputs={k: str(v) for k, v in files.items()}, facts=facts_for("plain"))
    product.checks = list(HELD_CHECKS)  # the gate's field on ProductReport
    return product


def make_run(root: Path, other_statuses: bool = True) -> RunReport:
    """A run folder in catalog order: done, failed at the catalog (no folder), skipped (a run from before
    thumbnails: the card falls back to the poster), failed at motion, and with `other_statuses` two products held
    for review and one "reused" whose outputs are written relative to the report's folder."""
    output = root / "run"
    mug = tiny_animation(output / "mug", 200)
    doll = tiny_animation(output / "doll", 150, thumbnail=False)
    (output / "teapot" / "01_localize").mkdir(parents=True)
    write_png(output / "teapot" / "01_localize" / "source.png", np.full((32, 32, 3), 90, np.uint8))
    products = [
        ProductReport("mug", 2, DONE, motion="turntable", category="mug", stage_seconds=dict(TIMINGS),
                      outputs={k: str(v) for k, v in mug.items()}, facts=facts_for("grabcut")),
        ProductReport(EVIL_ID, 3, FAILED, category="toy", error=EVIL_ERROR, error_stage="catalog"),
        ProductReport("doll", 4, SKIPPED, motion="sway", category="doll", stage_seconds=dict(TIMINGS),
                      stages_skipped=list(TIMINGS), outputs={k: str(v) for k, v in doll.items()},
                      facts=facts_for("plain")),
        ProductReport("teapot", 5, FAILED, motion="wobble", category="teapot",
                      stage_seconds={"localize": 0.3, "inpaint": 0.1}, error="motion failed: <b>bad</b>",
                      error_stage="motion",
                      facts={"localize": {"method": "plain"}, "traceback": "Traceback: <oops> & more"}),
    ]
    if other_statuses:
        vase = tiny_animation(output / "vase", 100)
        products.append(ProductReport("vase", 6, "reused", motion="spin", category="vase",
                                      stage_seconds=dict(TIMINGS), stages_skipped=list(TIMINGS),
                                      outputs={k: str(v.relative_to(output)) for k, v in vase.items()},
                                      facts=facts_for("rembg:u2net")))
        products += [held_product(output, "lamp", 7, 170), held_product(output, "blue lamp", 8, 120)]
    settings = {"matting": "auto", "inpaint": "auto", "motion_model": "classical", "sr_model": "auto",
                "formats": ["mp4"], "output": str(output)}
    return RunReport(products, output, seconds=12.5, settings=settings)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    report = make_run(tmp_path_factory.mktemp("review"))
    write_review_page(report)
    return report


def test_report_write_adds_the_page_beside_report_json(tmp_path: Path) -> None:
    report = make_run(tmp_path, other_statuses=False)  # statuses RunReport.counts() knows
    json_path, _ = report.write()
    page = json_path.parent / "report.html"
    assert page.is_file()
    assert len(parse(page.read_text()).cards) == len(report.products)


def test_cards_in_order_failures_then_held_then_catalog_order(run: RunReport) -> None:
    cards = parse((run.output / "report.html").read_text()).cards
    assert [c["data-product-id"] for c in cards] == [EVIL_ID, "teapot", "lamp", "blue lamp", "mug", "doll", "vase"]
    assert [c["data-status"] for c in cards] == [FAILED, FAILED, REVIEW, REVIEW, DONE, SKIPPED, "reused"]


def test_user_data_is_escaped(run: RunReport) -> None:
    html = (run.output / "report.html").read_text()
    page = parse(html)
    assert page.script_tags == 1  # only the page's own script
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bad</b>" not in html
    assert "<b>flicker</b>" not in html and "&lt;b&gt;flicker&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;" in html
    assert "Traceback: &lt;oops&gt; &amp; more" in html
    assert page.cards[0]["data-product-id"] == EVIL_ID  # the parser unescapes attributes: the round trip is exact


def test_links_are_relative_and_survive_moving_the_folder(run: RunReport, tmp_path: Path) -> None:
    page = parse((run.output / "report.html").read_text())
    assert page.urls
    moved = tmp_path / "elsewhere" / "served"
    shutil.copytree(run.output, moved)
    for url in page.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and not url.startswith("/"), url
        assert not Path(unquote(parts.path)).is_absolute(), url
        assert (moved / unquote(parts.path)).is_file(), url


def card_tags(run: RunReport) -> dict[str, list[tuple[str, dict[str, str | None]]]]:
    page = parse((run.output / "report.html").read_text())
    return {card["data-product-id"]: tags for card, tags in zip(page.cards, page.card_tags)}


def test_cards_show_a_thumbnail_and_name_their_video_without_loading_it(run: RunReport) -> None:
    by_id = card_tags(run)
    for pid, still in (("mug", "poster_thumb.jpg"), ("doll", "poster.jpg"), ("vase", "poster_thumb.jpg")):
        tags = by_id[pid]
        assert not any(tag in ("video", "source") for tag, _ in tags), pid  # the script adds one while on screen
        assert [a["data-video"] for t, a in tags if "data-video" in a] == [f"{pid}/05_fusion/animation.mp4"]
        images = [a for t, a in tags if t == "img"]
        assert [a["src"] for a in images] == [f"{pid}/05_fusion/{still}"], pid
        assert images[0]["loading"] == "lazy"
        links = [a["href"] for t, a in tags if t == "a"]
        assert f"{pid}/05_fusion/poster.jpg" in links and f"{pid}/05_fusion/animation.mp4" in links
        assert f"{pid}/05_fusion/{THUMB_NAME}" not in links
    assert "mug/01_localize/source.png" in [a["href"] for t, a in by_id["mug"] if t == "a"]  # the original photo
    assert not any(t == "img" or "data-video" in a for t, a in by_id[EVIL_ID] + by_id["teapot"])
    html = (run.output / "report.html").read_text()
    assert html.count("no animation") == 2 and "grabcut" in html and "rembg:u2net" in html and "lanczos" in html
    assert "12.5 s" in html and "catalog" in html


def test_held_cards_show_the_failed_checks_and_the_decision_control(run: RunReport) -> None:
    by_id = card_tags(run)
    html = (run.output / "report.html").read_text()
    for pid in ("lamp", "blue lamp"):
        assert [a["data-decision"] for t, a in by_id[pid] if t == "button"] == ["approve", "reject"]
        assert any(t == "input" and "note" in (a["class"] or "") for t, a in by_id[pid])
    for pid in ("mug", "doll", "vase", "teapot"):
        assert not any(t in ("button", "input") for t, _ in by_id[pid])
    assert html.count('<caption>failed checks</caption>') == 2
    assert "<th>loop_seam</th><td>0.3125</td><td>threshold 0.12</td><td>frame 23</td>" in html
    assert "max_stretch" not in html and "plate_band_error" not in html  # passed or not measured: not shown
    assert 'class="approvals"' in html and "0 of 2 held products decided" in html


def test_no_approvals_bar_without_held_products(tmp_path: Path) -> None:
    page = write_review_page(make_run(tmp_path, other_statuses=False)).read_text()
    assert 'class="approvals"' not in page and 'class="decide"' not in page


def test_output_paths_relative_to_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner joins `-o out/x` as given, so outputs may be relative to the cwd rather than to the report."""
    monkeypatch.chdir(tmp_path)
    animation = tiny_animation(Path("out/x/mug"), 120)
    report = RunReport([ProductReport("mug", 2, DONE, outputs={k: str(v) for k, v in animation.items()})],
                       Path("out/x"))
    page = parse(write_review_page(report).read_text())
    assert "mug/05_fusion/animation.mp4" in page.urls and f"mug/05_fusion/{THUMB_NAME}" in page.urls


def test_empty_run_still_writes_a_page(tmp_path: Path) -> None:
    page = write_review_page(RunReport([], tmp_path))
    assert "no products" in page.read_text()


@pytest.mark.slow
def test_a_run_writes_a_small_thumbnail_and_its_card_shows_it(tmp_path: Path) -> None:
    from conftest import product_photo
    from pipeline.cli import main
    from test_path_safety import write_short_clip

    write_short_clip(tmp_path / "clip")
    photo = Image.open(io.BytesIO(product_photo((205, 35, 45), seed=1))).resize((360, 360))
    photo.save(tmp_path / "vase.png")  # larger than the thumbnail
    (tmp_path / "catalog.csv").write_text("product_id,image,category,motion\nvase,vase.png,vase,clip/\n")
    out = tmp_path / "out"
    assert main([str(tmp_path / "catalog.csv"), "-o", str(out), "--size", "64", "--frames", "4",
                 "--max-side", "400"]) == 0
    thumb = out / "vase" / "05_fusion" / THUMB_NAME
    with Image.open(thumb) as image:
        assert max(image.size) == 200 and image.format == "JPEG"
    assert thumb.stat().st_size < 16_000  # a few KB
    product = json.loads((out / "report.json").read_text())["products"][0]
    assert product["outputs"]["poster_thumb"] == str(thumb)
    card = parse((out / "report.html").read_text()).card_tags[0]
    assert [a["src"] for t, a in card if t == "img"] == [f"vase/05_fusion/{THUMB_NAME}"]


# ---- in Chromium ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: run `make browser` (Debian's chromium) for the review-page browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_page(chromium):  # noqa: ANN001, ANN201 (playwright objects)
    """Opens a page in a fresh context (its own localStorage); fails the test on any script error."""
    contexts, errors = [], []

    def opener(path: Path, height: int = 900):  # noqa: ANN202
        context = chromium.new_context(viewport={"width": 1280, "height": height}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path.as_uri())
        return page

    yield opener
    for context in contexts:
        context.close()
    assert errors == []


# cards whose picture is fully on screen and whose video plays (its clock moves), cards far off screen that hold a
# <video>, and every <video> in the page. Off screen only the cards are measured: content-visibility skips their
# contents, and measuring those would render them.
VIDEO_STATE = """() => {
    const height = innerHeight, margin = 150;
    window.__clock = window.__clock || new WeakMap();
    const cards = [...document.querySelectorAll('article.card:not([hidden])')]
        .filter(card => card.querySelector('.screen[data-video]'));
    const shown = [], far = [];
    for (const card of cards) {
        const box = card.getBoundingClientRect();
        if (box.top > height + margin || box.bottom < -margin) { far.push(card); continue; }
        const picture = card.querySelector('.screen').getBoundingClientRect();
        if (box.bottom > 0 && box.top < height && picture.top >= -1 && picture.bottom <= height + 1) { shown.push(card); }
    }
    const playing = shown.filter(card => {
        const video = card.querySelector('video');
        if (!video || video.error || video.paused || video.readyState < 2 || !video.getAttribute('src')) return false;
        const first = window.__clock.get(video);
        if (first === undefined) { window.__clock.set(video, video.currentTime); return false; }
        return video.currentTime !== first;
    });
    return {shown: shown.length, playing: playing.length, farWithVideo: far.filter(c => c.querySelector('video')).length,
            far: far.length, videos: document.querySelectorAll('video').length};
}"""


def wait_until_shown_videos_play(page) -> dict:  # noqa: ANN001
    page.wait_for_function(f"(() => {{ const s = ({VIDEO_STATE})(); return s.shown > 0 && s.playing === s.shown; }})",
                           timeout=15_000, polling=100)
    return page.evaluate(VIDEO_STATE)


def click_filter(page, status: str) -> list[str]:  # noqa: ANN001
    """Click the filter button; returns the statuses of the cards left visible (checked to be the pressed one)."""
    page.locator(f".filters button[data-filter='{status}']").click()
    assert page.locator(f".filters button[data-filter='{status}']").get_attribute("aria-pressed") == "true"
    return page.evaluate("[...document.querySelectorAll('article.card:not([hidden])')].map(c => c.dataset.status)")


def test_in_chromium_videos_play_thumbnails_load_and_the_filter_works(run: RunReport, open_page) -> None:
    page = open_page(run.output / "report.html", height=1600)  # every card on screen
    assert page.locator("article.card").count() == len(run.products)
    state = wait_until_shown_videos_play(page)
    assert state["shown"] == state["videos"] == 5
    broken = page.evaluate("[...document.images].filter(i => !i.complete || !i.naturalWidth).map(i => i.src)")
    assert broken == []
    assert all(page.evaluate("[...document.querySelectorAll('video')].map(v => v.muted && v.loop)"))
    for status, expected in ((FAILED, 2), (REVIEW, 2), ("reused", 1), (DONE, 1), (SKIPPED, 1), ("", 7)):
        visible = click_filter(page, status)
        assert len(visible) == expected and (not status or set(visible) == {status}), status


def test_in_chromium_approve_and_reject_give_the_approvals_csv(run: RunReport, open_page) -> None:
    page = open_page(run.output / "report.html")
    click_filter(page, REVIEW)
    lamp, blue = (page.locator(f"article.card[data-product-id='{pid}']") for pid in ("lamp", "blue lamp"))
    lamp.locator("button[data-decision='approve']").click()
    assert lamp.locator(".csv-line").text_content() == "lamp,approve,"
    blue.locator(".note").fill('blurry, "seam" jumps')
    blue.locator("button[data-decision='reject']").click()
    assert blue.locator(".csv-line").text_content() == 'blue lamp,reject,"blurry, ""seam"" jumps"'
    assert blue.locator("button[data-decision='reject']").get_attribute("aria-pressed") == "true"
    assert page.locator(".approvals .tally").text_content() == "2 of 2 held products decided"
    with page.expect_download() as download:
        page.locator(".approvals a.save").click()
    assert download.value.suggested_filename == "approvals.csv"
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows == [["product_id", "decision", "note"], ["lamp", "approve", ""],
                    ["blue lamp", "reject", 'blurry, "seam" jumps']]
    lamp.locator("button[data-decision='approve']").click()  # a second click undoes the decision
    assert lamp.locator(".csv-line").text_content() == ""
    assert page.locator(".approvals .tally").text_content() == "1 of 2 held products decided"
    page.reload()  # decisions survive a reload (localStorage)
    assert page.locator("article.card[data-product-id='blue lamp'] .csv-line").text_content() == \
        'blue lamp,reject,"blurry, ""seam"" jumps"'
    assert page.locator("article.card[data-product-id='blue lamp'] .note").input_value() == 'blurry, "seam" jumps'


LARGE = 2000


@pytest.fixture(scope="module")
def large_run(tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    return synthetic_run(tmp_path_factory.mktemp("large"), LARGE)


@pytest.mark.slow
def test_in_chromium_a_2000_product_page_loads_only_the_videos_on_screen(large_run: RunReport, open_page) -> None:
    started = time.perf_counter()
    page = open_page(large_run.output / "report.html")
    assert page.locator("article.card").count() == LARGE
    assert page.evaluate(VIDEO_STATE)["videos"] == 0  # failures come first: no video at the top
    page.evaluate("document.querySelector('article.card[data-status=done]').scrollIntoView()")
    first = wait_until_shown_videos_play(page)
    assert first["farWithVideo"] == 0 and first["far"] > 1500 and first["videos"] <= 24
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight / 2)")
    middle = wait_until_shown_videos_play(page)
    assert middle["farWithVideo"] == 0 and middle["videos"] <= 24  # the first ones were removed again
    expected = {status: sum(status_of(i) == status for i in range(LARGE))
                for status in (FAILED, REVIEW, DONE, "reused", SKIPPED)}
    for status, count in expected.items():
        visible = click_filter(page, status)
        assert len(visible) == count and set(visible) == {status}, status
    page.evaluate("window.scrollTo(0, 0)")
    click_filter(page, REVIEW)
    held = wait_until_shown_videos_play(page)  # filtered in, on screen: they play
    assert held["farWithVideo"] == 0 and held["shown"] >= 4
    assert time.perf_counter() - started < 60
