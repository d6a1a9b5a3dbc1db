"""Acceptance tests for API.md `genregistry` and the GenRegistry 1.3 README seed."""

from __future__ import annotations

import threading
import time
import typing

import pytest

import compat
import genregistry
import parent
from genregistry import GenRegistry
from parent import GenServer, gen_server, process, supervisor
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)


# -- helpers ---------------------------------------------------------------------------


class ExampleWorker(GenServer):
    def init(self, value: object = None) -> None:  # runs in the new process
        if value == "invalid":
            raise parent.Stop("invalid")  # start_link raises StartError("invalid")
        self.value = value

    def handle_call(self, request: object, from_: parent.From) -> object:
        if request == "get":
            return self.value  # the return value is the reply
        raise ValueError(request)

    @classmethod
    def get(cls, server: parent.Server) -> object:  # client API lives on the class
        return gen_server.call(server, "get")


class Box:
    def __init__(self) -> None:
        self.items: list[object] = []
        self.cond = threading.Condition()

    def add(self, item: object) -> None:
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def snapshot(self) -> list:
        with self.cond:
            return list(self.items)


@pytest.fixture
def reap():
    pids: list = []

    def add(pid):
        pids.append(pid)
        return pid

    yield add
    for p in reversed(pids):
        if p.is_alive():
            try:
                gen_server.stop(p, "shutdown", timeout=5.0)
            except Exception:
                process.exit(p, "kill")
    for p in pids:
        try:
            p.join(3.0)
        except TimeoutError:
            process.exit(p, "kill")
            p.join(3.0)


@pytest.fixture
def registry(reap):
    """The README setup: a supervised registry named after ExampleWorker."""
    sup = reap(supervisor.start_link([GenRegistry.child_spec(worker_module=ExampleWorker)]))
    [(_rid, rpid, _, _)] = supervisor.which_children(sup)
    return rpid


class TrapWorker(GenServer):
    EVENTS = Box()

    def init(self, tag: object = None) -> None:
        process.trap_exits(True)
        self.tag = tag

    def handle_call(self, request, from_):
        return self.tag

    def terminate(self, reason):
        TrapWorker.EVENTS.add((self.tag, reason))


class GatedWorker(GenServer):
    INITS: typing.ClassVar[list[typing.Any]] = []
    LOCK = threading.Lock()

    def init(self, gate: threading.Event | None = None, tag: object = None) -> None:
        with GatedWorker.LOCK:
            GatedWorker.INITS.append(tag)
        if gate is not None:
            gate.wait(5)

    def handle_call(self, request, from_):
        return "ok"


class Stubborn(GenServer):
    @classmethod
    def child_spec(cls, arg=None):
        spec = dict(super().child_spec(arg))
        spec["shutdown"] = 0.3
        return spec

    def init(self, gate: threading.Event) -> None:
        process.trap_exits(True)
        self.gate = gate

    def terminate(self, reason):
        self.gate.wait(5)


class ParentWorker(parent.Parent):
    pass


class Spy:
    def __init__(self) -> None:
        self.calls: list = []

    def call(self, server, request, timeout):
        self.calls.append((server, request, timeout))
        return gen_server.call(server, request, timeout)

    def requests(self) -> list:
        return [c[1] for c in self.calls]


# -- README example --------------------------------------------------------------------


def test_readme_example(reap):
    sup = reap(supervisor.start_link([GenRegistry.child_spec(worker_module=ExampleWorker)]))
    pid = GenRegistry.lookup_or_start(ExampleWorker, "+15551234567", ["+15551234567"])
    assert isinstance(pid, parent.Pid)
    assert ExampleWorker.get(pid) == "+15551234567"
    assert GenRegistry.lookup(ExampleWorker, "+15551234567") == pid
    assert GenRegistry.lookup_or_start(ExampleWorker, "+15551234567", ["+15551234567"]) == pid
    assert GenRegistry.count(ExampleWorker) == 1
    supervisor.stop(sup)
    assert not pid.is_alive()


def test_registry_registered_under_worker_name(registry):
    assert process.whereis(ExampleWorker) == registry


def test_module_based_tuple_spec_in_children(reap):
    sup = reap(supervisor.start_link([(GenRegistry, {"worker_module": ExampleWorker})]))
    [(rid, rpid, rtype, _)] = supervisor.which_children(sup)
    assert rid is ExampleWorker and rtype == "supervisor"
    assert process.whereis(ExampleWorker) == rpid
    GenRegistry.lookup_or_start(ExampleWorker, 1)
    assert GenRegistry.count(ExampleWorker) == 1


