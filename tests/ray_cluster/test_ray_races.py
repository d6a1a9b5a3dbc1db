"""Driver processes racing on one cluster (`drivers.py`, one per process, each connected
with ``ray.init(address=...)``): starts of the same ids, and creates of the same
registry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import ray

from genregistry.ray import RayRegistry

pytestmark = pytest.mark.timeout(180)

DEADLINE = 120.0  # for every driver's answer to one command
IDS = [f"id-{n}" for n in range(50)]


def _named(namespace: str) -> list[str]:
    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == namespace and a["name"].startswith("genregistry:")
    )


def test_racing_drivers_get_one_activation_per_id(
    drivers: Callable[[int], list[Any]],
    make_registry: Callable[..., Any],
    ledger: tuple[Any, tuple[str, str]],
) -> None:
    handle, ledger_ref = ledger
    reg = make_registry(shards=2)
    group = drivers(4)
    for d in group:
        d.send(
            "race",
            name=reg.name,
            namespace=reg.namespace,
            ids=IDS,
            threads=4,
            ledger=list(ledger_ref),
        )
    deadline = time.monotonic() + DEADLINE
    seen = [d.answer(deadline) for d in group]

    activations = ray.get(handle.activations.remote())
    assert sorted(id for id, _token in activations) == sorted(IDS)  # one start per id
    token = dict(activations)
    for answer in seen:  # and every driver only ever reached that one
        assert answer == {id: [token[id]] for id in IDS}
    assert RayRegistry.count(reg) == len(IDS)


def test_racing_creates_make_one_registry(
    drivers: Callable[[int], list[Any]], namespace: str
) -> None:
    group = drivers(4)
    made = []
    try:
        for d in group:
            d.send("create", name="same", namespace=namespace, shards=3, idle_timeout=None)
        deadline = time.monotonic() + DEADLINE
        answers = [d.answer(deadline) for d in group]
        made.append(("same", 3))
        assert answers == [{"ok": ["same", namespace, 3]}] * 4
        assert _named(namespace) == [f"genregistry:same:{i}" for i in range(3)]

        options = [(2, None), (2, None), (3, 30.0), (3, 30.0)]
        for d, (shards, idle_timeout) in zip(group, options, strict=True):
            d.send(
                "create",
                name="mixed",
                namespace=namespace,
                shards=shards,
                idle_timeout=idle_timeout,
            )
        deadline = time.monotonic() + DEADLINE
        answers = [d.answer(deadline) for d in group]
        won = [shards for (shards, _), a in zip(options, answers, strict=True) if "ok" in a]
        lost = [a for a in answers if "ok" not in a]
        assert len(won) == 2 and len(set(won)) == 1, answers  # one side won, the other
        made.append(("mixed", won[0]))
        assert len(lost) == 2 and all(a["error"] == "ValueError" for a in lost), answers
        assert all("already runs with" in a["message"] for a in lost), answers
        assert _named(namespace) == sorted(
            [f"genregistry:mixed:{i}" for i in range(won[0])]
            + [f"genregistry:same:{i}" for i in range(3)]
        )
    finally:
        for name, _shards in made:
            RayRegistry.connect(name, namespace).shutdown()
