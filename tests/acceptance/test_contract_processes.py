"""Acceptance tests for API.md: conventions and `parent: processes` (and wait_until)."""

from __future__ import annotations

import contextlib
import importlib.resources
import re
import subprocess
import sys
import textwrap
import threading
import time
import typing

import pytest

import parent
import parent.testing
from parent import GenServer, gen_server, process

pytestmark = pytest.mark.timeout(60)


# -- helpers ---------------------------------------------------------------------------


class Box:
    """Thread-safe message collector."""

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

    def count(self, pred) -> int:
        with self.cond:
            return sum(1 for it in self.items if pred(it))


class Probe(GenServer):
    """Runs functions inside a process; records every info message."""

    def init(self, box: Box, trap: bool = False) -> None:
        self.box = box
        if trap:
            process.trap_exits(True)

    def handle_call(self, request, from_):
        _, fn = request
        try:
            return ("ok", fn())
        except Exception as exc:
            return ("err", exc)

    def handle_info(self, message):
        self.box.add(message)


def run_in(pid, fn, timeout: float = 5.0):
    tag, value = gen_server.call(pid, ("run", fn), timeout)
    if tag == "err":
        raise value
    return value


class Worker(GenServer):
    def init(self, box: Box | None = None, trap: bool = False) -> None:
        self.box = box
        if trap:
            process.trap_exits(True)

    def handle_call(self, request, from_):
        if request == "ping":
            return "pong"
        if request == "whoami":
            return process.current()
        raise ValueError(request)

    def handle_info(self, message):
        if self.box is not None:
            self.box.add(("info", message))

    def terminate(self, reason):
        if self.box is not None:
            self.box.add(("terminate", reason))


def is_exit(pid, reason=...):
    def pred(m):
        return isinstance(m, parent.Exit) and m.pid == pid and (reason is ... or m.reason == reason)

    return pred


def is_down(ref):
    return lambda m: isinstance(m, parent.Down) and m.ref == ref


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
                gen_server.stop(p, "shutdown", timeout=2.0)
            except Exception:
                process.exit(p, "kill")
    for p in pids:
        try:
            p.join(3.0)
        except TimeoutError:
            process.exit(p, "kill")
            p.join(3.0)


@pytest.fixture
def probe(reap):
    box = Box()
    pid = reap(Probe.start(box))
    return pid, box


@pytest.fixture
def trapping_probe(reap):
    box = Box()
    pid = reap(Probe.start(box, True))
    return pid, box


# -- conventions -----------------------------------------------------------------------


def test_three_import_packages_with_py_typed():
    import compat
    import genregistry

    for pkg in (parent, genregistry, compat):
        assert importlib.resources.files(pkg).joinpath("py.typed").is_file()


def test_literal_type_aliases():
    assert set(typing.get_args(parent.Strategy)) == {"one_for_one", "one_for_all", "rest_for_one"}
    assert set(typing.get_args(parent.Restart)) == {"permanent", "transient", "temporary"}
    assert set(typing.get_args(parent.ChildType)) == {"worker", "supervisor"}
    args = typing.get_args(parent.Shutdown)
    assert float in args
    literals = [a for a in args if typing.get_origin(a) is typing.Literal]
    assert literals and set(typing.get_args(literals[0])) == {"infinity", "brutal_kill"}


def test_public_type_names_exist():
    for name in ("Pid", "Server", "From", "Ref", "Exit", "Down"):
        assert hasattr(parent, name), name


def test_parent_testing_reachable_after_plain_import_parent():
    # API.md refers to `parent.testing.wait_until`; `parent` is said to contain `testing`.
    code = "import parent; print(callable(parent.testing.wait_until))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


# -- Pid -------------------------------------------------------------------------------


def test_pid_hashable_equal_only_to_itself_and_repr(reap):
    a = reap(Worker.start())
    b = reap(Worker.start())
    assert isinstance(a, parent.Pid)
    assert a == a and a != b and hash(a) == hash(a)
    assert {a: 1, b: 2}[a] == 1
    assert a != "a" and a != 1
    assert re.fullmatch(r"<Pid \d+ Worker>", repr(a)), repr(a)


