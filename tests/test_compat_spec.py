"""Tests of the deprecated legacy helpers in compat.spec."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import compat
from compat import spec


class FakeWorker:
    @classmethod
    def start_link(cls, *args: Any) -> tuple[Any, ...]:
        return ("started", cls, args)

    @classmethod
    def start(cls, *args: Any) -> tuple[Any, ...]:
        return ("started", cls, args)


class FakeSupervisor(FakeWorker):
    pass


def modern_source(record: pytest.WarningsRecorder) -> str:
    """The Python source after "instead: " in the single DeprecationWarning recorded."""
    assert len(record) == 1
    message = str(record[0].message)
    return message.split("write the modern equivalent instead: ", 1)[1]


# -- worker ---------------------------------------------------------------------------


def test_worker_defaults() -> None:
    with pytest.warns(DeprecationWarning):
        legacy = spec.worker(FakeWorker)

    assert legacy == (
        FakeWorker,
        (FakeWorker, "start_link", []),
        "permanent",
        5.0,
        "worker",
        [FakeWorker],
    )


def test_worker_with_every_option() -> None:
    with pytest.warns(DeprecationWarning):
        legacy = spec.worker(
            FakeWorker,
            (1, 2),
            id="w",
            function="start",
            restart="temporary",
            shutdown="brutal_kill",
            modules="dynamic",
        )

    assert legacy == (
        "w",
        (FakeWorker, "start", [1, 2]),
        "temporary",
        "brutal_kill",
        "worker",
        "dynamic",
    )


def test_worker_warns_with_the_modern_dict() -> None:
    expected = '{"id": FakeWorker, "start": (FakeWorker.start_link, [1, 2])}'

    with pytest.warns(DeprecationWarning, match=re.escape(expected)) as record:
        spec.worker(FakeWorker, [1, 2])

    assert str(record[0].message) == (
        f"compat.spec.worker() is deprecated; write the modern equivalent instead: {expected}"
    )


def test_the_warning_points_at_the_caller() -> None:
    with pytest.warns(DeprecationWarning) as record:
        spec.worker(FakeWorker)

    assert record[0].filename == __file__


def test_worker_warning_shows_only_non_default_keys() -> None:
    with pytest.warns(DeprecationWarning) as record:
        spec.worker(
            FakeWorker,
            ["+1555"],
            id="phone",
            function="start",
            restart="transient",
            shutdown=1,
            modules=[FakeSupervisor],
        )

    assert modern_source(record) == (
        '{"id": "phone", "start": (FakeWorker.start, ["+1555"]), "restart": "transient", '
        '"shutdown": 1, "modules": [FakeSupervisor]}'
    )


def test_worker_rejects_a_bad_value_before_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"'restart' .*got 'forever'"):
            spec.worker(FakeWorker, restart="forever")  # type: ignore[arg-type]


def test_worker_rejects_a_missing_start_function() -> None:
    with pytest.raises(TypeError, match="has no attribute 'begin'"):
        spec.worker(FakeWorker, function="begin")


# -- supervisor -----------------------------------------------------------------------


def test_supervisor_defaults() -> None:
    with pytest.warns(DeprecationWarning):
        legacy = spec.supervisor(FakeSupervisor, [1])

    assert legacy == (
        FakeSupervisor,
        (FakeSupervisor, "start_link", [1]),
        "permanent",
        "infinity",
        "supervisor",
        [FakeSupervisor],
    )


def test_supervisor_warns_with_the_modern_dict() -> None:
    with pytest.warns(DeprecationWarning) as record:
        spec.supervisor(FakeSupervisor)

    assert modern_source(record) == (
        '{"id": FakeSupervisor, "start": (FakeSupervisor.start_link, []), "type": "supervisor"}'
    )


def test_supervisor_warning_shows_a_finite_shutdown() -> None:
    with pytest.warns(DeprecationWarning) as record:
        spec.supervisor(FakeSupervisor, shutdown=10.0, restart="temporary")

    assert modern_source(record) == (
        '{"id": FakeSupervisor, "start": (FakeSupervisor.start_link, []), '
        '"restart": "temporary", "shutdown": 10.0, "type": "supervisor"}'
    )


# -- supervise ------------------------------------------------------------------------


def test_supervise_returns_flags_and_a_list_of_children() -> None:
    with pytest.warns(DeprecationWarning):
        child = spec.worker(FakeWorker)
    children = (child,)

    with pytest.warns(DeprecationWarning):
        result = spec.supervise(children, strategy="rest_for_one", max_restarts=1)

    assert result == (("rest_for_one", 1, 5.0), [child])


def test_supervise_warns_with_the_supervisor_init_call() -> None:
    with pytest.warns(DeprecationWarning):
        children = [spec.worker(FakeWorker, [1]), spec.supervisor(FakeSupervisor)]

    with pytest.warns(DeprecationWarning) as record:
        spec.supervise(children, strategy="one_for_one")

    assert modern_source(record) == (
        'supervisor.init([{"id": FakeWorker, "start": (FakeWorker.start_link, [1])}, '
        '{"id": FakeSupervisor, "start": (FakeSupervisor.start_link, []), '
        '"type": "supervisor"}], strategy="one_for_one", max_restarts=3, max_seconds=5.0)'
    )


def test_supervise_renders_modern_children_as_they_are() -> None:
    children = [FakeWorker, (FakeWorker, "x"), {"id": "a", "start": FakeWorker.start}]

    with pytest.warns(DeprecationWarning) as record:
        spec.supervise(children, strategy="one_for_all", max_restarts=0, max_seconds=1.5)

    assert modern_source(record) == (
        'supervisor.init([FakeWorker, (FakeWorker, "x"), {"id": "a", "start": FakeWorker.start}], '
        'strategy="one_for_all", max_restarts=0, max_seconds=1.5)'
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strategy": "one_for_none"}, "'strategy' must be one of .*got 'one_for_none'"),
        ({"strategy": "one_for_one", "max_restarts": -1}, "'max_restarts' .*got -1"),
        ({"strategy": "one_for_one", "max_restarts": 1.5}, "'max_restarts' .*got 1.5"),
        ({"strategy": "one_for_one", "max_restarts": True}, "'max_restarts' .*got True"),
        ({"strategy": "one_for_one", "max_seconds": 0}, "'max_seconds' .*got 0"),
        ({"strategy": "one_for_one", "max_seconds": "5"}, "'max_seconds' .*got '5'"),
        ({"strategy": "one_for_one", "max_seconds": float("nan")}, "'max_seconds' .*got nan"),
    ],
)
def test_supervise_rejects_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec.supervise([], **options)


# -- round trips ----------------------------------------------------------------------

restarts = st.sampled_from(["permanent", "transient", "temporary"])
shutdowns = st.one_of(
    st.sampled_from(["infinity", "brutal_kill"]),
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=1e6),
)
ids = st.one_of(st.text(), st.integers(), st.tuples(st.text(), st.booleans()))
args_lists = st.lists(st.one_of(st.integers(), st.text(), st.none()), max_size=3)


@given(
    id_=ids,
    restart=restarts,
    shutdown=shutdowns,
    type_=st.sampled_from(["worker", "supervisor"]),
)
def test_legacy_to_modern_preserves_id_restart_shutdown_type(
    id_: Any, restart: Any, shutdown: Any, type_: Any
) -> None:
    legacy: Any = (id_, (FakeWorker, "start_link", []), restart, shutdown, type_, [FakeWorker])

    modern = compat.to_modern(legacy)

    assert modern["id"] == id_
    assert modern["restart"] == restart
    assert modern["shutdown"] == shutdown
    assert modern["type"] == type_


@given(
    helper=st.sampled_from([spec.worker, spec.supervisor]),
    args=args_lists,
    id_=st.none() | ids,
    restart=restarts,
    shutdown=shutdowns,
)
def test_the_warning_source_means_the_same_spec(
    helper: Any, args: list[Any], id_: Any, restart: Any, shutdown: Any
) -> None:
    with pytest.warns(DeprecationWarning) as record:
        legacy = helper(FakeWorker, args, id=id_, restart=restart, shutdown=shutdown)

    rendered = eval(modern_source(record), {"FakeWorker": FakeWorker})

    assert compat.normalize(rendered) == compat.to_modern(legacy)
