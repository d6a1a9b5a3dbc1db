"""Tests of GenRegistry's ``max_workers`` (API.md, "genregistry: virtual workers"): least
recently used eviction of idle workers, ``StartError("max_workers")``, and the bound
under concurrency; then passivation races (casts racing it, and idle notices caught
between two states of a worker, forced), and a Hypothesis model of a virtual-worker
registry. The workers and their `Book` come from tests/test_virtual_workers.py.
"""

from __future__ import annotations

import functools
import random
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from test_genregistry import start_thread
from test_virtual_workers import IDLE, Book, Tally, TrappingTally, hibernating

import parent
from genregistry import GenRegistry
from parent import ExitError, NotFound, Pid, StartError, gen_server, process
from parent import _lifecycle as lc
from parent import _timers as timers
from parent._runtime import IdleNotice
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def book() -> Book:
    return Book()


@pytest.fixture
def capped(start_supervised: Callable[[Any], Pid]) -> Callable[..., Pid]:
    """Start a supervised registry of ``worker`` (default `Tally`) with these options."""

    def start(worker: type = Tally, **options: Any) -> Pid:
        return start_supervised(GenRegistry.child_spec(worker_module=worker, **options))

    return start


def live_ids(registry: Any = Tally) -> list[Any]:
    return sorted(id for id, _pid in GenRegistry.to_list(registry))


def registry_done(registry: Pid) -> Callable[[], bool]:
    """Whether ``registry`` has handled everything sent to it (it waits for more)."""
    return lambda: registry._mbox.empty() and registry._parked