def test_pid_is_alive_and_join_returns_reason(reap):
    pid = reap(Worker.start())
    assert pid.is_alive() is True
    gen_server.stop(pid, "shutdown")
    assert pid.is_alive() is False
    assert pid.join() == "shutdown"
    assert pid.join(0.1) == "shutdown"


def test_pid_join_timeout_raises_timeout_error(reap):
    pid = reap(Worker.start())
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        pid.join(0.2)
    assert time.monotonic() - t0 >= 0.15
    assert pid.is_alive()


# -- current / send --------------------------------------------------------------------


def test_current_is_none_in_plain_thread():
    assert process.current() is None
    seen = []
    t = threading.Thread(target=lambda: seen.append(process.current()))
    t.start()
    t.join(5)
    assert seen == [None]


def test_current_inside_process(probe):
    pid, _ = probe
    assert run_in(pid, process.current) == pid


def test_send_delivers_and_accepts_names(probe):
    pid, box = probe
    assert process.send(pid, "hello") is None
    assert box.wait_for(lambda m: m == "hello")
    process.register("acc-send-name", pid)
    process.send("acc-send-name", "by-name")
    assert box.wait_for(lambda m: m == "by-name")


def test_send_never_raises_for_dead_or_unknown(reap):
    pid = reap(Worker.start())
    gen_server.stop(pid)
    assert process.send(pid, "x") is None
    assert process.send("acc-no-such-name", "x") is None
    assert process.send(("tuple", "name"), "x") is None


def test_send_does_not_block(probe):
    pid, box = probe
    t0 = time.monotonic()
    for i in range(2000):
        process.send(pid, i)
    assert time.monotonic() - t0 < 2.0
    assert box.wait_for(lambda m: m == 1999)
    # FIFO from one sender
    with box.cond:
        ints = [m for m in box.items if isinstance(m, int)]
    assert ints == list(range(2000))


# -- exit signals ----------------------------------------------------------------------


def test_exit_kill_cannot_be_trapped(trapping_probe):
    pid, _ = trapping_probe
    process.exit(pid, "kill")
    assert pid.join(2) == "killed"


def test_exit_to_trapping_becomes_message_with_none_pid_from_thread(trapping_probe):
    pid, box = trapping_probe
    process.exit(pid, "custom")
    msg = box.wait_for(lambda m: isinstance(m, parent.Exit))
    assert msg is not None
    assert msg.pid is None and msg.reason == "custom"
    process.exit(pid, "normal")
    assert box.wait_for(lambda m: isinstance(m, parent.Exit) and m.reason == "normal")
    assert pid.is_alive()


def test_exit_from_process_carries_sender_pid(probe, trapping_probe):
    sender, _ = probe
    target, box = trapping_probe
    run_in(sender, lambda: process.exit(target, "from-proc"))
    msg = box.wait_for(lambda m: isinstance(m, parent.Exit))
    assert msg.pid == sender and msg.reason == "from-proc"


def test_exit_non_trapping_dies_with_reason(reap):
    box = Box()
    pid = reap(Worker.start(box))
    process.exit(pid, "boom")
    assert pid.join(2) == "boom"


def test_exit_non_trapping_ignores_normal(reap):
    pid = reap(Worker.start())
    process.exit(pid, "normal")
    assert gen_server.call(pid, "ping") == "pong"
    assert not parent.testing.wait_until(lambda: not pid.is_alive(), timeout=0.2)


def test_exit_to_dead_pid_does_not_raise(reap):
    pid = reap(Worker.start())
    gen_server.stop(pid)
    process.exit(pid, "boom")
    process.exit(pid, "kill")


# -- links -----------------------------------------------------------------------------


def test_link_trapping_gets_exit_with_reason(trapping_probe, reap):
    a, box = trapping_probe
    b = reap(Worker.start())
    run_in(a, lambda: process.link(b))
    process.exit(b, "boom")
    assert box.wait_for(is_exit(b, "boom"))
    assert a.is_alive()


def test_link_trapping_gets_normal_exit(trapping_probe, reap):
    a, box = trapping_probe
    b = reap(Worker.start())
    run_in(a, lambda: process.link(b))
    gen_server.stop(b, "normal")
    assert box.wait_for(is_exit(b, "normal"))


