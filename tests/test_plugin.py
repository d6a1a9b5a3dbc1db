"""Tests of the testing helpers (API.md "Testing helpers"): the ``start_supervised`` and
``stop_supervised`` fixtures, which come from the package's ``pytest11`` entry point (no
import here), and `parent.testing.wait_until`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import parent
from parent import GenServer, NotFound, Pid, Stop, gen_server, process
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)


class Counter(GenServer):
    def init(self, n: int = 0) -> None:
        self.n = n

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        return self.n

    def handle_cast(self, request: Any) -> None:
        kind, reason = request
        assert kind == "stop"
        raise Stop(reason)


class Sticky(Counter):
    """A class whose own child_spec asks to be restarted."""

    @classmethod
    def child_spec(cls, arg: Any = None) -> Any:
        return {**super().child_spec(arg), "restart": "permanent"}


@pytest.fixture
def stopped_at_the_end() -> Iterator[list[Pid]]:
    """Pids that must be dead once the test's fixtures are torn down. Requested before
    ``start_supervised``, so its teardown runs after the plugin's."""
    pids: list[Pid] = []
    yield pids
    assert pids
    assert [pid for pid in pids if pid.is_alive()] == []


def test_start_supervised_children_are_stopped_when_the_test_ends(
    stopped_at_the_end: list[Pid], start_supervised: Any
) -> None:
    a = start_supervised(Counter.child_spec(1))
    b = start_supervised({"id": "b", "start": (Counter.start_link, [2])})
    c = start_supervised((Sticky, 3))
    assert all(type(pid) is Pid and pid.is_alive() for pid in (a, b, c))
    assert [gen_server.call(pid, "get") for pid in (a, b, c)] == [1, 2, 3]
    stopped_at_the_end.extend([a, b, c])
    # they share one supervisor, which is not the test's thread
    sup = a._parent
    assert sup is not None and sup is b._parent is c._parent
    stopped_at_the_end.append(sup)
    ids = [id for id, *_ in parent.supervisor.which_children(sup)]
    assert ids == [Counter, "b", Sticky]


def test_start_supervised_refuses_a_running_id(start_supervised: Any) -> None:
    pid = start_supervised(Counter)
    with pytest.raises(parent.AlreadyStarted) as info:
        start_supervised((Counter, 5))
    assert info.value.pid is pid


def test_start_supervised_raises_start_error(start_supervised: Any) -> None:
    class Fails(GenServer):
        def init(self) -> None:
            raise ValueError("no")

    with pytest.raises(parent.StartError):
        start_supervised(Fails)
    with pytest.raises(KeyError):
        start_supervised({"id": "x"})


def test_a_supervised_child_that_exits_stays_down(start_supervised: Any) -> None:
    a = start_supervised(Counter)
    other = start_supervised({"id": "other", "start": Counter.start_link})
    gen_server.cast(a, ("stop", "boom"))
    assert a.join(5.0) == "boom"
    # not restarted, and its id is free again
    again = start_supervised(Counter)
    assert again is not a and again.is_alive()
    assert other.is_alive()


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"id": "p", "start": (Counter.start_link, [7]), "restart": "permanent"}),
        pytest.param(Sticky, id="class whose child_spec says permanent"),
    ],
)
def test_a_child_whose_spec_asks_for_restarts_is_restarted(
    start_supervised: Any, spec: Any
) -> None:
    pid = start_supervised(spec)
    other = start_supervised({"id": "other", "start": Counter.start_link})
    sup = pid._parent
    assert sup is not None
    [cid] = [id for id, p, *_ in parent.supervisor.which_children(sup) if p is pid]
    gen_server.cast(pid, ("stop", "normal"))
    pid.join(5.0)
    children = {id: p for id, p, *_ in parent.supervisor.which_children(sup)}
    assert children[cid] is not None and children[cid] is not pid
    assert children[cid].is_alive()  # type: ignore[union-attr]
    assert other.is_alive()  # the test's supervisor did not give up


def test_stop_supervised(start_supervised: Any, stop_supervised: Any) -> None:
    a = start_supervised({"id": "a", "start": (Counter.start_link, [1])})
    b = start_supervised({"id": "b", "start": (Counter.start_link, [2]), "restart": "permanent"})
    assert stop_supervised("a") is None
    assert a.join(0) == "shutdown"  # dead when it returns
    assert stop_supervised("b") is None
    assert b.join(0) == "shutdown"
    # both ids are free again, whatever their restart type
    assert start_supervised({"id": "a", "start": Counter.start_link}).is_alive()
    assert start_supervised({"id": "b", "start": Counter.start_link}).is_alive()
    with pytest.raises(NotFound):
        stop_supervised("nobody")


def test_stop_supervised_before_any_start(stop_supervised: Any) -> None:
    with pytest.raises(NotFound):
        stop_supervised("nobody")


def test_a_test_that_starts_nothing_starts_no_supervisor(start_supervised: Any) -> None:
    assert process.list() == []


# -- wait_until ----------------------------------------------------------------------------


def test_wait_until_is_true_as_soon_as_the_condition_holds() -> None:
    calls: list[int] = []

    def cond() -> int:
        calls.append(1)
        return len(calls) >= 3

    started = time.monotonic()
    assert wait_until(cond, timeout=10.0) is True
    assert time.monotonic() - started < 1.0
    assert len(calls) == 3  # it stopped asking once the answer was truthy
    assert wait_until(lambda: "truthy", timeout=0) is True


def test_wait_until_sees_a_change_made_by_another_thread_promptly() -> None:
    flag = threading.Event()
    set_at: list[float] = []

    def set_flag() -> None:
        set_at.append(time.monotonic())
        flag.set()

    timer = threading.Timer(0.22, set_flag)
    timer.start()
    try:
        assert wait_until(flag.is_set, timeout=5.0) is True
        seen_at = time.monotonic()
    finally:
        timer.join()
    # its back-off stays short (10 ms at most), so it notices soon after the change
    assert seen_at - set_at[0] < 0.1


def test_wait_until_is_false_at_the_deadline() -> None:
    started = time.monotonic()
    assert wait_until(lambda: 0, timeout=0.2) is False
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 2.0
    assert wait_until(lambda: None, timeout=0) is False


def test_wait_until_refuses_a_negative_timeout() -> None:
    with pytest.raises(ValueError):
        wait_until(lambda: True, timeout=-1)
