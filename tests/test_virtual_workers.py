"""Tests of GenRegistry's virtual workers (API.md, "genregistry: virtual workers"): the
``hibernate_after`` / ``idle_timeout`` options, passivation, `GenRegistry.call` and
`GenRegistry.cast`. ``max_workers``, passivation races and a model of all of it are
in tests/test_virtual_workers_capacity.py.

The workers are `Tally` counters whose "database" is a `Book`: ``init`` loads an id's
count from it, ``terminate`` saves it back, and both record the activation, so a test
can tell how many activations an id had, in which order, why each ended, and whether
two of them were ever alive at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from typing import Any, ClassVar

import pytest
from probes import crash_reports
from test_genregistry import Recorder, start_thread

import compat
import parent
from genregistry import GenRegistry
from parent import (
    CallTimeout,
    ExitError,
    GenServer,
    Pid,
    StartError,
    Stop,
    gen_server,
    process,
)
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)

IDLE = ("shutdown", "idle")  # the reason a passivated worker stops with
StartSupervised = Callable[[Any], Pid]


class Book:
    """The workers' database and what they did, under one lock. ``hold``: ids whose
    ``terminate`` waits (``holding`` set) until ``release`` is set before it saves."""

    def __init__(self, track_peak: bool = True) -> None:
        self.lock = threading.Lock()
        self.saved: dict[Hashable, int] = {}
        self.inits: Counter[Hashable] = Counter()
        self.reasons: defaultdict[Hashable, list[Any]] = defaultdict(list)
        self.executed: Counter[tuple[Hashable, Any]] = Counter()  # calls handled
        self.log: list[tuple[str, Hashable]] = []
        self.overlaps: list[tuple[Hashable, Pid, list[Pid]]] = []  # two alive at an init
        self.peak = 0  # the most activations alive at once, seen at an init
        self.refuse: set[Hashable] = set()  # ids whose init raises Stop("refused")
        self.hold: set[Hashable] = set()
        self.holding = threading.Event()
        self.release = threading.Event()
        self.track_peak = track_peak
        self._live: defaultdict[Hashable, list[Pid]] = defaultdict(list)
        self._all: set[Pid] = set()

    def enter(self, id: Hashable, pid: Pid, base: int) -> int:
        """An activation of ``id`` starts: the count it loads."""
        with self.lock:
            others = [p for p in self._live[id] if p.is_alive()]
            if others:
                self.overlaps.append((id, pid, others))
            self._live[id] = [*others, pid]
            if self.track_peak:
                self._all = {p for p in self._all if p.is_alive()}
                self._all.add(pid)
                self.peak = max(self.peak, len(self._all))
            self.inits[id] += 1
            self.log.append(("init", id))
            return self.saved.get(id, base)

    def leave(self, id: Hashable, n: int, reason: Any) -> None:
        with self.lock:
            self.saved[id] = n
            self.reasons[id].append(reason)
            self.log.append(("terminated", id))

    def passivations(self) -> int:
        with self.lock:
            return sum(r.count(IDLE) for r in self.reasons.values())


class Tally(GenServer):
    """A virtual worker: the count of one id, loaded in ``init``, saved in
    ``terminate``. Calls: ``"get"``, ``"inc"`` (returns the new count), ``("block",
    entered, release, crash)`` (sets ``entered``, waits for ``release``, then raises if
    ``crash``); cast ``"inc"``."""

    def init(self, book: Book, id: Hashable, base: int = 0) -> None:
        if id in book.refuse:
            raise Stop("refused")
        me = process.current()
        assert me is not None
        self.book, self.id = book, id
        self.n = book.enter(id, me, base)

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "get":
            return self.n
        with self.book.lock:
            self.book.executed[(self.id, request if type(request) is str else request[0])] += 1
        if request == "inc":
            self.n += 1
            return self.n
        _block, entered, release, crash = request
        entered.set()
        release.wait(10.0)
        if crash:
            raise RuntimeError("crash while handling")
        return self.n

    def handle_cast(self, request: Any) -> None:
        assert request == "inc"
        self.n += 1

    def terminate(self, reason: Any) -> None:
        book = self.book
        if self.id in book.hold:
            book.holding.set()
            book.release.wait(10.0)
        book.leave(self.id, self.n, reason)


class TrappingTally(Tally):
    """Traps exits, so that a stop of its registry (or `GenRegistry.stop`) runs
    ``terminate`` and saves its count too."""

    def init(self, book: Book, id: Hashable, base: int = 0) -> None:
        process.trap_exits(True)
        super().init(book, id, base)


def hibernating(pid: Pid) -> bool:
    """Hibernating, and no thread serves it (a serving thread is named after it)."""
    prefix = f"parent-{pid._id}-"
    return (
        pid._hib
        and pid._ident is None
        and not any(t.name.startswith(prefix) for t in threading.enumerate())
    )


@pytest.fixture
def book() -> Book:
    return Book()


@pytest.fixture
def tallies(start_supervised: StartSupervised) -> Callable[..., Pid]:
    """Start a supervised registry of ``worker`` (default `Tally`) with these options."""

    def start(worker: type = Tally, **options: Any) -> Pid:
        return start_supervised(GenRegistry.child_spec(worker_module=worker, **options))

    return start


# -- options -----------------------------------------------------------------------------

BAD_OPTIONS = [
    ("idle_timeout", -1.0, ValueError),
    ("idle_timeout", math.nan, ValueError),
    ("idle_timeout", True, TypeError),
    ("idle_timeout", "1", TypeError),
    ("hibernate_after", -0.5, ValueError),
    ("hibernate_after", math.nan, ValueError),
    ("hibernate_after", False, TypeError),
    ("hibernate_after", "0.1", TypeError),
    ("max_workers", 0, ValueError),
    ("max_workers", -3, ValueError),
    ("max_workers", 2.0, TypeError),
    ("max_workers", True, TypeError),
    ("max_workers", "3", TypeError),
]


@pytest.mark.parametrize("via", ["start_link", "child_spec"])
@pytest.mark.parametrize(("option", "value", "error"), BAD_OPTIONS)
def test_a_bad_option_raises_naming_it_and_starts_nothing(
    via: str, option: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        if via == "start_link":
            GenRegistry.start_link(Tally, **{option: value})
        else:
            GenRegistry.child_spec(worker_module=Tally, **{option: value})
    assert option in str(caught.value) and repr(value) in str(caught.value)
    assert process.whereis(Tally) is None and process.list() == []


@pytest.mark.parametrize("options", [{}, {"idle_timeout": math.inf}, {"max_workers": 10}], ids=repr)
def test_without_an_idle_timeout_a_worker_is_never_passivated(
    options: dict[str, Any], book: Book, tallies: Callable[..., Pid]
) -> None:
    tallies(**options)
    assert GenRegistry.call(Tally, "a", "inc", [book, "a"]) == 1
    pid = GenRegistry.lookup(Tally, "a")
    assert pid is not None
    assert not wait_until(lambda: not pid.is_alive(), 0.2)
    assert book.reasons["a"] == [] and GenRegistry.lookup(Tally, "a") is pid


class Recording(Tally):
    """Records the keyword arguments its ``start_link`` gets from the registry."""

    kwargs: ClassVar[list[dict[str, Any]]] = []

    @classmethod
    def start_link(cls, *args: Any, **kwargs: Any) -> Pid:
        cls.kwargs.append(kwargs)
        return super().start_link(*args, **kwargs)


@pytest.mark.parametrize("via", ["start_link", "child_spec"])
@pytest.mark.parametrize("seconds", [None, 0.5])
def test_hibernate_after_reaches_the_workers_start_link(
    via: str, seconds: float | None, book: Book, tallies: Callable[..., Pid]
) -> None:
    Recording.kwargs = []
    if via == "child_spec":
        tallies(Recording, hibernate_after=seconds)
    else:
        registry = GenRegistry.start_link(Recording, hibernate_after=seconds)
    try:
        GenRegistry.lookup_or_start(Recording, "a", [book, "a"])
    finally:
        if via == "start_link":
            gen_server.stop(registry)
    assert Recording.kwargs == ([{}] if seconds is None else [{"hibernate_after": seconds}])


class NoHibernateAfter(Tally):
    @classmethod
    def start_link(cls, *args: Any) -> Pid:  # type: ignore[override]
        return super().start_link(*args)


def test_a_worker_whose_start_link_lacks_hibernate_after_fails_to_start(
    book: Book, tallies: Callable[..., Pid]
) -> None:
    tallies(NoHibernateAfter, hibernate_after=0.1)
    with pytest.raises(StartError) as caught:
        GenRegistry.lookup_or_start(NoHibernateAfter, "a", [book, "a"])
    assert isinstance(caught.value.__cause__, TypeError)
    assert GenRegistry.lookup(NoHibernateAfter, "a") is None
    assert GenRegistry.count(NoHibernateAfter) == 0 and book.inits["a"] == 0


# -- passivation -------------------------------------------------------------------------


def test_an_idle_worker_is_stopped_cleanly_with_shutdown_idle(
    book: Book, tallies: Callable[..., Pid], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parent")
    tallies(idle_timeout=0.05)
    GenRegistry.call(Tally, "a", "get", [book, "a"])
    pid = GenRegistry.lookup(Tally, "a")
    assert pid is not None
    assert pid.join(5.0) == IDLE
    assert book.reasons["a"] == [IDLE]
    assert GenRegistry.lookup(Tally, "a") is None and GenRegistry.count(Tally) == 0
    assert crash_reports(caplog) == []


def test_the_next_activation_loads_what_terminate_saved(
    book: Book, tallies: Callable[..., Pid]
) -> None:
    tallies(idle_timeout=0.05)
    for _ in range(3):
        GenRegistry.cast(Tally, "a", "inc", [book, "a"])
    first = GenRegistry.lookup(Tally, "a")
    assert first is not None and first.join(5.0) == IDLE
    assert book.saved["a"] == 3
    assert GenRegistry.call(Tally, "a", "get", [book, "a"]) == 3
    assert GenRegistry.lookup(Tally, "a") is not first and book.inits["a"] == 2


def test_a_worker_used_more_often_than_idle_timeout_is_never_passivated(
    book: Book, tallies: Callable[..., Pid]
) -> None:
    tallies(idle_timeout=0.3)
    pace = threading.Event()
    deadline = time.monotonic() + 0.6
    calls = 0
    while time.monotonic() < deadline:
        calls += 1
        assert GenRegistry.call(Tally, "a", "inc", [book, "a"]) == calls
        pace.wait(0.01)
    assert book.inits["a"] == 1 and book.reasons["a"] == []


def test_a_hibernating_worker_holds_no_thread_and_is_passivated_at_idle_timeout(
    book: Book, tallies: Callable[..., Pid]
) -> None:
    """The idle countdown goes on while the worker hibernates (no thread is kept for
    it): it is passivated after about ``idle_timeout``, and never before."""
    tallies(hibernate_after=0.02, idle_timeout=0.3)
    start = time.monotonic()
    GenRegistry.call(Tally, "a", "get", [book, "a"])
    pid = GenRegistry.lookup(Tally, "a")
    assert pid is not None
    assert wait_until(lambda: hibernating(pid), 2.0)
    assert pid.join(5.0) == IDLE
    assert time.monotonic() - start >= 0.3 * 0.9
    assert book.inits["a"] == 1


@pytest.mark.parametrize("hibernate_after", [0.05, 5.0])
def test_hibernate_after_at_or_above_idle_timeout_passivates_at_idle_timeout(
    hibernate_after: float, book: Book, tallies: Callable[..., Pid]
) -> None:
    tallies(hibernate_after=hibernate_after, idle_timeout=0.05)
    GenRegistry.call(Tally, "a", "get", [book, "a"])
    pid = GenRegistry.lookup(Tally, "a")
    assert pid is not None
    assert pid.join(2.0) == IDLE  # well before a hibernate_after of 5 s


def test_a_stale_idle_notice_does_not_passivate_a_worker_used_since(
    book: Book, tallies: Callable[..., Pid]
) -> None:
    """The countdown armed when the worker hibernated (due ~0.4 s after the first call)
    is stale once a second call woke it 0.1 s later: the worker goes ~0.4 s after the
    second call, not ~0.3 s."""
    tallies(hibernate_after=0.01, idle_timeout=0.4)
    GenRegistry.call(Tally, "a", "get", [book, "a"])
    pid = GenRegistry.lookup(Tally, "a")
    assert pid is not None
    assert wait_until(lambda: hibernating(pid), 2.0)
    threading.Event().wait(0.1)  # not a synchronisation: the second call comes mid-countdown
    second = time.monotonic()
    GenRegistry.call(Tally, "a", "get", [book, "a"])
    assert GenRegistry.lookup(Tally, "a") is pid, "passivated before the second call"
    assert pid.join(5.0) == IDLE
    assert time.monotonic() - second >= 0.38
    assert book.inits["a"] == 1


def test_a_slow_terminate_holds_back_every_request_for_its_id(
    book: Book, tallies: Callable[..., Pid]
) -> None:
    tallies(idle_timeout=0.05)
    book.hold.add("a")
    try:
        assert GenRegistry.call(Tally, "a", "inc", [book, "a"]) == 1
        old = GenRegistry.lookup(Tally, "a")
        assert book.holding.wait(5.0)  # passivating: its terminate has not saved yet
        assert old is not None and old.is_alive()
        assert GenRegistry.lookup(Tally, "a") is None
        assert GenRegistry.count(Tally) == 0 and GenRegistry.to_list(Tally) == []
        args = [book, "a"]
        waiting = [
            start_thread(lambda: GenRegistry.lookup_or_start(Tally, "a", args)),
            start_thread(lambda: GenRegistry.start(Tally, "a", args)),
            start_thread(lambda: GenRegistry.call(Tally, "a", "inc", args)),
            start_thread(lambda: GenRegistry.cast(Tally, "a", "inc", args)),
        ]
        assert not wait_until(lambda: any(not t.is_alive() for t, _ in waiting), 0.2)
        assert book.inits["a"] == 1
    finally:
        book.release.set()
    for thread, _ in waiting:
        thread.join(5.0)
    (_, by_lookup), (_, by_start), (_, by_call), (_, by_cast) = waiting
    new = by_lookup["result"]
    assert isinstance(new, Pid) and new is not old
    started = by_start.get("result", getattr(by_start.get("error"), "pid", None))
    assert started is new, by_start
    assert by_call["result"] in (2, 3) and by_cast == {"result": None}
    assert book.log[:3] == [("init", "a"), ("terminated", "a"), ("init", "a")]
    assert GenRegistry.call(Tally, "a", "get", args) == 3  # 1 loaded, then the two incs
    assert book.overlaps == []


# -- GenRegistry.call and GenRegistry.cast -------------------------------------------------


@pytest.mark.parametrize("by", ["name", "pid"])
@pytest.mark.parametrize("op", ["call", "cast"])
def test_call_and_cast_start_the_worker_on_demand_with_args(
    op: str, by: str, book: Book, tallies: Callable[..., Pid]
) -> None:
    registry = tallies(idle_timeout=30.0)
    target = registry if by == "pid" else Tally
    if op == "call":
        assert GenRegistry.call(target, "a", "inc", [book, "a", 7]) == 8
    else:
        assert GenRegistry.cast(target, "a", "inc", [book, "a", 7]) is None
    pid = GenRegistry.lookup(target, "a")
    assert pid is not None and gen_server.call(pid, "get") == 8
    assert book.inits["a"] == 1


@pytest.mark.parametrize("end", ["kill", "stop", "crash"])
def test_a_call_unread_by_a_dying_worker_runs_once_on_the_next_activation(
    end: str, book: Book, tallies: Callable[..., Pid]
) -> None:
    """The worker dies while handling a first call, with a second one queued: the first
    fails (``handled=True``, and it is not retried), the second is handled exactly once,
    by the next activation."""
    tallies(idle_timeout=30.0)
    args = [book, "a"]
    assert GenRegistry.call(Tally, "a", "inc", args) == 1
    old = GenRegistry.lookup(Tally, "a")
    assert old is not None
    entered, release = threading.Event(), threading.Event()
    block = ("block", entered, release, end == "crash")
    first, by_first = start_thread(lambda: GenRegistry.call(Tally, "a", block, args))
    try:
        assert entered.wait(5.0)
        second, by_second = start_thread(lambda: GenRegistry.call(Tally, "a", "inc", args))
        assert wait_until(lambda: old._mbox.qsize() == 1, 5.0)  # queued behind, unread
        if end == "kill":
            process.exit(old, "kill")
        elif end == "stop":
            GenRegistry.stop(Tally, "a")  # an untrapped "shutdown": no terminate
    finally:
        release.set()
    first.join(5.0)
    second.join(5.0)
    error = by_first["error"]
    assert isinstance(error, ExitError) and error.handled
    if end == "crash":
        assert isinstance(error.reason, RuntimeError) and error.__cause__ is error.reason
    else:
        assert error.reason == ("killed" if end == "kill" else "shutdown")
    # a crash runs terminate (it saved 1); a kill and an untrapped exit signal do not
    assert by_second == {"result": 2 if end == "crash" else 1}
    assert book.executed[("a", "block")] == 1 and book.executed[("a", "inc")] == 2
    assert GenRegistry.lookup(Tally, "a") not in (None, old) and book.inits["a"] == 2


class SlowInit(Tally):
    """``init`` waits for the book's ``release`` (in short waits, so that the registry's
    stop at the end of the test reaches it)."""

    def init(self, book: Book, id: Hashable, base: int = 0) -> None:
        deadline = time.monotonic() + 10.0
        while not book.release.wait(0.01) and time.monotonic() < deadline:
            pass
        super().init(book, id, base)


@pytest.mark.parametrize("slow", ["init", "terminate"])
def test_call_timeout_covers_the_start_and_the_wait_for_a_closing_worker(
    slow: str, book: Book, tallies: Callable[..., Pid]
) -> None:
    worker = SlowInit if slow == "init" else Tally
    tallies(worker, idle_timeout=0.05)
    try:
        if slow == "terminate":
            book.hold.add("a")
            GenRegistry.call(worker, "a", "get", [book, "a"])
            assert book.holding.wait(5.0)
        start = time.monotonic()
        with pytest.raises(CallTimeout):
            GenRegistry.call(worker, "a", "inc", [book, "a"], timeout=0.2)
        assert time.monotonic() - start < 0.2 + 1.0
    finally:
        book.release.set()
    assert book.executed[("a", "inc")] == 0


@pytest.mark.parametrize("op", ["call", "cast"])
def test_call_and_cast_raise_start_error_when_the_start_fails(
    op: str, book: Book, tallies: Callable[..., Pid]
) -> None:
    tallies(idle_timeout=30.0)
    book.refuse.add("a")
    with pytest.raises(StartError) as caught:
        if op == "call":
            GenRegistry.call(Tally, "a", "get", [book, "a"])
        else:
            GenRegistry.cast(Tally, "a", "inc", [book, "a"])
    assert caught.value.reason == "refused"
    assert GenRegistry.lookup(Tally, "a") is None and GenRegistry.count(Tally) == 0


@pytest.mark.parametrize("by", ["name", "pid"])
@pytest.mark.parametrize("op", ["call", "cast"])
def test_call_and_cast_reject_an_unhashable_id(
    op: str, by: str, book: Book, tallies: Callable[..., Pid]
) -> None:
    registry = tallies(idle_timeout=30.0)
    target = registry if by == "pid" else Tally
    with pytest.raises(TypeError):
        if op == "call":
            GenRegistry.call(target, ["a"], "get", [book, "a"])  # type: ignore[arg-type]
        else:
            GenRegistry.cast(target, ["a"], "inc", [book, "a"])  # type: ignore[arg-type]
    assert GenRegistry.count(Tally) == 0 and sum(book.inits.values()) == 0


def test_call_and_cast_send_lookup_or_start_through_the_gen_module(
    book: Book, tallies: Callable[..., Pid]
) -> None:
    tallies(idle_timeout=30.0)
    recorder = Recorder()
    with compat.override(gen_module=recorder):
        assert GenRegistry.call(Tally, "a", "inc", [book, "a"]) == 1
        GenRegistry.cast(Tally, "b", "inc", [book, "b"])
    assert recorder.requests == [
        ("lookup_or_start", "a", [book, "a"]),
        ("lookup_or_start", "b", [book, "b"]),
    ]
    assert GenRegistry.call(Tally, "b", "get") == 1


def test_a_cast_to_a_worker_that_just_died_goes_to_the_next_activation(
    book: Book, tallies: Callable[..., Pid]
) -> None:
    tallies(idle_timeout=30.0)
    assert GenRegistry.call(Tally, "a", "inc", [book, "a"]) == 1
    old = GenRegistry.lookup(Tally, "a")
    assert old is not None
    process.exit(old, "kill")  # its count was never saved: the next activation has 0
    GenRegistry.cast(Tally, "a", "inc", [book, "a"])  # the table may still name `old`
    assert GenRegistry.call(Tally, "a", "get", [book, "a"]) == 1
    assert book.inits["a"] == 2 and GenRegistry.lookup(Tally, "a") is not old
