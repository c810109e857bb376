"""The review page at catalog scale: a synthetic run of N products (default 2,000), opened in headless Chromium.
Prints the page's size, time to first paint, the page's memory (JS heap from the DevTools Performance metrics,
DOM nodes, and the renderer process's resident memory, beside that of a blank tab) and how many videos hold a
src, at the top of the page and after scrolling through all of it.

    python bench/review_page_bench.py [--count 2000] [--keep FOLDER]

The synthetic run has a few real tiny H.264 loops, posters and thumbnails (the pipeline's own encoders), hard
linked into every product's folder: each card has its own URLs, as in a real run, at no encoding cost.
tests/test_review_page.py builds its large page with `synthetic_run` too.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from pipeline.imageio import write_jpeg
from pipeline.report import DONE, FAILED, REUSED, SKIPPED, ProductReport, RunReport
from pipeline.review_page import REVIEW, write_review_page
from pipeline.stages.fusion import THUMB_NAME, write_poster_thumb
from pipeline.video import encode_mp4

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 900}
COLOURS = [(205, 35, 45), (40, 160, 60), (35, 70, 210), (200, 150, 30)]
TIMINGS = {"localize": 0.4, "inpaint": 0.2, "motion": 1.1, "superres": 0.05, "fusion": 0.3}
FACTS = {"localize": {"method": "plain-backdrop"}, "inpaint": {"method": "surface", "quality": "good"},
         "motion": {"model": "classical"}, "superres": {"model": "lanczos", "from": 128, "to": 160},
         "fusion": {"frames": 24, "fps": 12.0}}
# the quality gate's checks (pipeline/gate/checks.py Check: name, value, threshold, passed, frame)
HELD_CHECKS = [SimpleNamespace(name="loop_seam", value=3.1, threshold=2.5, passed=False, frame=23),
               SimpleNamespace(name="motion_stretch", value=1.18, threshold=1.7, passed=True, frame=9)]


def status_of(index: int) -> str:
    """2% failed, 4% held for review, 10% reused, 4% skipped, the rest done; spread through the catalog."""
    if index % 50 == 7:
        return FAILED
    if index % 25 == 3:
        return REVIEW
    if index % 10 == 5:
        return REUSED
    if index % 25 == 11:
        return SKIPPED
    return DONE


def tiny_loop(colour: tuple[int, int, int], frames: int = 24, side: int = 160) -> list[np.ndarray]:
    """A product-like blob swaying on a light backdrop."""
    ys, xs = np.mgrid[0:side, 0:side]
    loop = []
    for index in range(frames):
        frame = np.full((side, side, 3), 232, np.uint8)
        shift = 12 * np.sin(2 * np.pi * index / frames)
        inside = ((xs - side / 2 - shift * (1 - ys / side)) / 38) ** 2 + ((ys - side * 0.55) / 52) ** 2 <= 1
        frame[inside] = colour
        loop.append(frame)
    return loop


def shared_media(folder: Path) -> list[dict[str, Path]]:
    """For each colour: an animation.mp4, poster.jpg and poster_thumb.jpg, as fusion writes them."""
    media = []
    for number, colour in enumerate(COLOURS):
        loop = tiny_loop(colour)
        files = {"mp4": folder / f"{number}" / "animation.mp4", "poster": folder / f"{number}" / "poster.jpg",
                 "poster_thumb": folder / f"{number}" / THUMB_NAME}
        encode_mp4(loop, files["mp4"], fps=12)
        write_jpeg(files["poster"], loop[0])
        write_poster_thumb(files["poster_thumb"], loop[0])
        media.append(files)
    return media


def synthetic_product(index: int, output: Path, media: list[dict[str, Path]]) -> ProductReport:
    status = status_of(index)
    product = ProductReport(f"sku-{index:05d}", index + 2, status, motion="sway", category="vase")
    if status == FAILED:
        product.error, product.error_stage = "image URL https://shop.example/p.png answered HTTP 404 Not Found", "fetch"
        return product
    fusion = output / product.product_id / "05_fusion"
    fusion.mkdir(parents=True)
    for name, shared in media[index % len(media)].items():
        os.link(shared, fusion / shared.name)
        product.outputs[name] = str(fusion / shared.name)
    product.stage_seconds, product.facts = dict(TIMINGS), {k: dict(v) for k, v in FACTS.items()}
    if status == REVIEW:
        product.checks = list(HELD_CHECKS)  # the quality gate's field
    return product


def synthetic_run(root: Path, count: int) -> RunReport:
    """A run folder with `count` products and its report.html."""
    output = root / "run"
    media = shared_media(root / "media")
    report = RunReport([synthetic_product(i, output, media) for i in range(count)], output, seconds=3600.0,
                       settings={"matting": "auto", "inpaint": "auto", "motion_model": "classical",
                                 "formats": ["mp4"], "workers": 8})
    write_review_page(report)
    return report


def renderer_rss_mib(browser) -> float:  # noqa: ANN001 (a playwright Browser)
    """Resident memory of the browser's renderer processes (the page's tab), their pids from DevTools."""
    info = browser.new_browser_cdp_session().send("SystemInfo.getProcessInfo")
    total_kib = 0
    for process in info["processInfo"]:
        if process["type"] == "renderer":
            status = Path(f"/proc/{process['id']}/status").read_text()
            total_kib += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return total_kib / 1024


def page_memory(page, cdp) -> dict[str, float]:
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {"js_heap_used_mib": metrics["JSHeapUsedSize"] / 2**20,
            "js_heap_total_mib": metrics["JSHeapTotalSize"] / 2**20, "dom_nodes": metrics["Nodes"],
            "videos_with_src": page.evaluate("document.querySelectorAll('video[src]').length")}


def measure(page_path: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            blank = browser.new_page()
            blank.goto("about:blank")
            baseline = renderer_rss_mib(browser)  # a tab with nothing in it, for scale
            blank.close()
            page = browser.new_page(viewport=VIEWPORT)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            started = time.perf_counter()
            page.goto(page_path.as_uri(), wait_until="load")
            load_s = time.perf_counter() - started
            paints = page.evaluate("Object.fromEntries(performance.getEntriesByType('paint')"
                                   ".map(e => [e.name, e.startTime]))")
            page.wait_for_timeout(500)
            top = page_memory(page, cdp)
            top["renderer_rss_mib"] = renderer_rss_mib(browser)
            most_videos, played = 0, set()
            height = page.evaluate("document.documentElement.scrollHeight")
            for y in range(0, height, VIEWPORT["height"] // 2):
                page.evaluate(f"window.scrollTo(0, {y})")
                page.wait_for_timeout(80)
                most_videos = max(most_videos, page.evaluate("document.querySelectorAll('video[src]').length"))
                played.update(page.evaluate("[...document.querySelectorAll('video[src]')].filter(v => "
                                            "v.currentTime > 0).map(v => v.closest('article').dataset.productId)"))
            page.wait_for_timeout(500)
            bottom = page_memory(page, cdp)
            bottom["renderer_rss_mib"] = renderer_rss_mib(browser)
        finally:
            browser.close()
    return {"blank_tab_renderer_rss_mib": baseline, "load_s": load_s, "first_paint_ms": paints.get("first-paint", float("nan")),
            "first_contentful_paint_ms": paints.get("first-contentful-paint", float("nan")),
            "most_videos_with_src_while_scrolling": most_videos, "videos_seen_playing": len(played),
            "page_height_px": height,
            **{f"top_{k}": v for k, v in top.items()}, **{f"scrolled_{k}": v for k, v in bottom.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="build the run in this folder and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="review-bench-"))
    try:
        started = time.perf_counter()
        report = synthetic_run(root, args.count)
        built_s = time.perf_counter() - started
        page = report.output / "report.html"
        print(f"{'products':<40}{args.count}")
        print(f"{'build_s (files and page)':<40}{built_s:.2f}")
        print(f"{'report_html_mib':<40}{page.stat().st_size / 2**20:.2f}")
        for name, value in measure(page).items():
            print(f"{name:<40}{value:,.1f}" if isinstance(value, float) else f"{name:<40}{value}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
