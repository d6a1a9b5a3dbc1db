"""genregistry.ray over a real local Ray cluster: the Behaviour's functions, pids used
from a Ray task and from another actor, errors crossing as the same classes, and a slow
worker that holds up no other id on its shard."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import ray
import workers

from genregistry.ray import RayRegistry, RemotePid
from parent import (
    AlreadyStarted,
    CallTimeout,
    ExitError,
    NoProcess,
    NotFound,
    Pid,
    StartError,
    gen_server,
)
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(120)

MakeRegistry = Callable[..., Any]


def test_the_behaviour_over_ray(make_registry: MakeRegistry, namespace: str) -> None:
    reg = make_registry(shards=2)
    assert RayRegistry.connect(reg.name, namespace) == reg
    again = RayRegistry.create(workers.Counter, name=reg.name, namespace=namespace, shards=2)
    assert again == reg  # joined, not made again

    ids: list[Any] = ["a", "b", ("t", 1), 7, b"bytes"]
    pids = {id: RayRegistry.lookup_or_start(reg, id, [id]) for id in ids}
    assert all(type(pid) is RemotePid for pid in pids.values())
    assert len(set(pids.values())) == len(ids)
    assert RayRegistry.lookup_or_start(reg, "a", ["a"]) == pids["a"]
    assert RayRegistry.lookup(reg, "a") == pids["a"]
    assert RayRegistry.lookup(reg, "nobody") is None
    assert RayRegistry.count(reg) == len(ids)
    assert sorted(RayRegistry.to_list(reg), key=repr) == sorted(pids.items(), key=repr)

    assert RayRegistry.call(reg, "a", ("add", 2)) == 2
    RayRegistry.cast(reg, "a", ("add", 3))  # taken by its shard when this returns
    assert gen_server.call(pids["a"], "get") == 5
    gen_server.cast(pids["a"], ("add", 1))
    assert wait_until(lambda: RayRegistry.call(reg, "a", "get") == 6, 5.0)

    # a pid made by this driver, used from a Ray task and from another actor
    assert ray.get(workers.call_in_task.remote(pids["b"], ("add", 10))) == (10, True)
    caller = workers.Caller.remote()
    try:
        assert ray.get(caller.call.remote(pids["b"], ("add", 1))) == 11
        ray.get(caller.cast.remote(pids[7], ("add", 4)))
        assert wait_until(lambda: gen_server.call(pids[7], "get") == 4, 5.0)
    finally:
        ray.kill(caller)

    RayRegistry.stop(reg, "a")
    assert not pids["a"].is_alive()
    with pytest.raises(NoProcess):
        gen_server.call(pids["a"], "get")
    assert RayRegistry.lookup(reg, "a") is None
    assert RayRegistry.count(reg) == len(ids) - 1
    assert pids["b"].is_alive()


def test_errors_cross_the_cluster_as_the_same_classes(
    make_registry: MakeRegistry, namespace: str
) -> None:
    reg = make_registry(shards=2)
    with pytest.raises(StartError) as refused:
        RayRegistry.lookup_or_start(reg, "invalid", ["invalid"])
    assert type(refused.value) is StartError and refused.value.reason == "invalid"
    assert RayRegistry.lookup(reg, "invalid") is None

    pid = RayRegistry.start(reg, "x", ["x"])
    with pytest.raises(AlreadyStarted) as already:
        RayRegistry.start(reg, "x", ["x"])
    assert type(already.value.pid) is RemotePid and already.value.pid == pid

    with pytest.raises(NotFound):
        RayRegistry.stop(reg, "nobody")
    with pytest.raises(NotFound):
        RayRegistry.connect("nobody", namespace)

    with pytest.raises(ExitError) as crashed:
        RayRegistry.call(reg, "x", "crash")
    assert isinstance(crashed.value.reason, RuntimeError)
    assert str(crashed.value.reason) == "crash requested"
    assert wait_until(lambda: RayRegistry.lookup(reg, "x") is None, 5.0)

    started = time.monotonic()
    with pytest.raises(CallTimeout):
        RayRegistry.call(reg, "slow", ("sleep", 1.5), ["slow"], timeout=0.2)
    assert time.monotonic() - started < 1.5  # the timeout's, not the sleep's
    slow = RayRegistry.lookup(reg, "slow")
    assert slow is not None
    with pytest.raises(CallTimeout):
        gen_server.call(slow, ("sleep", 1.5), 0.2)


BLOCK = 2.0  # how long the slow worker's request takes


def test_a_slow_worker_holds_up_no_other_id_on_its_shard(
    make_registry: MakeRegistry, ledger: tuple[Any, tuple[str, str]]
) -> None:
    handle, ledger_ref = ledger
    reg = make_registry(shards=1)
    for id in ("slow", "fast"):
        RayRegistry.lookup_or_start(reg, id, [id])
    slow: dict[str, Any] = {}

    def block() -> None:
        started = time.monotonic()
        slow["reply"] = RayRegistry.call(reg, "slow", ("block", BLOCK, ledger_ref), timeout=30)
        slow["took"] = time.monotonic() - started

    blocked = threading.Thread(target=block)
    blocked.start()
    latencies = []
    try:
        assert ray.get(handle.wait.remote("entered slow", 30.0))
        for n in range(1, 11):
            started = time.monotonic()
            assert RayRegistry.call(reg, "fast", ("add", 1)) == n
            latencies.append(time.monotonic() - started)
        assert blocked.is_alive(), "the slow request ended before the fast ones"
    finally:
        blocked.join(30)
    assert slow["reply"] == "unblocked"
    assert slow["took"] >= BLOCK
    assert max(latencies) < BLOCK / 4, latencies


def test_a_supervised_registry_lends_its_name_until_it_stops(namespace: str) -> None:
    from parent import supervisor

    name = f"sup-{namespace}"
    with pytest.raises(KeyError, match="worker_module"):
        RayRegistry.child_spec(name=name)
    with pytest.raises(ValueError, match="'shard'"):
        RayRegistry.child_spec(worker_module=workers.Counter, name=name, shard=2)
    spec = RayRegistry.child_spec(
        worker_module=workers.Counter, name=name, namespace=namespace, shards=2
    )
    assert spec["id"] == name
    sup = supervisor.start_link([spec])
    try:
        assert RayRegistry.call(name, "a", ("add", 2), ["a"]) == 2
        [(_, holder, _, _)] = supervisor.which_children(sup)
        assert isinstance(holder, Pid)
        assert RayRegistry.call(holder, "a", "get") == 2  # its pid stands for it too
    finally:
        supervisor.stop(sup)
    with pytest.raises(NoProcess, match="no remote registry is known"):
        RayRegistry.call(name, "a", "get")
    reg = RayRegistry.connect(name, namespace)  # the shards outlived the tree
    assert RayRegistry.call(reg, "a", "get") == 2
    reg.shutdown()


def test_casts_through_a_pid_keep_their_order(make_registry: MakeRegistry) -> None:
    # the shard runs requests on many threads: a cast not waited for could overtake an
    # earlier one, or the call after it (before the fix: 130 of 300 pairs swapped)
    reg = make_registry(shards=1)
    pid = RayRegistry.lookup_or_start(reg, "log", ["log"])
    for n in range(200):
        gen_server.cast(pid, ("log", n))
    assert gen_server.call(pid, "log") == list(range(200))
