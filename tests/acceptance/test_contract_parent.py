"""Acceptance tests for API.md `parent: Parent` and the Parent 0.8 seed."""

from __future__ import annotations

import sys
import threading
import time

import pytest

import parent
from parent import GenServer, gen_server, process, supervisor
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)

THIS_MODULE = sys.modules[__name__]


# -- helpers ---------------------------------------------------------------------------


class Box:
    def __init__(self) -> None:
        self.items: list[object] = []
        self.cond = threading.Condition()

    def add(self, item: object) -> None:
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait_for(self, pred, timeout: float = 3.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for it in self.items:
                    if pred(it):
                        return it
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def snapshot(self) -> list:
        with self.cond:
            return list(self.items)

    def of(self, tag: str) -> list:
        return [it for it in self.snapshot() if isinstance(it, tuple) and it[0] == tag]


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
                gen_server.stop(p, "shutdown", timeout=3.0)
            except Exception:
                process.exit(p, "kill")
    for p in pids:
        try:
            p.join(3.0)
        except TimeoutError:
            process.exit(p, "kill")
            p.join(3.0)


class ExampleWorker(GenServer):
    def init(self, value: object = None) -> None:
        if value == "invalid":
            raise parent.Stop("invalid")
        self.value = value

    def handle_call(self, request: object, from_: parent.From) -> object:
        if request == "get":
            return self.value
        raise ValueError(request)

    @classmethod
    def get(cls, server: parent.Server) -> object:
        return gen_server.call(server, "get")


class Child(GenServer):
    """A trapping child that records its terminate."""

    def init(self, name: object, box: Box, trap: bool = True) -> None:
        self.name = name
        self.box = box
        if trap:
            process.trap_exits(True)

    def handle_call(self, request, from_):
        if request == "name":
            return self.name
        raise ValueError(request)

    def handle_cast(self, request):
        if request == "stop_normal":
            raise parent.Stop("normal")
        if request == "crash":
            raise RuntimeError("child crash")
        if isinstance(request, tuple) and request[0] == "stop":
            raise parent.Stop(request[1])

    def terminate(self, reason):
        self.box.add(("child_terminate", self.name, reason))


class BlockingChild(GenServer):
    def init(self, gate: threading.Event, box: Box) -> None:
        process.trap_exits(True)
        self.gate = gate
        self.box = box

    def terminate(self, reason):
        self.box.add(("blocking_terminate", reason))
        self.gate.wait(5)


class Host(parent.Parent):
    """A Parent that runs functions in its own process and records callbacks."""

    def init(self, box: Box) -> None:
        self.box = box
        box.instance = self

    def handle_call(self, request, from_):
        _, fn = request
        try:
            return ("ok", fn(self))
        except Exception as exc:
            return ("err", exc)

    def handle_cast(self, request):
        raise RuntimeError("parent crash")

    def handle_child_terminated(self, id, meta, pid, reason):
        self.box.add(("hct", id, meta, pid, reason))

    def terminate(self, reason):
        kids = self.children()
        self.box.add(
            ("parent_terminate", reason, [k[0] for k in kids], all(k[1].is_alive() for k in kids))
        )


def run_in(pid, fn, timeout: float = 10.0):
    tag, value = gen_server.call(pid, ("run", fn), timeout)
    if tag == "err":
        raise value
    return value


@pytest.fixture
def host(reap):
    box = Box()
    pid = reap(Host.start_link(box))
    return pid, box


def child_spec(name, box, **extra):
    spec = {"id": name, "start": (Child.start_link, [name, box])}
    spec.update(extra)
    return spec


def work():
    return None


def start_example():
    return ExampleWorker.start_link("from-function")


# -- the Jobs example ------------------------------------------------------------------


class Jobs(parent.Parent):
    def handle_call(self, request, from_):
        return self.start_child(
            {
                "id": request,
                "start": (parent.Task.start_link, [work]),
                "meta": {"started": time.time()},
                "timeout": 30.0,
            }
        )

    def handle_child_terminated(self, id, meta, pid, reason):
        JOBS_BOX.add((id, meta, pid, reason))


JOBS_BOX = Box()


def test_jobs_example(reap):
    jobs = reap(Jobs.start_link())
    pid = gen_server.call(jobs, "job-1")
    assert isinstance(pid, parent.Pid)
    got = JOBS_BOX.wait_for(lambda it: it[0] == "job-1")
    assert got is not None
    _, meta, tpid, reason = got
    assert tpid == pid and reason == "normal"
    assert isinstance(meta, dict) and "started" in meta
    assert supervisor.get_callback_module(jobs) is Jobs


# -- defaults --------------------------------------------------------------------------


def test_parent_traps_exits_by_default(host):
    pid, _ = host
    assert run_in(pid, lambda self: process.trap_exits(True)) is True


def test_parent_default_child_spec():
    spec = Host.child_spec()
    assert spec["id"] is Host
    assert spec["type"] == "supervisor"
    assert spec["shutdown"] == "infinity"
    assert spec["start"] == (Host.start_link, [])
    spec = Host.child_spec("arg")
    assert spec["start"] == (Host.start_link, ["arg"])


def test_parent_counts_as_supervisor_in_tree(reap):
    box = Box()
    sup = reap(supervisor.start_link([Host.child_spec(box)]))
    [(cid, pid, ctype, _modules)] = supervisor.which_children(sup)
    assert cid is Host and ctype == "supervisor"
    assert supervisor.count_children(sup) == {
        "specs": 1,
        "active": 1,
        "supervisors": 1,
        "workers": 0,
    }
    assert supervisor.which_children(pid) == []


# -- start_child forms -----------------------------------------------------------------


def test_start_child_forms(host):
    pid, box = host

    def body(self):
        out = {}
        out["tuple"] = self.start_child(child_spec("tuple", box))
        out["zero_arg"] = self.start_child(
            {"id": "zero_arg", "start": lambda: Child.start_link("zero_arg", box)}
        )
        out["mfa"] = self.start_child({"id": "mfa", "start": (Child, "start_link", ["mfa", box])})
        out["class"] = self.start_child(ExampleWorker)
        out["class_arg"] = self.start_child(
            {"id": "class_arg", "start": (ExampleWorker.start_link, [9])}
        )
        return out

    pids = run_in(pid, body)
    for name in ("tuple", "zero_arg", "mfa"):
        assert gen_server.call(pids[name], "name") == name
    assert ExampleWorker.get(pids["class"]) is None
    assert run_in(pid, lambda self: self.child_pid(ExampleWorker)) == pids["class"]


def test_start_child_class_arg_tuple(host):
    pid, _ = host
    c = run_in(pid, lambda self: self.start_child((ExampleWorker, 5)))
    assert ExampleWorker.get(c) == 5
    assert run_in(pid, lambda self: self.child_id(c)) is ExampleWorker


def test_start_child_legacy_tuple(host):
    pid, _ = host
    legacy = (
        "legacy",
        (ExampleWorker, "start_link", [7]),
        "permanent",
        5.0,
        "worker",
        [ExampleWorker],
    )
    c = run_in(pid, lambda self: self.start_child(legacy))
    assert ExampleWorker.get(c) == 7
    assert run_in(pid, lambda self: self.child_id(c)) == "legacy"


def test_start_child_links_child(host):
    pid, box = host
    c = run_in(pid, lambda self: self.start_child(child_spec("c", box)))
    gen_server.cast(c, "crash")
    got = box.wait_for(lambda it: it[0] == "hct")
    assert got[1] == "c" and got[3] == c and isinstance(got[4], RuntimeError)


def test_start_child_taken_id_value_error_before_starting(host):
    pid, box = host
    calls = []

    def start():
        calls.append(1)
        return Child.start_link("dup", box)

    run_in(pid, lambda self: self.start_child({"id": "dup", "start": start}))
    with pytest.raises(ValueError):
        run_in(pid, lambda self: self.start_child({"id": "dup", "start": start}))
    assert calls == [1]
    assert run_in(pid, lambda self: self.num_children()) == 1


def test_start_child_failure_start_error_with_cause(host):
    pid, _ = host
    exc = RuntimeError("cannot start")

    def start():
        raise exc

    with pytest.raises(parent.StartError) as ei:
        run_in(pid, lambda self: self.start_child({"id": "bad", "start": start}))
    assert ei.value.__cause__ is exc
    assert run_in(pid, lambda self: self.is_child("bad")) is False
    assert pid.is_alive()


def test_start_child_start_error_passes_through_unchanged(host):
    pid, _ = host
    err = parent.StartError("mine")

    def start():
        raise err

    with pytest.raises(parent.StartError) as ei:
        run_in(pid, lambda self: self.start_child({"id": "bad", "start": start}))
    assert ei.value is err


def test_start_child_init_failure(host):
    pid, _ = host
    with pytest.raises(parent.StartError) as ei:
        run_in(
            pid,
            lambda self: self.start_child(
                {"id": "inv", "start": (ExampleWorker.start_link, ["invalid"])}
            ),
        )
    assert ei.value.reason == "invalid"
    assert run_in(pid, lambda self: self.num_children()) == 0
    assert pid.is_alive()


def test_start_child_invalid_spec_raises(host):
    pid, _ = host
    with pytest.raises(KeyError):
        run_in(pid, lambda self: self.start_child({"start": (ExampleWorker.start_link, [])}))
    with pytest.raises(ValueError):
        run_in(
            pid,
            lambda self: self.start_child({"id": None, "start": (ExampleWorker.start_link, [])}),
        )


# -- only from own process -------------------------------------------------------------


def test_methods_only_from_parent_process(host):
    pid, box = host
    inst = box.instance
    with pytest.raises(parent.ProcessError):
        inst.start_child(child_spec("x", box))
    with pytest.raises(parent.ProcessError):
        inst.children()
    with pytest.raises(parent.ProcessError):
        inst.num_children()
    with pytest.raises(parent.ProcessError):
        inst.shutdown_all()
    with pytest.raises(parent.ProcessError):
        inst.child_pid("x")
    assert run_in(pid, lambda self: self.num_children()) == 0


def test_methods_from_other_process_raise(host, reap):
    _pid, box = host
    inst = box.instance
    other = reap(Host.start_link(Box()))
    with pytest.raises(parent.ProcessError):
        run_in(other, lambda _self: inst.start_child(child_spec("x", box)))


# -- queries ---------------------------------------------------------------------------


def test_children_and_lookups(host):
    pid, box = host

    def body(self):
        a = self.start_child(child_spec("a", box, meta="ma"))
        b = self.start_child(child_spec("b", box))
        c = self.start_child(child_spec("c", box, meta={"k": 1}))
        return (
            a,
            b,
            c,
            self.children(),
            self.num_children(),
            self.child_id(b),
            self.child_id(process.current()),
            self.child_pid("c"),
            self.child_pid("zz"),
            self.is_child("a"),
            self.is_child("zz"),
            self.child_meta("a"),
            self.child_meta("b"),
        )

    a, b, c, kids, n, idb, idself, pc, pnone, isa, iszz, ma, mb = run_in(pid, body)
    assert kids == [("a", a, "ma"), ("b", b, None), ("c", c, {"k": 1})]
    assert n == 3
    assert idb == "b" and idself is None
    assert pc == c and pnone is None
    assert isa is True and iszz is False
    assert ma == "ma" and mb is None


def test_child_meta_and_update(host):
    pid, box = host
    run_in(pid, lambda self: self.start_child(child_spec("a", box, meta=1)))
    assert run_in(pid, lambda self: self.update_child_meta("a", lambda m: m + 1)) is None
    assert run_in(pid, lambda self: self.child_meta("a")) == 2
    assert run_in(pid, lambda self: self.children())[0][2] == 2
    with pytest.raises(parent.NotFound):
        run_in(pid, lambda self: self.child_meta("nope"))
    with pytest.raises(parent.NotFound):
        run_in(pid, lambda self: self.update_child_meta("nope", lambda m: m))


def test_updated_meta_passed_to_handle_child_terminated(host):
    pid, box = host
    c = run_in(pid, lambda self: self.start_child(child_spec("a", box, meta=1)))
    run_in(pid, lambda self: self.update_child_meta("a", lambda m: m + 41))
    gen_server.cast(c, "stop_normal")
    got = box.wait_for(lambda it: it[0] == "hct")
    assert got[1:] == ("a", 42, c, "normal")


# -- handle_child_terminated -----------------------------------------------------------


def test_handle_child_terminated_on_normal_exit(host):
    pid, box = host
    c = run_in(pid, lambda self: self.start_child(child_spec("n", box, meta="m")))
    gen_server.cast(c, "stop_normal")
    got = box.wait_for(lambda it: it[0] == "hct")
    assert got == ("hct", "n", "m", c, "normal")
    assert run_in(pid, lambda self: (self.is_child("n"), self.num_children())) == (False, 0)


def test_handle_child_terminated_on_any_reason(host):
    pid, box = host
    c = run_in(pid, lambda self: self.start_child(child_spec("s", box)))
    gen_server.cast(c, ("stop", ("shutdown", 1)))
    got = box.wait_for(lambda it: it[0] == "hct")
    assert got[4] == ("shutdown", 1)
    c2 = run_in(pid, lambda self: self.start_child(child_spec("k", box)))
    process.exit(c2, "kill")
    got = box.wait_for(lambda it: it[0] == "hct" and it[1] == "k")
    assert got[4] == "killed"


def test_task_child_runs_and_terminates_normally(host):
    pid, box = host
    out = []
    t = run_in(
        pid,
        lambda self: self.start_child(
            {"id": "task", "start": (parent.Task.start_link, [out.append, 1])}
        ),
    )
    got = box.wait_for(lambda it: it[0] == "hct")
    assert got == ("hct", "task", None, t, "normal")
    assert out == [1]


def test_child_timeout_kills_with_reason_timeout(host):
    pid, box = host
    t0 = time.monotonic()
    c = run_in(pid, lambda self: self.start_child(child_spec("t", box, timeout=0.2, meta="tm")))
    got = box.wait_for(lambda it: it[0] == "hct", timeout=3.0)
    assert got == ("hct", "t", "tm", c, "timeout")
    assert time.monotonic() - t0 >= 0.15
    assert not c.is_alive()
    assert c.join(1) == "killed"
    assert box.of("child_terminate") == []  # killed: terminate does not run


def test_child_timeout_infinity_default_not_killed(host):
    pid, box = host
    c = run_in(pid, lambda self: self.start_child(child_spec("inf", box, timeout="infinity")))
    d = run_in(pid, lambda self: self.start_child(child_spec("dflt", box)))
    assert box.wait_for(lambda it: it[0] == "hct", timeout=0.3) is None
    assert c.is_alive() and d.is_alive()


def test_child_timeout_does_not_fire_after_exit(host):
    pid, box = host
    c = run_in(pid, lambda self: self.start_child(child_spec("t", box, timeout=0.3)))
    gen_server.cast(c, "stop_normal")
    assert box.wait_for(lambda it: it[0] == "hct")[4] == "normal"
    assert box.wait_for(lambda it: it[0] == "hct" and it[4] == "timeout", timeout=0.5) is None


# -- shutdown_child / shutdown_all -----------------------------------------------------


def test_shutdown_child(host):
    pid, box = host
    c = run_in(pid, lambda self: self.start_child(child_spec("a", box)))
    assert run_in(pid, lambda self: self.shutdown_child("a")) is None
    assert not c.is_alive()
    assert box.of("child_terminate") == [("child_terminate", "a", "shutdown")]
    assert run_in(pid, lambda self: self.is_child("a")) is False
    assert box.wait_for(lambda it: it[0] == "hct", timeout=0.3) is None


def test_shutdown_child_unknown(host):
    pid, _ = host
    with pytest.raises(parent.NotFound):
        run_in(pid, lambda self: self.shutdown_child("nope"))


def test_shutdown_child_kills_after_shutdown_timeout(host):
    pid, box = host
    gate = threading.Event()
    try:
        c = run_in(
            pid,
            lambda self: self.start_child(
                {"id": "b", "start": (BlockingChild.start_link, [gate, box]), "shutdown": 0.3}
            ),
        )
        t0 = time.monotonic()
        run_in(pid, lambda self: self.shutdown_child("b"))
        el = time.monotonic() - t0
        assert 0.25 <= el < 2.5
        assert not c.is_alive()
        assert c.join(0.5) == "killed"
        assert box.of("blocking_terminate") == [("blocking_terminate", "shutdown")]
    finally:
        gate.set()
    assert box.wait_for(lambda it: it[0] == "hct", timeout=0.2) is None


def test_shutdown_child_brutal_kill(host):
    pid, box = host
    c = run_in(pid, lambda self: self.start_child(child_spec("bk", box, shutdown="brutal_kill")))
    run_in(pid, lambda self: self.shutdown_child("bk"))
    assert c.join(0.5) == "killed"
    assert box.wait_for(lambda it: it[0] == "child_terminate", timeout=0.2) is None


def test_shutdown_all(host):
    pid, box = host

    def body(self):
        pids = [self.start_child(child_spec(n, box)) for n in ("a", "b", "c")]
        assert self.shutdown_all() is None
        return pids, self.num_children(), self.children()

    pids, n, kids = run_in(pid, body)
    assert n == 0 and kids == []
    assert all(not p.is_alive() for p in pids)
    reasons = {it[1]: it[2] for it in box.of("child_terminate")}
    assert reasons == {"a": "shutdown", "b": "shutdown", "c": "shutdown"}
    assert box.wait_for(lambda it: it[0] == "hct", timeout=0.3) is None


def test_shutdown_all_with_reason(host):
    pid, box = host

    def body(self):
        self.start_child(child_spec("a", box))
        self.shutdown_all(("shutdown", "why"))

    run_in(pid, body)
    assert box.of("child_terminate") == [("child_terminate", "a", ("shutdown", "why"))]


# -- await_child_termination -----------------------------------------------------------


def test_await_child_termination_returns_triple(host):
    pid, box = host

    def body(self):
        c = self.start_child(child_spec("w", box, meta="wm"))
        gen_server.cast(c, "stop_normal")
        return c, self.await_child_termination("w", 3.0), self.is_child("w")

    c, res, still = run_in(pid, body)
    assert res == (c, "wm", "normal")
    assert still is False
    assert box.wait_for(lambda it: it[0] == "hct", timeout=0.3) is None


def test_await_child_termination_timeout_returns_none(host):
    pid, box = host

    def body(self):
        c = self.start_child(child_spec("w", box))
        t0 = time.monotonic()
        res = self.await_child_termination("w", 0.2)
        return c, res, time.monotonic() - t0, self.is_child("w")

    c, res, el, still = run_in(pid, body)
    assert res is None
    assert el >= 0.15
    assert still is True and c.is_alive()


def test_await_child_termination_unknown(host):
    pid, _ = host
    with pytest.raises(parent.NotFound):
        run_in(pid, lambda self: self.await_child_termination("nope", 0.1))


def test_await_child_termination_after_exit_already_happened(host):
    pid, box = host

    def body(self):
        c = self.start_child(child_spec("w", box))
        gen_server.cast(c, ("stop", "gone"))
        c.join(2)  # dead, but the Exit message may still be in our mailbox
        return c, self.await_child_termination("w", 1.0)

    c, res = run_in(pid, body)
    assert res == (c, None, "gone")
    assert box.wait_for(lambda it: it[0] == "hct", timeout=0.3) is None


def test_shutdown_child_after_child_died_unhandled_exit(host):
    pid, box = host

    def body(self):
        c = self.start_child(child_spec("w", box))
        gen_server.cast(c, ("stop", "gone"))
        c.join(2)
        self.shutdown_child("w")
        return self.is_child("w")

    assert run_in(pid, body) is False
    assert box.wait_for(lambda it: it[0] == "hct", timeout=0.3) is None


# -- parent termination ----------------------------------------------------------------


def test_parent_terminate_first_then_children_reverse_order(reap):
    box = Box()
    pid = reap(Host.start_link(box))
    run_in(pid, lambda self: [self.start_child(child_spec(n, box)) for n in ("c1", "c2", "c3")])
    kids = run_in(pid, lambda self: [k[1] for k in self.children()])
    gen_server.stop(pid, "shutdown")
    events = [it for it in box.snapshot() if it[0] in ("parent_terminate", "child_terminate")]
    assert events[0] == ("parent_terminate", "shutdown", ["c1", "c2", "c3"], True)
    assert [e[1] for e in events[1:]] == ["c3", "c2", "c1"]
    assert all(e[2] == "shutdown" for e in events[1:])
    assert all(not k.is_alive() for k in kids)
    assert box.wait_for(lambda it: it[0] == "hct", timeout=0.2) is None


def test_parent_stop_respects_child_shutdown(reap):
    box = Box()
    gate = threading.Event()
    pid = reap(Host.start_link(box))
    try:
        c = run_in(
            pid,
            lambda self: self.start_child(
                {"id": "b", "start": (BlockingChild.start_link, [gate, box]), "shutdown": 0.3}
            ),
        )
        t0 = time.monotonic()
        gen_server.stop(pid)
        assert time.monotonic() - t0 < 3.0
        assert c.join(0.5) == "killed"
    finally:
        gate.set()


def test_parent_crash_runs_terminate_then_shuts_children_down(reap, caplog):
    box = Box()
    pid = reap(Host.start_link(box))
    kids = run_in(pid, lambda self: [self.start_child(child_spec(n, box)) for n in ("a", "b")])
    gen_server.cast(pid, "crash")
    reason = pid.join(3)
    assert isinstance(reason, RuntimeError)
    events = [it for it in box.snapshot() if it[0] in ("parent_terminate", "child_terminate")]
    assert events[0][0] == "parent_terminate" and events[0][1] is reason
    assert [e[1:] for e in events[1:]] == [("b", "shutdown"), ("a", "shutdown")]
    assert not any(k.is_alive() for k in kids)


def test_killed_parent_takes_children_down(reap):
    box = Box()
    pid = reap(Host.start_link(box))
    kids = run_in(
        pid,
        lambda self: [
            self.start_child(
                child_spec(
                    n,
                    box,
                )
            )
            for n in ("a", "b")
        ],
    )
    plain = run_in(
        pid,
        lambda self: self.start_child({"id": "plain", "start": (ExampleWorker.start_link, [1])}),
    )
    process.exit(pid, "kill")
    assert pid.join(2) == "killed"
    for k in [*kids, plain]:
        assert k.join(3) == "killed"


# -- supervisor queries on a Parent ----------------------------------------------------


def test_supervisor_queries_on_parent(host):
    pid, box = host

    def body(self):
        a = self.start_child(child_spec("a", box))
        b = self.start_child({"id": "p", "start": (Host.start_link, [Box()]), "type": "supervisor"})
        c = self.start_child({"id": "e", "start": (ExampleWorker.start_link, [1])})
        d = self.start_child({"id": "f", "start": start_example})
        e = self.start_child({"id": "m", "start": (ExampleWorker, "start_link", [])})
        return a, b, c, d, e

    a, b, c, d, e = run_in(pid, body)
    wc = supervisor.which_children(pid)
    assert [w[0] for w in wc] == ["a", "p", "e", "f", "m"]
    assert [w[1] for w in wc] == [a, b, c, d, e]
    assert [w[2] for w in wc] == ["worker", "supervisor", "worker", "worker", "worker"]
    assert wc[0][3] == [Child]
    assert wc[2][3] == [ExampleWorker]
    assert wc[3][3] == [THIS_MODULE]
    assert wc[4][3] == [ExampleWorker]
    assert supervisor.count_children(pid) == {
        "specs": 5,
        "active": 5,
        "supervisors": 1,
        "workers": 4,
    }
    assert supervisor.get_callback_module(pid) is Host


def test_modules_for_lambda_start_is_defining_module(host):
    pid, _box = host
    run_in(
        pid, lambda self: self.start_child({"id": "l", "start": lambda: ExampleWorker.start_link()})
    )
    assert supervisor.which_children(pid)[0][3] == [THIS_MODULE]


# -- exits are not lost ----------------------------------------------------------------


def test_other_exits_survive_await_child_termination(host):
    pid, box = host

    def body(self):
        a = self.start_child(child_spec("A", box))
        b = self.start_child(child_spec("B", box, meta="mb"))
        gen_server.cast(b, "stop_normal")
        b.join(2)
        gen_server.cast(a, "stop_normal")
        return a, b, self.await_child_termination("A", 2.0)

    a, b, res = run_in(pid, body)
    assert res == (a, None, "normal")
    got = box.wait_for(lambda it: it[0] == "hct")
    assert got == ("hct", "B", "mb", b, "normal")
    assert box.wait_for(lambda it: it[0] == "hct" and it[1] == "A", timeout=0.3) is None


def test_other_exits_survive_shutdown_child(host):
    pid, box = host

    def body(self):
        self.start_child(child_spec("A", box))
        b = self.start_child(child_spec("B", box))
        gen_server.cast(b, ("stop", "bye"))
        b.join(2)
        self.shutdown_child("A")
        return b

    b = run_in(pid, body)
    got = box.wait_for(lambda it: it[0] == "hct")
    assert got[1:] == ("B", None, b, "bye")


class Restarter(Host):
    def handle_child_terminated(self, id, meta, pid, reason):
        super().handle_child_terminated(id, meta, pid, reason)
        if meta < 3:
            self.start_child(child_spec(id, self.box, meta=meta + 1))


def test_start_child_from_handle_child_terminated(reap):
    box = Box()
    pid = reap(Restarter.start_link(box))
    run_in(pid, lambda self: self.start_child(child_spec("r", box, meta=1)))
    for gen in (1, 2):
        c = run_in(pid, lambda self: self.child_pid("r"))
        gen_server.cast(c, "stop_normal")
        assert box.wait_for(lambda it, gen=gen: it[0] == "hct" and it[2] == gen)
        assert wait_until(
            lambda gen=gen: (
                run_in(pid, lambda self: self.child_meta("r") if self.is_child("r") else None)
                == gen + 1
            )
        )
    assert run_in(pid, lambda self: self.num_children()) == 1
