"""Tests of GenServer (API.md, "parent: GenServer"): starting, callbacks, Continue,
NoReply, Stop, crashes and crash reports, terminate, and the client functions."""

from __future__ import annotations

import inspect
import linecache
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from probes import ProbeHandle, crash_reports, wait_for

import parent
from parent import (
    AlreadyStarted,
    CallTimeout,
    Continue,
    Exit,
    ExitError,
    GenServer,
    NoProcess,
    NoReply,
    Pid,
    ProcessError,
    StartError,
    Stop,
    gen_server,
    process,
)

pytestmark = pytest.mark.timeout(30)

# helpers: tests/probes.py; the `probes` fixture is in tests/conftest.py


Script = dict[str, Callable[..., Any]]


class Scripted(GenServer):
    """Appends ``(callback, argument)`` to ``log`` for every callback, then does what
    ``script[callback]`` says (by default: reply the request, ignore the rest)."""

    def init(self, log: list[Any], script: Script | None = None) -> Any:
        self.log = log
        self.script = script or {}
        self.me = process.current()
        log.append(("init", self.me))
        return self._act("init", None)

    def _act(self, callback: str, arg: Any, *extra: Any, default: Any = None) -> Any:
        action = self.script.get(callback)
        return default if action is None else action(self, arg, *extra)

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        self.log.append(("call", request))
        return self._act("call", request, from_, default=request)

    def handle_cast(self, request: Any) -> Any:
        self.log.append(("cast", request))
        return self._act("cast", request)

    def handle_info(self, message: Any) -> Any:
        self.log.append(("info", message))
        return self._act("info", message)

    def handle_continue(self, arg: Any) -> Any:
        self.log.append(("continue", arg))
        return self._act("continue", arg)

    def terminate(self, reason: Any) -> None:
        self.log.append(("terminate", reason))
        self._act("terminate", reason)


def init_pid(log: list[Any]) -> Pid:
    """The pid a Scripted server recorded in ``init``."""
    assert wait_for(lambda: log and log[0][0] == "init")
    pid: Pid = log[0][1]
    return pid


def callbacks(log: list[Any]) -> list[Any]:
    """The log without the init entry."""
    return [entry for entry in log if entry[0] != "init"]


def terminated(log: list[Any]) -> list[Any]:
    return [reason for name, reason in log if name == "terminate"]


def raise_(exc: BaseException) -> Callable[..., Any]:
    def action(*_: Any) -> Any:
        raise exc

    return action


# -- the public surface ----------------------------------------------------------------


def test_exception_hierarchy_and_attributes() -> None:
    for cls in (parent.NoProcess, CallTimeout, ExitError, StartError, parent.NotFound):
        assert issubclass(cls, ProcessError)
    assert issubclass(ProcessError, Exception)
    assert issubclass(CallTimeout, TimeoutError)
    assert issubclass(AlreadyStarted, StartError)
    assert issubclass(parent.NotFound, LookupError)
    assert issubclass(Stop, Exception) and not issubclass(Stop, ProcessError)
    assert ExitError("why").reason == "why"
    assert StartError(("bad", 1)).reason == ("bad", 1)
    pid = NamedServer.start()
    try:
        assert AlreadyStarted(pid).pid is pid
    finally:
        gen_server.stop(pid)
    stop = Stop("shutdown", reply=None)
    assert stop.reason == "shutdown" and stop.reply is None


def test_public_names_and_defaults() -> None:
    for name in ["Pid", "Ref", "From", "Server", "Exit", "Down", "Continue", "NoReply", "Task"]:
        assert hasattr(parent, name), name
    assert parent.Exit(None, "r").pid is None and parent.Exit(None, "r").reason == "r"
    defaults: dict[Callable[..., Any], dict[str, Any]] = {
        gen_server.call: {"timeout": 5.0},
        gen_server.stop: {"reason": "normal", "timeout": None},
        GenServer.start_link: {"name": None, "timeout": 5.0},
        GenServer.start: {"name": None, "timeout": 5.0},
        parent.Agent.start_link: {"name": None},
        parent.Agent.get: {"timeout": 5.0},
        parent.Agent.update: {"timeout": 5.0},
        parent.Agent.stop: {"reason": "normal"},
        parent.Pid.join: {"timeout": None},
    }
    for fn, expected in defaults.items():
        params = inspect.signature(fn).parameters
        for param, value in expected.items():
            assert params[param].default == value, (fn, param)


# -- starting ----------------------------------------------------------------------------


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


def test_the_contract_example() -> None:
    pid = ExampleWorker.start_link(42)
    try:
        assert ExampleWorker.get(pid) == 42
    finally:
        gen_server.stop(pid)
    with pytest.raises(StartError) as info:
        ExampleWorker.start_link("invalid")
    assert info.value.reason == "invalid"


