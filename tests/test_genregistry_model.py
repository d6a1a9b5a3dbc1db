"""A Hypothesis state machine for GenRegistry: random sequences of lookup_or_start,
start, stop, worker kills, lookups and counts over a few ids, checked after every step
against a model ``dict`` of id -> (pid, value)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from genregistry import GenRegistry
from parent import AlreadyStarted, GenServer, NotFound, Pid, gen_server, process

pytestmark = pytest.mark.timeout(60)

IDS = st.sampled_from(["a", "b", ("c", 1), 4, None])
VALUES = st.integers(min_value=0, max_value=9)


class ModelWorker(GenServer):
    def init(self, value: object = None) -> None:
        self.value = value

    def handle_call(self, request: Any, from_: Any) -> Any:
        return self.value


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.registry = GenRegistry.start_link(ModelWorker)
        self.model: dict[Any, tuple[Pid, int]] = {}
        self.dead: list[Pid] = []

    # -- rules -----------------------------------------------------------------------

    @rule(id=IDS, value=VALUES)
    def lookup_or_start(self, id: Any, value: int) -> None:
        pid = GenRegistry.lookup_or_start(ModelWorker, id, [value])
        if id in self.model:
            assert pid is self.model[id][0]
        else:
            assert pid not in self.dead
            self.model[id] = (pid, value)
        assert gen_server.call(pid, "get") == self.model[id][1]

    @rule(id=IDS, value=VALUES, by_pid=st.booleans())
    def start(self, id: Any, value: int, by_pid: bool) -> None:
        target = self.registry if by_pid else ModelWorker
        if id in self.model:
            try:
                GenRegistry.start(target, id, [value])
            except AlreadyStarted as exc:
                assert exc.pid is self.model[id][0]
            else:
                raise AssertionError(f"start of running {id!r} did not raise")
        else:
            pid = GenRegistry.start(target, id, [value])
            self.model[id] = (pid, value)

    @rule(id=IDS, by_pid=st.booleans())
    def stop(self, id: Any, by_pid: bool) -> None:
        target = self.registry if by_pid else ModelWorker
        if id in self.model:
            pid, _ = self.model.pop(id)
            GenRegistry.stop(target, id)
            assert not pid.is_alive()
            self.dead.append(pid)
        else:
            try:
                GenRegistry.stop(target, id)
            except NotFound:
                pass
            else:
                raise AssertionError(f"stop of unknown {id!r} did not raise NotFound")

    @rule(id=IDS, reason=st.sampled_from(["kill", "shutdown", "normal-stop"]))
    def kill_worker(self, id: Any, reason: str) -> None:
        if id not in self.model:
            return
        pid, _ = self.model.pop(id)
        if reason == "normal-stop":
            gen_server.stop(pid)
        else:
            process.exit(pid, reason)
        assert not pid.is_alive()
        self.dead.append(pid)

    @rule(id=IDS, by_pid=st.booleans())
    def lookup(self, id: Any, by_pid: bool) -> None:
        target = self.registry if by_pid else ModelWorker
        expected = self.model.get(id)
        assert GenRegistry.lookup(target, id) is (None if expected is None else expected[0])

    @rule(by_pid=st.booleans())
    def count(self, by_pid: bool) -> None:
        target = self.registry if by_pid else ModelWorker
        assert GenRegistry.count(target) == len(self.model)

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def table_matches_the_model(self) -> None:
        entries = GenRegistry.to_list(ModelWorker)
        assert sorted(entries, key=repr) == sorted(
            ((id, pid) for id, (pid, _) in self.model.items()), key=repr
        )
        assert all(not pid.is_alive() for pid in self.dead)

    def teardown(self) -> None:
        if self.registry.is_alive():
            gen_server.stop(self.registry)
        for pid, _ in self.model.values():
            assert not pid.is_alive()


def test_registry_behaves_like_a_dict_of_live_workers() -> None:
    run_state_machine_as_test(
        RegistryMachine,
        settings=settings(max_examples=25, deadline=None, stateful_step_count=20),
    )
