"""Regressions from the review of the sharded registry (over `LocalEngine`): a handle
of a registry that was shut down and created again, errors that pickle but do not
unpickle, and names lent by a holder beside those of `create`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from remote_workers import Counter

from genregistry._remote import setup
from genregistry._remote.client import RemoteRegistry
from genregistry._remote.local import LocalEngine
from parent import ExitError, NoProcess, StartError, gen_server

_names = itertools.count(1)


def fresh() -> str:
    return f"review-{next(_names)}"


@pytest.fixture
def engine() -> Iterator[LocalEngine]:
    e = LocalEngine()
    yield e
    e.close()


def test_a_handle_of_a_shut_down_registry_never_reaches_its_successor(
    engine: LocalEngine,
) -> None:
    name = fresh()
    old = engine.create(Counter, name=name, shards=4)
    old_pid = RemoteRegistry.lookup_or_start(old, "k1", ["k1"])
    old.shutdown()
    new = engine.create(Counter, name=name, shards=8)  # another modulus: another shard
    assert new != old
    RemoteRegistry.lookup_or_start(new, "k1", ["k1"])
    with pytest.raises(NoProcess, match="shut down"):
        RemoteRegistry.lookup_or_start(old, "k1", ["k1"])
    with pytest.raises(NoProcess):
        gen_server.call(old_pid, "get")
    assert not old_pid.is_alive()
    assert [id for id, _ in RemoteRegistry.to_list(new)] == ["k1"]  # one activation


def test_errors_that_pickle_but_do_not_unpickle_arrive_as_our_classes(
    engine: LocalEngine,
) -> None:
    reg = engine.create(Counter, name=fresh(), shards=2)
    with pytest.raises(StartError) as start:
        RemoteRegistry.start(reg, "two-args-init", ["two-args-init"])
    assert "TwoArgs" in repr(start.value.reason)
    with pytest.raises(ExitError) as crash:
        RemoteRegistry.call(reg, "w", "two-args-crash", ["w"])
    assert "TwoArgs" in repr(crash.value.reason) and crash.value.handled


def test_a_holder_does_not_take_a_name_create_gave(engine: LocalEngine) -> None:
    from parent import supervisor

    name = fresh()
    reg = engine.create(Counter, name=name, shards=2)
    spec = {
        "id": "holder",
        "start": (setup.holder_start_link, [engine.key, Counter, name, 5.0, {"shards": 2}]),
    }
    sup = supervisor.start_link([spec])  # type: ignore[list-item]
    [(_, holder, _, _)] = supervisor.which_children(sup)
    assert RemoteRegistry.call(holder, "a", ("echo", 1), ["a"]) == 1
    supervisor.stop(sup)
    assert RemoteRegistry.count(name) == 1  # still create's, after the holder stopped
    with pytest.raises(NoProcess):
        RemoteRegistry.count(holder)
    reg.shutdown()