def test_link_trapping_gets_killed(trapping_probe, reap):
    a, box = trapping_probe
    b = reap(Worker.start())
    run_in(a, lambda: process.link(b))
    process.exit(b, "kill")
    assert box.wait_for(is_exit(b, "killed"))


def test_link_non_trapping_dies_with_abnormal_reason(probe, reap):
    a, _ = probe
    b = reap(Worker.start())
    run_in(a, lambda: process.link(b))
    process.exit(b, "boom")
    assert a.join(2) == "boom"


def test_link_non_trapping_survives_normal(probe, reap):
    a, _ = probe
    b = reap(Worker.start())
    run_in(a, lambda: process.link(b))
    gen_server.stop(b, "normal")
    assert b.join(2) == "normal"
    assert not parent.testing.wait_until(lambda: not a.is_alive(), timeout=0.2)
    assert run_in(a, lambda: 1) == 1


def test_link_is_bidirectional(probe, reap):
    a, _ = probe
    box = Box()
    b = reap(Worker.start(box))
    run_in(a, lambda: process.link(b))
    process.exit(a, "boom")
    assert b.join(2) == "boom"


def test_link_bidirectional_trapping_other_side(probe, reap):
    a, _ = probe
    box = Box()
    b = reap(Worker.start(box, True))
    run_in(a, lambda: process.link(b))
    process.exit(a, "boom")
    assert box.wait_for(
        lambda m: (
            m == ("info", parent.Exit(a, "boom"))
            or (
                isinstance(m, tuple)
                and m[0] == "info"
                and isinstance(m[1], parent.Exit)
                and m[1].pid == a
                and m[1].reason == "boom"
            )
        )
    )


def test_unlink_stops_propagation(trapping_probe, reap):
    a, box = trapping_probe
    b = reap(Worker.start())
    run_in(a, lambda: process.link(b))
    run_in(a, lambda: process.unlink(b))
    process.exit(b, "boom")
    assert b.join(2) == "boom"
    assert box.wait_for(lambda m: isinstance(m, parent.Exit), timeout=0.3) is None


def test_link_to_dead_pid_trapping_gets_noproc(trapping_probe, reap):
    a, box = trapping_probe
    b = reap(Worker.start())
    gen_server.stop(b)
    run_in(a, lambda: process.link(b))
    assert box.wait_for(is_exit(b, "noproc"))


def test_link_to_dead_pid_non_trapping_raises_noproc(probe, reap):
    a, _ = probe
    b = reap(Worker.start())
    gen_server.stop(b)
    with pytest.raises(parent.NoProcess):
        run_in(a, lambda: process.link(b))
    assert a.is_alive()


def test_link_to_dead_pid_plain_thread_raises_noproc(reap):
    b = reap(Worker.start())
    gen_server.stop(b)
    with pytest.raises(parent.NoProcess):
        process.link(b)


# -- monitors --------------------------------------------------------------------------


def test_monitor_delivers_down_once(probe, reap):
    a, box = probe
    b = reap(Worker.start())
    ref = run_in(a, lambda: process.monitor(b))
    assert isinstance(ref, parent.Ref) if isinstance(parent.Ref, type) else ref is not None
    process.exit(b, "boom")
    msg = box.wait_for(is_down(ref))
    assert msg is not None
    assert msg.ref == ref and msg.pid == b and msg.reason == "boom"
    assert box.wait_for(lambda m: is_down(ref)(m) and m is not msg, timeout=0.2) is None
    assert box.count(is_down(ref)) == 1
    assert a.is_alive()  # a monitor is not a link


def test_monitor_dead_pid_delivers_noproc(probe, reap):
    a, box = probe
    b = reap(Worker.start())
    gen_server.stop(b)
    ref = run_in(a, lambda: process.monitor(b))
    msg = box.wait_for(is_down(ref))
    assert msg is not None and msg.pid == b and msg.reason == "noproc"


def test_demonitor_suppresses_down(probe, reap):
    a, box = probe
    b = reap(Worker.start())
    ref = run_in(a, lambda: process.monitor(b))
    assert run_in(a, lambda: process.demonitor(ref)) is None
    gen_server.stop(b)
    assert box.wait_for(lambda m: isinstance(m, parent.Down), timeout=0.3) is None