def test_start_link_returns_once_init_has_finished() -> None:
    log: list[Any] = []

    def slow_init(self: Scripted, _: Any) -> None:
        done = threading.Event()
        threading.Timer(0.05, done.set).start()
        done.wait()
        self.log.append(("init done", None))

    pid = Scripted.start_link(log, {"init": slow_init})
    assert ("init done", None) in log
    assert log[0] == ("init", pid)
    gen_server.stop(pid)


def test_init_receives_positional_arguments() -> None:
    class Args(GenServer):
        def init(self, *args: Any) -> None:
            self.args = args

        def handle_call(self, request: Any, from_: parent.From) -> Any:
            return self.args

    for start in (Args.start_link, Args.start):
        pid = start(1, "two", (3,))
        assert gen_server.call(pid, "args") == (1, "two", (3,))
        gen_server.stop(pid)
        pid = start()
        assert gen_server.call(pid, "args") == ()
        gen_server.stop(pid)


class NamedServer(GenServer):
    def handle_call(self, request: Any, from_: parent.From) -> Any:
        return ("named", request)


@pytest.mark.parametrize("how", ["start_link", "start"])
@pytest.mark.parametrize("name", [NamedServer, "named", ("a", 1)])
def test_start_with_a_name_registers_it(how: str, name: Any) -> None:
    pid: Pid = getattr(NamedServer, how)(name=name)
    assert process.whereis(name) is pid
    assert gen_server.call(name, "x") == ("named", "x")
    gen_server.stop(name)
    assert process.whereis(name) is None
    assert not pid.is_alive()


def test_start_link_links_to_the_calling_process(probes: Callable[..., ProbeHandle]) -> None:
    caller = probes()
    pid = caller.run(lambda: NamedServer.start_link())
    process.exit(pid, "boom")
    assert caller.pid.join(2.0) == "boom"  # linked: the caller died with it

    caller = probes()
    pid = caller.run(lambda: NamedServer.start_link())
    process.exit(caller.pid, "boom")
    assert pid.join(2.0) == "boom"  # and the other way


def test_start_does_not_link(probes: Callable[..., ProbeHandle]) -> None:
    caller = probes(trap=True)
    pid = caller.run(lambda: NamedServer.start())
    process.exit(pid, "boom")
    assert pid.join(2.0) == "boom"
    caller.assert_no_more_messages()
    other = caller.run(lambda: NamedServer.start())
    process.exit(caller.pid, "kill")
    assert other.is_alive()
    gen_server.stop(other)


def test_start_link_from_a_plain_thread_links_nothing() -> None:
    pid = NamedServer.start_link()
    process.exit(pid, "boom")
    assert pid.join(2.0) == "boom"  # and this thread is unaffected


def test_start_error_when_init_raises(caplog: pytest.LogCaptureFixture) -> None:
    log: list[Any] = []
    error = ValueError("bad init")
    with pytest.raises(StartError) as info:
        Scripted.start_link(log, {"init": raise_(error)})
    assert info.value.reason is error
    assert info.value.__cause__ is error
    assert isinstance(info.value, ProcessError)
    pid = init_pid(log)
    assert pid.join(2.0) is error
    assert terminated(log) == []  # terminate does not run for a failed init
    reports = crash_reports(caplog)
    assert len(reports) == 1
    assert reports[0].exc_info is not None and reports[0].exc_info[1] is error


@pytest.mark.parametrize("reason", ["invalid", ("bad", 1), "normal", ("shutdown", 1)])
def test_start_error_when_init_raises_stop(reason: Any, caplog: pytest.LogCaptureFixture) -> None:
    log: list[Any] = []
    with pytest.raises(StartError) as info:
        Scripted.start_link(log, {"init": raise_(Stop(reason))})
    assert info.value.reason == reason
    assert init_pid(log).join(2.0) == reason
    assert terminated(log) == []
    clean = reason == "normal" or reason[0] == "shutdown"
    assert len(crash_reports(caplog)) == (0 if clean else 1)


def test_init_takes_positional_arguments_only() -> None:
    with pytest.raises(TypeError):
        NamedServer.start_link(value=1)  # type: ignore[call-arg]


def test_start_error_timeout_kills_the_process() -> None:
    log: list[Any] = []
    gate = threading.Event()
    try:
        t0 = time.monotonic()
        with pytest.raises(StartError) as info:
            Scripted.start_link(log, {"init": lambda *_: gate.wait()}, timeout=0.1)
        assert time.monotonic() - t0 < 2.0
        assert info.value.reason == "timeout"
        pid = init_pid(log)
        assert not pid.is_alive()
        assert pid.join(0) == "killed"
    finally:
        gate.set()
    assert terminated(log) == []


def test_start_with_timeout_none_waits_for_init() -> None:
    log: list[Any] = []

    def slow_init(self: Scripted, _: Any) -> None:
        done = threading.Event()
        threading.Timer(0.05, done.set).start()
        done.wait()

    pid = Scripted.start(log, {"init": slow_init}, timeout=None)
    assert pid.is_alive()
    gen_server.stop(pid)


