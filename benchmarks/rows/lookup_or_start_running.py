"""Row "lookup_or_start_running": `GenRegistry.lookup_or_start` of an id that is already
running (ns per call, lower is better).

Ours: ``GenRegistry.lookup_or_start(Sleeper, id)`` from the main thread, with a registry
(by name) of 1,000 live, hibernated workers, the ids visited in a shuffled order over
the whole table, as in the lookup row. A running id must be answered in the caller's
thread, without a message to the registry: the same read of the shared table as
``lookup``. Raw: the lookup row's raw contender (``dict.get`` behind one Python call,
over a copy of the same table, the same ids in the same order). Pykka has no
equivalent (n/a). Target: within 1.8x of raw.
"""

from __future__ import annotations

import random

from harness import Row, Settings, benchmark, compare, cycled_calls, time_row

from genregistry import GenRegistry
from rows.lookup import SEED, Sleeper, grow, raw_lookup, shuffled, sleepers

RUNNING_WORKERS = 1_000


@benchmark("lookup_or_start_running")
def bench_lookup_or_start_running(settings: Settings) -> list[Row]:
    with sleepers() as table:
        note = grow(table, RUNNING_WORKERS)
        ids = shuffled(list(table), random.Random(SEED))
        assert GenRegistry.lookup_or_start(Sleeper, ids[0]) is table[ids[0]]
        s = compare(
            settings,
            {
                "ours": cycled_calls(GenRegistry.lookup_or_start, Sleeper, ids),
                "raw": raw_lookup(table, ids),
            },
        )
        if GenRegistry.count(Sleeper) != RUNNING_WORKERS:  # every id was running
            raise RuntimeError(f"the registry holds {GenRegistry.count(Sleeper)} ids")
    name = f"lookup_or_start, running id ({RUNNING_WORKERS:,} hibernated workers)"
    return [time_row(name, "ns/call", s, ratio_limit=1.8, target="<= 1.8x raw", notes=[note])]