# -- child_spec / start_link -----------------------------------------------------------


def test_child_spec_shape():
    spec = GenRegistry.child_spec(worker_module=ExampleWorker)
    assert spec["id"] is ExampleWorker
    assert spec["type"] == "supervisor"
    assert spec["shutdown"] == "infinity"
    named = GenRegistry.child_spec(worker_module=ExampleWorker, name="acc-named")
    assert named["id"] == "acc-named"
    positional = GenRegistry.child_spec({"worker_module": ExampleWorker, "name": "acc-pos"})
    assert positional["id"] == "acc-pos" and positional["type"] == "supervisor"
    full = compat.normalize(spec)
    assert full["type"] == "supervisor" and full["shutdown"] == "infinity"


def test_child_spec_requires_worker_module():
    with pytest.raises(KeyError) as ei:
        GenRegistry.child_spec()
    assert "worker_module" in str(ei.value)
    assert type(ei.value) is KeyError
    with pytest.raises(KeyError) as ei:
        GenRegistry.child_spec({"name": "x"})
    assert "worker_module" in str(ei.value)


def test_tuple_spec_missing_worker_module_raises_in_caller():
    with pytest.raises(KeyError):
        supervisor.start_link([(GenRegistry, {})])


def test_start_link_direct(reap):
    import inspect

    sig = inspect.signature(GenRegistry.start_link)
    assert sig.parameters["name"].default is None
    assert sig.parameters["timeout"].default == 5.0
    assert sig.parameters["timeout"].kind is inspect.Parameter.KEYWORD_ONLY
    reg = reap(GenRegistry.start_link(ExampleWorker, "acc-direct"))
    assert isinstance(reg, parent.Pid)
    assert process.whereis("acc-direct") == reg
    pid = GenRegistry.lookup_or_start("acc-direct", "x", [1])
    assert ExampleWorker.get(pid) == 1
    assert GenRegistry.lookup(reg, "x") == pid
    gen_server.stop(reg)
    assert not pid.is_alive()


def test_start_link_default_name_is_worker(reap):
    reg = reap(GenRegistry.start_link(ExampleWorker))
    assert process.whereis(ExampleWorker) == reg
    with pytest.raises(parent.AlreadyStarted):
        GenRegistry.start_link(ExampleWorker)


def test_custom_names_share_worker_class(reap):
    reap(
        supervisor.start_link(
            [
                GenRegistry.child_spec(worker_module=ExampleWorker, name="acc-read"),
                (GenRegistry, {"worker_module": ExampleWorker, "name": "acc-write"}),
            ]
        )
    )
    r = GenRegistry.lookup_or_start("acc-read", 1, ["r"])
    assert GenRegistry.lookup("acc-write", 1) is None
    w = GenRegistry.lookup_or_start("acc-write", 1, ["w"])
    assert r != w
    assert ExampleWorker.get(r) == "r" and ExampleWorker.get(w) == "w"
    assert GenRegistry.count("acc-read") == 1 and GenRegistry.count("acc-write") == 1
    GenRegistry.stop("acc-read", 1)
    assert GenRegistry.lookup("acc-write", 1) == w


# -- lookup ----------------------------------------------------------------------------


def test_lookup(registry):
    assert GenRegistry.lookup(ExampleWorker, "nope") is None
    pid = GenRegistry.lookup_or_start(ExampleWorker, "a")
    assert GenRegistry.lookup(ExampleWorker, "a") == pid
    assert GenRegistry.lookup(registry, "a") == pid
    assert GenRegistry.lookup(registry, "nope") is None


def test_lookup_never_returns_dead_worker(registry):
    pid = GenRegistry.lookup_or_start(ExampleWorker, "d")
    process.exit(pid, "kill")
    assert pid.join(1) == "killed"
    assert GenRegistry.lookup(ExampleWorker, "d") is None
    assert GenRegistry.lookup(registry, "d") is None
    new = GenRegistry.lookup_or_start(ExampleWorker, "d", [2])
    assert new != pid and new.is_alive()
    assert ExampleWorker.get(new) == 2


