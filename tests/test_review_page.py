"""report.html: one card per product, failures first, everything escaped, relative links; and in headless Chromium
the cards are there, the animations play and the status filter works."""
from __future__ import annotations

import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

from pipeline.imageio import write_jpeg, write_png
from pipeline.report import DONE, FAILED, SKIPPED, ProductReport, RunReport
from pipeline.review_page import write_review_page
from pipeline.video import encode_mp4

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
EVIL_ID = '<script>alert("x")</script>'
EVIL_ERROR = 'image is not a photo: <img src=x onerror=alert(1)> & "quotes"'
TIMINGS = {"localize": 0.4, "inpaint": 0.2, "motion": 1.1, "superres": 0.05, "fusion": 0.3}


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
        for name in ("src", "href", "poster"):
            if attributes.get(name):
                self.urls.append(attributes[name])


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


def tiny_animation(folder: Path, shade: int) -> dict[str, Path]:
    """A real 2 s H.264 loop (the pipeline's own encoder), its poster and the product's source photo."""
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
    return {"mp4": fusion / "animation.mp4", "poster": fusion / "poster.jpg"}


def facts_for(matting: str) -> dict:
    return {"localize": {"method": matting, "picked": "given"}, "inpaint": {"method": "surface", "quality": "good"},
            "motion": {"model": "classical", "frames": 24}, "superres": {"model": "lanczos", "from": 32, "to": 64},
            "fusion": {"frames": 24, "fps": 12.0, "outputs": {"mp4": "animation.mp4"}}}


def make_run(root: Path, reused: bool = True) -> RunReport:
    """A run folder in catalog order: done, failed at the catalog (no folder), skipped, failed at motion, and a
    product with another status ("reused") whose outputs are written relative to the report's folder."""
    output = root / "run"
    mug = tiny_animation(output / "mug", 200)
    doll = tiny_animation(output / "doll", 150)
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
    if reused:
        vase = tiny_animation(output / "vase", 100)
        products.append(ProductReport("vase", 6, "reused", motion="spin", category="vase",
                                      stage_seconds=dict(TIMINGS), stages_skipped=list(TIMINGS),
                                      outputs={k: str(v.relative_to(output)) for k, v in vase.items()},
                                      facts=facts_for("rembg:u2net")))
    settings = {"matting": "auto", "inpaint": "auto", "motion_model": "classical", "sr_model": "auto",
                "formats": ["mp4"], "output": str(output)}
    return RunReport(products, output, seconds=12.5, settings=settings)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    report = make_run(tmp_path_factory.mktemp("review"))
    write_review_page(report)
    return report


def test_report_write_adds_the_page_beside_report_json(tmp_path: Path) -> None:
    report = make_run(tmp_path, reused=False)  # statuses RunReport.counts() knows
    json_path, _ = report.write()
    page = json_path.parent / "report.html"
    assert page.is_file()
    assert len(parse(page.read_text()).cards) == len(report.products)


def test_one_card_per_product_failures_first_then_catalog_order(run: RunReport) -> None:
    cards = parse((run.output / "report.html").read_text()).cards
    assert [c["data-product-id"] for c in cards] == [EVIL_ID, "teapot", "mug", "doll", "vase"]
    assert [c["data-status"] for c in cards] == [FAILED, FAILED, DONE, SKIPPED, "reused"]


def test_user_data_is_escaped(run: RunReport) -> None:
    html = (run.output / "report.html").read_text()
    page = parse(html)
    assert page.script_tags == 1  # only the page's own filter script
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bad</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;" in html
    assert "Traceback: &lt;oops&gt; &amp; more" in html
    failed_card = page.cards[0]
    assert failed_card["data-product-id"] == EVIL_ID  # the parser unescapes attributes: the round trip is exact


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


