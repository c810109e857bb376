"""The run's review page: report.html beside report.json, one card per product (a small poster thumbnail, the
animation played only while its card is on screen, checks the quality gate failed, models, timings, error),
failures and products held for review first, a status filter, and approve/reject controls on `review` cards that
give the approvals.csv lines to save beside the run. Self-contained (inline CSS and JS, relative links only) and
light enough for thousands of cards: no video is loaded until its card scrolls into view, and none stays loaded
after it leaves."""
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
FAILED, REVIEW = "failed", "review"
FIRST_STATUSES = (FAILED, REVIEW)  # the cards a reviewer must look at come first
SOURCE_PHOTO = Path("01_localize") / "source.png"
VIDEO_FORMATS = ("mp4", "webm")  # the first one written is played
IMAGE_ANIMATIONS = ("webp", "gif")  # shown as <img> when no video was written
STILLS = ("poster_thumb", "poster")  # the card's still image: the thumbnail fusion writes, else the full poster
SUMMARY_SETTINGS = ("matting", "detector", "inpaint", "motion_model", "sr_model", "device", "formats", "frames",
                    "fps", "size", "workers")
DECISIONS = ("approve", "reject")  # approvals.csv: product_id,decision,note


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
        approvals=render_approvals_bar(counts.get(REVIEW, 0)),
        cards=cards or '<p class="empty">This run had no products.</p>',
    )


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def first_rank(status: str) -> int:
    return FIRST_STATUSES.index(status) if status in FIRST_STATUSES else len(FIRST_STATUSES)


def ordered_products(products: list[ProductReport]) -> list[ProductReport]:
    """Failures, then products held for review; otherwise the report's catalog order (sorted() is stable)."""
    return sorted(products, key=lambda p: first_rank(p.status))


def status_counts(products: list[ProductReport]) -> dict[str, int]:
    """Counts for every status present (any string, e.g. "reused"): failed, review, then by first appearance."""
    counts = Counter(p.status for p in products)
    return dict(sorted(counts.items(), key=lambda item: first_rank(item[0])))


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
    """Output name -> relative URL for outputs that exist on disk."""
    urls = {}
    for name, value in product.outputs.items():
        if value:
            path = output_file(value, base)
            if path.is_file():
                urls[name] = relative_url(path, base)
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


def format_number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_filters(counts: dict[str, int], total: int) -> str:
    buttons = [f'<button type="button" data-filter="" aria-pressed="true">all <b>{total}</b></button>']
    buttons += [f'<button type="button" data-filter="{esc(s)}" aria-pressed="false" class="{status_class(s)}">'
                f'{esc(s)} <b>{n}</b></button>' for s, n in counts.items()]
    return f'<nav class="filters" aria-label="filter by status">{"".join(buttons)}</nav>'


def render_approvals_bar(held: int) -> str:
    """The decisions so far on `review` cards, and approvals.csv with all of them to save beside the run."""
    if not held:
        return ""
    return (f'<div class="approvals" data-held="{held}"><span class="tally">0 of {held} held products decided</span>'
            ' <a class="save" download="approvals.csv" aria-disabled="true">download approvals.csv</a>'
            ' <span class="hint">save it beside report.json; <code>publish</code> reads it</span></div>')


def render_card(product: ProductReport, base: Path) -> str:
    title = product.product_id or f"(line {product.line})"
    attempts = getattr(product, "attempts", 1)
    meta = " · ".join(esc(v) for v in (f"line {product.line}", product.category, product.motion,
                                       f"{attempts} attempts" if attempts > 1 else "") if v)
    return (f'<article class="card {status_class(product.status)}" data-status="{esc(product.status)}" '
            f'data-product-id="{esc(product.product_id)}">'
            f'<header><h2 title="{esc(title)}">{esc(title)}</h2>'
            f'<span class="badge {status_class(product.status)}">{esc(product.status)}</span></header>'
            f'<p class="meta">{meta}</p>{render_media(product, base)}{render_checks(product)}'
            f'{render_decision(product)}{render_error(product)}{render_models(product)}{render_timings(product)}'
            '</article>')