def test_name_without_registry_raises_noproc():
    for fn in (
        lambda: GenRegistry.lookup("acc-no-registry", 1),
        lambda: GenRegistry.count("acc-no-registry"),
        lambda: GenRegistry.to_list("acc-no-registry"),
        lambda: GenRegistry.sample("acc-no-registry"),
        lambda: GenRegistry.reduce("acc-no-registry", 0, lambda e, a: a),
        lambda: GenRegistry.lookup_or_start("acc-no-registry", 1),
        lambda: GenRegistry.start("acc-no-registry", 1),
        lambda: GenRegistry.stop("acc-no-registry", 1),
    ):
        with pytest.raises(parent.NoProcess):
            fn()


def test_stopped_registry_name_raises_noproc(reap):
    reg = reap(GenRegistry.start_link(ExampleWorker, "acc-gone"))
    GenRegistry.lookup_or_start("acc-gone", 1)
    gen_server.stop(reg)
    with pytest.raises(parent.NoProcess):
        GenRegistry.lookup("acc-gone", 1)
    with pytest.raises(parent.NoProcess):
        GenRegistry.count("acc-gone")


# -- lookup_or_start / start -----------------------------------------------------------


def test_lookup_or_start_starts_with_args(registry):
    pid = GenRegistry.lookup_or_start(ExampleWorker, "id1", ["v1"])
    assert ExampleWorker.get(pid) == "v1"
    assert GenRegistry.lookup_or_start(ExampleWorker, "id1", ["other"]) == pid
    assert GenRegistry.lookup_or_start(registry, "id1", ["other"]) == pid
    p2 = GenRegistry.lookup_or_start(ExampleWorker, "id2")
    assert ExampleWorker.get(p2) is None
    p3 = GenRegistry.lookup_or_start(registry, "id3", ("tuple-arg",))
    assert ExampleWorker.get(p3) == "tuple-arg"


def test_lookup_or_start_failure(registry):
    good = GenRegistry.lookup_or_start(ExampleWorker, "good", [1])
    with pytest.raises(parent.StartError) as ei:
        GenRegistry.lookup_or_start(ExampleWorker, "bad", ["invalid"])
    assert ei.value.reason == "invalid"
    assert not isinstance(ei.value, parent.AlreadyStarted)
    assert GenRegistry.lookup(ExampleWorker, "bad") is None
    assert GenRegistry.count(ExampleWorker) == 1
    assert GenRegistry.lookup(ExampleWorker, "good") == good and good.is_alive()
    assert registry.is_alive()
    with pytest.raises(parent.StartError):
        GenRegistry.start(registry, "bad", ["invalid"])
    assert GenRegistry.count(registry) == 1


def test_start_already_started(registry):
    pid = GenRegistry.start(ExampleWorker, "s", ["v"])
    assert ExampleWorker.get(pid) == "v"
    with pytest.raises(parent.AlreadyStarted) as ei:
        GenRegistry.start(ExampleWorker, "s")
    assert ei.value.pid == pid
    assert isinstance(ei.value, parent.StartError)
    with pytest.raises(parent.AlreadyStarted) as ei:
        GenRegistry.start(registry, "s")
    assert ei.value.pid == pid


def test_default_timeouts():
    import inspect

    for fn in (GenRegistry.lookup_or_start, GenRegistry.start):
        sig = inspect.signature(fn)
        assert sig.parameters["timeout"].default == 5.0
        assert sig.parameters["args"].default == ()
    assert inspect.signature(GenRegistry.stop).parameters["timeout"].default is None


def test_lookup_or_start_call_timeout(reap):
    reap(GenRegistry.start_link(GatedWorker))
    gate = threading.Event()
    try:
        t0 = time.monotonic()
        with pytest.raises(parent.CallTimeout):
            GenRegistry.lookup_or_start(GatedWorker, "slow", [gate], timeout=0.3)
        assert time.monotonic() - t0 < 2.0
    finally:
        gate.set()


def test_concurrent_callers_get_one_worker(reap):
    reap(GenRegistry.start_link(GatedWorker))
    GatedWorker.INITS.clear()
    gate = threading.Event()
    n = 8
    barrier = threading.Barrier(n)
    results: list = []

    def caller():
        barrier.wait(5)
        results.append(GenRegistry.lookup_or_start(GatedWorker, "same", [gate, "same"]))

    threads = [threading.Thread(target=caller) for _ in range(n)]
    for t in threads:
        t.start()
    wait_until(lambda: len(GatedWorker.INITS) >= 1, timeout=2.0)
    gate.set()
    for t in threads:
        t.join(10)
    assert len(results) == n
    assert len(set(results)) == 1
    assert GatedWorker.INITS == ["same"]
    assert GenRegistry.count(GatedWorker) == 1


