"""Per-stage seconds, products per minute and peak memory for the example catalog, run from scratch.

    python bench/pipeline_bench.py [--catalog examples/catalog.csv] [--workers 1] [--size PX] [--frames N]

Prints one row per product and a summary; nothing is timed inside tests.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.runner import make_plan, run_plan
from pipeline.stages.base import STAGE_ORDER

REPO = Path(__file__).resolve().parent.parent


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child (worker processes), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=REPO / "examples" / "catalog.csv")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", type=int, default=None, help="motion working-size cap (default: crop size)")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--keep", type=Path, help="keep the run's output in this folder (recomputed from scratch)")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        config = PipelineConfig(output=out, workers=args.workers, size=args.size, frames=args.frames,
                                overwrite=True).validate()
        started = time.perf_counter()
        report = run_plan(make_plan(args.catalog, config), config)
        wall = time.perf_counter() - started
        report.write()
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    header = f"{'product':<16}{'status':<9}" + "".join(f"{s:>10}" for s in STAGE_ORDER) + f"{'total':>10}"
    print(header)
    totals = dict.fromkeys(STAGE_ORDER, 0.0)
    for product in report.products:
        seconds = [product.stage_seconds.get(s, 0.0) for s in STAGE_ORDER]
        for stage, value in zip(STAGE_ORDER, seconds):
            totals[stage] += value
        print(f"{product.product_id:<16}{product.status:<9}" + "".join(f"{v:>10.2f}" for v in seconds)
              + f"{sum(seconds):>10.2f}")
    ok = sum(1 for p in report.products if p.ok)
    print(f"{'mean':<25}" + "".join(f"{totals[s] / max(1, ok):>10.2f}" for s in STAGE_ORDER))
    analysis = sum(report.driving_seconds.values())
    own, children = peak_rss_mib()
    print(f"\nproducts: {ok}/{len(report.products)} ok, workers {args.workers}, motion size {args.size or 'crop'}, "
          f"frames {args.frames or 'clip length'}")
    print(f"driving-clip analysis (once per clip, cached): {analysis:.2f} s for {len(report.driving_seconds)} clip(s)")
    print(f"wall time {wall:.1f} s -> {ok / wall * 60:.2f} products per minute (including clip analysis)")
    print(f"peak memory: main process {own:.0f} MiB, largest worker {children:.0f} MiB")
    print(f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