class Blocked:
    """Calls that block their workers in ``handle_call`` until `release`."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self.release = threading.Event()
        self.threads: list[tuple[threading.Thread, dict[str, Any]]] = []

    def block(self, id: Hashable) -> None:
        entered = threading.Event()
        request = ("block", entered, self.release, False)
        self.threads.append(
            start_thread(lambda: GenRegistry.call(Tally, id, request, [self.book, id]))
        )
        assert entered.wait(5.0)

    def finish(self) -> list[dict[str, Any]]:
        self.release.set()
        for thread, _ in self.threads:
            thread.join(5.0)
        return [out for _, out in self.threads]


@pytest.fixture
def blocked(book: Book) -> Iterator[Blocked]:
    calls = Blocked(book)
    yield calls
    calls.finish()


# -- least recently used ---------------------------------------------------------------


def test_the_least_recently_used_worker_is_evicted_exactly(
    book: Book, capped: Callable[..., Pid]
) -> None:
    capped(max_workers=3)
    for id in ["a", "b", "c", "c", "a", "b"]:  # started a, b, c; then used c, a, b
        GenRegistry.call(Tally, id, "get", [book, id])
    GenRegistry.call(Tally, "d", "get", [book, "d"])
    assert live_ids() == ["a", "b", "d"] and book.reasons["c"] == [IDLE]
    GenRegistry.call(Tally, "e", "get", [book, "e"])
    assert live_ids() == ["b", "d", "e"] and book.reasons["a"] == [IDLE]
    assert book.reasons["b"] == [] and book.peak == 3


def test_a_busy_worker_is_skipped_for_the_least_recently_used_idle_one(
    book: Book, capped: Callable[..., Pid], blocked: Blocked
) -> None:
    capped(max_workers=2)
    blocked.block("a")  # a took its message first: the least recently used, but busy
    GenRegistry.call(Tally, "b", "get", [book, "b"])
    GenRegistry.call(Tally, "c", "get", [book, "c"])
    assert live_ids() == ["a", "c"] and book.reasons["b"] == [IDLE]
    assert blocked.finish() == [{"result": 0}] and book.reasons["a"] == []


@pytest.mark.parametrize("op", ["lookup_or_start", "start", "call", "cast"])
def test_with_no_idle_worker_a_start_fails_and_touches_nothing(
    op: str, book: Book, capped: Callable[..., Pid], blocked: Blocked
) -> None:
    capped(max_workers=2)
    blocked.block("a")
    blocked.block("b")
    before = GenRegistry.to_list(Tally)
    args = [book, "c"]
    with pytest.raises(StartError) as caught:
        if op == "call":
            GenRegistry.call(Tally, "c", "get", args)
        elif op == "cast":
            GenRegistry.cast(Tally, "c", "inc", args)
        else:
            getattr(GenRegistry, op)(Tally, "c", args)
    assert caught.value.reason == "max_workers"
    assert sorted(GenRegistry.to_list(Tally), key=repr) == sorted(before, key=repr)
    assert all(pid.is_alive() for _, pid in before) and book.inits["c"] == 0
    assert blocked.finish() == [{"result": 0}, {"result": 0}]
    assert dict(book.reasons) == {}
    GenRegistry.call(Tally, "c", "get", args)  # now a is idle, and goes
    assert live_ids() == ["b", "c"]


def test_a_new_start_waits_for_the_evicted_workers_terminate(
    book: Book, capped: Callable[..., Pid]
) -> None:
    capped(max_workers=1)
    book.hold.add("a")
    try:
        GenRegistry.call(Tally, "a", "inc", [book, "a"])
        thread, by_b = start_thread(lambda: GenRegistry.call(Tally, "b", "get", [book, "b"]))
        assert book.holding.wait(5.0)  # a is being evicted
        assert not wait_until(lambda: not thread.is_alive(), 0.1)
        assert book.inits["b"] == 0 and GenRegistry.lookup(Tally, "a") is None
    finally:
        book.release.set()
    thread.join(5.0)
    assert by_b == {"result": 0}
    assert book.log == [("init", "a"), ("terminated", "a"), ("init", "b")]
    assert book.saved == {"a": 1}


def test_hibernating_workers_count_and_can_be_evicted(
    book: Book, capped: Callable[..., Pid]
) -> None:
    capped(max_workers=2, hibernate_after=0.01)
    pids: dict[str, Pid] = {}
    for id in ["a", "b"]:
        GenRegistry.call(Tally, id, "get", [book, id])
        pid = GenRegistry.lookup(Tally, id)
        assert pid is not None
        pids[id] = pid
    assert wait_until(lambda: all(hibernating(pid) for pid in pids.values()), 2.0)
    assert GenRegistry.count(Tally) == 2
    GenRegistry.call(Tally, "c", "get", [book, "c"])
    assert live_ids() == ["b", "c"] and book.reasons["a"] == [IDLE]
    assert not pids["a"].is_alive() and hibernating(pids["b"])


def test_a_passivating_id_restarted_at_capacity_keeps_its_slot(
    book: Book, capped: Callable[..., Pid]
) -> None:
    """Its next activation takes the slot of the old one: no other id can start
    meanwhile (the only worker is already passivating), and there is never one worker
    too many."""
    registry = capped(max_workers=1, idle_timeout=0.05)
    book.hold.add("a")
    try:
        GenRegistry.call(Tally, "a", "inc", [book, "a"])
        assert book.holding.wait(5.0)
        thread, by_a = start_thread(lambda: GenRegistry.call(Tally, "a", "get", [book, "a"]))
        assert wait_until(registry_done(registry), 5.0)  # a's restart waits for its exit
        with pytest.raises(StartError) as caught:
            GenRegistry.call(Tally, "b", "get", [book, "b"])
        assert caught.value.reason == "max_workers"
    finally:
        book.release.set()
    thread.join(5.0)
    assert by_a == {"result": 1} and book.inits == Counter({"a": 2})
    assert book.peak == 1 and book.overlaps == []


def test_an_evicted_id_restarted_at_once_does_not_starve_the_start_that_evicted_it(
    book: Book, capped: Callable[..., Pid]
) -> None:
    """c's start evicts a and waits for its slot; a is asked for again before it has
    exited. When a exits, c must still get a slot (before 7abb876 a's restart took it,
    and c waited until some other worker exited: here, for its whole timeout)."""
    registry = capped(max_workers=2)
    book.hold.add("a")
    try:
        GenRegistry.call(Tally, "a", "get", [book, "a"])
        GenRegistry.call(Tally, "b", "get", [book, "b"])
        c, by_c = start_thread(lambda: GenRegistry.call(Tally, "c", "get", [book, "c"], 1.0))
        assert book.holding.wait(5.0)  # c evicted a (the least recently used) and waits
        a, by_a = start_thread(lambda: GenRegistry.call(Tally, "a", "get", [book, "a"], 1.0))
        assert wait_until(registry_done(registry), 5.0)  # a's restart waits for its exit
    finally:
        book.release.set()
    a.join(5.0)
    c.join(5.0)
    assert by_a == {"result": 0}
    assert by_c == {"result": 0}, by_c  # b was idle: it could have gone for c
    assert book.peak <= 2


def test_max_workers_is_never_exceeded_under_concurrency(book: Book) -> None:
    registry = GenRegistry.start_link(TrappingTally, max_workers=3)
    done: Counter[Hashable] = Counter()
    refused: list[Any] = []
    lock = threading.Lock()

    def run(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(60):
            id = rng.randrange(8)
            try:
                if rng.random() < 0.5:
                    GenRegistry.call(TrappingTally, id, "inc", [book, id])
                else:
                    GenRegistry.cast(TrappingTally, id, "inc", [book, id])
            except StartError as exc:  # legitimate only when all three are busy
                with lock:
                    refused.append(exc.reason)
            else:
                with lock:
                    done[id] += 1

    try:
        threads = [start_thread(functools.partial(run, seed)) for seed in range(8)]
        for thread, out in threads:
            thread.join(30.0)
            assert out == {"result": None}
    finally:
        gen_server.stop(registry)  # every worker saves its count in terminate
    assert book.peak <= 3 and book.overlaps == []
    assert book.passivations() > 0 and set(refused) <= {"max_workers"}
    assert {id: n for id, n in book.saved.items() if n} == +done


# -- races of passivation -------------------------------------------------------------


def test_casts_racing_passivation_are_all_handled(book: Book, capped: Callable[..., Pid]) -> None:
    """With ``idle_timeout=0`` the worker passivates whenever its mailbox runs dry (the
    casters pause now and then), so casts keep arriving as it decides to go, saves,
    and restarts."""
    capped(idle_timeout=0.0)
    threads, casts = 4, 250
    barrier = threading.Barrier(threads)

    def cast_all() -> None:
        pause = threading.Event()
        barrier.wait(5.0)
        for i in range(casts):
            GenRegistry.cast(Tally, "a", "inc", [book, "a"])
            if i % 10 == 0:
                pause.wait(0.001)  # now and then the mailbox runs dry

    workers = [start_thread(cast_all) for _ in range(threads)]
    for thread, out in workers:
        thread.join(30.0)
        assert out == {"result": None}
    assert GenRegistry.call(Tally, "a", "get", [book, "a"]) == threads * casts
    assert book.passivations() >= 5 and book.overlaps == []


class SlowToReport(Tally):
    """Its start returns 0.1 s after its ``init``: the registry learns of the worker
    only then."""

    @classmethod
    def start_link(cls, *args: Any, **kwargs: Any) -> Pid:
        pid = super().start_link(*args, **kwargs)
        threading.Event().wait(0.1)
        return pid


def test_a_worker_idle_before_the_registry_adopts_it_is_still_passivated(
    book: Book, capped: Callable[..., Pid]
) -> None:
    """Its idle notice reaches the registry before the report of its start."""
    capped(SlowToReport, idle_timeout=0.0)
    pid = GenRegistry.lookup_or_start(SlowToReport, "a", [book, "a"])
    assert wait_until(lambda: not pid.is_alive(), 0.5), "never passivated"


def test_an_idle_notice_handled_before_the_worker_waits_again_still_passivates(
    book: Book, capped: Callable[..., Pid], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced interleaving (with ``idle_timeout=0`` and a tiny switch interval, about
    one notice in 100 hits it unforced): the worker is preempted right after posting
    its notice, until the registry has handled it."""
    registry = capped(idle_timeout=0.05)
    real_post = lc.post

    def post(pid: Pid, item: Any) -> None:
        real_post(pid, item)
        if type(item[1]) is IdleNotice and pid is registry:
            assert wait_until(registry_done(registry), 2.0)

    monkeypatch.setattr(lc, "post", post)
    GenRegistry.call(Tally, "a", "get", [book, "a"])
    pid = GenRegistry.lookup(Tally, "a")
    assert pid is not None
    assert wait_until(lambda: not pid.is_alive(), 0.5), "never passivated"


