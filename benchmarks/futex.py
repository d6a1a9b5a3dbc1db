"""Futex hash benchmark: a round trip between two threads while many idle threads are alive.

Run from the repository root::

    PYTHONPATH=. python benchmarks/futex.py                  # 0, 2,000, 20,000 threads, ~45 s
    PYTHONPATH=. python benchmarks/futex.py --quick          # 0 and 2,000 idle threads, ~5 s
    PYTHONPATH=. python benchmarks/futex.py --threads 10000 --reps 7 --rounds 4000

Since Linux 6.16 a multi-threaded process gets a private futex hash sized from the CPU
count (16 slots on 2 CPUs), and every futex wake walks its slot past the waiters of all
the other futexes hashed there: with thousands of idle threads parked, each hand-off
between two threads slows down. ``parent._futex.use_global_hash`` moves the process to
the kernel's global hash (see that module's docstring).

Each configuration runs in its own child process (the switch is one-way and
process-wide), pinned to CPU 0 like ``run.py``: a median over ``--reps`` repetitions of
``--rounds`` round trips, in microseconds, with N idle threads alive and
without (``0``, the baseline); the full run adds 2,000 between the two:

* raw: ``put``/``get`` over two ``SimpleQueue`` objects between the main thread and one
  echo thread; the N idle threads wait on one ``threading.Event`` (each on a lock of its
  own, hence a futex of its own);
* ours: ``gen_server.call`` to a trivial ``GenServer``, with N idle ``GenServer``
  workers alive (``Idle.start()``: one thread each today).

"private" children run with ``PARENT_FUTEX_HASH=private`` (so that the runtime's own
switch cannot kick in); after their measurement they call ``use_global_hash()`` with the
N threads still alive and measure again ("switched late": what the runtime's
``maybe_switch`` does once 1,000 processes are live). "global" children call
``use_global_hash()`` first thing, before any thread exists. Every child stops all it
started and reports the threads it left, if any.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from queue import SimpleQueue
from typing import Any

QUICK_THREADS = 2_000

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# -- the child: one configuration ------------------------------------------------------------


@dataclass
class Config:
    kind: str  # "raw" or "ours"
    threads: int  # idle threads (raw) or idle GenServer workers (ours)
    hash: str  # "private" or "global"
    reps: int
    rounds: int


@dataclass
class Result:
    config: Config
    slots: int | None = None  # PR_FUTEX_HASH_GET_SLOTS with everything started
    median_us: float | None = None
    reps_us: list[float] = field(default_factory=list)
    late_median_us: float | None = None  # private only: after use_global_hash()
    late_slots: int | None = None
    switch_ms: float | None = None
    switched: bool | None = None
    start_s: float = 0.0  # starting the idle threads / workers
    stop_s: float = 0.0
    started: int = 0
    left: int = 0  # threads still alive at the end besides the main one
    error: str | None = None


def _measure(round_trips: Callable[[int], float], cfg: Config) -> list[float]:
    round_trips(max(100, cfg.rounds // 10))  # warm-up
    return [round_trips(cfg.rounds) / cfg.rounds * 1e6 for _ in range(cfg.reps)]


def _run_child(cfg: Config) -> Result:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # inherited already; be sure
    from parent import _futex

    res = Result(cfg)
    if cfg.hash == "global":
        res.switched = _futex.use_global_hash()
    if cfg.kind == "raw":
        _run_raw(cfg, res, _futex.slots, _futex.use_global_hash)
    else:
        _run_ours(cfg, res, _futex.slots, _futex.use_global_hash)
    res.left = len(_wait_threads_gone(deadline=time.monotonic() + 5.0))
    return res


def _wait_threads_gone(deadline: float) -> list[threading.Thread]:
    """Join every thread but this one until ``deadline`` (the runtime parks the threads of
    stopped processes for a while before they exit); returns those still alive."""
    me = threading.current_thread()
    for t in threading.enumerate():
        if t is not me:
            t.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threading.enumerate() if t is not me and t.is_alive()]


def _measure_both(
    cfg: Config,
    res: Result,
    round_trips: Callable[[int], float],
    slots: Callable[[], int | None],
    use_global_hash: Callable[[], bool],
) -> None:
    res.slots = slots()
    res.reps_us = _measure(round_trips, cfg)
    res.median_us = statistics.median(res.reps_us)
    if cfg.hash == "private":
        os.environ["PARENT_FUTEX_HASH"] = "global"  # lift the opt-out the child started with
        t0 = time.perf_counter()
        res.switched = use_global_hash()
        res.switch_ms = (time.perf_counter() - t0) * 1e3
        res.late_slots = slots()
        res.late_median_us = statistics.median(_measure(round_trips, cfg))


_STOP = object()


def _echo(requests: SimpleQueue[object], replies: SimpleQueue[object]) -> None:
    get = requests.get
    put = replies.put
    while True:
        item = get()
        if item is _STOP:
            return
        put(item)


def _run_raw(
    cfg: Config,
    res: Result,
    slots: Callable[[], int | None],
    use_global_hash: Callable[[], bool],
) -> None:
    release = threading.Event()
    idle: list[threading.Thread] = []
    requests: SimpleQueue[object] = SimpleQueue()
    replies: SimpleQueue[object] = SimpleQueue()
    echo = threading.Thread(target=_echo, args=(requests, replies), daemon=True)
    try:
        t0 = time.perf_counter()
        for _ in range(cfg.threads):
            t = threading.Thread(target=release.wait, daemon=True)
            t.start()
            idle.append(t)
        res.start_s = time.perf_counter() - t0
        res.started = len(idle)
        echo.start()

        def round_trips(n: int) -> float:
            put = requests.put
            get = replies.get
            t0 = time.perf_counter()
            for _ in range(n):
                put(1)
                get()
            return time.perf_counter() - t0

        _measure_both(cfg, res, round_trips, slots, use_global_hash)
    except RuntimeError as e:  # "can't start new thread": the machine's limit
        res.error = f"{e} after {len(idle):,} threads"
    finally:
        t0 = time.perf_counter()
        if echo.is_alive():
            requests.put(_STOP)
            echo.join()
        release.set()
        for t in idle:
            t.join()
        res.stop_s = time.perf_counter() - t0


def _run_ours(
    cfg: Config,
    res: Result,
    slots: Callable[[], int | None],
    use_global_hash: Callable[[], bool],
) -> None:
    from parent import GenServer, gen_server

    class Idle(GenServer):
        """Nothing but the defaults: waits for a message that never comes."""

    class Echo(GenServer):
        def handle_call(self, request: Any, from_: Any) -> Any:
            return request

    workers = []
    server = None
    try:
        t0 = time.perf_counter()
        for _ in range(cfg.threads):
            workers.append(Idle.start(timeout=60))
        res.start_s = time.perf_counter() - t0
        res.started = len(workers)
        server = Echo.start()
        pid = server

        def round_trips(n: int) -> float:
            call = gen_server.call
            t0 = time.perf_counter()
            for _ in range(n):
                call(pid, 1)
            return time.perf_counter() - t0

        _measure_both(cfg, res, round_trips, slots, use_global_hash)
    except Exception as e:  # StartError / RuntimeError near the thread limit
        res.error = f"{type(e).__name__}: {e} after {len(workers):,} workers"
    finally:
        t0 = time.perf_counter()
        if server is not None:
            gen_server.stop(server)
        for w in reversed(workers):
            gen_server.stop(w)
        res.stop_s = time.perf_counter() - t0


# -- the parent: run every configuration, print the tables -----------------------------------


def _thread_headroom() -> int:
    """How many more threads this machine can start (pid_max / threads-max minus all the
    scheduling entities alive now, other sessions' included)."""
    with open("/proc/loadavg") as f:
        total = int(f.read().split()[3].split("/")[1])
    limits = []
    for path in ("/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"):
        with open(path) as f:
            limits.append(int(f.read()))
    return min(limits) - total


def _spawn(cfg: Config, timeout: float) -> Result:
    env = dict(os.environ)
    env["PARENT_FUTEX_HASH"] = cfg.hash  # "private" opts the runtime's own switch out
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(asdict(cfg))]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result(cfg, error=f"child timed out after {timeout:.0f} s")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-3:]
        return Result(cfg, error=f"child exited {proc.returncode}: {' | '.join(tail)}")
    data = json.loads(lines[-1])
    data["config"] = cfg
    return Result(**data)


