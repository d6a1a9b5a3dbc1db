"""Losing shards on a real cluster: a killed shard actor (Ray restarts it) and a removed
node (Ray restarts its shards elsewhere). Either way the lost shard's ids re-activate on
demand in a new, empty shard, their old pids are fenced (`NoProcess`), and ids on other
shards keep their workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import ray
import workers

from genregistry._remote.route import shard_of
from genregistry.ray import RayRegistry
from parent import NoProcess, Pid, gen_server
from parent.testing import wait_until

REPLACED_DEADLINE = 45.0  # for Ray to bring a lost shard back


def _replaced(reg: Any, id: str) -> bool:
    """Whether ``id``'s shard answers again as a new, empty incarnation: while the old
    one runs it still has the id, while none does the lookup fails."""
    try:
        return RayRegistry.lookup(reg, id) is None
    except NoProcess:
        return False


def _one_id_per_shard(shards: int) -> list[str]:
    ids: dict[int, str] = {}
    n = 0
    while len(ids) < shards:
        ids.setdefault(shard_of(f"id-{n}", shards), f"id-{n}")
        n += 1
    return [ids[i] for i in range(shards)]


def _start(reg: Any, ids: list[str]) -> dict[str, Pid]:
    """A worker per id, each with a count of its own (its index + 1)."""
    pids = {}
    for n, id in enumerate(ids):
        pids[id] = RayRegistry.lookup_or_start(reg, id, [id])
        assert RayRegistry.call(reg, id, ("add", n + 1)) == n + 1
    return pids


def _check(reg: Any, pids: dict[str, Pid], lost: list[str], kept: list[str]) -> dict[str, Pid]:
    """Lost ids (their shard replaced): the old pid fenced, a new empty activation on
    demand. Kept ids: the same pid and state. The new pids."""
    for id in lost:
        old = pids[id]
        with pytest.raises(NoProcess):
            gen_server.call(old, "get")
        assert not old.is_alive()
    new = {id: RayRegistry.lookup_or_start(reg, id, [id]) for id in lost}
    for id in lost:
        assert new[id] != pids[id]
        assert RayRegistry.call(reg, id, "get") == 0
        assert gen_server.call(new[id], "get") == 0
    for id in kept:
        n = list(pids).index(id)
        assert RayRegistry.lookup(reg, id) == pids[id]
        assert gen_server.call(pids[id], "get") == n + 1
    assert RayRegistry.count(reg) == len(pids)
    return new


@pytest.mark.timeout(120)
def test_a_killed_shard_restarts_empty_and_fences_its_old_pids(
    make_registry: Callable[..., Any],
) -> None:
    reg = make_registry(shards=2)
    ids = _one_id_per_shard(2)
    pids = _start(reg, ids)
    ray.kill(ray.get_actor(reg.shard_name(0), namespace=reg.namespace), no_restart=False)
    assert wait_until(lambda: _replaced(reg, ids[0]), REPLACED_DEADLINE)
    _check(reg, pids, lost=ids[:1], kept=ids[1:])


SHARDS_ON_NODES = 4
PLACEMENTS = 5  # registries made until one has a shard on a node that can be removed


def _placed(namespace: str, removable: Any) -> tuple[Any, list[str], dict[str, str]]:
    """A registry with at least one shard on a ``removable`` node: its ids (one per
    shard, each started) and the node of each. SPREAD is Ray's best effort: on a
    cluster this young, shards often share a node, now and then the driver's."""
    ids = _one_id_per_shard(SHARDS_ON_NODES)
    placements = []
    for attempt in range(PLACEMENTS):
        reg = RayRegistry.create(
            workers.Counter, name=f"nodes{attempt}", namespace=namespace, shards=SHARDS_ON_NODES
        )
        for id in ids:
            RayRegistry.lookup_or_start(reg, id, [id])
        node_of = {id: RayRegistry.call(reg, id, "node") for id in ids}
        if any(node in removable for node in node_of.values()):
            return reg, ids, node_of
        reg.shutdown()
        placements.append(node_of)
    raise AssertionError(f"no shard on a node that can be removed, in {placements}")


@pytest.mark.timeout(180)
def test_a_lost_node_s_ids_reactivate_on_another_node(node_cluster: Any, namespace: str) -> None:
    driver_node = ray.get_runtime_context().get_node_id()
    removable = {n.node_id: n for n in node_cluster.worker_nodes if n.node_id != driver_node}
    reg, ids, node_of = _placed(namespace, removable)
    try:
        pids = _start(reg, ids)
        # the victim: the removable node with the fewest shards (others then keep some)
        victim = min(
            (sum(n == node for n in node_of.values()), node)
            for node in set(node_of.values())
            if node in removable
        )[1]
        lost = [id for id in ids if node_of[id] == victim]
        kept = [id for id in ids if node_of[id] != victim]

        node_cluster.remove_node(removable[victim])
        for id in lost:
            assert wait_until(lambda: _replaced(reg, id), REPLACED_DEADLINE), id  # noqa: B023

        _check(reg, pids, lost, kept)
        for id in lost:
            assert RayRegistry.call(reg, id, "node") not in (victim, None)
    finally:
        reg.shutdown()