def test_two_monitors_two_downs(probe, reap):
    a, box = probe
    b = reap(Worker.start())
    r1 = run_in(a, lambda: process.monitor(b))
    r2 = run_in(a, lambda: process.monitor(b))
    assert r1 != r2
    gen_server.stop(b, "shutdown")
    assert box.wait_for(is_down(r1)).reason == "shutdown"
    assert box.wait_for(is_down(r2)).reason == "shutdown"


# -- trap_exits ------------------------------------------------------------------------


def test_trap_exits_returns_old_flag(probe):
    a, _ = probe
    assert run_in(a, lambda: process.trap_exits(True)) is False
    assert run_in(a, lambda: process.trap_exits(True)) is True
    assert run_in(a, lambda: process.trap_exits(False)) is True
    assert run_in(a, lambda: process.trap_exits(False)) is False


# -- names -----------------------------------------------------------------------------


def test_register_whereis_unregister(reap):
    pid = reap(Worker.start())
    assert process.whereis("acc-name") is None
    assert process.register("acc-name", pid) is None
    assert process.whereis("acc-name") == pid
    assert gen_server.call("acc-name", "ping") == "pong"
    assert process.unregister("acc-name") is None
    assert process.whereis("acc-name") is None


def test_register_class_and_tuple_names(reap):
    pid = reap(Worker.start())
    process.register(Worker, pid)
    assert process.whereis(Worker) == pid
    process.unregister(Worker)


def test_register_taken_name_raises_value_error(reap):
    a = reap(Worker.start())
    b = reap(Worker.start())
    process.register("acc-taken", a)
    with pytest.raises(ValueError):
        process.register("acc-taken", b)
    assert process.whereis("acc-taken") == a
    process.unregister("acc-taken")


def test_register_dead_pid_raises_value_error(reap):
    a = reap(Worker.start())
    gen_server.stop(a)
    with pytest.raises(ValueError):
        process.register("acc-dead", a)
    assert process.whereis("acc-dead") is None


def test_unregister_unknown_raises_not_found():
    with pytest.raises(parent.NotFound):
        process.unregister("acc-never-registered")


def test_names_freed_on_death(reap):
    a = reap(Worker.start())
    process.register("acc-freed", a)
    process.exit(a, "boom")
    a.join(2)
    assert process.whereis("acc-freed") is None
    b = reap(Worker.start())
    process.register("acc-freed", b)
    assert process.whereis("acc-freed") == b
    gen_server.stop(b)
    assert process.whereis("acc-freed") is None


def test_start_link_name_registers(reap):
    pid = reap(Worker.start(name="acc-started-name"))
    assert process.whereis("acc-started-name") == pid


# -- kill semantics --------------------------------------------------------------------


class Spinner(GenServer):
    def init(self, counter: list) -> None:
        self.counter = counter

    def handle_cast(self, request):
        while True:
            self.counter[0] += 1


class Sleeper(GenServer):
    def init(self, started: threading.Event, seconds: float) -> None:
        self.started = started
        self.seconds = seconds

    def handle_cast(self, request):
        self.started.set()
        time.sleep(self.seconds)


def test_kill_interrupts_busy_python_code(reap):
    counter = [0]
    pid = reap(Spinner.start(counter))
    gen_server.cast(pid, "spin")
    assert parent.testing.wait_until(lambda: counter[0] > 1000, timeout=2.0)
    process.exit(pid, "kill")
    assert pid.join(2) == "killed"
    # the thread really stops: the counter stops growing
    time_limit = time.monotonic() + 2.0
    last = counter[0]
    stable = False
    while time.monotonic() < time_limit:
        ev = threading.Event()
        ev.wait(0.05)
        if counter[0] == last:
            stable = True
            break
        last = counter[0]
    assert stable


def test_kill_while_blocked_in_c_counts_dead_at_once(probe, reap):
    a, box = probe
    started = threading.Event()
    pid = reap(Sleeper.start(started, 1.0))
    process.register("acc-sleeper", pid)
    ref = run_in(a, lambda: process.monitor(pid))
    gen_server.cast(pid, "sleep")
    assert started.wait(2)
    t0 = time.monotonic()
    process.exit(pid, "kill")
    assert pid.join(0.5) == "killed"
    assert not pid.is_alive()
    assert process.whereis("acc-sleeper") is None
    msg = box.wait_for(is_down(ref), timeout=0.5)
    assert msg is not None and msg.reason == "killed"
    assert time.monotonic() - t0 < 0.9
    with pytest.raises(parent.NoProcess):
        gen_server.call(pid, "x", 0.5)


