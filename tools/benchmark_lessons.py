"""Time every lesson from a fresh kernel and print one line of figures per lesson.

Each solutions/NN_slug/NN_slug.ipynb is run top to bottom in a new kernel, as a student's
"Restart Kernel and Run All Cells" would, with the answers filled in. The figures printed
are the wall time of the whole run (kernel start included, widget cells left out), the
slowest cell, and the kernel's peak resident memory. The course's target is under 30 s for
lesson 00 and under 45 s for every other lesson on two laptop CPU cores; this script
reports, it does not judge.

Usage:
    python tools/benchmark_lessons.py                      # every lesson
    python tools/benchmark_lessons.py 00_getting_started   # some lessons
    python tools/benchmark_lessons.py --repeat 3           # the fastest of 3 runs, and the slowest
    python tools/benchmark_lessons.py 04_saliency --threads 1 2 --busy 1
        # how the number of torch threads (env.set_threads) fares, alone and next to one
        # busy process (another notebook, a browser tab, a virus scan...)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[1]
PEAK_MEMORY_CODE = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def benchmark(path: Path) -> dict:
    """Run one notebook; return its wall time, slowest cell and peak kernel memory."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CODE))
    client = NotebookClient(
        nb,
        timeout=600,
        # As in nbgrader_config.py: widget cells get 30 s, because the executor now and then
        # misses their end (jupyter/nbclient issue 312) and would otherwise wait 600 s.
        timeout_func=lambda cell: 30 if "interact(" in cell.source else 600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    cell_times = []
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            cell_start = time.perf_counter()
            client.execute_cell(cell, index)
            cell_times.append((time.perf_counter() - cell_start, index))
    total = time.perf_counter() - start
    # Widget cells are left out of the figures: their run time is mostly the executor waiting
    # for an end it sometimes misses (the 30 s above), not computing.
    widgets = sum(t for t, i in cell_times if "interact(" in nb.cells[i].source)
    peak_kib = int(nb.cells[-1].outputs[0]["text"].strip())  # ru_maxrss is in KiB on Linux
    slowest, slowest_index = max(
        (t, i) for t, i in cell_times[:-1] if "interact(" not in nb.cells[i].source
    )
    return {
        "total_s": total - widgets,
        "widget_s": widgets,
        "slowest_s": slowest,
        "slowest_cell": slowest_index,
        "peak_mib": peak_kib / 1024,
    }


def _spin() -> None:
    while True:  # a CPU-bound neighbour, like a second notebook training something
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="lesson folder names (default: all)")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[None],
        help="run each lesson once per number of torch threads (COURSE_NUM_THREADS); "
        "default: the kernel's own choice (env.set_threads)",
    )  # fmt: skip
    parser.add_argument(
        "--busy", type=int, default=0, help="busy-looping processes to run alongside (default 0)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="run each lesson this many times and print the fastest run, with the slowest "
        "total beside it: on a shared or virtual machine one run can be 10-20%% slow",
    )  # fmt: skip
    args = parser.parse_args(argv)
    paths = sorted((REPO_ROOT / "solutions").glob("*/*.ipynb"))
    if args.names:
        paths = [p for p in paths if p.parent.name in args.names]
    neighbours = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for process in neighbours:
        process.start()
    print(f"{os.cpu_count()} CPUs, {args.busy} busy neighbour process(es)")
    print(
        f"{'lesson':<32} {'threads':>7} {'total':>8} {'slowest cell':>16} {'peak memory':>12}"
        + (f"  {'slowest run':>11}" if args.repeat > 1 else "")
    )
    try:
        for path in paths:
            for threads in args.threads:
                if threads is not None:
                    os.environ["COURSE_NUM_THREADS"] = str(threads)  # read by env.set_threads
                runs = [benchmark(path) for _ in range(max(1, args.repeat))]
                r = min(runs, key=lambda run: run["total_s"])
                slowest = f"{r['slowest_s']:.1f} s (#{r['slowest_cell']})"
                shown = "default" if threads is None else threads
                spread = max(run["total_s"] for run in runs)
                print(
                    f"{path.parent.name:<32} {shown:>7} {r['total_s']:>6.1f} s {slowest:>16} "
                    f"{r['peak_mib']:>8.0f} MiB" + (f"  {spread:>9.1f} s" if len(runs) > 1 else "")
                )
    finally:
        for process in neighbours:
            process.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