def test_slow_init_delays_only_its_own_id(reap):
    reap(GenRegistry.start_link(GatedWorker))
    gate = threading.Event()
    GatedWorker.INITS.clear()
    out: list = []
    t = threading.Thread(
        target=lambda: out.append(GenRegistry.lookup_or_start(GatedWorker, "slow", [gate, "slow"]))
    )
    t.start()
    try:
        assert wait_until(lambda: "slow" in GatedWorker.INITS, timeout=2.0)
        t0 = time.monotonic()
        fast = GenRegistry.lookup_or_start(GatedWorker, "fast", [None, "fast"])
        other = GenRegistry.start(GatedWorker, "other", [None, "other"])
        GenRegistry.stop(GatedWorker, "fast")
        assert GenRegistry.count(GatedWorker) >= 1
        assert time.monotonic() - t0 < 1.5
        assert not fast.is_alive() and other.is_alive()
        assert out == []
    finally:
        gate.set()
        t.join(10)
    assert len(out) == 1 and out[0].is_alive()


# -- stop ------------------------------------------------------------------------------


def test_stop(reap):
    reap(GenRegistry.start_link(TrapWorker))
    pid = GenRegistry.lookup_or_start(TrapWorker, "t", ["stop-me"])
    assert GenRegistry.stop(TrapWorker, "t") is None
    assert not pid.is_alive()
    assert ("stop-me", "shutdown") in TrapWorker.EVENTS.snapshot()
    assert GenRegistry.lookup(TrapWorker, "t") is None
    assert GenRegistry.count(TrapWorker) == 0
    new = GenRegistry.lookup_or_start(TrapWorker, "t", ["again"])
    assert new != pid and new.is_alive()


def test_stop_unknown_not_found(registry):
    with pytest.raises(parent.NotFound):
        GenRegistry.stop(ExampleWorker, "nope")
    with pytest.raises(parent.NotFound):
        GenRegistry.stop(registry, "nope")


def test_stop_by_pid_form(registry):
    pid = GenRegistry.lookup_or_start(registry, "p")
    GenRegistry.stop(registry, "p")
    assert not pid.is_alive()
    assert GenRegistry.lookup(registry, "p") is None


def test_stop_kills_after_worker_shutdown(reap):
    reap(GenRegistry.start_link(Stubborn))
    gate = threading.Event()
    try:
        pid = GenRegistry.lookup_or_start(Stubborn, "s", [gate])
        t0 = time.monotonic()
        GenRegistry.stop(Stubborn, "s")
        assert 0.25 <= time.monotonic() - t0 < 2.5
        assert pid.join(0.5) == "killed"
        assert GenRegistry.lookup(Stubborn, "s") is None
    finally:
        gate.set()


# -- worker exits / registry stop ------------------------------------------------------


def test_worker_exit_leaves_registry_promptly(registry):
    for reason in ("normal", "shutdown", "kill"):
        pid = GenRegistry.lookup_or_start(ExampleWorker, "w")
        if reason == "kill":
            process.exit(pid, "kill")
        else:
            gen_server.stop(pid, reason)
        assert wait_until(lambda: GenRegistry.count(ExampleWorker) == 0, timeout=1.0)
        assert GenRegistry.lookup(ExampleWorker, "w") is None
        assert GenRegistry.to_list(registry) == []
    again = GenRegistry.start(ExampleWorker, "w", [9])
    assert ExampleWorker.get(again) == 9


def test_crashing_worker_leaves_registry(registry):
    pid = GenRegistry.lookup_or_start(ExampleWorker, "c")
    with pytest.raises(parent.ExitError):
        gen_server.call(pid, "crash-me")
    assert wait_until(lambda: GenRegistry.count(ExampleWorker) == 0, timeout=1.0)
    assert registry.is_alive()


def test_stopping_registry_stops_workers(reap):
    reg = reap(GenRegistry.start_link(ExampleWorker))
    pids = [GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(5)]
    gen_server.stop(reg)
    assert all(not p.is_alive() for p in pids)


def test_stopping_supervisor_stops_registry_and_workers(reap):
    sup = reap(supervisor.start_link([GenRegistry.child_spec(worker_module=ExampleWorker)]))
    pids = [GenRegistry.lookup_or_start(ExampleWorker, i) for i in range(3)]
    supervisor.stop(sup)
    assert all(not p.is_alive() for p in pids)


