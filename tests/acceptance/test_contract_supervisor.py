"""Acceptance tests for API.md `parent: Supervisor` and the pytest plugin fixtures."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest

import compat
import parent
from parent import GenServer, gen_server, process, supervisor
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)


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
    def init(self, name: object, box: Box) -> None:
        self.name = name
        self.box = box
        process.trap_exits(True)
        box.add(("start", name, process.current()))

    def handle_call(self, request, from_):
        return self.name

    def terminate(self, reason):
        self.box.add(("stop", self.name, reason))


def cspec(name, box, **extra):
    spec = {"id": name, "start": (Child.start_link, [name, box])}
    spec.update(extra)
    return spec


def pids_of(sup) -> dict:
    return {w[0]: w[1] for w in supervisor.which_children(sup)}


def restarted(sup, old: dict, ids) -> bool:
    now = pids_of(sup)
    return all(now.get(i) is not None and now[i] != old[i] and now[i].is_alive() for i in ids)


# -- start_link ------------------------------------------------------------------------


def test_start_link_signature_defaults():
    import inspect

    sig = inspect.signature(supervisor.start_link)
    p = sig.parameters
    assert p["strategy"].default == "one_for_one"
    assert p["max_restarts"].default == 3
    assert p["max_seconds"].default == 5.0
    assert p["name"].default is None
    assert p["timeout"].default == 5.0
    for k in ("strategy", "max_restarts", "max_seconds", "name", "timeout"):
        assert p[k].kind is inspect.Parameter.KEYWORD_ONLY


def test_start_link_mixed_children(reap):
    box = Box()

    class Other(ExampleWorker):
        pass

    with pytest.warns(DeprecationWarning):
        legacy = compat.spec.worker(ExampleWorker, [3], id="legacy")
    sup = reap(
        supervisor.start_link(
            [
                cspec("modern", box),
                ExampleWorker,
                (Other, 2),
                legacy,
            ]
        )
    )
    wc = supervisor.which_children(sup)
    assert [w[0] for w in wc] == ["modern", ExampleWorker, Other, "legacy"]
    pids = pids_of(sup)
    assert ExampleWorker.get(pids[ExampleWorker]) is None
    assert ExampleWorker.get(pids[Other]) == 2
    assert ExampleWorker.get(pids["legacy"]) == 3


def test_duplicate_ids_rejected_before_start(reap):
    box = Box()
    with pytest.raises(ValueError):
        supervisor.start_link([cspec("a", box), cspec("a", box)])
    assert box.snapshot() == []


def test_start_link_class_and_class_arg(reap):
    sup = reap(supervisor.start_link([ExampleWorker]))
    assert ExampleWorker.get(pids_of(sup)[ExampleWorker]) is None
    sup2 = reap(supervisor.start_link([(ExampleWorker, 2)]))
    assert ExampleWorker.get(pids_of(sup2)[ExampleWorker]) == 2


def test_start_link_name(reap):
    sup = reap(supervisor.start_link([], name="acc-sup-name"))
    assert process.whereis("acc-sup-name") == sup
    assert supervisor.which_children("acc-sup-name") == []
    with pytest.raises(parent.AlreadyStarted):
        supervisor.start_link([], name="acc-sup-name")


@pytest.mark.parametrize(
    "bad, exc",
    [
        ({"start": (ExampleWorker.start_link, [])}, KeyError),
        ({"id": "x"}, KeyError),
        ({"id": None, "start": (ExampleWorker.start_link, [])}, ValueError),
        ({"id": "x", "start": (ExampleWorker.start_link, []), "restart": "sometimes"}, ValueError),
        ({"id": "x", "start": 42}, TypeError),
        (42, TypeError),
    ],
)
def test_invalid_spec_raises_in_caller_before_anything_starts(bad, exc, reap):
    box = Box()
    with pytest.raises(exc):
        supervisor.start_link([cspec("first", box), bad])
    assert box.snapshot() == []


def test_children_start_in_order(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec(n, box) for n in "abc"]))
    assert [it[1] for it in box.of("start")] == ["a", "b", "c"]
    assert [w[0] for w in supervisor.which_children(sup)] == ["a", "b", "c"]


def test_failed_child_start_stops_started_and_raises(reap):
    box = Box()
    with pytest.raises(parent.StartError):
        supervisor.start_link(
            [
                cspec("a", box),
                cspec("b", box),
                {"id": "bad", "start": (ExampleWorker.start_link, ["invalid"])},
                cspec("c", box),
            ]
        )
    starts = box.of("start")
    assert [s[1] for s in starts] == ["a", "b"]
    assert all(not s[2].is_alive() for s in starts)
    assert [s[1] for s in box.of("stop")] == ["b", "a"]


def test_children_stop_in_reverse_order(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec(n, box) for n in "abc"]))
    assert supervisor.stop(sup) is None
    assert not sup.is_alive()
    assert [s[1] for s in box.of("stop")] == ["c", "b", "a"]
    assert all(s[2] == "shutdown" for s in box.of("stop"))


def test_supervisor_stop_reason_and_signature(reap):
    import inspect

    sig = inspect.signature(supervisor.stop)
    assert sig.parameters["reason"].default == "normal"
    assert sig.parameters["timeout"].default is None
    sup = reap(supervisor.start_link([]))
    supervisor.stop(sup, "shutdown", timeout=2.0)
    assert sup.join(1) == "shutdown"


# -- module-based ----------------------------------------------------------------------


class MySup(parent.Supervisor):
    def init(self, box, strategy="one_for_one"):
        return supervisor.init(
            [cspec("x", box), cspec("y", box)], strategy=strategy, max_restarts=5, max_seconds=2.0
        )


class LegacySup(parent.Supervisor):
    def init(self, box):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            children = [
                compat.spec.worker(Child, ["lx", box], id="lx"),
                compat.spec.worker(Child, ["ly", box], id="ly"),
            ]
            return compat.spec.supervise(children, strategy="one_for_all")


def test_module_based_supervisor(reap):
    box = Box()
    sup = reap(MySup.start_link(box, name="acc-mysup"))
    assert process.whereis("acc-mysup") == sup
    assert [w[0] for w in supervisor.which_children(sup)] == ["x", "y"]
    assert supervisor.get_callback_module(sup) is MySup
    assert MySup.child_spec()["id"] is MySup


def test_module_based_supervisor_legacy_supervise(reap):
    box = Box()
    sup = reap(LegacySup.start_link(box))
    old = pids_of(sup)
    assert list(old) == ["lx", "ly"]
    process.exit(old["lx"], "kill")
    assert wait_until(lambda: restarted(sup, old, ["lx", "ly"]), timeout=3.0)


def test_get_callback_module_for_start_link(reap):
    sup = reap(supervisor.start_link([]))
    assert supervisor.get_callback_module(sup) is parent.Supervisor


# -- restart types ---------------------------------------------------------------------


def test_permanent_restarts_always(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec("p", box)]))
    old = pids_of(sup)
    gen_server.stop(old["p"], "normal")
    assert wait_until(lambda: restarted(sup, old, ["p"]), timeout=3.0)


def test_transient_only_after_abnormal(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec("t", box, restart="transient")]))
    old = pids_of(sup)
    process.exit(old["t"], "kill")
    assert wait_until(lambda: restarted(sup, old, ["t"]), timeout=3.0)
    cur = pids_of(sup)
    for reason in ("normal", "shutdown", ("shutdown", 1)):
        if reason != "normal":
            supervisor.restart_child(sup, "t")
            cur = pids_of(sup)
        gen_server.stop(cur["t"], reason)
        assert wait_until(lambda: pids_of(sup).get("t", "gone") is None, timeout=2.0)
        assert not wait_until(lambda: pids_of(sup)["t"] is not None, timeout=0.2)
        assert [w[0] for w in supervisor.which_children(sup)] == ["t"]


def test_temporary_never_restarted_and_dropped(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec("tmp", box, restart="temporary"), cspec("p", box)]))
    old = pids_of(sup)
    process.exit(old["tmp"], "kill")
    assert wait_until(lambda: "tmp" not in pids_of(sup), timeout=2.0)
    assert [w[0] for w in supervisor.which_children(sup)] == ["p"]
    assert supervisor.count_children(sup)["specs"] == 1


# -- strategies ------------------------------------------------------------------------


def test_one_for_one(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec(n, box) for n in "abc"]))
    old = pids_of(sup)
    process.exit(old["b"], "kill")
    assert wait_until(lambda: restarted(sup, old, ["b"]), timeout=3.0)
    now = pids_of(sup)
    assert now["a"] == old["a"] and now["c"] == old["c"]


def test_one_for_all(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec(n, box) for n in "abc"], strategy="one_for_all"))
    old = pids_of(sup)
    process.exit(old["b"], "kill")
    assert wait_until(lambda: restarted(sup, old, ["a", "b", "c"]), timeout=3.0)
    assert [w[0] for w in supervisor.which_children(sup)] == ["a", "b", "c"]


def test_rest_for_one(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec(n, box) for n in "abc"], strategy="rest_for_one"))
    old = pids_of(sup)
    process.exit(old["b"], "kill")
    assert wait_until(lambda: restarted(sup, old, ["b", "c"]), timeout=3.0)
    assert pids_of(sup)["a"] == old["a"]


def test_max_restarts_exceeded_shuts_down(reap):
    box = Box()
    sup = reap(
        supervisor.start_link([cspec("a", box), cspec("b", box)], max_restarts=2, max_seconds=5.0)
    )
    kids = []
    for i in range(2):
        old = pids_of(sup)
        kids.append(old["a"])
        process.exit(old["a"], "kill")
        assert wait_until(lambda old=old: restarted(sup, old, ["a"]), timeout=3.0), i
    assert sup.is_alive()
    old = pids_of(sup)
    process.exit(old["a"], "kill")
    assert sup.join(3) == "shutdown"
    assert not old["b"].is_alive()
    assert ("stop", "b", "shutdown") in box.snapshot()


def test_max_restarts_zero(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec("a", box)], max_restarts=0))
    process.exit(pids_of(sup)["a"], "kill")
    assert sup.join(3) == "shutdown"


def test_restarts_outside_window_do_not_accumulate(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec("a", box)], max_restarts=1, max_seconds=0.3))
    for _ in range(3):
        old = pids_of(sup)
        process.exit(old["a"], "kill")
        assert wait_until(lambda old=old: restarted(sup, old, ["a"]), timeout=3.0)
        wait_until(lambda: False, timeout=0.4)
    assert sup.is_alive()


# -- queries ---------------------------------------------------------------------------


def test_which_children_and_count_children(reap):
    box = Box()
    sup = reap(
        supervisor.start_link(
            [
                cspec("a", box),
                {"id": "s", "start": (supervisor.start_link, [[]]), "type": "supervisor"},
                cspec("b", box, modules=["custom"]),
            ]
        )
    )
    wc = supervisor.which_children(sup)
    assert isinstance(wc, list)
    assert [(w[0], w[2]) for w in wc] == [("a", "worker"), ("s", "supervisor"), ("b", "worker")]
    assert all(isinstance(w[1], parent.Pid) and w[1].is_alive() for w in wc)
    assert wc[0][3] == [Child]
    assert wc[2][3] == ["custom"]
    assert supervisor.count_children(sup) == {
        "specs": 3,
        "active": 3,
        "supervisors": 1,
        "workers": 2,
    }
    supervisor.terminate_child(sup, "a")
    wc = supervisor.which_children(sup)
    assert wc[0][0] == "a" and wc[0][1] is None
    assert supervisor.count_children(sup) == {
        "specs": 3,
        "active": 2,
        "supervisors": 1,
        "workers": 2,
    }


# -- changes ---------------------------------------------------------------------------


def test_start_child_dynamic(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec("a", box)]))
    pid = supervisor.start_child(sup, cspec("b", box))
    assert isinstance(pid, parent.Pid) and pid.is_alive()
    assert [w[0] for w in supervisor.which_children(sup)] == ["a", "b"]
    with pytest.raises(parent.AlreadyStarted) as ei:
        supervisor.start_child(sup, cspec("b", box))
    assert ei.value.pid == pid
    supervisor.terminate_child(sup, "b")
    with pytest.raises(ValueError):
        supervisor.start_child(sup, cspec("b", box))


def test_start_child_failure(reap):
    sup = reap(supervisor.start_link([]))
    with pytest.raises(parent.StartError) as ei:
        supervisor.start_child(sup, {"id": "bad", "start": (ExampleWorker.start_link, ["invalid"])})
    assert ei.value.reason == "invalid"
    assert supervisor.which_children(sup) == []
    assert sup.is_alive()


def test_start_child_accepts_class_and_legacy(reap):
    sup = reap(supervisor.start_link([]))
    p = supervisor.start_child(sup, (ExampleWorker, 4))
    assert ExampleWorker.get(p) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = compat.spec.worker(ExampleWorker, [5], id="lg")
    q = supervisor.start_child(sup, legacy)
    assert ExampleWorker.get(q) == 5


def test_terminate_restart_delete(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec("a", box), cspec("b", box)]))
    old = pids_of(sup)
    assert supervisor.terminate_child(sup, "a") is None
    assert not old["a"].is_alive()
    assert ("stop", "a", "shutdown") in box.snapshot()
    assert pids_of(sup)["a"] is None
    new = supervisor.restart_child(sup, "a")
    assert isinstance(new, parent.Pid) and new.is_alive() and new != old["a"]
    assert pids_of(sup)["a"] == new
    with pytest.raises(parent.AlreadyStarted) as ei:
        supervisor.restart_child(sup, "a")
    assert ei.value.pid == new
    with pytest.raises(parent.ProcessError):
        supervisor.delete_child(sup, "a")
    supervisor.terminate_child(sup, "a")
    assert supervisor.delete_child(sup, "a") is None
    assert [w[0] for w in supervisor.which_children(sup)] == ["b"]


def test_terminated_child_not_restarted(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec("a", box)]))
    supervisor.terminate_child(sup, "a")
    assert not wait_until(lambda: pids_of(sup)["a"] is not None, timeout=0.3)


def test_unknown_id_not_found(reap):
    sup = reap(supervisor.start_link([]))
    with pytest.raises(parent.NotFound):
        supervisor.terminate_child(sup, "nope")
    with pytest.raises(parent.NotFound):
        supervisor.restart_child(sup, "nope")
    with pytest.raises(parent.NotFound):
        supervisor.delete_child(sup, "nope")


def test_brutal_kill_and_shutdown_timeout(reap):
    class Blocking(GenServer):
        def init(self, gate, box):
            process.trap_exits(True)
            self.gate, self.box = gate, box

        def terminate(self, reason):
            self.box.add(("blocking", reason))
            self.gate.wait(5)

    box = Box()
    gate = threading.Event()
    try:
        sup = reap(
            supervisor.start_link(
                [
                    cspec("bk", box, shutdown="brutal_kill"),
                    {"id": "slow", "start": (Blocking.start_link, [gate, box]), "shutdown": 0.3},
                ]
            )
        )
        old = pids_of(sup)
        supervisor.terminate_child(sup, "bk")
        assert old["bk"].join(0.5) == "killed"
        assert box.of("stop") == []
        t0 = time.monotonic()
        supervisor.terminate_child(sup, "slow")
        assert 0.25 <= time.monotonic() - t0 < 2.5
        assert old["slow"].join(0.5) == "killed"
    finally:
        gate.set()


def test_supervisor_traps_and_survives_normal_exit_of_children(reap):
    box = Box()
    sup = reap(supervisor.start_link([cspec("a", box, restart="temporary")]))
    gen_server.stop(pids_of(sup)["a"], "normal")
    assert wait_until(lambda: supervisor.which_children(sup) == [], timeout=2.0)
    assert sup.is_alive()


def test_nested_supervisors_stop_in_order(reap):
    box = Box()
    inner = {
        "id": "inner",
        "type": "supervisor",
        "start": (supervisor.start_link, [[cspec("i1", box), cspec("i2", box)]]),
    }
    sup = reap(supervisor.start_link([cspec("o1", box), inner, cspec("o2", box)]))
    supervisor.stop(sup)
    assert [s[1] for s in box.of("stop")] == ["o2", "i2", "i1", "o1"]


# -- pytest plugin ---------------------------------------------------------------------


def test_plugin_fixtures(start_supervised, stop_supervised):
    pid = start_supervised({"id": "w", "start": (ExampleWorker.start_link, [1])})
    assert isinstance(pid, parent.Pid) and pid.is_alive()
    assert ExampleWorker.get(pid) == 1
    other = start_supervised((ExampleWorker, 2))
    assert ExampleWorker.get(other) == 2
    assert stop_supervised("w") is None
    assert not pid.is_alive()
    # `other` is stopped by the plugin at the end of the test


PLUGIN_TEST = textwrap.dedent(
    """
    from parent import GenServer, gen_server

    SEEN = []

    class W(GenServer):
        def handle_call(self, request, from_):
            return request

    def test_a(start_supervised, stop_supervised):
        p = start_supervised({"id": "w", "start": (W.start_link, [])})
        q = start_supervised(W)
        assert gen_server.call(p, "x") == "x"
        stop_supervised(W)
        assert not q.is_alive()
        SEEN.append(p)

    def test_b():
        assert SEEN and not SEEN[0].is_alive()
    """
)


def test_plugin_stops_children_at_end_of_test(tmp_path):
    (tmp_path / "test_plug.py").write_text(PLUGIN_TEST)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_plug.py"),
        ],
        capture_output=True,
        text=True,
        timeout=40,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout


class SlowChild(GenServer):
    def init(self, gate: threading.Event, box: Box) -> None:
        box.add(("start", "slow", process.current()))
        gate.wait(5)


def test_supervisor_start_timeout(reap):
    box = Box()
    gate = threading.Event()
    try:
        t0 = time.monotonic()
        with pytest.raises(parent.StartError) as ei:
            supervisor.start_link(
                [cspec("a", box), {"id": "slow", "start": (SlowChild.start_link, [gate, box])}],
                timeout=0.3,
            )
        assert ei.value.reason == "timeout"
        assert time.monotonic() - t0 < 3.0
        starts = box.of("start")
        assert wait_until(lambda: not any(s[2].is_alive() for s in starts), timeout=3.0)
    finally:
        gate.set()