def test_cards_show_photo_video_models_and_placeholders(run: RunReport) -> None:
    page = parse((run.output / "report.html").read_text())
    by_id = {card["data-product-id"]: tags for card, tags in zip(page.cards, page.card_tags)}
    for pid in ("mug", "doll", "vase"):
        videos = [attrs for tag, attrs in by_id[pid] if tag == "video"]
        assert len(videos) == 1, pid
        assert {"autoplay", "muted", "loop", "playsinline"} <= set(videos[0]), pid
        assert videos[0]["poster"] == f"{pid}/05_fusion/poster.jpg"
        sources = [attrs for tag, attrs in by_id[pid] if tag == "source"]
        assert sources == [{"src": f"{pid}/05_fusion/animation.mp4", "type": "video/mp4"}]
        images = [attrs["src"] for tag, attrs in by_id[pid] if tag == "img"]
        assert images == [f"{pid}/01_localize/source.png"]
    assert not any(tag == "video" for tag, _ in by_id[EVIL_ID] + by_id["teapot"])
    assert [a["src"] for t, a in by_id["teapot"] if t == "img"] == ["teapot/01_localize/source.png"]
    assert not any(t == "img" for t, _ in by_id[EVIL_ID])  # no folder: the placeholder instead
    html = (run.output / "report.html").read_text()
    assert html.count("no photo") == 1 and "grabcut" in html and "rembg:u2net" in html and "lanczos" in html
    assert "12.5 s" in html and "catalog" in html


def test_output_paths_relative_to_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner joins `-o out/x` as given, so outputs may be relative to the cwd rather than to the report."""
    monkeypatch.chdir(tmp_path)
    animation = tiny_animation(Path("out/x/mug"), 120)
    report = RunReport([ProductReport("mug", 2, DONE, outputs={k: str(v) for k, v in animation.items()})],
                       Path("out/x"))
    cards = parse(write_review_page(report).read_text())
    assert "mug/05_fusion/animation.mp4" in cards.urls and "mug/05_fusion/poster.jpg" in cards.urls


def test_empty_run_still_writes_a_page(tmp_path: Path) -> None:
    page = write_review_page(RunReport([], tmp_path))
    assert "no products" in page.read_text()


def test_in_chromium_cards_videos_play_and_the_filter_works(run: RunReport) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: run `make browser` (Debian's chromium) for the review-page browser test")
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto((run.output / "report.html").as_uri())
            cards = page.locator("article.card")
            assert cards.count() == len(run.products)
            assert page.locator("article.card:not([data-status='failed']) video").count() == 3
            for attribute in ("autoplay", "muted", "loop", "playsinline"):
                assert page.locator(f"article.card:not([data-status='failed']) video[{attribute}]").count() == 3
            # every video decodes, plays and its clock moves (the first ready time is remembered per video)
            page.wait_for_function("""() => {
                const videos = [...document.querySelectorAll('video')];
                window.__first = window.__first || new Map();
                return videos.length > 0 && videos.every(v => {
                    if (v.error || v.readyState < 2 || v.paused) return false;
                    if (!window.__first.has(v)) { window.__first.set(v, v.currentTime); return false; }
                    return v.currentTime !== window.__first.get(v);
                });
            }""", timeout=10_000, polling=100)
            broken = page.evaluate("[...document.images].filter(i => !i.complete || !i.naturalWidth).map(i => i.src)")
            assert broken == []
            assert_filter(page, "failed", 2)
            assert_filter(page, "reused", 1)
            assert_filter(page, "", len(run.products))
            assert errors == []
        finally:
            browser.close()
    assert time.perf_counter() - started < 20


def assert_filter(page, status: str, expected: int) -> None:
    page.locator(f".filters button[data-filter='{status}']").click()
    visible = page.locator("article.card:visible")
    assert visible.count() == expected
    if status:
        assert set(visible.evaluate_all("cards => cards.map(c => c.dataset.status)")) == {status}
    assert page.locator(f".filters button[data-filter='{status}']").get_attribute("aria-pressed") == "true"
