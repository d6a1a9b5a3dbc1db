"""Benchmarks: each of our mechanisms beside the raw stdlib limit and pykka, in one run.

Run from the repository root::

    PYTHONPATH=. python benchmarks/run.py                # full run (about 3 minutes)
    PYTHONPATH=. python benchmarks/run.py --quick        # smoke test (about 20 s)
    PYTHONPATH=. python benchmarks/run.py --only call    # some rows only (repeatable)
    PYTHONPATH=. python benchmarks/run.py --no-pin       # let threads float over CPUs

The whole process is pinned to one CPU first (see docs/performance.md): on a 2-vCPU VM
a hand-off between threads on different CPUs costs tens of microseconds, which would
drown what we measure.

This file is the entry point only: ``harness.py`` holds what the rows share (timing,
the row registry, the table), and ``rows/`` one module per row, in the table's order
``rows.ROWS``. Each row module's docstring says what it measures.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # imported rather than run as a script: find harness and rows
    sys.path.insert(0, HERE)

import rows  # noqa: E402
from harness import (  # noqa: E402
    BENCHMARKS,
    Row,
    Settings,
    live_threads,
    markdown_table,
    pin_to_one_cpu,
    pykka,
    pykka_version,
    wait_threads_below,
)

from parent import _pool  # noqa: E402

rows.load()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="short run (smoke test, < 30 s)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this benchmark (repeatable); one of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin to (default 0)")
    parser.add_argument("--reps", type=int, help="repetitions per contender (default 7)")
    parser.add_argument(  # internal: one run of the RSS row in a fresh process
        "--rss-child", nargs=3, metavar=("KIND", "N", "WARMUP"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    unknown = [n for n in args.only or [] if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    return args


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rss_child is not None:
        from rows.rss import rss_child

        kind, n, warmup = args.rss_child
        return rss_child(kind, int(n), int(warmup))
    # a SIGTERM unwinds like an error, so that every row's cleanup runs and a running
    # child process is killed (subprocess.run kills its child on any exception)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.no_pin:
        print(f"not pinned: threads may run on CPUs {sorted(os.sched_getaffinity(0))}")
    else:
        cpu, before = pin_to_one_cpu(args.cpu)
        print(
            f"pinned the whole process (all threads) to CPU {cpu} "
            f"(was {sorted(before)}); use --no-pin to compare"
        )
    settings = Settings(reps=3, rep_seconds=0.1, quick=True) if args.quick else Settings()
    if args.reps is not None:
        settings = dataclasses.replace(settings, reps=args.reps)
    print(
        f"{datetime.date.today()} | Python {platform.python_version()} "
        f"({platform.python_implementation()}) | {platform.machine()} | "
        f"{os.cpu_count()} CPUs | pykka {pykka_version()} | "
        f"{settings.reps} reps of ~{settings.rep_seconds} s, medians"
        + (" | QUICK" if settings.quick else "")
    )
    names = args.only or list(BENCHMARKS)
    table: list[Row] = []
    t0 = time.perf_counter()
    try:
        for name in names:
            new = BENCHMARKS[name](settings)
            for row in new:
                for note in row.notes:
                    print(f"  {name}: {note}")
            table.extend(new)
    finally:
        if pykka is not None:
            pykka.ActorRegistry.stop_all()
    print()
    print(markdown_table(table))
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    wait_threads_below(1, timeout=5.0)
    if live_threads() > 1:
        left = [t for t in threading.enumerate()[1:] if not _pool.is_parked(t)]
        print(f"warning: threads left running: {left}", file=sys.stderr)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
