"""A sharded registry over the in-process engine (genregistry._remote.local.LocalEngine):
the local semantics kept, RemotePids, handles, fencing after a shard crash, errors
crossing the wire, and a holder in a supervision tree (API.md, "genregistry.ray: one
registry across a Ray cluster").

`LocalEngine` pickles every request and answer, as Ray would between processes, so the
workers the tests use live in ``remote_workers`` (importable by name).
"""

from __future__ import annotations

import contextlib
import itertools
import pickle
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from remote_workers import Counter, Other

from compat import ChildSpec
from genregistry import GenRegistry
from genregistry._remote import setup
from genregistry._remote.client import Registry, RemotePid, RemoteRegistry
from genregistry._remote.local import LocalEngine
from genregistry._remote.route import shard_of
from parent import (
    AlreadyStarted,
    CallTimeout,
    ExitError,
    NoProcess,
    NotFound,
    Pid,
    ProcessError,
    StartError,
    gen_server,
    process,
    supervisor,
)

pytestmark = pytest.mark.timeout(60)

R = RemoteRegistry
SHARDS = 4
_names = itertools.count(1)


def fresh() -> str:
    """A registry name no other test uses (shards are named processes in this
    interpreter, and names are known process-wide)."""
    return f"remote-test-{next(_names)}"


@pytest.fixture
def engine() -> Iterator[LocalEngine]:
    e = LocalEngine()
    yield e
    e.close()


@pytest.fixture
def reg(engine: LocalEngine) -> Registry:
    return engine.create(Counter, name=fresh(), shards=SHARDS)


def ids_on(shard: int, n: int = 1, shards: int = SHARDS, prefix: str = "id") -> list[str]:
    """``n`` ids that route to ``shard``."""
    found = (f"{prefix}-{i}" for i in itertools.count())
    return list(itertools.islice((i for i in found if shard_of(i, shards) == shard), n))


def serial(pid: Pid) -> int:
    value: int = gen_server.call(pid, "get")[0]
    return value


# -- the local semantics ---------------------------------------------------------------


def test_lookup_start_and_stop_keep_the_local_semantics(reg: Registry) -> None:
    assert R.lookup(reg, "a") is None

    pid = R.lookup_or_start(reg, "a", ["a"])

    assert isinstance(pid, RemotePid) and pid.id == "a"
    assert R.lookup(reg, "a") == pid
    assert R.lookup_or_start(reg, "a", ["ignored"]) == pid
    assert gen_server.call(pid, "id") == "a"  # started with its own args, once
    with pytest.raises(AlreadyStarted) as already:
        R.start(reg, "a", ["a"])
    assert already.value.pid == pid and hash(already.value.pid) == hash(pid)

    R.stop(reg, "a")

    assert R.lookup(reg, "a") is None
    with pytest.raises(NotFound):
        R.stop(reg, "a")
    started = R.start(reg, "a", ["a"])
    assert started != pid and R.lookup(reg, "a") == started


def test_a_failed_start_is_a_start_error_with_the_init_exception_as_reason(
    reg: Registry,
) -> None:
    with pytest.raises(StartError) as raised:
        R.lookup_or_start(reg, "bad-init", ["bad-init"])
    assert type(raised.value.reason) is LookupError
    assert raised.value.reason.args == ("no such account",)

    with pytest.raises(StartError) as stopped:
        R.start(reg, "stop-init", ["stop-init"])
    assert stopped.value.reason == ("refused", "stop-init")
    assert R.lookup(reg, "bad-init") is None and R.lookup(reg, "stop-init") is None