# -- count / sample / reduce / to_list -------------------------------------------------


def test_count_sample_reduce_to_list(registry):
    for form in (ExampleWorker, registry):
        assert GenRegistry.count(form) == 0
        assert GenRegistry.sample(form) is None
        assert GenRegistry.to_list(form) == []
        assert GenRegistry.reduce(form, "acc", lambda e, a: a + "!") == "acc"
    pids = {i: GenRegistry.lookup_or_start(ExampleWorker, i, [i * 10]) for i in range(1, 4)}
    for form in (ExampleWorker, registry):
        assert GenRegistry.count(form) == 3
        s = GenRegistry.sample(form)
        assert isinstance(s, tuple) and len(s) == 2 and pids[s[0]] == s[1]
        lst = GenRegistry.to_list(form)
        assert isinstance(lst, list)
        assert sorted(lst, key=lambda e: e[0]) == sorted(pids.items())
        assert GenRegistry.reduce(form, 0, lambda e, acc: acc + e[0]) == 6


def test_reduce_readme_example(registry):
    for i, v in [("a", 3), ("b", 7), ("c", 5)]:
        GenRegistry.lookup_or_start(ExampleWorker, i, [v])

    def fn(entry, acc):
        id_, pid = entry
        value = ExampleWorker.get(pid)
        if value > acc[1]:
            return (id_, value)
        return acc

    assert GenRegistry.reduce(ExampleWorker, (None, -1), fn) == ("b", 7)


# -- unhashable ids --------------------------------------------------------------------


def test_unhashable_id_type_error(registry):
    GenRegistry.lookup_or_start(ExampleWorker, "ok")
    for form in (ExampleWorker, registry):
        for fn in (
            lambda form=form: GenRegistry.lookup(form, ["x"]),
            lambda form=form: GenRegistry.lookup_or_start(form, ["x"]),
            lambda form=form: GenRegistry.start(form, {"x": 1}),
            lambda form=form: GenRegistry.stop(form, ["x"]),
        ):
            with pytest.raises(TypeError):
                fn()
    assert GenRegistry.count(ExampleWorker) == 1
    assert registry.is_alive()


# -- supervisor queries ----------------------------------------------------------------


def test_supervisor_queries_on_registry(registry):
    assert supervisor.count_children(registry) == {
        "specs": 1,
        "active": 0,
        "supervisors": 0,
        "workers": 0,
    }
    a = GenRegistry.lookup_or_start(ExampleWorker, "a")
    b = GenRegistry.lookup_or_start(ExampleWorker, "b")
    assert supervisor.count_children(registry) == {
        "specs": 1,
        "active": 2,
        "supervisors": 0,
        "workers": 2,
    }
    wc = supervisor.which_children(registry)
    assert sorted(wc, key=lambda w: w[0]) == [
        ("a", a, "worker", [ExampleWorker]),
        ("b", b, "worker", [ExampleWorker]),
    ]
    cb = supervisor.get_callback_module(registry)
    assert isinstance(cb, type) and issubclass(cb, parent.Parent)
    assert cb is not GenRegistry


def test_supervisor_queries_parent_worker_class(reap):
    reg = reap(GenRegistry.start_link(ParentWorker))
    p = GenRegistry.lookup_or_start(ParentWorker, 1)
    assert supervisor.count_children(reg) == {
        "specs": 1,
        "active": 1,
        "supervisors": 1,
        "workers": 0,
    }
    assert supervisor.which_children(reg) == [(1, p, "supervisor", [ParentWorker])]


def test_supervisor_queries_supervisor_worker_class(reap):
    class SupWorker(parent.Supervisor):
        def init(self):
            return supervisor.init([])

    reg = reap(GenRegistry.start_link(SupWorker))
    GenRegistry.lookup_or_start(SupWorker, 1)
    assert supervisor.count_children(reg) == {
        "specs": 1,
        "active": 1,
        "supervisors": 1,
        "workers": 0,
    }


# -- gen_module ------------------------------------------------------------------------


