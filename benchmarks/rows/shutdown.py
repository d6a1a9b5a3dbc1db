"""Rows "shutdown": stopping 1,000 children (250 with ``--quick``), in ms, report only.

Ours (a): ``Parent.shutdown_all()`` inside a `Parent` whose trivial GenServer children
were started with ``start_child``, driven from outside by a call (whose own round trip
is included). Ours (b): ``supervisor.stop(sup)`` of a supervisor started with the
children (stopped one at a time in reverse order, as a supervisor promises). Raw: the
threads blocked on one `threading.Event`, ``event.set()`` then ``join()`` of each: waking
them and waiting for them to end is the least any shutdown of thread-backed children can
do. Pykka: ``ActorRegistry.stop_all()``. Each shot sets up the children untimed and
times one stop (`harness.compare_shots`, 7 shots each, 3 with ``--quick``, interleaved,
median). Each "ours" row appears twice: "returned" is when the API returned, "threads
ended" when their threads had also finished (raw's ``join`` already waits for that).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from harness import (
    PykkaTrivial,
    Row,
    Settings,
    Trivial,
    benchmark,
    compare_shots,
    live_threads,
    pykka,
    settle,
    wait_threads_below,
)

from parent import From, Parent, gen_server, supervisor

SHUTDOWN_CHILDREN, SHUTDOWN_REPS = 1_000, 7
SHUTDOWN_CHILDREN_QUICK, SHUTDOWN_REPS_QUICK = 250, 3


class Owner(Parent):
    """A parent whose children the benchmark starts and shuts down through calls."""

    def handle_call(self, request: Any, from_: From) -> Any:
        if request[0] == "start":
            for i in range(request[1]):
                self.start_child({"id": i, "start": (Trivial.start_link, [])})
        elif request[0] == "shutdown_all":
            self.shutdown_all()
        return self.num_children()


def shot_shutdown_all(n: int) -> tuple[float, float]:
    base = live_threads()
    owner = Owner.start_link()
    try:
        assert gen_server.call(owner, ("start", n), timeout=None) == n
        settle(base + 1 + n)
        t0 = time.perf_counter()
        left = gen_server.call(owner, ("shutdown_all",), timeout=None)
        t1 = time.perf_counter()
        wait_threads_below(base + 1)  # the owner itself still runs
        t2 = time.perf_counter()
        assert left == 0, left
    finally:
        gen_server.stop(owner)
        wait_threads_below(base)
    return t1 - t0, t2 - t0


def shot_supervisor_stop(n: int) -> tuple[float, float]:
    base = live_threads()
    sup = supervisor.start_link([{"id": i, "start": (Trivial.start_link, [])} for i in range(n)])
    try:
        settle(base + 1 + n)
        t0 = time.perf_counter()
        supervisor.stop(sup)
        t1 = time.perf_counter()
        wait_threads_below(base)
        t2 = time.perf_counter()
    finally:
        if sup.is_alive():
            supervisor.stop(sup)
        wait_threads_below(base)
    return t1 - t0, t2 - t0


def shot_raw_event(n: int) -> tuple[float, float]:
    base = live_threads()
    event = threading.Event()
    ready = threading.Semaphore(0)

    def idle() -> None:
        ready.release()
        event.wait()

    threads = [threading.Thread(target=idle, daemon=True) for _ in range(n)]
    try:
        for thread in threads:
            thread.start()
            ready.acquire()
        settle(base + n)
        t0 = time.perf_counter()
        event.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t0
    finally:
        event.set()
        wait_threads_below(base)
    return elapsed, elapsed


def shot_pykka_stop_all(n: int) -> tuple[float, float]:
    base = live_threads()
    assert not pykka.ActorRegistry.get_all(), "pykka actors left over from another row"
    refs = []
    try:
        for _ in range(n):
            refs.append(PykkaTrivial.start())
        settle(base + n)
        t0 = time.perf_counter()
        pykka.ActorRegistry.stop_all()
        t1 = time.perf_counter()
        wait_threads_below(base)
        t2 = time.perf_counter()
    finally:
        pykka.ActorRegistry.stop_all()
        wait_threads_below(base)
    return t1 - t0, t2 - t0


@benchmark("shutdown")
def bench_shutdown(settings: Settings) -> list[Row]:
    if settings.quick:
        n, reps = SHUTDOWN_CHILDREN_QUICK, SHUTDOWN_REPS_QUICK
    else:
        n, reps = SHUTDOWN_CHILDREN, SHUTDOWN_REPS
    r = compare_shots(
        reps,
        n,
        {
            "shutdown_all": shot_shutdown_all,
            "supervisor.stop": shot_supervisor_stop,
            "raw": shot_raw_event,
            "pykka": shot_pykka_stop_all if pykka else None,
        },
    )
    returned = {k: statistics.median(t[0] for t in v) * 1e3 for k, v in r.items()}
    ended = {k: statistics.median(t[1] for t in v) * 1e3 for k, v in r.items()}
    notes = [
        f"{k}: returned after {', '.join(f'{t[0] * 1e3:.1f}' for t in v)} ms; "
        f"all threads ended after {', '.join(f'{t[1] * 1e3:.1f}' for t in v)} ms "
        f"(median {ended[k]:.1f} ms)"
        for k, v in r.items()
    ]
    rows = []
    for key, label in (
        ("shutdown_all", "Parent.shutdown_all"),
        ("supervisor.stop", "supervisor.stop"),
    ):
        rows.append(
            Row(
                name=f"{label}, {n:,} children (returned)",
                unit="ms",
                ours=returned[key],
                raw=returned["raw"],
                pykka=returned.get("pykka"),
                target="report only (vs raw Event.set + join)",
                notes=notes if key == "shutdown_all" else [],
            )
        )
        rows.append(
            Row(
                name=f"{label}, {n:,} children (threads ended)",
                unit="ms",
                ours=ended[key],
                raw=ended["raw"],
                pykka=ended.get("pykka"),
                target="report only",
            )
        )
    return rows