def test_an_idle_timer_firing_just_before_the_worker_hibernates_still_passivates(
    book: Book, capped: Callable[..., Pid], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced interleaving (hibernate_after just below idle_timeout hits it unforced):
    the worker is preempted on its way to hibernation until its timer's notice has been
    handled."""
    registry = capped(hibernate_after=0.02, idle_timeout=0.03)
    fired = threading.Event()
    real_post, real_hibernate = lc.post, lc._hibernate  # the timers post with lc.post

    def post(pid: Pid, item: Any) -> None:
        real_post(pid, item)
        if type(item[1]) is IdleNotice and pid is registry:
            fired.set()

    def hibernate(pid: Pid) -> bool:
        if type(pid._server) is Tally and fired.wait(0.5):
            assert wait_until(registry_done(registry), 2.0)
        return real_hibernate(pid)

    monkeypatch.setattr(timers, "post", post)
    monkeypatch.setattr(lc, "_hibernate", hibernate)
    GenRegistry.call(Tally, "a", "get", [book, "a"])
    pid = GenRegistry.lookup(Tally, "a")
    assert pid is not None
    assert wait_until(lambda: not pid.is_alive(), 0.5), "never passivated"


# -- a model -----------------------------------------------------------------------------


class Durable(TrappingTally):
    """Saves its count on every change, so that a kill (no ``terminate``) loses only the
    casts it had not taken yet."""

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        result = super().handle_call(request, from_)
        self._save()
        return result

    def handle_cast(self, request: Any) -> None:
        super().handle_cast(request)
        self._save()

    def _save(self) -> None:
        with self.book.lock:
            self.book.saved[self.id] = self.n


IDS = st.sampled_from(["a", "b", "c", "d"])


class VirtualWorkers(RuleBasedStateMachine):
    """Calls, casts, stops, kills and lookups over a few ids of a registry with a small
    ``max_workers`` and a tiny (or no) ``idle_timeout``, so that workers are evicted and
    passivated all along. Promised, and checked: at most one live activation per id and
    at most ``max_workers`` in all; every call is answered, or refused with
    ``StartError("max_workers")`` (allowed while casts keep every worker busy); no cast
    is lost to a passivation, an eviction or a stop (the worker traps exits); a kill
    loses exactly the casts still unread in its mailbox (OTP's semantics), which are at
    most those sent since the id's last call (a call is answered after every earlier
    cast of the same sender)."""

    book: Book
    registry: Pid

    @initialize(
        max_workers=st.integers(min_value=2, max_value=3),
        idle=st.sampled_from([None, 0.0, 0.005]),
    )
    def start(self, max_workers: int, idle: float | None) -> None:
        self.book = Book()
        self.max = max_workers
        self.registry = GenRegistry.start_link(Durable, max_workers=max_workers, idle_timeout=idle)
        self.expected: Counter[str] = Counter()  # casts and incs that must be counted
        self.unsynced: Counter[str] = Counter()  # casts since the id's last call

    def args(self, id: str) -> list[Any]:
        return [self.book, id]

    @rule(id=IDS, inc=st.booleans())
    def call(self, id: str, inc: bool) -> None:
        try:
            value = GenRegistry.call(Durable, id, "inc" if inc else "get", self.args(id))
        except StartError as exc:
            assert exc.reason == "max_workers"
            return
        self.expected[id] += inc
        self.unsynced[id] = 0
        assert value == self.expected[id]

    @rule(id=IDS, by_pid=st.booleans())
    def cast(self, id: str, by_pid: bool) -> None:
        target = self.registry if by_pid else Durable
        try:
            GenRegistry.cast(target, id, "inc", self.args(id))
        except StartError as exc:
            assert exc.reason == "max_workers"
            return
        self.expected[id] += 1
        self.unsynced[id] += 1

    @rule(id=IDS)
    def stop(self, id: str) -> None:
        try:
            GenRegistry.stop(Durable, id)
        except NotFound:
            return
        assert GenRegistry.lookup(Durable, id) is None

    @rule(id=IDS)
    def kill(self, id: str) -> None:
        pid = GenRegistry.lookup(Durable, id)
        if pid is None:
            return
        process.exit(pid, "kill")
        assert wait_until(lambda: pid._ident is None, 5.0)  # its thread has let go
        with self.book.lock:
            saved = self.book.saved.get(id, 0)
        lost = self.expected[id] - saved
        assert 0 <= lost <= self.unsynced[id]
        self.expected[id] = saved
        self.unsynced[id] = 0

    @rule(id=IDS, start=st.booleans())
    def lookup(self, id: str, start: bool) -> None:
        try:
            if start:
                pid: Pid | None = GenRegistry.lookup_or_start(Durable, id, self.args(id))
            else:
                pid = GenRegistry.lookup(Durable, id)
        except StartError as exc:
            assert exc.reason == "max_workers"
            return
        if pid is None:
            return
        try:
            value = gen_server.call(pid, "get")
        except (ExitError, parent.NoProcess):
            return  # it passivated meanwhile: a pid does not follow its id
        assert value == self.expected[id]  # it had taken every earlier cast
        self.unsynced[id] = 0

    @invariant()
    def one_activation_per_id_and_at_most_max_workers(self) -> None:
        assert self.book.overlaps == []
        assert self.book.peak <= self.max
        assert GenRegistry.count(Durable) <= self.max

    def teardown(self) -> None:
        gen_server.stop(self.registry)  # every worker saves in terminate
        with self.book.lock:
            saved = {id: n for id, n in self.book.saved.items() if n}
        assert saved == +self.expected


def test_a_virtual_worker_registry_keeps_its_promises() -> None:
    run_state_machine_as_test(
        VirtualWorkers,
        settings=settings(max_examples=50, stateful_step_count=30, deadline=None),
    )