def test_gen_module_requests(registry):
    spy = Spy()
    with compat.override(gen_module=spy):
        p1 = GenRegistry.lookup_or_start(ExampleWorker, 1, [5])
        GenRegistry.lookup_or_start(ExampleWorker, 3, (7,), timeout=2.5)
        p2 = GenRegistry.start(ExampleWorker, 2, [6])
        GenRegistry.stop(ExampleWorker, 3)
    reqs = spy.requests()
    assert reqs == [
        ("lookup_or_start", 1, [5]),
        ("lookup_or_start", 3, [7]),
        ("start", 2, [6]),
        ("stop", 3),
    ]
    assert spy.calls[0][2] == 5.0
    assert spy.calls[1][2] == 2.5
    assert spy.calls[2][2] == 5.0
    assert all(c[0] in (ExampleWorker, registry) for c in spy.calls)
    assert ExampleWorker.get(p1) == 5 and ExampleWorker.get(p2) == 6


def test_gen_module_not_used_for_name_reads_and_running_answers(registry):
    p1 = GenRegistry.lookup_or_start(ExampleWorker, 1)
    spy = Spy()
    with compat.override(gen_module=spy):
        assert GenRegistry.lookup_or_start(ExampleWorker, 1) == p1
        with pytest.raises(parent.AlreadyStarted):
            GenRegistry.start(ExampleWorker, 1)
        GenRegistry.lookup(ExampleWorker, 1)
        GenRegistry.lookup(ExampleWorker, 2)
        GenRegistry.count(ExampleWorker)
        GenRegistry.sample(ExampleWorker)
        GenRegistry.reduce(ExampleWorker, 0, lambda e, a: a)
        GenRegistry.to_list(ExampleWorker)
    assert spy.calls == []


def test_gen_module_pid_form_reads(registry):
    p1 = GenRegistry.lookup_or_start(ExampleWorker, 1)
    spy = Spy()
    with compat.override(gen_module=spy):
        assert GenRegistry.lookup(registry, 1) == p1
        assert GenRegistry.count(registry) == 1
        assert GenRegistry.to_list(registry) == [(1, p1)]
        assert GenRegistry.sample(registry) == (1, p1)
        assert GenRegistry.reduce(registry, 0, lambda e, a: a + 1) == 1
        assert GenRegistry.lookup_or_start(registry, 1) == p1
    assert spy.requests() == [
        ("lookup", 1),
        ("count",),
        ("to_list",),
        ("to_list",),
        ("to_list",),
        ("lookup_or_start", 1, []),
    ]
    assert [c[2] for c in spy.calls[:5]] == [5.0] * 5
    assert all(c[0] == registry for c in spy.calls)


def test_gen_module_reply_exception_instance_is_raised(registry):
    err = parent.NotFound("fake not found")
    already = parent.AlreadyStarted(registry)

    class Fake:
        def call(self, server, request, timeout):
            if request[0] == "stop":
                return err
            if request[0] == "start":
                return already
            if request[0] == "count":
                return 42
            return gen_server.call(server, request, timeout)

    with compat.override(gen_module=Fake()):
        with pytest.raises(parent.NotFound) as ei:
            GenRegistry.stop(registry, "anything")
        assert ei.value is err
        with pytest.raises(parent.AlreadyStarted) as ei2:
            GenRegistry.start(registry, "anything")
        assert ei2.value is already
        assert GenRegistry.count(registry) == 42


def test_gen_module_configured_globally(registry):
    spy = Spy()
    old = compat.gen_module()
    compat.configure(gen_module=spy)
    try:
        GenRegistry.lookup_or_start(ExampleWorker, "cfg")
    finally:
        compat.configure(gen_module=old)
    assert spy.requests() == [("lookup_or_start", "cfg", [])]


# -- legacy Spec -----------------------------------------------------------------------


def test_legacy_spec_child_spec_tuple():
    with pytest.warns(DeprecationWarning):
        t = genregistry.Spec.child_spec(ExampleWorker)
    assert t == (
        ExampleWorker,
        (GenRegistry, "start_link", [ExampleWorker, ExampleWorker]),
        "permanent",
        "infinity",
        "supervisor",
        [GenRegistry],
    )
    with pytest.warns(DeprecationWarning):
        t = genregistry.Spec.child_spec(ExampleWorker, name="acc-legacy")
    assert t == (
        "acc-legacy",
        (GenRegistry, "start_link", [ExampleWorker, "acc-legacy"]),
        "permanent",
        "infinity",
        "supervisor",
        [GenRegistry],
    )


def test_legacy_spec_warning_text_has_modern_source():
    with pytest.warns(DeprecationWarning) as rec:
        genregistry.Spec.child_spec(ExampleWorker, name="acc-legacy")
    text = str(rec[0].message)
    assert "{" in text or "child_spec(" in text