# -- interpreter exit ------------------------------------------------------------------


EXIT_SCRIPT = textwrap.dedent(
    """
    import threading, time
    from parent import GenServer, supervisor, process, gen_server

    class W(GenServer):
        def init(self, name):
            self.name = name
            process.trap_exits(True)
        def terminate(self, reason):
            print("term", self.name, flush=True)

    class Plain(GenServer):
        def terminate(self, reason):
            print("term lone", flush=True)

    class Stuck(GenServer):
        def init(self):
            process.trap_exits(True)
        def terminate(self, reason):
            print("stuck-terminate", flush=True)
            threading.Event().wait(60)

    class Busy(GenServer):
        def handle_cast(self, req):
            while True:
                pass

    class Blocked(GenServer):
        def handle_cast(self, req):
            threading.Event().wait(60)

    sup = supervisor.start_link([
        {"id": "a", "start": (W.start_link, ["a"])},
        {"id": "b", "start": (W.start_link, ["b"])},
        {"id": "stuck", "start": (Stuck.start_link, []), "shutdown": 0.3},
    ])
    lone = Plain.start()
    busy = Busy.start()
    gen_server.cast(busy, "go")
    blocked = Blocked.start()
    gen_server.cast(blocked, "go")
    print("ready", flush=True)
    """
)


def test_interpreter_exit_shuts_everything_down_without_hanging(tmp_path):
    script = tmp_path / "exit_script.py"
    script.write_text(EXIT_SCRIPT)
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=40)
    elapsed = time.monotonic() - t0
    text = out.stdout
    assert "ready" in text, (out.stdout, out.stderr)
    assert "term lone" in text, (out.stdout, out.stderr)
    assert "stuck-terminate" in text
    ia, ib = text.index("term a"), text.index("term b")
    assert ib < ia, "children of a supervisor stop in reverse start order"
    assert text.index("stuck-terminate") < ib
    assert elapsed < 30, elapsed


# -- wait_until ------------------------------------------------------------------------


def test_wait_until_true_as_soon_as_truthy():
    calls = [0]

    def fn():
        calls[0] += 1
        return calls[0] >= 3

    t0 = time.monotonic()
    assert parent.testing.wait_until(fn) is True
    assert time.monotonic() - t0 < 0.9


def test_wait_until_false_at_deadline():
    t0 = time.monotonic()
    assert parent.testing.wait_until(lambda: 0, timeout=0.2) is False
    el = time.monotonic() - t0
    assert 0.18 <= el < 1.0


def test_wait_until_default_timeout_is_one_second():
    import inspect

    sig = inspect.signature(parent.testing.wait_until)
    assert sig.parameters["timeout"].default == 1.0
    t0 = time.monotonic()
    assert parent.testing.wait_until(lambda: None) is False
    assert 0.9 <= time.monotonic() - t0 < 2.0


class CatchAllSpinner(GenServer):
    """Busy Python loop that swallows every Exception: a kill must still end it."""

    def init(self, counter: list) -> None:
        self.counter = counter

    def handle_call(self, request, from_):
        while True:
            with contextlib.suppress(Exception):
                self.counter[0] += 1


def test_kill_is_not_swallowed_by_except_exception(reap):
    counter = [0]
    pid = reap(CatchAllSpinner.start(counter))
    out: list = []

    def caller():
        try:
            gen_server.call(pid, "spin", timeout=5.0)
        except Exception as exc:
            out.append(exc)

    t = threading.Thread(target=caller)
    t.start()
    try:
        assert parent.testing.wait_until(lambda: counter[0] > 1000, timeout=2.0)
        process.exit(pid, "kill")
        assert pid.join(2) == "killed"
    finally:
        t.join(5)
    assert len(out) == 1 and isinstance(out[0], parent.ExitError)
    assert out[0].reason == "killed"