def render_media(product: ProductReport, base: Path) -> str:
    """The still (thumbnail); for a video, the page's script adds a <video> over it while the card is on screen
    and removes it when the card leaves (thousands of <video> elements, even unloaded, cost seconds and hundreds
    of MB). Links to every output and the original photo."""
    urls = output_urls(product, base)
    still = next((urls[name] for name in STILLS if name in urls), None)
    video = next((urls[fmt] for fmt in VIDEO_FORMATS if fmt in urls), None)
    animated = next((urls[fmt] for fmt in IMAGE_ANIMATIONS if fmt in urls), None)
    label = esc(product.product_id)
    shown = still if video or not animated else animated
    if shown is None:
        missing = "no animation" if product.status == FAILED else "animation missing"
        return f'<figure class="media"><div class="screen blank"><span class="none">{missing}</span></div></figure>'
    kind = "poster" if shown == still else "animation"
    video_attribute = f' data-video="{esc(video)}"' if video else ""
    screen = (f'<div class="screen"{video_attribute}>'
              f'<img src="{esc(shown)}" alt="{kind} of {label}" loading="lazy" decoding="async"></div>')
    links = [(name, url) for name, url in urls.items() if name != "poster_thumb"]
    photo = source_photo_url(product, base)
    if photo:
        links.append(("original", photo))
    caption = " · ".join(f'<a href="{esc(url)}">{esc(name)}</a>' for name, url in links)
    return f'<figure class="media">{screen}<figcaption>{caption}</figcaption></figure>'


def render_checks(product: ProductReport) -> str:
    """The quality gate's failed checks (pipeline/gate: each has name, value, threshold, passed and the worst
    frame), one row each; nothing when every check passed or the gate was off."""
    failed = [check for check in getattr(product, "checks", []) if check.passed is False]
    if not failed:
        return ""
    rows = "".join(f'<tr><th>{esc(c.name)}</th><td>{esc(format_number(c.value))}</td>'
                   f'<td>threshold {esc(format_number(c.threshold))}</td>'
                   f'<td>{f"frame {c.frame}" if c.frame is not None else ""}</td></tr>' for c in failed)
    return f'<table class="checks"><caption>failed checks</caption>{rows}</table>'


def render_decision(product: ProductReport) -> str:
    """Approve / reject with an optional note on a card held for review; the script shows the approvals.csv line."""
    if product.status != REVIEW:
        return ""
    buttons = "".join(f'<button type="button" data-decision="{d}" aria-pressed="false">{d}</button>'
                      for d in DECISIONS)
    return (f'<div class="decide">{buttons}<input type="text" class="note" maxlength="300" '
            f'placeholder="note (optional)" aria-label="note for {esc(product.product_id)}">'
            '<code class="csv-line" title="the approvals.csv line for this product"></code></div>')


def render_error(product: ProductReport) -> str:
    if not product.error:
        return ""
    stage = f'<b>{esc(product.error_stage)}</b>: ' if product.error_stage else ""
    trace = product.facts.get("traceback")
    details = (f'<details><summary>traceback</summary><pre>{esc(trace)}</pre></details>'
               if isinstance(trace, str) and trace else "")
    return f'<div class="error" role="alert">{stage}{esc(product.error)}{details}</div>'


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
    return (f'<details class="timings"><summary>stage timings · {total:.1f} s</summary>'
            f'<table>{"".join(rows)}</table></details>')


PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header class="page">{header}{filters}{approvals}</header>
<main class="grid">
{cards}
</main>
<script>{js}</script>
</body>
</html>
"""

CSS = """
:root { --bg: #f4f5f7; --card: #fff; --ink: #1d2330; --muted: #6b7280; --line: #e3e6eb;
  --done: #1f8a4c; --skipped: #5b6b80; --failed: #c62828; --reused: #6a4fc2; --review: #d97706;
  --other: #8a6d1f; }
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
.filters button, .decide button { font: inherit; border: 1px solid var(--line); background: var(--bg);
  color: var(--ink); border-radius: 999px; padding: 3px 12px; cursor: pointer; }
.filters button[aria-pressed="true"] { background: var(--ink); border-color: var(--ink); color: #fff; }
.filters button[class*="status-"]::before { content: ""; display: inline-block; width: 8px; height: 8px;
  border-radius: 50%; margin-right: 6px; background: var(--accent, var(--other)); }
.approvals { margin-top: 10px; padding: 6px 10px; border-radius: 6px; background: #fff7ed; font-size: 13px; }
.approvals .save[aria-disabled="true"] { color: var(--muted); pointer-events: none; text-decoration: none; }
.approvals .hint { color: var(--muted); font-size: 12px; }
.badge { display: inline-block; border-radius: 999px; padding: 1px 9px; font-size: 12px; font-weight: 600;
  color: #fff; background: var(--other); white-space: nowrap; }
.status-done { --accent: var(--done); } .status-skipped { --accent: var(--skipped); }
.status-failed { --accent: var(--failed); } .status-reused { --accent: var(--reused); }
.status-review { --accent: var(--review); }
.badge[class*="status-"] { background: var(--accent, var(--other)); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 14px;
  padding: 16px 24px 32px; align-items: start; }
.card { background: var(--card); border: 1px solid var(--line); border-top: 4px solid var(--accent, var(--other));
  border-radius: 10px; padding: 10px 12px; min-width: 0; box-shadow: 0 1px 2px rgba(0,0,0,.04);
  content-visibility: auto; contain-intrinsic-size: auto 400px; }
.card[hidden] { display: none; }
.card > header { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
.card h2 { margin: 0; font-size: 15px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.meta { margin: 2px 0 8px; color: var(--muted); font-size: 12px; }
figure { margin: 0; min-width: 0; }
.screen { position: relative; aspect-ratio: 1; background: #e9ebef; border-radius: 6px; overflow: hidden; }
.screen.blank { aspect-ratio: auto; height: 56px; }
.screen img, .screen video { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain; }
.screen video { opacity: 0; }
.screen video.live { opacity: 1; }
.screen .none { display: flex; align-items: center; justify-content: center; height: 100%; color: var(--muted);
  border: 2px dashed #cfd4dc; border-radius: 6px; background: #f7f8fa; }
figcaption { font-size: 11px; color: var(--muted); margin-top: 3px; }
figcaption a { color: inherit; }
.checks { width: 100%; border-collapse: collapse; margin-top: 8px; font-size: 12px; background: #fff7ed; }
.checks caption { text-align: left; font-weight: 600; color: #9a4d04; padding-bottom: 2px; }
.checks th { text-align: left; font-weight: 400; overflow-wrap: anywhere; padding: 1px 4px; }
.checks td { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; padding: 1px 4px; }
.decide { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-top: 8px; }
.decide .note { flex: 1 1 100%; min-width: 0; font: inherit; font-size: 12px; padding: 3px 6px;
  border: 1px solid var(--line); border-radius: 6px; }
.decide button[data-decision="approve"][aria-pressed="true"] { background: var(--done); color: #fff;
  border-color: var(--done); }
.decide button[data-decision="reject"][aria-pressed="true"] { background: var(--failed); color: #fff;
  border-color: var(--failed); }
.decide .csv-line { flex-basis: 100%; font-size: 11px; user-select: all; overflow-wrap: anywhere; }
.decide .csv-line:empty { display: none; }
.error { margin-top: 8px; padding: 8px 10px; border-radius: 6px; background: #fdecec; color: #8e1c1c;
  font-size: 13px; overflow-wrap: anywhere; }
.error pre { white-space: pre-wrap; font-size: 11px; margin: 4px 0 0; }
.error summary { cursor: pointer; font-size: 12px; margin-top: 4px; }
.models { display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; margin: 8px 0 0; font-size: 12px; }
.models dt { color: var(--muted); }
.models dd { margin: 0; overflow-wrap: anywhere; }
.timings { margin-top: 6px; font-size: 12px; }
.timings summary { cursor: pointer; color: var(--muted); }
.timings table { width: 100%; border-collapse: collapse; }
.timings th { text-align: left; font-weight: 400; color: var(--muted); width: 64px; padding: 1px 0; }
.timings .bar span { display: block; height: 6px; min-width: 2px; border-radius: 3px; background: #8793a6; }
.timings .secs { text-align: right; width: 64px; font-variant-numeric: tabular-nums; }
.timings tr.cached .bar span { background: #d5d9e0; }
.empty { color: var(--muted); }
"""

JS = """
(function () {
  'use strict';
  var cards = Array.prototype.slice.call(document.querySelectorAll('article.card'));

  // status filter
  var buttons = document.querySelectorAll('.filters button');
  buttons.forEach(function (button) {
    button.addEventListener('click', function () {
      var wanted = button.getAttribute('data-filter');
      buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b === button)); });
      cards.forEach(function (card) { card.hidden = wanted !== '' && card.getAttribute('data-status') !== wanted; });
    });
  });

  // videos: a <video> only while its card is on screen, removed (and its decoder freed) when the card leaves;
  // the thumbnail underneath shows until the video plays
  function attach(screen) {
    if (screen.querySelector('video')) { return; }
    var video = document.createElement('video');
    video.muted = true;
    video.loop = true;
    video.playsInline = true;
    video.setAttribute('muted', '');
    video.setAttribute('playsinline', '');
    video.addEventListener('playing', function () { video.classList.add('live'); });
    video.src = screen.getAttribute('data-video');
    screen.appendChild(video);
    var playing = video.play();
    if (playing) { playing.catch(function () {}); }  // detached again before it started
  }
  function detach(screen) {
    var video = screen.querySelector('video');
    if (!video) { return; }
    video.pause();
    video.removeAttribute('src');
    video.load();  // drops the media resource now rather than at garbage collection
    video.remove();
  }
  var watcher = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) { (entry.isIntersecting ? attach : detach)(entry.target); });
  }, { rootMargin: '100px 0px' });
  document.querySelectorAll('.screen[data-video]').forEach(function (screen) { watcher.observe(screen); });

  // approve / reject on cards held for review: the approvals.csv line per card, and the whole file
  var held = cards.filter(function (card) { return card.querySelector('.decide'); });
  var bar = document.querySelector('.approvals');
  if (!held.length || !bar) { return; }
  var storeKey = 'animate-products approvals ' + location.pathname;
  var decisions = {};  // product_id -> [decision, note]
  try { decisions = JSON.parse(localStorage.getItem(storeKey) || '{}') || {}; } catch (error) { decisions = {}; }
  function csvField(text) {
    return /[",\\r\\n]|^\\s|\\s$/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function csvLine(id) { return [id, decisions[id][0], decisions[id][1]].map(csvField).join(','); }
  var link = bar.querySelector('a.save'), tally = bar.querySelector('.tally'), fileUrl = null;
  function refresh(card) {
    var id = card.getAttribute('data-product-id'), decided = decisions[id];
    card.querySelectorAll('[data-decision]').forEach(function (button) {
      button.setAttribute('aria-pressed', String(!!decided && button.getAttribute('data-decision') === decided[0]));
    });
    card.querySelector('.csv-line').textContent = decided ? csvLine(id) : '';
    try { localStorage.setItem(storeKey, JSON.stringify(decisions)); } catch (error) { /* private mode */ }
    var lines = held.map(function (c) { return c.getAttribute('data-product-id'); })
      .filter(function (pid) { return decisions[pid]; }).map(csvLine);
    tally.textContent = lines.length + ' of ' + held.length + ' held products decided';
    if (fileUrl) { URL.revokeObjectURL(fileUrl); }
    fileUrl = lines.length ? URL.createObjectURL(new Blob(['product_id,decision,note\\n' + lines.join('\\n') + '\\n'],
                                                          { type: 'text/csv' })) : null;
    if (fileUrl) { link.href = fileUrl; } else { link.removeAttribute('href'); }
    link.setAttribute('aria-disabled', String(!fileUrl));
  }
  held.forEach(function (card) {
    var id = card.getAttribute('data-product-id'), note = card.querySelector('.note');
    if (decisions[id]) { note.value = decisions[id][1]; }
    card.querySelectorAll('[data-decision]').forEach(function (button) {
      button.addEventListener('click', function () {
        var decision = button.getAttribute('data-decision');
        if (decisions[id] && decisions[id][0] === decision) { delete decisions[id]; }  // a second click undoes
        else { decisions[id] = [decision, note.value.trim()]; }
        refresh(card);
      });
    });
    note.addEventListener('input', function () {
      if (decisions[id]) { decisions[id][1] = note.value.trim(); refresh(card); }
    });
    if (decisions[id]) { refresh(card); }
  });
  refresh(held[0]);
})();
"""
