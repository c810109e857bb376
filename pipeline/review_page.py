"""The run's review page: report.html beside report.json, one card per product (photo, looping animation, models,
timings, error), failures first, with a status filter. Self-contained: inline CSS and JS, relative links only."""
from __future__ import annotations

import os
from collections import Counter
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipeline.atomic import atomic_write_bytes
from pipeline.catalog import product_id_problem
from pipeline.stages.base import STAGE_ORDER

if TYPE_CHECKING:
    from pipeline.report import ProductReport, RunReport

PAGE_NAME = "report.html"
FAILED = "failed"
SOURCE_PHOTO = Path("01_localize") / "source.png"
VIDEO_TYPES = {"mp4": "video/mp4", "webm": "video/webm"}  # <source> order: the browser plays the first it can
IMAGE_ANIMATIONS = ("webp", "gif")  # shown as <img> when no video was written
SUMMARY_SETTINGS = ("matting", "detector", "inpaint", "motion_model", "sr_model", "device", "formats", "frames",
                    "fps", "size", "workers")


def write_review_page(report: RunReport) -> Path:
    """Write `<output>/report.html` atomically and return its path."""
    path = Path(report.output) / PAGE_NAME
    atomic_write_bytes(path, render_page(report).encode("utf-8"))
    return path


def render_page(report: RunReport) -> str:
    products = ordered_products(report.products)
    counts = status_counts(report.products)
    cards = "\n".join(render_card(p, Path(report.output)) for p in products)
    return PAGE_TEMPLATE.format(
        title=esc(f"Run review: {Path(report.output).resolve().name}"),
        css=CSS, js=JS,
        header=render_header(report, counts),
        filters=render_filters(counts, len(report.products)),
        cards=cards or '<p class="empty">This run had no products.</p>',
    )


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def ordered_products(products: list[ProductReport]) -> list[ProductReport]:
    """Failures first; otherwise the catalog order the report already has (sorted() is stable)."""
    return sorted(products, key=lambda p: p.status != FAILED)


def status_counts(products: list[ProductReport]) -> dict[str, int]:
    """Counts for every status present (any string, e.g. "reused"), failed first then by first appearance."""
    counts = Counter(p.status for p in products)
    return dict(sorted(counts.items(), key=lambda item: item[0] != FAILED))


def status_class(status: str) -> str:
    """A CSS-safe class for the badge colour; unknown statuses get the neutral style."""
    slug = "".join(ch for ch in status.lower() if ch.isascii() and (ch.isalnum() or ch == "-"))
    return f"status-{slug or 'other'}"


def relative_url(target: Path, base: Path) -> str:
    """A URL for `target` relative to the folder `base`, with each path segment percent-encoded."""
    relative = os.path.relpath(os.path.abspath(target), os.path.abspath(base))
    return "/".join(quote(part) for part in Path(relative).as_posix().split("/"))


def output_file(value: str, base: Path) -> Path:
    """An output path from the report: absolute, relative to the report's folder, or relative to the cwd
    (the runner joins the output folder as given on the command line, which may itself be relative)."""
    path = Path(value)
    if path.is_absolute():
        return path
    return base / path if (base / path).exists() else path


def product_folder(product: ProductReport, base: Path) -> Path | None:
    """The product's folder, if its id can name one (failed rows may hold unsafe or overlong ids)."""
    if product_id_problem(product.product_id):
        return None
    return base / product.product_id


def source_photo_url(product: ProductReport, base: Path) -> str | None:
    folder = product_folder(product, base)
    if folder is None or not (folder / SOURCE_PHOTO).is_file():
        return None
    return relative_url(folder / SOURCE_PHOTO, base)


def output_urls(product: ProductReport, base: Path) -> dict[str, str]:
    """Format -> relative URL for outputs that exist on disk."""
    urls = {}
    for fmt, value in product.outputs.items():
        if value:
            path = output_file(value, base)
            if path.is_file():
                urls[fmt] = relative_url(path, base)
    return urls


def fact(facts: dict[str, Any], stage: str, key: str) -> Any:
    info = facts.get(stage)
    return info.get(key) if isinstance(info, dict) else None


