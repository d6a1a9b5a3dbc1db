"""Row "cast": cast throughput (messages per second, higher is better).

Ours: ``gen_server.cast(pid, 1)`` ``n`` times, then one call whose reply proves that all
``n`` were handled (``handle_cast`` counts them; the count is asserted). Raw: a consumer
thread looping ``message = inbox.get(); handler.handle(message)`` on one `SimpleQueue`
(one Python method call per message, as ``handle_cast`` is), the producer putting ``n``
messages and a sentinel and waiting for the consumer's answer to it. Pykka: ``tell(1)``
``n`` times, then one ``ask``. Pinned, producer and consumer take turns on the CPU, so
the rate is 1 / (one put + one get and dispatch). Target: at least 0.7x of raw's rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from queue import SimpleQueue

from harness import Row, Settings, Timer, benchmark, compare, pykka, stats_notes

from parent import gen_server
from rows.call import STOP_RAW, PykkaValue, Value


@contextmanager
def ours_cast() -> Iterator[Timer]:
    pid = Value.start_link()

    def run(n: int) -> float:
        cast = gen_server.cast
        before = gen_server.call(pid, "casts")
        t0 = time.perf_counter()
        for _ in range(n):
            cast(pid, 1)
        handled = gen_server.call(pid, "casts", timeout=None)
        elapsed = time.perf_counter() - t0
        assert handled == before + n, (handled, before, n)
        return elapsed

    try:
        yield run
    finally:
        gen_server.stop(pid)


class RawHandler:
    """What a raw consumer calls per message (the equivalent of ``handle_cast``)."""

    def __init__(self) -> None:
        self.casts = 0

    def handle(self, message: object) -> None:
        self.casts += 1


def _raw_cast_consumer(
    inbox: SimpleQueue[object], done: SimpleQueue[int], handler: RawHandler
) -> None:
    get = inbox.get
    handle = handler.handle
    while True:
        message = get()
        if message is STOP_RAW:
            done.put(handler.casts)
            continue
        if message is None:
            return
        handle(message)


@contextmanager
def raw_cast() -> Iterator[Timer]:
    inbox: SimpleQueue[object] = SimpleQueue()
    done: SimpleQueue[int] = SimpleQueue()
    handler = RawHandler()
    thread = threading.Thread(target=_raw_cast_consumer, args=(inbox, done, handler), daemon=True)
    thread.start()

    def run(n: int) -> float:
        put = inbox.put
        before = handler.casts
        t0 = time.perf_counter()
        for _ in range(n):
            put(1)
        put(STOP_RAW)
        handled = done.get()
        elapsed = time.perf_counter() - t0
        assert handled == before + n, (handled, before, n)
        return elapsed

    try:
        yield run
    finally:
        inbox.put(None)
        thread.join()


@contextmanager
def pykka_cast() -> Iterator[Timer]:
    ref = PykkaValue.start()

    def run(n: int) -> float:
        tell = ref.tell
        before = ref.ask("casts", block=True)
        t0 = time.perf_counter()
        for _ in range(n):
            tell(1)
        handled = ref.ask("casts", block=True)
        elapsed = time.perf_counter() - t0
        assert handled == before + n, (handled, before, n)
        return elapsed

    try:
        yield run
    finally:
        ref.stop()


@benchmark("cast")
def bench_cast(settings: Settings) -> list[Row]:
    s = compare(
        settings,
        {"ours": ours_cast, "raw": raw_cast, "pykka": pykka_cast if pykka else None},
    )
    return [
        Row(
            name="cast throughput",
            unit="msg/s",
            ours=1 / s["ours"].median,
            raw=1 / s["raw"].median,
            pykka=1 / s["pykka"].median if "pykka" in s else None,
            higher_is_better=True,
            ratio_limit=0.7,
            target=">= 0.7x raw rate",
            notes=stats_notes(s),
        )
    ]