def test_a_call_with_no_reply_in_time_is_a_call_timeout(reg: Registry) -> None:
    started = time.monotonic()
    with pytest.raises(CallTimeout):
        R.call(reg, "s", "slow", ["s"], timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 2.0
    assert R.call(reg, "s", ("echo", 1)) == 1  # the worker is still there


def test_a_worker_that_crashes_on_a_call_is_an_exit_error_it_handled(reg: Registry) -> None:
    with pytest.raises(ExitError) as crashed:
        R.call(reg, "c", "crash", ["c"])
    assert crashed.value.handled is True
    assert type(crashed.value.reason) is ZeroDivisionError


def test_errors_keep_their_messages_across_the_wire(reg: Registry) -> None:
    # the same message as the local registry gives (pid numbers aside)
    def messages(method: str, id: str, *request: Any) -> list[str]:
        out = []
        for api, registry in ((GenRegistry, local), (R, reg)):
            with pytest.raises(ProcessError) as raised:
                getattr(api, method)(registry, id, *request, [id])
            out.append(re.sub(r"<Pid \d+ ", "<Pid N ", str(raised.value)))
        return out

    local = GenRegistry.start_link(Counter)
    try:
        assert messages("start", "bad-init") == ["start failed: LookupError('no such account')"] * 2
        here, there = messages("call", "c", "crash")
        assert there == here
    finally:
        gen_server.stop(local)


def test_count_to_list_sample_and_reduce_gather_every_shard(reg: Registry) -> None:
    ids = [f"spread-{i}" for i in range(40)]
    assert {shard_of(i, SHARDS) for i in ids} == set(range(SHARDS))  # the premise
    assert R.count(reg) == 0 and R.to_list(reg) == [] and R.sample(reg) is None

    pids = {i: R.lookup_or_start(reg, i, [i]) for i in ids}

    assert R.count(reg) == len(ids)
    listed = R.to_list(reg)
    assert len(listed) == len(ids) and dict(listed) == pids
    empty: frozenset[tuple[Any, Pid]] = frozenset()
    assert R.reduce(reg, empty, lambda entry, acc: acc | {entry}) == set(pids.items())
    found = R.sample(reg)
    assert found is not None and pids[found[0]] == found[1]  # type: ignore[index]

    for i in ids[::2]:
        R.stop(reg, i)

    assert R.count(reg) == len(ids) // 2
    assert dict(R.to_list(reg)) == {i: pids[i] for i in ids[1::2]}


def test_a_cast_starts_the_worker_and_reaches_it(reg: Registry) -> None:
    R.cast(reg, "k", "one", ["k"])
    R.cast(reg, "k", ("two", 2))

    assert R.call(reg, "k", "get")[1] == ["one", ("two", 2)]
    with pytest.raises(StartError) as refused:  # the cast waits for the shard to take it
        R.cast(reg, "bad-init", "one", ["bad-init"])
    assert type(refused.value.reason) is LookupError


# -- RemotePid and the handle --------------------------------------------------------------


def test_a_remote_pid_crosses_pickle_and_reaches_its_worker(reg: Registry) -> None:
    pid = R.lookup_or_start(reg, ("user", 7), [("user", 7)])

    copy = pickle.loads(pickle.dumps(pid))

    assert copy == pid and hash(copy) == hash(pid) and copy is not pid
    assert {pid: "found"}[copy] == "found"
    assert copy.is_alive()
    assert gen_server.call(copy, ("echo", [1, 2])) == [1, 2]
    gen_server.cast(copy, "hello")
    assert gen_server.call(pid, "get") == (serial(pid), ["hello"])

    R.stop(reg, ("user", 7))

    assert not copy.is_alive()
    with pytest.raises(NoProcess):
        gen_server.call(copy, "get")
    gen_server.cast(copy, "dropped")  # never raises


def test_local_only_operations_refuse_a_remote_pid(reg: Registry) -> None:
    pid = R.lookup_or_start(reg, "a", ["a"])
    caught: list[BaseException] = []

    def monitor_it() -> None:
        try:
            process.monitor(pid)
        except Exception as e:
            caught.append(e)

    process.spawn(monitor_it).join(5.0)
    refusals = {
        "monitor": caught[0],
        "join": _raised(lambda: pid.join(0.1)),
        "send": _raised(lambda: process.send(pid, "hi")),
        "link": _raised(lambda: process.link(pid)),
        "stop": _raised(lambda: gen_server.stop(pid)),
    }

    for what, error in refusals.items():
        assert isinstance(error, (ProcessError, TypeError)), (what, error)
        assert repr(pid) in str(error), (what, error)
        assert not isinstance(error, NotImplementedError), what
    assert pid.is_alive() and R.lookup(reg, "a") == pid  # none of them reached it


def _raised(fn: Any) -> BaseException:
    try:
        fn()
    except Exception as e:
        return e
    raise AssertionError(f"{fn} did not raise")


def test_a_registry_handle_crosses_pickle(reg: Registry) -> None:
    R.cast(reg, "a", "kept", ["a"])

    copy = pickle.loads(pickle.dumps(reg))

    assert copy == reg and hash(copy) == hash(reg)
    assert R.call(copy, "a", "get")[1] == ["kept"]


def test_create_again_joins_the_same_registry_or_refuses_other_options(
    engine: LocalEngine,
) -> None:
    name = fresh()
    reg = engine.create(Counter, name=name, shards=3, idle_timeout=30.0)
    pid = R.lookup_or_start(reg, "a", ["a"])
    R.cast(reg, "a", "kept")

    assert engine.create(Counter, name=name, shards=3, idle_timeout=30.0) == reg
    others: list[tuple[type, dict[str, Any]]] = [
        (Other, {"shards": 3, "idle_timeout": 30.0}),
        (Counter, {"shards": 4, "idle_timeout": 30.0}),
        (Counter, {"shards": 2, "idle_timeout": 30.0}),
        (Counter, {"shards": 3}),
        (Counter, {"shards": 3, "idle_timeout": 30.0, "max_workers": 10}),
        (Counter, {"shards": 3, "idle_timeout": 30.0, "hibernate_after": 1.0}),
    ]
    for worker, options in others:
        with pytest.raises(ValueError, match="already runs with"):
            engine.create(worker, name=name, **options)

    assert not engine.exists(reg.namespace, name, 3)  # shards=4 started no fourth shard
    assert setup.connect(engine, name) == reg
    assert R.lookup(name, "a") == pid  # the name still stands for the running one
    assert R.call(reg, "a", "get") == (serial(pid), ["kept"])


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"shards": 0}, ValueError),
        ({"idle_timeout": -1}, ValueError),
        ({"name": ""}, (ValueError, TypeError)),
    ],
    ids=["shards=0", "idle_timeout=-1", "name=''"],
)
def test_bad_options_raise_before_anything_starts(
    engine: LocalEngine, options: dict[str, Any], error: Any
) -> None:
    kwargs = {"name": fresh(), **options}

    with pytest.raises(error):
        engine.create(Counter, **kwargs)

    assert not engine.exists("genregistry", kwargs["name"], 0)


