"""Stress of virtual workers: 16 threads hammer 1,000 ids of one registry with
`GenRegistry.call` and `GenRegistry.cast` (random ids, a short pause now and then)
while workers passivate after 10 ms idle, and, in the second configuration, are
evicted at ``max_workers=100``.

Each configuration runs for ``GENREGISTRY_STRESS_SECONDS`` seconds (default 3.0; the
seeds are fixed). Checked at the end: no request failed (``StartError("max_workers")``
included: with 16 threads, 100 workers are never all busy), no id ever had two live
activations (each ``init`` looks for a live one in the `Book`), the limit was never
exceeded, every call and cast is in the count its id saved (the workers trap exits, so
stopping the registry saves the last activations too), and passivation really did
happen, many times.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Hashable

import pytest
from test_virtual_workers import Book, TrappingTally

from genregistry import GenRegistry
from parent import gen_server

pytestmark = pytest.mark.timeout(600)

SECONDS = float(os.environ.get("GENREGISTRY_STRESS_SECONDS", "3.0"))
THREADS = 16
IDS = 1000
HOT = 50


class Load:
    """What the threads did: requests done per id, and the failures."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done: Counter[Hashable] = Counter()
        self.failures: list[BaseException] = []  # StartError("max_workers") included


def hammer(book: Book, load: Load, seed: int, deadline: float, again: float) -> None:
    rng = random.Random(seed)
    pause = threading.Event()
    done: Counter[Hashable] = Counter()
    failures: list[BaseException] = []
    id = 0
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < again:  # the same id again, at about the moment it passivates
            pause.wait(rng.uniform(0.008, 0.012))
        else:
            id = rng.randrange(HOT if roll < 2 * again else IDS)
        args = [book, id]
        try:
            if rng.random() < 0.5:
                GenRegistry.call(TrappingTally, id, "inc", args)
            else:
                GenRegistry.cast(TrappingTally, id, "inc", args)
        except BaseException as exc:
            failures.append(exc)
        else:
            done[id] += 1
        if rng.random() < 0.002:
            pause.wait(0.02)  # a quiet moment: the workers this thread used go idle
    with load.lock:
        load.done.update(done)
        load.failures.extend(failures)


@pytest.mark.parametrize(
    ("max_workers", "again"),
    [(None, 0.3), (100, 0.0)],
    ids=["no-limit", "max_workers=100"],
)
def test_calls_and_casts_racing_passivation_are_all_handled_once(
    max_workers: int | None, again: float, request: pytest.FixtureRequest
) -> None:
    """``again``: how often a thread sends its id a second request about 10 ms after
    the first, just as that worker passivates (and as often, a request to one of 50 hot
    ids). Without ``max_workers``, threads switch every microsecond and often come
    again: about a dozen requests a second then reach a worker that has already decided
    to passivate (a few a second without either). With ``max_workers``, they switch as
    usual and come again never: the most load, so that the live workers come near the
    limit (75 to 100 of them at the peak on a 2-core machine) and starts evict."""
    if max_workers is None:
        request.getfixturevalue("tiny_switch_interval")
    book = Book(track_peak=True)
    load = Load()
    registry = GenRegistry.start_link(TrappingTally, idle_timeout=0.01, max_workers=max_workers)
    started = time.monotonic()
    try:
        deadline = started + SECONDS
        threads = [
            threading.Thread(target=hammer, args=(book, load, seed, deadline, again))
            for seed in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SECONDS + 60.0)
        assert not any(thread.is_alive() for thread in threads), "a request hangs"
    finally:
        gen_server.stop(registry, timeout=60.0)
    elapsed = time.monotonic() - started
    requests = sum(load.done.values())
    passivations = book.passivations()
    print(
        f"\nmax_workers={max_workers}, again={again}: {requests} requests, "
        f"{passivations} passivations, {sum(book.inits.values())} activations, "
        f"peak {book.peak} live, in {elapsed:.1f} s"
    )
    assert load.failures == [], load.failures[:3]
    assert book.overlaps == []
    if max_workers is not None:
        assert book.peak <= max_workers
    wrong = {
        id: (book.saved.get(id, 0), load.done[id])
        for id in set(book.saved) | set(load.done)
        if book.saved.get(id, 0) != load.done[id]
    }
    assert wrong == {}, "id: (count saved, requests done)"
    assert passivations >= max(100, requests // 10)
