"""Row "lookup": `GenRegistry.lookup` by name (ns per lookup, lower is better), at 10,
1,000, 10,000 and 100,000 ids (10 and 1,000 with ``--quick``), and the growth between
the smallest and the largest table.

Ours: ``GenRegistry.lookup(Sleeper, id)`` from the main thread (a plain thread, not a
process), the registry named after its worker class, the ids visited in a shuffled
order over the whole table. One registry grows from size to size, its workers started
with `GenRegistry.lookup_or_start`: every worker is a real, live process whose ``init``
returns `parent.Hibernate`, so an idle one holds no thread and 100,000 of them fit any
machine (the time their starts took is printed). Raw: ``get(table_copy, id)`` with
``def get(d, k): return d.get(k)``, over a copy of the same table (same keys, same
pids) and the same ids in the same order: a read of a shared dict behind one Python
call is the least any lookup API can cost. Ours also finds the registry's table by
name, guards against an unhashable id and checks that the pid is alive. Pykka:
``ActorRegistry.get_by_urn(urn)`` over as many started actors (it scans them all); its
actors are threads, so it is measured only at the sizes whose threads fit the machine.
Targets: within 3x of raw (the issue; this decides the verdict), within 2x (the
design's bar, shown beside it), and flat from 10 to 100k ids (report only: the growth
row divides the largest size's median by the smallest's, for each contender).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from harness import (
    Contender,
    PykkaTrivial,
    Row,
    Settings,
    benchmark,
    compare,
    cycled_calls,
    live_threads,
    pykka,
    start_registry,
    thread_headroom,
    time_row,
    wait_threads_below,
)

from genregistry import GenRegistry
from parent import GenServer, Hibernate, Pid, supervisor

LOOKUP_SIZES = (10, 1_000, 10_000, 100_000)
LOOKUP_SIZES_QUICK = (10, 1_000)
SEED = 20261121


class Sleeper(GenServer):
    """The worker of the lookup rows: hibernates from the start, so that an idle one
    holds no thread."""

    def init(self) -> Hibernate:
        return Hibernate()


@contextmanager
def sleepers() -> Iterator[dict[str, Pid]]:
    """A registry of `Sleeper` workers, under a supervisor, and this caller's copy of
    its table (id -> pid; `grow` adds to both); stopped on the way out, with every
    thread it started."""
    base = live_threads()
    sup = start_registry(Sleeper)
    try:
        yield {}
    finally:
        supervisor.stop(sup)
        wait_threads_below(base)


def grow(table: dict[str, Pid], size: int, others: int = 0) -> str:
    """Start ids ``"id-<n>"`` with `GenRegistry.lookup_or_start` until ``table`` (and the
    registry) hold ``size``; returns a note of how long that took and of the threads
    alive then (but ``others``: threads started by someone else)."""
    started = size - len(table)
    lookup_or_start = GenRegistry.lookup_or_start
    t0 = time.perf_counter()
    for i in range(len(table), size):
        key = f"id-{i}"
        table[key] = lookup_or_start(Sleeper, key)
    seconds = time.perf_counter() - t0
    if GenRegistry.count(Sleeper) != size:
        raise RuntimeError(f"the registry holds {GenRegistry.count(Sleeper)} ids, not {size}")
    return (
        f"ours: started {started:,} hibernated workers in {seconds:.1f} s "
        f"({seconds / started * 1e6:.0f} us each); then {live_threads() - others} "
        f"threads alive (parked ones and pykka's actors not counted)"
    )


def shuffled(keys: Sequence[str], rng: random.Random) -> list[str]:
    out = list(keys)
    rng.shuffle(out)
    return out


def _get(d: Mapping[str, Pid], key: str) -> Pid | None:
    return d.get(key)


def raw_lookup(table: Mapping[str, Pid], ids: Sequence[str]) -> Contender:
    """The raw contender of the lookup rows: ``_get(copy, id)`` over a copy of
    ``table``, over ``ids`` in their order."""
    return cycled_calls(_get, dict(table), ids)


def _pykka_lookup(urns: Sequence[str]) -> Contender:
    """``get_by_urn(urn)`` over ``urns``: the classmethod's function with its class,
    which is the call a bound ``ActorRegistry.get_by_urn(urn)`` makes."""
    registry = pykka.ActorRegistry
    assert registry.get_by_urn(urns[0]) is not None
    return cycled_calls(vars(registry)["get_by_urn"].__func__, registry, urns)


@benchmark("lookup")
def bench_lookup(settings: Settings) -> list[Row]:
    sizes = LOOKUP_SIZES_QUICK if settings.quick else LOOKUP_SIZES
    rng = random.Random(SEED)
    actors: list[Any] = []
    urns: list[str] = []
    rows: list[Row] = []
    medians: dict[int, dict[str, float]] = {}
    with sleepers() as table:
        try:
            for size in sizes:
                notes = [grow(table, size, others=len(actors))]
                ids = shuffled(list(table), rng)
                assert GenRegistry.lookup(Sleeper, ids[0]) is table[ids[0]]
                contenders: dict[str, Contender | None] = {
                    "ours": cycled_calls(GenRegistry.lookup, Sleeper, ids),
                    "raw": raw_lookup(table, ids),
                }
                if pykka is not None and size - len(actors) + 1_000 <= thread_headroom():
                    while len(actors) < size:
                        ref = PykkaTrivial.start()
                        actors.append(ref)
                        urns.append(ref.actor_urn)
                    contenders["pykka"] = _pykka_lookup(shuffled(urns, rng))
                elif pykka is not None:
                    notes.append(f"pykka skipped at {size:,}: too few threads left")
                s = compare(settings, contenders)
                medians[size] = {k: v.median for k, v in s.items()}
                rows.append(
                    time_row(
                        f"lookup by name, {size:,} ids",
                        "ns/lookup",
                        s,
                        ratio_limit=3.0,
                        alt_limit=2.0,
                        target="<= 3x raw (design: 2x)",
                        notes=notes,
                    )
                )
        finally:
            # one actor at a time: waking 10,000 threads at once on one CPU takes tens
            # of seconds (they all contend for the GIL), stopping them in turn a few
            for ref in reversed(actors):
                ref.stop()
    rows.append(_growth(sizes, medians))
    return rows


def _growth(sizes: Sequence[int], medians: Mapping[int, Mapping[str, float]]) -> Row:
    """The median at the largest size over the median at the smallest (pykka: over the
    sizes it was measured at)."""
    small, large = sizes[0], sizes[-1]
    pykka_sizes = [n for n in sizes if "pykka" in medians[n]]
    growth_pykka = None
    if len(pykka_sizes) > 1:
        growth_pykka = medians[pykka_sizes[-1]]["pykka"] / medians[pykka_sizes[0]]["pykka"]
    return Row(
        name=f"lookup growth, {large:,} ids / {small:,} ids",
        unit="x",
        ours=medians[large]["ours"] / medians[small]["ours"],
        raw=medians[large]["raw"] / medians[small]["raw"],
        pykka=growth_pykka,
        target="flat (design), report only",
        notes=(
            [f"pykka growth is {pykka_sizes[-1]:,} / {pykka_sizes[0]:,} ids"]
            if growth_pykka is not None and pykka_sizes[-1] != large
            else []
        ),
    )