def models_used(product: ProductReport) -> list[tuple[str, str]]:
    """(label, value) for the methods and models the stages actually ran, read from their manifests."""
    facts = product.facts
    rows: list[tuple[str, str]] = []
    matting = fact(facts, "localize", "method")
    if matting:
        picked = fact(facts, "localize", "picked")
        rows.append(("matting", f"{matting}" + (f" (object: {picked})" if picked and picked != "given" else "")))
    inpaint = fact(facts, "inpaint", "method")
    if inpaint:
        quality = fact(facts, "inpaint", "quality")
        rows.append(("inpaint", f"{inpaint}" + (f" ({quality})" if quality else "")))
    motion = fact(facts, "motion", "model")
    if motion:
        family = fact(facts, "motion", "family")
        rows.append(("motion model", f"{motion}" + (f" ({family})" if family and family != motion else "")))
    sr = fact(facts, "superres", "model")
    if sr:
        device = fact(facts, "superres", "device")
        parts = [str(sr)] + ([str(device)] if device else [])
        source, target = fact(facts, "superres", "from"), fact(facts, "superres", "to")
        if source and target and source != target:
            parts.append(f"{source}→{target} px")
        rows.append(("super-res", " · ".join(parts)))
    frames, fps = fact(facts, "fusion", "frames"), fact(facts, "fusion", "fps")
    if frames:
        rows.append(("animation", f"{frames} frames" + (f" at {float(fps):g} fps" if fps else "")))
    return rows


def render_header(report: RunReport, counts: dict[str, int]) -> str:
    badges = "".join(f'<span class="badge {status_class(s)}">{esc(s)} <b>{n}</b></span>' for s, n in counts.items())
    summary = "".join(f"<div><dt>{esc(k.replace('_', ' '))}</dt>"
                      f"<dd>{esc(format_setting(report.settings[k]))}</dd></div>"
                      for k in SUMMARY_SETTINGS if k in report.settings)
    all_settings = "".join(f"<tr><th>{esc(k)}</th><td>{esc(format_setting(v))}</td></tr>"
                           for k, v in sorted(report.settings.items()))
    details = (f'<details class="settings"><summary>All settings</summary><table>{all_settings}</table></details>'
               if report.settings else "")
    return (f'<h1>Run review <span class="folder">{esc(Path(report.output).resolve().name)}</span></h1>'
            f'<p class="run">{len(report.products)} products in {report.seconds:.1f} s {badges}</p>'
            f'<dl class="summary">{summary}</dl>{details}')