def test_legacy_spec_in_supervisor(reap):
    with pytest.warns(DeprecationWarning):
        specs = [
            genregistry.Spec.child_spec(ExampleWorker, name="acc-leg-read"),
            genregistry.Spec.child_spec(ExampleWorker, name="acc-leg-write"),
        ]
    sup = reap(supervisor.start_link(specs))
    assert [w[0] for w in supervisor.which_children(sup)] == ["acc-leg-read", "acc-leg-write"]
    assert [w[2] for w in supervisor.which_children(sup)] == ["supervisor", "supervisor"]
    p = GenRegistry.lookup_or_start("acc-leg-read", 1, ["r"])
    assert ExampleWorker.get(p) == "r"
    assert GenRegistry.lookup("acc-leg-write", 1) is None


# -- Behaviour protocol ----------------------------------------------------------------


def test_behaviour_protocol():
    B = genregistry.Behaviour
    assert getattr(B, "_is_protocol", False)
    assert typing.Protocol in B.__mro__ or any(
        getattr(base, "_is_protocol", False) for base in B.__mro__[1:]
    )
    names = {
        "child_spec",
        "start_link",
        "lookup",
        "lookup_or_start",
        "start",
        "stop",
        "count",
        "sample",
        "reduce",
        "to_list",
    }
    members = {n for n in dir(B) if not n.startswith("_")}
    assert names <= members
    for n in names:
        assert callable(getattr(GenRegistry, n))
    if getattr(B, "_is_runtime_protocol", False):
        assert isinstance(GenRegistry, B)


def test_genregistry_is_class_of_static_functions():
    import inspect

    assert isinstance(GenRegistry, type)
    for n in (
        "lookup",
        "lookup_or_start",
        "start",
        "stop",
        "count",
        "sample",
        "reduce",
        "to_list",
        "start_link",
        "child_spec",
    ):
        assert isinstance(inspect.getattr_static(GenRegistry, n), staticmethod), n


# -- restarts / re-entrancy ------------------------------------------------------------


def test_registry_restarted_by_supervisor_starts_empty(reap):
    sup = reap(supervisor.start_link([GenRegistry.child_spec(worker_module=ExampleWorker)]))
    old_reg = process.whereis(ExampleWorker)
    w = GenRegistry.lookup_or_start(ExampleWorker, "x", [1])
    process.exit(old_reg, "kill")
    # wait until the supervisor has finished the restart (the new registry's init is done)
    assert wait_until(
        lambda: supervisor.which_children(sup)[0][1] not in (None, old_reg), timeout=3.0
    )
    assert w.join(2) is not None
    assert GenRegistry.lookup(ExampleWorker, "x") is None
    assert GenRegistry.count(ExampleWorker) == 0
    w2 = GenRegistry.lookup_or_start(ExampleWorker, "x", [2])
    assert ExampleWorker.get(w2) == 2
    assert supervisor.which_children(sup)[0][1] == process.whereis(ExampleWorker)


def test_killed_registry_name_and_pid_forms_raise_noproc(reap):
    reg = reap(GenRegistry.start_link(ExampleWorker, "acc-killed"))
    w = GenRegistry.lookup_or_start("acc-killed", 1)
    process.exit(reg, "kill")
    assert reg.join(2) == "killed"
    with pytest.raises(parent.NoProcess):
        GenRegistry.lookup("acc-killed", 1)
    with pytest.raises(parent.NoProcess):
        GenRegistry.lookup(reg, 1)
    with pytest.raises(parent.NoProcess):
        GenRegistry.lookup_or_start(reg, 2)
    assert w.join(2) == "killed"


class Nested(GenServer):
    """A worker whose init starts another worker of the same registry."""

    def init(self, registry: object, other: object = None) -> None:
        self.other = None
        if other is not None:
            self.other = GenRegistry.lookup_or_start(registry, other, [registry])

    def handle_call(self, request, from_):
        return self.other


def test_worker_init_may_use_its_registry_for_other_ids(reap):
    reap(GenRegistry.start_link(Nested))
    outer = GenRegistry.lookup_or_start(Nested, "outer", [Nested, "inner"], timeout=3.0)
    inner = gen_server.call(outer, "other")
    assert isinstance(inner, parent.Pid)
    assert GenRegistry.lookup(Nested, "inner") == inner
    assert GenRegistry.count(Nested) == 2
