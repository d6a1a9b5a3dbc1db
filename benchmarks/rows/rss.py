"""Row "rss": resident memory per idle worker (KiB per worker, lower is better), at
10,000 workers (1,000 with ``--quick``).

Each run is a fresh Python process (``run.py --rss-child KIND N WARMUP``, killed if it
overruns ``CHILD_TIMEOUT``) that starts ``WARMUP`` workers, waits until every started
thread is idle (and passing ones, like the registry's starter threads, have ended),
collects garbage, reads its resident set size, starts ``N`` more, settles again and
reads it again: the growth over ``N`` is the result. Ours: workers of one registry
started with `GenRegistry.lookup_or_start` (plain GenServers that keep their thread).
Raw: threads each blocked on one shared `threading.Event`, the least any thread-based
worker can occupy. Pykka: started ``ThreadingActor``s. The runs of the contenders are
interleaved (3 each, 1 with ``--quick``), medians. Target: within 1.5x of raw.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable

from harness import (
    PykkaTrivial,
    Row,
    Settings,
    benchmark,
    live_threads,
    pykka,
    rotations,
    settle,
    start_registry,
    thread_headroom,
)

from genregistry import GenRegistry
from parent import GenServer

RSS_WORKERS, RSS_WARMUP, RSS_RUNS = 10_000, 300, 3
RSS_WORKERS_QUICK, RSS_WARMUP_QUICK, RSS_RUNS_QUICK = 1_000, 100, 1
RSS_KINDS = ("ours", "raw", "pykka")
CHILD_TIMEOUT = 300.0  # seconds; a child still running then is killed
RUN_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run.py")


class RegWorker(GenServer):
    """The registry worker of this row: nothing but the defaults (it keeps its thread)."""


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_child(kind: str, n: int, warmup: int) -> int:
    """Run in a fresh process: start ``warmup`` idle workers of ``kind``, then ``n``
    more, and print the resident-memory growth of the ``n`` in bytes. Ends with
    ``os._exit``: the kernel reclaims the threads at once (stopping them one by one
    would only cost time; a raw ``Event.set`` for 10k waiters takes tens of seconds)."""
    start: Callable[[int], object]
    if kind == "ours":
        start_registry(RegWorker)

        def start(i: int) -> object:
            return GenRegistry.lookup_or_start(RegWorker, i)

    elif kind == "raw":
        event = threading.Event()
        ready = threading.Semaphore(0)

        def idle() -> None:
            ready.release()
            event.wait()

        def start(i: int) -> object:
            thread = threading.Thread(target=idle, daemon=True)
            thread.start()
            ready.acquire()
            return thread

    elif kind == "pykka" and pykka is not None:

        def start(i: int) -> object:
            return PykkaTrivial.start()

    else:
        raise SystemExit(f"unknown RSS contender {kind!r}")
    base = live_threads()
    keep = [start(i) for i in range(warmup)]
    settle(base + warmup)
    before = _resident_bytes()
    keep += [start(warmup + i) for i in range(n)]
    settle(base + warmup + n)
    growth = _resident_bytes() - before
    print(f"rss_growth={growth} workers={n}", flush=True)
    os._exit(0)


def _run_rss_child(kind: str, n: int, warmup: int) -> int:
    """One child run; returns the growth in bytes. ``subprocess.run`` kills the child
    if it overruns ``CHILD_TIMEOUT`` or if anything interrupts the wait."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["parent"].__file__ or "")))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, RUN_PY, "--rss-child", kind, str(n), str(warmup)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env=env,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("rss_growth="):
        raise RuntimeError(
            f"RSS child {kind!r} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return int(lines[-1].split()[0].split("=")[1])


@benchmark("rss")
def bench_rss(settings: Settings) -> list[Row]:
    if settings.quick:
        n, warmup, runs = RSS_WORKERS_QUICK, RSS_WARMUP_QUICK, RSS_RUNS_QUICK
    else:
        n, warmup, runs = RSS_WORKERS, RSS_WARMUP, RSS_RUNS
    kinds = [k for k in RSS_KINDS if k != "pykka" or pykka is not None]
    if n + warmup + 1_000 > thread_headroom():
        raise RuntimeError(f"not enough threads left on this machine for {n:,} workers")
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for kind in rotations(kinds, runs):
        samples[kind].append(_run_rss_child(kind, n, warmup) / n / 1024)
    kib = {k: statistics.median(v) for k, v in samples.items()}
    notes = [
        f"{k}: {', '.join(f'{x:.1f}' for x in v)} KiB/worker "
        f"({n:,} workers after {warmup} warm-up, fresh process per run)"
        for k, v in samples.items()
    ]
    if settings.quick:
        notes.append(f"QUICK: {n:,} workers and {runs} run instead of {RSS_WORKERS:,} and 3")
    return [
        Row(
            name=f"RSS per idle worker, {n:,} workers" + (" (quick)" if settings.quick else ""),
            unit="KiB/worker",
            ours=kib["ours"],
            raw=kib["raw"],
            pykka=kib.get("pykka"),
            ratio_limit=1.5,
            target="<= 1.5x raw",
            notes=notes,
        )
    ]