def format_setting(value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def render_filters(counts: dict[str, int], total: int) -> str:
    buttons = [f'<button type="button" data-filter="" aria-pressed="true">all <b>{total}</b></button>']
    buttons += [f'<button type="button" data-filter="{esc(s)}" aria-pressed="false" class="{status_class(s)}">'
                f'{esc(s)} <b>{n}</b></button>' for s, n in counts.items()]
    return f'<nav class="filters" aria-label="filter by status">{"".join(buttons)}</nav>'


def render_card(product: ProductReport, base: Path) -> str:
    title = product.product_id or f"(line {product.line})"
    attempts = getattr(product, "attempts", 1)
    meta = " · ".join(esc(v) for v in (f"line {product.line}", product.category, product.motion,
                                       f"{attempts} attempts" if attempts > 1 else "") if v)
    return (f'<article class="card {status_class(product.status)}" data-status="{esc(product.status)}" '
            f'data-product-id="{esc(product.product_id)}">'
            f'<header><h2 title="{esc(title)}">{esc(title)}</h2>'
            f'<span class="badge {status_class(product.status)}">{esc(product.status)}</span></header>'
            f'<p class="meta">{meta}</p>'
            f'<div class="media">{render_photo(product, base)}{render_animation(product, base)}</div>'
            f'{render_error(product)}{render_failed_checks(product)}{render_models(product)}'
            f'{render_timings(product)}</article>')


def render_photo(product: ProductReport, base: Path) -> str:
    url = source_photo_url(product, base)
    if url is None:
        return '<figure class="placeholder"><span>no photo</span><figcaption>original</figcaption></figure>'
    return (f'<figure><a href="{esc(url)}"><img src="{esc(url)}" alt="original photo of {esc(product.product_id)}" '
            f'loading="lazy"></a><figcaption>original</figcaption></figure>')


def render_animation(product: ProductReport, base: Path) -> str:
    urls = output_urls(product, base)
    poster = f' poster="{esc(urls["poster"])}"' if "poster" in urls else ""
    sources = "".join(f'<source src="{esc(urls[fmt])}" type="{kind}">' for fmt, kind in VIDEO_TYPES.items()
                      if fmt in urls)
    if sources:
        media = f'<video autoplay muted loop playsinline preload="auto"{poster}>{sources}</video>'
    elif image := next((urls[fmt] for fmt in IMAGE_ANIMATIONS if fmt in urls), None):
        media = f'<img src="{esc(image)}" alt="animation of {esc(product.product_id)}">'
    else:
        label = "no animation" if product.status == FAILED else "animation missing"
        return f'<figure class="placeholder"><span>{label}</span><figcaption>animation</figcaption></figure>'
    links = " ".join(f'<a href="{esc(url)}">{esc(fmt)}</a>' for fmt, url in urls.items())
    return f'<figure>{media}<figcaption>animation · {links}</figcaption></figure>'


def render_error(product: ProductReport) -> str:
    if not product.error:
        return ""
    stage = f'<b>{esc(product.error_stage)}</b>: ' if product.error_stage else ""
    trace = product.facts.get("traceback")
    details = (f'<details><summary>traceback</summary><pre>{esc(trace)}</pre></details>'
               if isinstance(trace, str) and trace else "")
    return f'<div class="error" role="alert">{stage}{esc(product.error)}{details}</div>'


def render_failed_checks(product: ProductReport) -> str:
    """One line naming the quality checks the product failed, with value, threshold and worst frame (the gate's,
    pipeline/gate); nothing when all passed or the gate was off."""
    failed = [check.describe() for check in getattr(product, "checks", []) if check.failed]
    if not failed:
        return ""
    return f'<p class="checks">failed checks: {esc("; ".join(failed))}</p>'


def render_models(product: ProductReport) -> str:
    rows = models_used(product)
    if not rows:
        return ""
    return '<dl class="models">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows) + "</dl>"


def render_timings(product: ProductReport) -> str:
    """Per-stage seconds with a bar scaled to the slowest stage; stages not computed in this run are marked:
    "reused" (linked in from an earlier run folder) or "cached" (already done in this folder)."""
    stages = [s for s in STAGE_ORDER if s in product.stage_seconds]
    stages += [s for s in product.stage_seconds if s not in stages]
    if not stages:
        return ""
    longest = max(max(product.stage_seconds[s] for s in stages), 1e-9)
    reused = getattr(product, "stages_reused", {}) or {}
    rows = []
    for stage in stages:
        seconds = product.stage_seconds[stage]
        mark = "reused" if stage in reused else "cached" if stage in product.stages_skipped else ""
        origin = f' title="from {esc(reused[stage])}"' if stage in reused else ""
        rows.append(f'<tr class="{"cached" if mark else ""}"><th>{esc(stage)}</th>'
                    f'<td class="bar"><span style="width:{100 * seconds / longest:.0f}%"></span></td>'
                    f'<td class="secs"{origin}>{mark or f"{seconds:.2f} s"}</td></tr>')
    total = sum(product.stage_seconds[s] for s in stages)
    return (f'<table class="timings"><caption>stage timings · {total:.1f} s</caption>'
            f'{"".join(rows)}</table>')


PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header class="page">{header}{filters}</header>
<main class="grid">
{cards}
</main>
<script>{js}</script>
</body>
</html>
"""

CSS = """
:root { --bg: #f4f5f7; --card: #fff; --ink: #1d2330; --muted: #6b7280; --line: #e3e6eb;
  --done: #1f8a4c; --skipped: #5b6b80; --failed: #c62828; --reused: #6a4fc2; --other: #8a6d1f; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: var(--bg); color: var(--ink); }
header.page { padding: 18px 24px 12px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { margin: 0 0 4px; font-size: 20px; }
h1 .folder { color: var(--muted); font-weight: 400; }
.run { margin: 0 0 8px; color: var(--muted); display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.summary { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0 0 6px; font-size: 12px; }
.summary div { display: flex; gap: 5px; }
.summary dt { color: var(--muted); }
.summary dd { margin: 0; font-weight: 600; }
details.settings { font-size: 12px; margin-bottom: 6px; }
details.settings summary { cursor: pointer; color: var(--muted); }
details.settings table { border-collapse: collapse; margin-top: 4px; }
details.settings th, details.settings td { text-align: left; padding: 1px 10px 1px 0; vertical-align: top;
  word-break: break-all; }
details.settings th { color: var(--muted); font-weight: 400; }
.filters { display: flex; flex-wrap: wrap; gap: 6px; }
.filters button { font: inherit; border: 1px solid var(--line); background: var(--bg); color: var(--ink);
  border-radius: 999px; padding: 3px 12px; cursor: pointer; }
.filters button[aria-pressed="true"] { background: var(--ink); border-color: var(--ink); color: #fff; }
.filters button[class*="status-"]::before { content: ""; display: inline-block; width: 8px; height: 8px;
  border-radius: 50%; margin-right: 6px; background: var(--accent, var(--other)); }
.badge { display: inline-block; border-radius: 999px; padding: 1px 9px; font-size: 12px; font-weight: 600;
  color: #fff; background: var(--other); white-space: nowrap; }
.status-done { --accent: var(--done); } .status-skipped { --accent: var(--skipped); }
.status-failed { --accent: var(--failed); } .status-reused { --accent: var(--reused); }
.badge[class*="status-"] { background: var(--accent, var(--other)); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 16px;
  padding: 16px 24px 32px; align-items: start; }
.card { background: var(--card); border: 1px solid var(--line); border-top: 4px solid var(--accent, var(--other));
  border-radius: 10px; padding: 12px 14px; min-width: 0; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.card[hidden] { display: none; }
.card > header { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
.card h2 { margin: 0; font-size: 16px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.meta { margin: 2px 0 10px; color: var(--muted); font-size: 12px; }
.media { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
figure { margin: 0; min-width: 0; }
figure img, figure video { display: block; width: 100%; aspect-ratio: 1; object-fit: contain;
  background: #e9ebef; border-radius: 6px; }
figcaption { font-size: 11px; color: var(--muted); margin-top: 3px; }
figcaption a { color: inherit; }
.placeholder span { display: flex; align-items: center; justify-content: center; aspect-ratio: 1;
  border: 2px dashed #cfd4dc; border-radius: 6px; color: var(--muted); background: #f7f8fa; }
.error { margin-top: 10px; padding: 8px 10px; border-radius: 6px; background: #fdecec; color: #8e1c1c;
  font-size: 13px; overflow-wrap: anywhere; }
.error pre { white-space: pre-wrap; font-size: 11px; margin: 4px 0 0; }
.error summary { cursor: pointer; font-size: 12px; margin-top: 4px; }
.models { display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; margin: 10px 0 0; font-size: 12px; }
.models dt { color: var(--muted); }
.models dd { margin: 0; overflow-wrap: anywhere; }
.timings { width: 100%; border-collapse: collapse; margin-top: 10px; font-size: 12px; }
.timings caption { text-align: left; color: var(--muted); padding-bottom: 2px; }
.timings th { text-align: left; font-weight: 400; color: var(--muted); width: 64px; padding: 1px 0; }
.timings .bar span { display: block; height: 6px; min-width: 2px; border-radius: 3px; background: #8793a6; }
.timings .secs { text-align: right; width: 64px; font-variant-numeric: tabular-nums; }
.timings tr.cached .bar span { background: #d5d9e0; }
.empty { color: var(--muted); }
.checks { margin: 10px 0 0; padding: 6px 10px; border-radius: 6px; background: #fff6e0; color: #6b4e00;
  font-size: 12px; overflow-wrap: anywhere; }
.status-review { --accent: #c77700; }
"""

JS = """
(function () {
  var buttons = document.querySelectorAll('.filters button');
  var cards = document.querySelectorAll('.card');
  buttons.forEach(function (button) {
    button.addEventListener('click', function () {
      var wanted = button.getAttribute('data-filter');
      buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b === button)); });
      cards.forEach(function (card) { card.hidden = wanted !== '' && card.getAttribute('data-status') !== wanted; });
    });
  });
})();
"""