def test_connect_joins_a_running_registry_and_refuses_an_unknown_name(
    engine: LocalEngine,
) -> None:
    name = fresh()
    reg = engine.create(Counter, name=name, shards=3, namespace="team")
    pid = R.lookup_or_start(reg, "a", ["a"])

    joined = setup.connect(engine, name, "team")

    assert joined == reg and joined.shards == 3
    assert R.lookup(joined, "a") == pid
    with pytest.raises(NotFound):
        setup.connect(engine, fresh())
    with pytest.raises(NotFound):
        setup.connect(engine, name)  # the default namespace holds no such registry


def test_after_shutdown_every_request_is_no_process(engine: LocalEngine) -> None:
    name = fresh()
    reg = engine.create(Counter, name=name, shards=2)
    pid = R.lookup_or_start(reg, "a", ["a"])

    reg.shutdown()

    for request in (
        lambda: R.lookup(reg, "a"),
        lambda: R.lookup_or_start(reg, "a", ["a"]),
        lambda: R.call(reg, "a", "get", ["a"]),
        lambda: R.cast(reg, "a", "x", ["a"]),
        lambda: R.count(reg),
        lambda: R.to_list(reg),
        lambda: R.lookup(name, "a"),  # the name is forgotten too
    ):
        with pytest.raises(NoProcess):
            request()
    assert not pid.is_alive()
    gen_server.cast(pid, "dropped")
    with pytest.raises(NoProcess):  # not ExitError(nodedown): the shard is gone for good
        gen_server.call(pid, "get")


# -- fencing -----------------------------------------------------------------------------


def test_a_crashed_shard_fences_its_old_pids_and_reactivates_on_demand(
    engine: LocalEngine, reg: Registry
) -> None:
    a, a2 = ids_on(1, 2)
    (b,) = ids_on(2)
    old, old2, pb = (R.lookup_or_start(reg, i, [i]) for i in (a, a2, b))
    R.cast(reg, b, "before")
    serial_a, serial_a2, serial_b = serial(old), serial(old2), serial(pb)

    engine.crash(reg, 1)

    assert not old.is_alive()
    with pytest.raises(NoProcess):
        gen_server.call(old, "get")
    assert R.lookup(reg, a) is None and R.lookup(reg, a2) is None  # lost, not migrated
    gen_server.cast(old, "stale before")
    new = R.lookup_or_start(reg, a, [a])
    gen_server.cast(old, "stale after")
    assert new != old and new.is_alive()
    assert gen_server.call(new, "get") == (serial(new), [])  # no stale cast delivered
    assert serial(new) != serial_a
    serial2, seen2 = R.call(reg, a2, "get", [a2])  # call re-activates too
    assert seen2 == [] and serial2 != serial_a2
    assert R.lookup(reg, a2) not in (None, old2)
    # a pid of the old epoch naming the new worker's number (what a restarted process
    # that numbers its workers afresh would hand out) is still fenced
    assert isinstance(old, RemotePid) and isinstance(new, RemotePid)
    forged = RemotePid(reg, 1, old._epoch, a, new._num)
    assert forged != new and not forged.is_alive()
    with pytest.raises(NoProcess):
        gen_server.call(forged, "get")
    # the other shards are untouched
    assert R.lookup(reg, b) == pb and pb.is_alive()
    assert gen_server.call(pb, "get") == (serial_b, ["before"])


