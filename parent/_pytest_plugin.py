"""The pytest plugin of `parent` (entry point ``pytest11``): per-test supervision.

``start_supervised(spec) -> Pid`` starts a child under a supervisor that belongs to the
test; ``stop_supervised(id)`` stops one. When the test ends, the supervisor and every
child still running are stopped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from parent import supervisor
from parent.process import Pid

__all__ = ["start_supervised", "stop_supervised"]


class _TestSupervisor:
    """The test's supervisor, started on the first ``start_supervised`` call."""

    def __init__(self) -> None:
        self.pid: Pid | None = None

    def start(self, spec: Any) -> Pid:
        if self.pid is None:
            # as ExUnit's test supervisor: a child whose spec asks to be restarted is
            # restarted, however often, without taking the other children down
            self.pid = supervisor.start_link(
                [], strategy="one_for_one", max_restarts=1_000_000, max_seconds=1.0
            )
        child = supervisor.start_child(self.pid, _temporary(spec))
        return child

    def stop_child(self, id: Any) -> None:
        if self.pid is None:
            from parent.errors import NotFound

            raise NotFound(f"no supervised child with id {id!r}: nothing was started")
        supervisor.terminate_child(self.pid, id)
        with contextlib.suppress(LookupError):
            supervisor.delete_child(self.pid, id)

    def close(self) -> None:
        if self.pid is not None and self.pid.is_alive():
            supervisor.stop(self.pid, "shutdown", timeout=30.0)
        self.pid = None


def _temporary(spec: Any) -> Any:
    """Tests usually want a crashed child to stay down (not restarted): make the child
    temporary unless its spec says otherwise."""
    from compat.child_spec import normalize

    raw = spec
    if isinstance(spec, type):  # read the class's own spec once, to see what it says
        raw = _own_spec(spec, spec, ())
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], type):
        raw = _own_spec(spec, spec[0], (spec[1],))
    normalized = dict(normalize(raw))
    if "restart" not in (raw if isinstance(raw, Mapping) else {}):
        normalized["restart"] = "temporary"
    return normalized


def _own_spec(spec: Any, cls: type, args: tuple[Any, ...]) -> Any:
    """``cls.child_spec(*args)``, or ``spec`` itself (for `normalize` to reject) when
    ``cls`` has no ``child_spec``."""
    child_spec = getattr(cls, "child_spec", None)
    return child_spec(*args) if callable(child_spec) else spec


@pytest.fixture
def _parent_test_supervisor() -> Iterator[_TestSupervisor]:
    sup = _TestSupervisor()
    yield sup
    sup.close()


@pytest.fixture
def start_supervised(_parent_test_supervisor: _TestSupervisor) -> Callable[[Any], Pid]:
    """``start_supervised(spec) -> Pid``: start a child under the test's supervisor;
    everything it started is stopped when the test ends.

    Example:
        ```python
        def test_counter(start_supervised):
            pid = start_supervised(Counter.child_spec(0))
            assert gen_server.call(pid, "get") == 0
        ```
    """
    return _parent_test_supervisor.start


@pytest.fixture
def stop_supervised(_parent_test_supervisor: _TestSupervisor) -> Callable[[Any], None]:
    """``stop_supervised(id)``: stop the supervised child with this id.

    Example:
        ```python
        def test_stop(start_supervised, stop_supervised):
            start_supervised(Counter.child_spec(0))
            stop_supervised(Counter)
        ```
    """
    return _parent_test_supervisor.stop_child
