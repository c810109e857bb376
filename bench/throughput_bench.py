"""Products per hour for a long catalog with 1 and 2 workers, and the peak memory of the whole process tree,
which must not grow with the catalog's length.

    python bench/throughput_bench.py [--products 50] [--workers 1,2] [-- extra animate-products options]

The catalog cycles through the example photos under distinct product ids (each one is computed: there is
nothing to reuse between ids). Each run is the real command line in a fresh output folder. Memory is the summed
resident set of the command and its worker processes, sampled every 0.2 s; it is reported for the first and
the last fifth of the products so a leak shows as growth. Nothing is timed inside tests.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
FINAL = ("done", "skipped", "reused", "failed")


def make_catalog(folder: Path, count: int) -> Path:
    rows = [line.split(",", 3) for line in (EXAMPLES / "catalog.csv").read_text().splitlines()[1:]]
    lines = ["product_id,image,category"]
    for index in range(count):
        _, image, category, _ = rows[index % len(rows)]
        lines.append(f"item{index:03d},{(EXAMPLES / image).resolve()},{category}")
    path = folder / "catalog.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def tree_rss_mib(root_pid: int) -> float:
    """Summed RSS of `root_pid` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            parents[pid], rss[pid] = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
    family, grew = {root_pid}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in family and pid not in family:
                family.add(pid)
                grew = True
    page = 4096
    return sum(rss.get(pid, 0) for pid in family) * page / 2**20


def run_once(catalog: Path, workers: int, extra: list[str], count: int) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    command = [sys.executable, "-m", "pipeline.cli", str(catalog), "-o", str(out), "--workers", str(workers), *extra]
    finished: list[float] = []
    samples: list[tuple[int, float]] = []  # (products finished so far, MiB)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def read_progress() -> None:
        for line in process.stderr:
            if line.split()[:1] and line.split()[0] in FINAL:
                finished.append(time.perf_counter() - started)

    reader = threading.Thread(target=read_progress, daemon=True)
    reader.start()
    while process.poll() is None:
        samples.append((len(finished), tree_rss_mib(process.pid)))
        time.sleep(0.2)
    reader.join()
    wall = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    if process.returncode not in (0, 3):
        raise SystemExit(f"run failed with exit code {process.returncode}")
    fifth = max(1, count // 5)
    first = [mib for n, mib in samples if n < fifth] or [0.0]
    last = [mib for n, mib in samples if n >= count - fifth] or [0.0]
    steady = finished[-1] - finished[0] if len(finished) > 1 else wall
    return {"wall_s": wall, "products": len(finished), "per_hour": 3600 * len(finished) / wall,
            "steady_per_hour": 3600 * (len(finished) - 1) / steady if steady > 0 else 0.0,
            "peak_mib": max(mib for _, mib in samples), "peak_first_mib": max(first), "peak_last_mib": max(last)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts to run")
    parser.add_argument("extra", nargs="*", help="options passed to animate-products (after --)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    catalog = make_catalog(folder, args.products)
    print(f"{args.products} products, options: {' '.join(args.extra) or '(defaults)'}")
    print(f"{'workers':>7}{'wall s':>9}{'products/h':>12}{'steady/h':>10}{'peak MiB':>10}"
          f"{'first 1/5':>11}{'last 1/5':>10}")
    for workers in (int(w) for w in args.workers.split(",")):
        r = run_once(catalog, workers, args.extra, args.products)
        print(f"{workers:>7}{r['wall_s']:>9.0f}{r['per_hour']:>12.0f}{r['steady_per_hour']:>10.0f}"
              f"{r['peak_mib']:>10.0f}{r['peak_first_mib']:>11.0f}{r['peak_last_mib']:>10.0f}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
