"""Row "call": the round trip of a call (us per call, lower is better).

Ours: ``gen_server.call(pid, "get")`` to a GenServer whose ``handle_call`` returns a
value, from the main thread. Raw: a server thread looping ``requests.get();
replies.put(value)`` over two `SimpleQueue`s, the caller doing ``requests.put(msg);
replies.get()``: two wake-ups over the cheapest blocking hand-off of the stdlib and
nothing else, so no thread-based call can be faster. Pykka: ``ref.ask("get")``.
Target: within 1.5x of raw, and faster than pykka.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from queue import SimpleQueue
from typing import Any

from harness import Row, Settings, Timer, benchmark, compare, pykka, time_row

from parent import From, GenServer, gen_server


class Value(GenServer):
    """Answers every call with a value; counts casts (the call and cast rows)."""

    def init(self) -> None:
        self.value = 42
        self.casts = 0

    def handle_call(self, request: object, from_: From) -> object:
        if request == "get":
            return self.value
        return self.casts

    def handle_cast(self, request: object) -> None:
        self.casts += 1


STOP_RAW = object()
"""Tells a raw server thread to stop (or, in the cast row, to report)."""

if pykka is not None:

    class PykkaValue(pykka.ThreadingActor):
        use_daemon_thread = True

        def __init__(self) -> None:
            super().__init__()
            self.value = 42
            self.casts = 0

        def on_receive(self, message: Any) -> Any:
            if message == "get":
                return self.value
            if message == "casts":
                return self.casts
            self.casts += 1
            return None

else:  # no pykka: every pykka contender is None, nothing starts this
    PykkaValue = None  # type: ignore[misc]


@contextmanager
def ours_call() -> Iterator[Timer]:
    pid = Value.start_link()

    def run(n: int) -> float:
        call = gen_server.call
        t0 = time.perf_counter()
        for _ in range(n):
            call(pid, "get")
        return time.perf_counter() - t0

    try:
        yield run
    finally:
        gen_server.stop(pid)


def _raw_call_server(requests: SimpleQueue[object], replies: SimpleQueue[object]) -> None:
    get = requests.get
    put = replies.put
    value = 42
    while True:
        if get() is STOP_RAW:
            return
        put(value)


@contextmanager
def raw_call() -> Iterator[Timer]:
    requests: SimpleQueue[object] = SimpleQueue()
    replies: SimpleQueue[object] = SimpleQueue()
    thread = threading.Thread(target=_raw_call_server, args=(requests, replies), daemon=True)
    thread.start()

    def run(n: int) -> float:
        put = requests.put
        get = replies.get
        t0 = time.perf_counter()
        for _ in range(n):
            put("get")
            get()
        return time.perf_counter() - t0

    try:
        yield run
    finally:
        requests.put(STOP_RAW)
        thread.join()


@contextmanager
def pykka_call() -> Iterator[Timer]:
    ref = PykkaValue.start()

    def run(n: int) -> float:
        ask = ref.ask
        t0 = time.perf_counter()
        for _ in range(n):
            ask("get")
        return time.perf_counter() - t0

    try:
        yield run
    finally:
        ref.stop()


@benchmark("call")
def bench_call(settings: Settings) -> list[Row]:
    s = compare(
        settings,
        {"ours": ours_call, "raw": raw_call, "pykka": pykka_call if pykka else None},
    )
    return [
        time_row(
            "call round-trip",
            "us/call",
            s,
            ratio_limit=1.5,
            beat_pykka=True,
            target="<= 1.5x raw, faster than pykka",
        )
    ]
