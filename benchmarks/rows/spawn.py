"""Row "spawn": starting a process (us per start, lower is better).

Ours: ``Trivial.start_link()`` of a GenServer with no callbacks; it returns once
``init`` has run in the new process. Raw: ``threading.Thread(target=body).start()``
plus a ready handshake (the new thread puts on a `SimpleQueue` the starter waits on),
the thread then waiting on its own queue to be told to exit: creating an OS thread and
learning that it runs is the least any spawn must do. Pykka: ``ThreadingActor.start()``,
which does less (it does not wait for the actor's thread to run anything beyond
``Thread.start``'s own handshake). Only the starts are timed (`harness.spawn_timer`:
every 100 starts are stopped untimed, so at most 100 are alive). Target: within 2x of
raw. The ``lookup_or_start`` row measures its raw and pykka with the same contenders.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from queue import SimpleQueue
from typing import Any

from harness import (
    Contender,
    PykkaTrivial,
    Row,
    Settings,
    Timer,
    Trivial,
    benchmark,
    compare,
    pykka,
    spawn_timer,
    time_row,
)

from parent import gen_server


def _stop_ours(pids: list[Any]) -> None:
    for pid in pids:
        gen_server.stop(pid)


@contextmanager
def ours_spawn() -> Iterator[Timer]:
    yield spawn_timer(Trivial.start_link, _stop_ours)


def _raw_thread_body(ready: SimpleQueue[None], quit_: SimpleQueue[None]) -> None:
    ready.put(None)  # "I am running": the starter waits for this
    quit_.get()  # then wait to be told to exit


def _raw_start() -> tuple[threading.Thread, SimpleQueue[None]]:
    ready: SimpleQueue[None] = SimpleQueue()
    quit_: SimpleQueue[None] = SimpleQueue()
    thread = threading.Thread(target=_raw_thread_body, args=(ready, quit_), daemon=True)
    thread.start()
    ready.get()
    return thread, quit_


def _raw_stop(started: list[tuple[threading.Thread, SimpleQueue[None]]]) -> None:
    for _, quit_ in started:
        quit_.put(None)
    for thread, _ in started:
        thread.join()


@contextmanager
def raw_spawn() -> Iterator[Timer]:
    yield spawn_timer(_raw_start, _raw_stop)


def _pykka_stop(refs: list[Any]) -> None:
    futures = [ref.stop(block=False) for ref in refs]
    for future in futures:
        future.get()


@contextmanager
def pykka_spawn() -> Iterator[Timer]:
    yield spawn_timer(PykkaTrivial.start, _pykka_stop)


def spawn_contenders(ours: Contender) -> dict[str, Contender | None]:
    """``ours`` beside this row's raw and pykka contenders."""
    return {"ours": ours, "raw": raw_spawn, "pykka": pykka_spawn if pykka else None}


@benchmark("spawn")
def bench_spawn(settings: Settings) -> list[Row]:
    s = compare(settings, spawn_contenders(ours_spawn))
    return [
        time_row(
            "spawn (start_link, init done)", "us/start", s, ratio_limit=2.0, target="<= 2x raw"
        )
    ]