def test_already_started_when_the_name_is_taken(probes: Callable[..., ProbeHandle]) -> None:
    first = NamedServer.start_link(name="taken")
    try:
        log: list[Any] = []
        for start in (Scripted.start_link, Scripted.start):
            with pytest.raises(AlreadyStarted) as info:
                start(log, name="taken")
            assert info.value.pid is first
            assert isinstance(info.value, StartError)
        assert log == []  # init never ran
        assert process.whereis("taken") is first
        # a name registered by hand counts too
        other = probes()
        process.register("by-hand", other.pid)
        with pytest.raises(AlreadyStarted) as info:
            NamedServer.start(name="by-hand")
        assert info.value.pid is other.pid
    finally:
        gen_server.stop(first)


def _failing_starts(gate: threading.Event) -> dict[str, tuple[Script, float]]:
    return {
        "raise": ({"init": raise_(RuntimeError("init failed"))}, 5.0),
        "stop": ({"init": raise_(Stop("invalid"))}, 5.0),
        "stop normal": ({"init": raise_(Stop("normal"))}, 5.0),
        "timeout": ({"init": lambda *_: gate.wait()}, 0.1),
    }


@pytest.mark.parametrize("failure", ["raise", "stop", "stop normal", "timeout"])
def test_a_failed_start_sends_no_exit_signal_to_a_trapping_caller(
    probes: Callable[..., ProbeHandle], failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate = threading.Event()
    script, timeout = _failing_starts(gate)[failure]
    caller = probes(trap=True)
    log: list[Any] = []
    try:
        with pytest.raises(StartError):
            caller.run(lambda: Scripted.start_link(log, script, timeout=timeout))
        pid = init_pid(log)
        pid.join(2.0)  # its exit signals, if any, are sent by now
    finally:
        gate.set()
    caller.assert_no_more_messages()


@pytest.mark.parametrize("failure", ["raise", "stop", "stop normal", "timeout"])
def test_a_failed_start_does_not_kill_a_non_trapping_caller(
    probes: Callable[..., ProbeHandle], failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate = threading.Event()
    script, timeout = _failing_starts(gate)[failure]
    caller = probes()
    log: list[Any] = []
    try:
        with pytest.raises(StartError):
            caller.run(lambda: Scripted.start_link(log, script, timeout=timeout))
        init_pid(log).join(2.0)
    finally:
        gate.set()
    assert caller.run(lambda: "alive") == "alive"


@pytest.mark.parametrize("failure", ["raise", "stop"])
def test_a_failed_start_is_dead_and_its_name_free_when_start_link_raises(
    failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    script: Script = {"init": raise_(RuntimeError("no") if failure == "raise" else Stop("no"))}
    for _ in range(20):
        log: list[Any] = []
        with pytest.raises(StartError):
            Scripted.start_link(log, script, name="retried")
        assert not init_pid(log).is_alive()
        assert process.whereis("retried") is None
        pid = NamedServer.start_link(name="retried")  # an immediate retry gets the name
        gen_server.stop(pid)


def test_child_spec_default_shape() -> None:
    assert NamedServer.child_spec() == {"id": NamedServer, "start": (NamedServer.start_link, [])}
    assert NamedServer.child_spec(5) == {
        "id": NamedServer,
        "start": (NamedServer.start_link, [5]),
    }
    start: Any = ExampleWorker.child_spec(7)["start"]
    fn, args = start
    pid = fn(*args)
    assert ExampleWorker.get(pid) == 7
    gen_server.stop(pid)


def test_child_spec_is_overridable() -> None:
    class Custom(GenServer):
        @classmethod
        def child_spec(cls, arg: Any = None) -> Any:
            return {**super().child_spec(arg), "id": "custom", "restart": "temporary"}

    spec = Custom.child_spec(1)
    assert spec == {"id": "custom", "start": (Custom.start_link, [1]), "restart": "temporary"}


# -- callbacks -------------------------------------------------------------------------


def test_call_cast_and_info_run_in_order_in_the_server() -> None:
    log: list[Any] = []
    threads: list[threading.Thread] = []

    def remember_thread(self: Scripted, *_: Any) -> Any:
        threads.append(threading.current_thread())
        return "reply"

    pid = Scripted.start(log, {"call": remember_thread, "cast": remember_thread})
    gen_server.cast(pid, "c1")
    process.send(pid, "i1")
    assert gen_server.call(pid, "q1") == "reply"
    assert callbacks(log) == [("cast", "c1"), ("info", "i1"), ("call", "q1")]
    assert len(set(threads)) == 1 and threads[0] is not threading.current_thread()
    gen_server.stop(pid, "shutdown")
    assert callbacks(log)[-1] == ("terminate", "shutdown")


def test_all_callbacks_are_optional() -> None:
    class Bare(GenServer):
        pass

    pid = Bare.start()
    process.send(pid, "an unexpected message")  # handle_info by default goes on
    log: list[Any] = []
    gen_server.stop(pid)  # init and terminate by default do nothing
    assert pid.join(0) == "normal"
    assert log == []


def test_the_instance_is_the_state() -> None:
    class Counter(GenServer):
        def init(self, start: int = 0) -> None:
            self.n = start

        def handle_call(self, request: Any, from_: parent.From) -> Any:
            return self.n

        def handle_cast(self, request: Any) -> None:
            self.n += request

    pid = Counter.start(10)
    gen_server.cast(pid, 5)
    assert gen_server.call(pid, "get") == 15
    gen_server.stop(pid)


# -- Continue --------------------------------------------------------------------------


def test_continue_from_init_runs_before_the_first_message_but_after_start() -> None:
    log: list[Any] = []
    gate = threading.Event()
    pid = Scripted.start_link(
        log,
        {"init": lambda *_: Continue("warm up"), "continue": lambda *_: gate.wait()},
    )
    try:
        assert wait_for(lambda: ("continue", "warm up") in log)  # start_link returned first
        gen_server.cast(pid, "early")
        process.send(pid, "early info")
    finally:
        gate.set()
    assert gen_server.call(pid, "q") == "q"
    assert callbacks(log) == [
        ("continue", "warm up"),
        ("cast", "early"),
        ("info", "early info"),
        ("call", "q"),
    ]
    gen_server.stop(pid)


def test_continue_with_reply_from_handle_call_replies_first() -> None:
    log: list[Any] = []
    gate = threading.Event()
    pid = Scripted.start(
        log,
        {
            "call": lambda s, req, f: Continue(("after", req), reply=("answer", req)),
            "continue": lambda *_: gate.wait(),
        },
    )
    try:
        # the reply comes while handle_continue is still blocked
        assert gen_server.call(pid, 1, timeout=2.0) == ("answer", 1)
        assert wait_for(lambda: ("continue", ("after", 1)) in log)
        gen_server.cast(pid, "next")
    finally:
        gate.set()
    assert gen_server.call(pid, 2, timeout=2.0) == ("answer", 2)
    assert callbacks(log)[:3] == [("call", 1), ("continue", ("after", 1)), ("cast", "next")]
    gen_server.stop(pid)


def test_continue_without_reply_from_handle_call_replies_nothing() -> None:
    log: list[Any] = []

    def later(self: Scripted, arg: Any) -> None:
        from_, req = arg
        gen_server.reply(from_, ("from continue", req))

    pid = Scripted.start(log, {"call": lambda s, req, f: Continue((f, req)), "continue": later})
    assert gen_server.call(pid, "x") == ("from continue", "x")
    assert gen_server.call(pid, "y") == ("from continue", "y")
    gen_server.stop(pid)


def test_continue_without_reply_leaves_the_call_unanswered() -> None:
    log: list[Any] = []
    pid = Scripted.start(log, {"call": lambda *_: Continue("nothing")})
    with pytest.raises(CallTimeout):
        gen_server.call(pid, "x", timeout=0.1)
    assert ("continue", "nothing") in log
    gen_server.stop(pid)


@pytest.mark.parametrize("callback", ["cast", "info"])
def test_continue_from_cast_and_info_runs_before_the_next_message(callback: str) -> None:
    log: list[Any] = []
    pid = Scripted.start(log, {callback: lambda s, arg: Continue(("after", arg))})
    if callback == "cast":
        gen_server.cast(pid, "m")
    else:
        process.send(pid, "m")
    assert gen_server.call(pid, "q") == "q"
    assert callbacks(log) == [(callback, "m"), ("continue", ("after", "m")), ("call", "q")]
    gen_server.stop(pid)


def test_continue_chains_from_handle_continue() -> None:
    log: list[Any] = []

    def step(self: Scripted, n: int) -> Any:
        return Continue(n + 1) if n < 3 else None

    pid = Scripted.start(log, {"init": lambda *_: Continue(0), "continue": step})
    gen_server.cast(pid, "c")
    assert gen_server.call(pid, "q") == "q"
    assert callbacks(log) == [
        ("continue", 0),
        ("continue", 1),
        ("continue", 2),
        ("continue", 3),
        ("cast", "c"),
        ("call", "q"),
    ]
    gen_server.stop(pid)


# -- NoReply and reply -------------------------------------------------------------------


class Deferred(GenServer):
    """Keeps every caller waiting; answers them on the message ``("answer", value)``, or
    hands each ``from_`` out to the queue it was given."""

    def init(self, froms: queue.SimpleQueue[parent.From]) -> None:
        self.froms = froms
        self.waiting: list[parent.From] = []

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request == "now":
            return "now"
        self.waiting.append(from_)
        self.froms.put(from_)
        return NoReply

    def handle_info(self, message: Any) -> None:
        _, value = message
        for from_ in self.waiting:
            gen_server.reply(from_, value)
        self.waiting.clear()


def test_noreply_then_reply_from_another_thread() -> None:
    froms: queue.SimpleQueue[parent.From] = queue.SimpleQueue()
    pid = Deferred.start(froms)

    def answer() -> None:
        from_ = froms.get(timeout=2.0)
        gen_server.reply(from_, "from a thread")

    t = threading.Thread(target=answer)
    t.start()
    assert gen_server.call(pid, "wait") == "from a thread"
    t.join()
    assert gen_server.call(pid, "now") == "now"  # the server was free meanwhile
    gen_server.stop(pid)


def test_noreply_then_reply_from_another_process() -> None:
    froms: queue.SimpleQueue[parent.From] = queue.SimpleQueue()
    pid = Deferred.start(froms)
    task = parent.Task.start(lambda: gen_server.reply(froms.get(timeout=2.0), "from a task"))
    assert gen_server.call(pid, "wait") == "from a task"
    assert task.join(2.0) == "normal"
    gen_server.stop(pid)


def test_noreply_then_reply_from_the_server_later() -> None:
    froms: queue.SimpleQueue[parent.From] = queue.SimpleQueue()
    pid = Deferred.start(froms)
    results: queue.SimpleQueue[Any] = queue.SimpleQueue()
    callers = [
        threading.Thread(target=lambda: results.put(gen_server.call(pid, "wait"))) for _ in range(3)
    ]
    for t in callers:
        t.start()
    for _ in callers:
        froms.get(timeout=2.0)
    assert gen_server.call(pid, "now") == "now"  # not blocked by the waiting callers
    process.send(pid, ("answer", 42))
    for t in callers:
        t.join()
    assert [results.get_nowait() for _ in callers] == [42, 42, 42]
    gen_server.stop(pid)


def test_the_first_reply_wins() -> None:
    froms: queue.SimpleQueue[parent.From] = queue.SimpleQueue()
    pid = Deferred.start(froms)

    def answer_twice() -> None:
        from_ = froms.get(timeout=2.0)
        gen_server.reply(from_, "first")
        gen_server.reply(from_, "second")

    t = threading.Thread(target=answer_twice)
    t.start()
    assert gen_server.call(pid, "wait") == "first"
    t.join()
    assert gen_server.call(pid, "now") == "now"  # the second reply went nowhere
    gen_server.stop(pid)


def test_a_deferred_call_fails_with_exit_error_when_the_server_dies() -> None:
    froms: queue.SimpleQueue[parent.From] = queue.SimpleQueue()
    pid = Deferred.start(froms)

    def kill_once_waiting() -> None:
        froms.get(timeout=2.0)
        process.exit(pid, "boom")

    t = threading.Thread(target=kill_once_waiting)
    t.start()
    t0 = time.monotonic()
    with pytest.raises(ExitError) as info:
        gen_server.call(pid, "wait", timeout=10.0)
    assert time.monotonic() - t0 < 5.0  # woke at the death, not at the timeout
    assert info.value.reason == "boom"
    t.join()


def test_a_call_left_open_by_continue_fails_when_handle_continue_crashes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[Any] = []
    error = RuntimeError("continue crashed")
    pid = Scripted.start(log, {"call": lambda *_: Continue("go"), "continue": raise_(error)})
    t0 = time.monotonic()
    with pytest.raises(ExitError) as info:
        gen_server.call(pid, "q", timeout=10.0)
    assert time.monotonic() - t0 < 5.0
    assert info.value.reason is error and info.value.__cause__ is error
    assert pid.join(2.0) is error


# -- Stop ------------------------------------------------------------------------------


def test_stop_with_reply_replies_then_stops() -> None:
    log: list[Any] = []
    pid = Scripted.start(log, {"call": raise_(Stop("normal", reply="bye"))})
    assert gen_server.call(pid, "quit") == "bye"
    assert pid.join(2.0) == "normal"
    assert terminated(log) == ["normal"]


def test_stop_without_reply_fails_the_caller_with_exit_error() -> None:
    log: list[Any] = []
    pid = Scripted.start(log, {"call": raise_(Stop("shutdown"))})
    with pytest.raises(ExitError) as info:
        gen_server.call(pid, "quit")
    assert info.value.reason == "shutdown"
    assert pid.join(2.0) == "shutdown"
    assert terminated(log) == ["shutdown"]


@pytest.mark.parametrize("callback", ["cast", "info", "continue"])
def test_stop_from_other_callbacks(callback: str) -> None:
    log: list[Any] = []
    script: Script = {callback: raise_(Stop(("shutdown", callback)))}
    if callback == "continue":
        script["cast"] = lambda *_: Continue("c")
    pid = Scripted.start(log, script)
    if callback == "info":
        process.send(pid, "m")
    else:
        gen_server.cast(pid, "m")
    assert pid.join(2.0) == ("shutdown", callback)
    assert terminated(log) == [("shutdown", callback)]


# -- crashes and crash reports -----------------------------------------------------------


@pytest.mark.parametrize("callback", ["call", "cast", "info", "continue", "terminate"])
def test_a_crash_in_a_callback(callback: str, caplog: pytest.LogCaptureFixture) -> None:
    log: list[Any] = []
    error = RuntimeError(f"crash in {callback}")
    script: Script = {callback: raise_(error)}
    if callback == "continue":
        script["cast"] = lambda *_: Continue("go on")
    pid = Scripted.start(log, script)

    if callback == "call":
        with pytest.raises(ExitError) as info:
            gen_server.call(pid, "request-xyz")
        assert info.value.reason is error
        assert info.value.__cause__ is error
    elif callback == "cast" or callback == "continue":
        gen_server.cast(pid, "request-xyz")
    elif callback == "info":
        process.send(pid, "request-xyz")
    else:  # terminate: crash while stopping
        with pytest.raises(ExitError) as stop_info:
            gen_server.stop(pid, "shutdown")
        assert stop_info.value.reason is error

    assert pid.join(2.0) is error
    if callback == "terminate":
        assert terminated(log) == ["shutdown"]
    else:
        assert terminated(log) == [error]  # terminate runs on a crash
    reports = crash_reports(caplog)
    assert len(reports) == 1, [r.getMessage() for r in reports]
    report = reports[0]
    assert report.levelno == logging.ERROR
    assert report.exc_info is not None and report.exc_info[1] is error  # the traceback
    assert report.exc_info[2] is not None
    text = report.getMessage()
    assert repr(pid) in text
    assert "crash in" in text
    if callback in ("call", "cast", "info"):
        assert "request-xyz" in text  # the last message


def test_a_crash_in_terminate_after_a_crash_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[Any] = []
    first, second = RuntimeError("first"), RuntimeError("second")
    pid = Scripted.start(log, {"cast": raise_(first), "terminate": raise_(second)})
    gen_server.cast(pid, "crash")
    assert pid.join(2.0) in (first, second)
    assert terminated(log) == [first]
    assert len(crash_reports(caplog)) == 1


def test_a_crash_in_init_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    log: list[Any] = []
    error = KeyError("crash in init")
    with pytest.raises(StartError):
        Scripted.start(log, {"init": raise_(error)})
    init_pid(log).join(2.0)
    reports = crash_reports(caplog)
    assert len(reports) == 1
    assert reports[0].exc_info is not None and reports[0].exc_info[1] is error


@pytest.mark.parametrize("reason", ["normal", "shutdown", ("shutdown", "why")])
def test_clean_exits_are_not_reported(reason: Any, caplog: pytest.LogCaptureFixture) -> None:
    log: list[Any] = []
    pid = Scripted.start(log, {"cast": raise_(Stop(reason))})
    gen_server.cast(pid, "stop")
    assert pid.join(2.0) == reason
    pid = Scripted.start(log)
    gen_server.stop(pid, reason)
    pid = Scripted.start(log, {"call": raise_(Stop(reason, reply="ok"))})
    assert gen_server.call(pid, "stop") == "ok"
    pid.join(2.0)
    assert crash_reports(caplog) == []
    assert terminated(log) == [reason] * 3


@pytest.mark.parametrize("how", ["Stop", "gen_server.stop"])
def test_an_abnormal_stop_is_reported_once(how: str, caplog: pytest.LogCaptureFixture) -> None:
    log: list[Any] = []
    pid = Scripted.start(log, {"cast": raise_(Stop(("bad", 1)))})
    if how == "Stop":
        gen_server.cast(pid, "stop")
    else:
        gen_server.stop(pid, ("bad", 1))
    assert pid.join(2.0) == ("bad", 1)
    reports = crash_reports(caplog)
    assert len(reports) == 1
    assert "bad" in reports[0].getMessage()


# -- terminate -------------------------------------------------------------------------


def test_terminate_has_run_when_stop_returns() -> None:
    log: list[Any] = []
    gate = threading.Event()
    threading.Timer(0.05, gate.set).start()
    pid = Scripted.start(log, {"terminate": lambda *_: gate.wait()})
    gen_server.stop(pid, "shutdown")
    assert terminated(log) == ["shutdown"]
    assert gate.is_set()  # stop waited for the whole terminate
    assert not pid.is_alive()
    assert pid.join(0) == "shutdown"


def trapping(log: list[Any]) -> Any:
    def init(self: Scripted, _: Any) -> None:
        process.trap_exits(True)

    return init


@pytest.mark.parametrize("reason", ["shutdown", ("shutdown", 1), "normal", "boom"])
def test_terminate_runs_when_trapping_and_the_parent_sends_an_exit_signal(
    probes: Callable[..., ProbeHandle], reason: Any, caplog: pytest.LogCaptureFixture
) -> None:
    parent_ = probes(trap=True)
    log: list[Any] = []
    pid = parent_.run(lambda: Scripted.start_link(log, {"init": trapping(log)}))
    parent_.run(lambda: process.exit(pid, reason))
    assert pid.join(2.0) == reason
    assert terminated(log) == [reason]
    assert parent_.next() == Exit(pid, reason)


def test_terminate_runs_when_trapping_and_the_parent_dies(
    probes: Callable[..., ProbeHandle],
) -> None:
    parent_ = probes()
    log: list[Any] = []
    pid = parent_.run(lambda: Scripted.start_link(log, {"init": trapping(log)}))
    process.exit(parent_.pid, "shutdown")
    assert pid.join(2.0) == "shutdown"
    assert terminated(log) == ["shutdown"]


def test_a_trapping_server_gets_other_exit_signals_as_messages(
    probes: Callable[..., ProbeHandle],
) -> None:
    parent_ = probes()
    other = probes()
    log: list[Any] = []
    pid = parent_.run(lambda: Scripted.start_link(log, {"init": trapping(log)}))
    other.run(lambda: process.exit(pid, "from a stranger"))
    process.exit(pid, "from a thread")
    assert gen_server.call(pid, "q") == "q"
    assert callbacks(log) == [
        ("info", Exit(other.pid, "from a stranger")),
        ("info", Exit(None, "from a thread")),
        ("call", "q"),
    ]
    gen_server.stop(pid)


@pytest.mark.parametrize("trap", [False, True])
def test_terminate_does_not_run_on_kill(trap: bool) -> None:
    log: list[Any] = []
    pid = Scripted.start(log, {"init": trapping(log)} if trap else {})
    process.exit(pid, "kill")
    assert pid.join(2.0) == "killed"
    assert terminated(log) == []


def _top_line(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident or 0)
    return "" if frame is None else linecache.getline(frame.f_code.co_filename, frame.f_lineno)


def test_terminate_does_not_run_on_kill_even_if_the_callback_raises_while_unwinding() -> None:
    log: list[Any] = []
    lock = threading.Lock()
    lock.acquire()
    threads: list[threading.Thread] = []

    def cast(self: Scripted, _: Any) -> None:
        threads.append(threading.current_thread())
        try:
            lock.acquire()  # killed here ...
        finally:
            raise RuntimeError("cleanup failed")  # ... and the kill turns into this

    pid = Scripted.start(log, {"init": trapping(log), "cast": cast})
    try:
        gen_server.cast(pid, "block")
        assert wait_for(lambda: threads and "lock.acquire()" in _top_line(threads[0]))
        process.exit(pid, "kill")
    finally:
        lock.release()
    threads[0].join(2.0)
    assert not threads[0].is_alive()
    assert pid.join(0) == "killed"
    assert terminated(log) == []


@pytest.mark.parametrize("reason", ["shutdown", "boom"])
def test_terminate_does_not_run_for_a_non_trapping_server_taken_down(
    probes: Callable[..., ProbeHandle], reason: str
) -> None:
    parent_ = probes(trap=True)
    log: list[Any] = []
    pid = parent_.run(lambda: Scripted.start_link(log))
    parent_.run(lambda: process.exit(pid, reason))  # even from its parent
    assert pid.join(2.0) == reason
    assert terminated(log) == []
    log2: list[Any] = []
    pid2 = parent_.run(lambda: Scripted.start_link(log2))
    process.exit(parent_.pid, "kill")  # through the link
    assert pid2.join(2.0) == "killed"
    assert terminated(log2) == []


def test_a_trapping_server_linked_to_a_stranger_does_not_terminate_on_its_death(
    probes: Callable[..., ProbeHandle],
) -> None:
    stranger = probes()
    log: list[Any] = []
    pid = Scripted.start(log, {"init": trapping(log)})
    stranger.run(lambda: process.link(pid))
    process.exit(stranger.pid, "boom")
    assert gen_server.call(pid, "q") == "q"
    assert callbacks(log) == [("info", Exit(stranger.pid, "boom")), ("call", "q")]
    gen_server.stop(pid)


# -- call ------------------------------------------------------------------------------


class Slow(GenServer):
    """Answers ``("slow", x)`` only once ``go`` is set, then sets ``replied``."""

    def init(self, go: threading.Event, replied: threading.Event) -> None:
        self.go = go
        self.replied = replied

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        if request[0] == "slow":
            self.go.wait()
            gen_server.reply(from_, ("late answer", request[1]))
            self.replied.set()
            return NoReply
        return ("answer", request[1])


@pytest.mark.parametrize("caller", ["thread", "process"])
def test_a_late_reply_never_reaches_a_later_call(
    probes: Callable[..., ProbeHandle], caller: str
) -> None:
    go, replied = threading.Event(), threading.Event()
    pid = Slow.start(go, replied)

    def scenario() -> list[Any]:
        with pytest.raises(CallTimeout) as info:
            gen_server.call(pid, ("slow", 1), timeout=0.05)
        assert isinstance(info.value, TimeoutError)
        assert isinstance(info.value, ProcessError)
        go.set()
        assert replied.wait(2.0)  # the late reply has been sent
        return [gen_server.call(pid, ("fast", n)) for n in (2, 3)]

    try:
        answers = scenario() if caller == "thread" else probes().run(scenario)
    finally:
        go.set()
    assert answers == [("answer", 2), ("answer", 3)]
    gen_server.stop(pid)


def test_call_raises_no_process_for_dead_or_unknown_servers() -> None:
    pid = NamedServer.start(name="soon-gone")
    gen_server.stop(pid)
    with pytest.raises(NoProcess):
        gen_server.call(pid, "x")
    with pytest.raises(NoProcess):
        gen_server.call("soon-gone", "x")
    with pytest.raises(NoProcess):
        gen_server.call("never-registered", "x")


def test_call_to_itself_raises_process_error(probes: Callable[..., ProbeHandle]) -> None:
    probe = probes()
    with pytest.raises(ProcessError) as info:
        probe.run(lambda: gen_server.call(probe.pid, lambda: 1, timeout=1.0))
    assert not isinstance(info.value, (CallTimeout, NoProcess, ExitError))
    process.register("me", probe.pid)
    with pytest.raises(ProcessError) as info:
        probe.run(lambda: gen_server.call("me", lambda: 1, timeout=1.0))
    assert not isinstance(info.value, (CallTimeout, NoProcess, ExitError))
    assert probe.pid.is_alive()


def test_call_raises_exit_error_when_the_server_is_killed_mid_call() -> None:
    lock = threading.Lock()
    lock.acquire()
    log: list[Any] = []
    pid = Scripted.start(log, {"call": lambda *_: lock.acquire()})

    def kill_once_called() -> None:
        assert wait_for(lambda: ("call", "q") in log)
        process.exit(pid, "kill")

    killer = threading.Thread(target=kill_once_called)
    try:
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(ExitError) as info:
            gen_server.call(pid, "q", timeout=10.0)
        assert time.monotonic() - t0 < 5.0  # woke at the death, not at the timeout
        assert info.value.reason == "killed"
        assert info.value.__cause__ is None
    finally:
        killer.join()
        lock.release()


def test_call_raises_exit_error_when_the_server_dies_before_reaching_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[Any] = []
    gate = threading.Event()
    error = RuntimeError("crash while the call waits in the mailbox")

    def cast(self: Scripted, _: Any) -> None:
        gate.wait()
        raise error

    pid = Scripted.start(log, {"cast": cast})
    gen_server.cast(pid, "crash")
    threading.Timer(0.05, gate.set).start()
    with pytest.raises(ExitError) as info:
        gen_server.call(pid, "queued", timeout=5.0)
    assert info.value.reason is error and info.value.__cause__ is error
    assert ("call", "queued") not in log


def test_call_raises_exit_error_when_the_server_stops_normally_without_reply() -> None:
    log: list[Any] = []
    pid = Scripted.start(log, {"call": raise_(Stop("normal"))})
    with pytest.raises(ExitError) as info:
        gen_server.call(pid, "q")
    assert info.value.reason == "normal"
    pid.join(2.0)


def test_call_with_timeout_none_waits() -> None:
    go, replied = threading.Event(), threading.Event()
    pid = Slow.start(go, replied)
    threading.Timer(0.05, go.set).start()
    assert gen_server.call(pid, ("slow", 1), timeout=None) == ("late answer", 1)
    gen_server.stop(pid)


# -- cast ------------------------------------------------------------------------------


def test_cast_never_raises_for_dead_or_unknown_servers() -> None:
    pid = NamedServer.start()
    gen_server.stop(pid)
    gen_server.cast(pid, "x")
    gen_server.cast("never-registered", "x")


# -- stop ------------------------------------------------------------------------------


def test_stop_by_name_with_a_reason() -> None:
    log: list[Any] = []
    pid = Scripted.start(log, name="to-stop")
    gen_server.stop("to-stop", ("shutdown", "bye"))
    assert not pid.is_alive()
    assert pid.join(0) == ("shutdown", "bye")
    assert terminated(log) == [("shutdown", "bye")]
    assert process.whereis("to-stop") is None


def test_stop_raises_no_process_when_not_alive() -> None:
    pid = NamedServer.start()
    gen_server.stop(pid)
    with pytest.raises(NoProcess):
        gen_server.stop(pid)
    with pytest.raises(NoProcess):
        gen_server.stop("never-registered")


def test_stop_timeout_kills_the_server() -> None:
    log: list[Any] = []
    gate = threading.Event()
    pid = Scripted.start(log, {"terminate": lambda *_: gate.wait()})
    try:
        with pytest.raises(CallTimeout):
            gen_server.stop(pid, timeout=0.1)
        assert not pid.is_alive()
        assert pid.join(0) == "killed"
    finally:
        gate.set()


def test_stop_waits_for_the_current_message_to_finish() -> None:
    log: list[Any] = []
    gate = threading.Event()
    pid = Scripted.start(log, {"cast": lambda *_: gate.wait()})
    gen_server.cast(pid, "busy")
    assert wait_for(lambda: ("cast", "busy") in log)
    threading.Timer(0.05, gate.set).start()
    gen_server.stop(pid)
    assert callbacks(log) == [("cast", "busy"), ("terminate", "normal")]