FENCE_IDS = ["a", "b", "c", "d", "e", "f"]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("touch"), st.sampled_from(FENCE_IDS)),
        st.tuples(st.just("crash"), st.integers(0, 2)),
        st.tuples(st.just("stop"), st.sampled_from(FENCE_IDS)),
    ),
    max_size=14,
)


@settings(max_examples=30, deadline=None)
@given(steps)
def test_at_most_one_activation_of_an_id_ever_answers(ops: list[tuple[str, Any]]) -> None:
    engine = LocalEngine()
    try:
        reg = engine.create(Counter, name=fresh(), shards=3)
        handed: dict[str, set[Pid]] = {i: set() for i in FENCE_IDS}
        serial_of: dict[Pid, int] = {}  # the activation each pid was handed for
        for op, arg in ops:
            if op == "touch":
                pid = R.lookup_or_start(reg, arg, [arg])
                answered, _ = R.call(reg, arg, "get", [arg])
                assert serial_of.setdefault(pid, answered) == answered
                handed[arg].add(pid)
            elif op == "crash":
                engine.crash(reg, arg)
            else:
                with contextlib.suppress(NotFound):
                    R.stop(reg, arg)
            for id, pids in handed.items():
                answering = {}
                for pid in pids:
                    try:
                        answering[pid] = serial(pid)
                    except NoProcess:
                        assert not pid.is_alive()
                current = R.lookup(reg, id)
                assert set(answering) == (set() if current is None else {current})
                assert all(serial_of[p] == s for p, s in answering.items())
        assert len(set(serial_of.values())) == len(serial_of)  # a new serial each time
    finally:
        engine.close()


# -- errors that do not pickle ------------------------------------------------------------


def test_an_error_whose_reason_does_not_pickle_arrives_as_the_same_class(
    reg: Registry,
) -> None:
    with pytest.raises(StartError) as started:
        R.start(reg, "lock-init", ["lock-init"])
    assert type(started.value) is StartError
    assert isinstance(started.value.reason, str) and "Unpicklable(<" in started.value.reason

    pid = R.lookup_or_start(reg, "x", ["x"])
    with pytest.raises(ExitError) as crashed:
        gen_server.call(pid, "lock-crash")
    assert type(crashed.value) is ExitError and crashed.value.handled is True
    assert isinstance(crashed.value.reason, str)
    assert crashed.value.reason.startswith("Unpicklable(<") and "lock" in crashed.value.reason


# -- a holder in a supervision tree -------------------------------------------------------


def start_holder(engine: LocalEngine, name: str) -> tuple[Pid, Pid]:
    """A supervisor whose one child holds registry ``name`` (2 shards): (sup, holder)."""
    spec: ChildSpec = {
        "id": "holder",
        "start": (setup.holder_start_link, [engine.key, Counter, name, 5.0, {"shards": 2}]),
    }
    sup = supervisor.start_link([spec])
    [(_, holder, _, _)] = supervisor.which_children(sup)
    assert holder is not None
    return sup, holder


def test_a_holder_lends_its_name_and_pid_to_the_registry_while_it_runs(
    engine: LocalEngine,
) -> None:
    name = fresh()
    sup, holder = start_holder(engine, name)
    try:
        assert R.call(name, "a", ("echo", 1), ["a"]) == 1
        assert R.call(holder, "b", ("echo", 2), ["b"]) == 2
        assert R.lookup(holder, "a") == R.lookup(name, "a") is not None
        assert R.count(name) == R.count(holder) == 2
        held = gen_server.call(holder, "which")
        assert (held.name, held.namespace, held.shards, held.engine) == (
            name,
            "genregistry",
            2,
            engine.key,
        )
    finally:
        supervisor.stop(sup)

    assert not holder.is_alive()
    for registry in (name, holder):
        # refused by this process (the name is forgotten), not by a shard
        with pytest.raises(NoProcess, match="no remote registry is known as"):
            R.lookup(registry, "a")


def test_stopping_the_holder_leaves_the_shards_running(engine: LocalEngine) -> None:
    name = fresh()
    sup, holder = start_holder(engine, name)
    reg = gen_server.call(holder, "which")
    pid = R.lookup_or_start(reg, "a", ["a"])
    R.cast(reg, "a", "kept")

    supervisor.stop(sup)

    assert pid.is_alive()
    assert R.call(reg, "a", "get") == (serial(pid), ["kept"])
    assert R.count(reg) == 1