def _us(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.1f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=20_000, help="idle threads (default 20000)")
    ap.add_argument("--quick", action="store_true", help="2,000 threads, fewer rounds")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 5; quick 3)")
    ap.add_argument("--rounds", type=int, default=None, help="round trips per repetition")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        cfg = Config(**json.loads(args.child))
        print(json.dumps(asdict(_run_child(cfg))), flush=True)
        return

    t_start = time.perf_counter()
    n = QUICK_THREADS if args.quick and args.threads == ap.get_default("threads") else args.threads
    reps = args.reps or (3 if args.quick else 5)
    rounds = args.rounds or (500 if args.quick else 2_000)
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # the children inherit it
    print(
        f"# futex hash: Python {platform.python_version()}, Linux {platform.release()}, "
        f"{os.cpu_count()} CPUs; every child pinned to CPU {cpu} (os.sched_setaffinity)"
    )
    print(f"# median of {reps} x {rounds:,} round trips, microseconds per round trip")
    headroom = _thread_headroom()
    if n + 1_000 > headroom:
        print(f"# warning: only ~{headroom:,} threads left on this machine for {n:,}")
    sizes = sorted({0, min(n, QUICK_THREADS), n})  # the full run shows 2,000 as well
    results: dict[tuple[str, int, str], Result] = {}
    for size in sizes:
        for kind in ("raw", "ours"):
            for hash_ in ("private", "global"):
                cfg = Config(kind, size, hash_, reps, rounds)
                r = _spawn(cfg, timeout=600)
                results[(kind, size, hash_)] = r
                print(
                    f"#   {kind:4} {size:>6,} idle, {hash_:7}: {_us(r.median_us):>8} us"
                    f" (slots {r.slots}; start {r.start_s:.1f} s, stop {r.stop_s:.1f} s)"
                    + (f"  ERROR {r.error}" if r.error else ""),
                    flush=True,
                )

    print()
    print(
        "| idle threads | raw, private | raw, global | raw private/global "
        "| ours, private | ours, global | ours private/global "
        "| ours/raw private | ours/raw global |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        rp = results[("raw", size, "private")].median_us
        rg = results[("raw", size, "global")].median_us
        op = results[("ours", size, "private")].median_us
        og = results[("ours", size, "global")].median_us
        print(
            f"| {size:,} | {_us(rp)} | {_us(rg)} | {_ratio(rp, rg)} "
            f"| {_us(op)} | {_us(og)} | {_ratio(op, og)} "
            f"| {_ratio(op, rp)} | {_ratio(og, rg)} |"
        )
    print()
    print(
        "| idle threads | kind | switch late (ms) | private -> switched late (us) "
        "| start N: private / global (s) | stop N: private / global (s) |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    for size in sizes:
        for kind in ("raw", "ours"):
            p = results[(kind, size, "private")]
            g = results[(kind, size, "global")]
            switch = "n/a" if p.switch_ms is None else f"{p.switch_ms:.1f}"
            if p.switched is False:
                switch += " (unsupported)"
            print(
                f"| {size:,} | {kind} | {switch} "
                f"| {_us(p.median_us)} -> {_us(p.late_median_us)} "
                f"| {p.start_s:.1f} / {g.start_s:.1f} | {p.stop_s:.1f} / {g.stop_s:.1f} |"
            )
    problems = [
        f"{r.config.kind} {r.config.threads:,} {r.config.hash}: "
        + (r.error or f"{r.left} threads left behind")
        for r in results.values()
        if r.error or r.left
    ]
    for line in problems:
        print(f"\nwarning: {line}", file=sys.stderr)
    slots = {k: r.slots for k, r in results.items() if k[1]}
    print(f"\n(futex hash slots seen with N alive: {slots}; 0 = global)")
    print(f"({time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
