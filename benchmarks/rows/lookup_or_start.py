"""Row "lookup_or_start": `GenRegistry.lookup_or_start` of a new id (us per start, lower
is better).

Ours: ``GenRegistry.lookup_or_start(NewWorker, new_id)`` with a trivial GenServer
worker; it returns once the worker's ``init`` has run. It goes through the registry
process (a call, a start decided by the registry, the worker linked to it and recorded
in its table). Only the starts are timed; every 100 starts the registry's supervisor is
stopped (untimed, all workers at once) and a fresh one started, so at most 100 workers
are alive, as in the spawn row. Raw and pykka: the spawn row's (``Thread.start`` plus a
ready handshake, and ``ThreadingActor.start()``), measured again in this row's own
interleaved repetitions: a new id needs one new thread whose start has been
acknowledged, and nothing can start a worker in less. Target: within 2x of raw.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from harness import Row, Settings, Timer, benchmark, compare, spawn_timer, start_registry, time_row

from genregistry import GenRegistry
from parent import GenServer, Pid, supervisor
from rows.spawn import spawn_contenders


class NewWorker(GenServer):
    """The registry worker of this row: nothing but the defaults."""


@contextmanager
def ours_lookup_or_start() -> Iterator[Timer]:
    """Starts new ids; every ``SPAWN_BATCH`` starts the registry's supervisor is stopped
    (untimed, all workers at once) and a fresh one started."""
    current = [start_registry(NewWorker)]
    ids = itertools.count()
    lookup_or_start = GenRegistry.lookup_or_start

    def start() -> Pid:
        return lookup_or_start(NewWorker, next(ids))

    def stop_all(_started: list[Pid]) -> None:
        supervisor.stop(current[0])
        current[0] = start_registry(NewWorker)

    try:
        yield spawn_timer(start, stop_all)
    finally:
        supervisor.stop(current[0])


@benchmark("lookup_or_start")
def bench_lookup_or_start(settings: Settings) -> list[Row]:
    s = compare(settings, spawn_contenders(ours_lookup_or_start))
    name = "lookup_or_start, new id (worker's init done)"
    return [time_row(name, "us/start", s, ratio_limit=2.0, target="<= 2x raw")]
