"""parent.run: the application entry, its signals, and the programs built on it.

Two kinds of tests. In this process, `parent.run` runs in pytest's main thread and the
signals come from `signal.pthread_kill`, aimed at the main thread (or at another
thread, as the OS may do): the state machine, handlers restored, errors, and what a
signal does in each phase. In a subprocess (tests/run_apps/tree.py, the demo, the
guide's example), real signals from outside: the order and times of the shutdown, a
second Ctrl-C, exit codes and stderr. Every wait is on a condition (a line of output,
an event, a process's exit) with a deadline.
"""

from __future__ import annotations

import logging
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import parent
from compat import ChildSpec
from parent import GenServer, StartError, Stop, _run, process, supervisor

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "pthread_kill"), reason="POSIX signals (pthread_kill) needed"
)

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "tests" / "run_apps" / "tree.py"
MAIN = threading.main_thread().ident
SUPERVISOR = r"<Pid \d+ Supervisor>"


def to_main(sig: int = signal.SIGINT) -> None:
    """Deliver ``sig`` to the main thread, as a terminal's Ctrl-C usually is."""
    assert MAIN is not None
    signal.pthread_kill(MAIN, sig)


def to_this_thread(sig: int = signal.SIGINT) -> None:
    """Deliver ``sig`` to the calling thread: the OS may pick any thread that does not
    block it, and then only the main thread can run the Python handler."""
    signal.pthread_kill(threading.get_ident(), sig)


# -- in this process: a tree whose children log what they do -------------------------


class Child(GenServer):
    """Traps exits; logs ``("started", name)`` and ``("terminate", name, reason)``; runs
    ``on_init`` in init (before it logs) and ``on_terminate`` in terminate (after)."""

    def init(
        self,
        name: str,
        log: list[tuple[Any, ...]],
        on_init: Callable[[], None] | None = None,
        on_terminate: Callable[[], None] | None = None,
    ) -> None:
        process.trap_exits(True)
        self.name = name
        self.log = log
        self.on_terminate = on_terminate
        if on_init is not None:
            on_init()
        log.append(("started", name))

    def terminate(self, reason: Any) -> None:
        self.log.append(("terminate", self.name, reason))
        if self.on_terminate is not None:
            self.on_terminate()


def child(name: str, log: list[tuple[Any, ...]], **options: Any) -> ChildSpec:
    shutdown = options.pop("shutdown", 5.0)
    return {
        "id": name,
        "start": (
            Child.start_link,
            [name, log, options.get("on_init"), options.get("on_terminate")],
        ),
        "shutdown": shutdown,
    }


def in_order(*names: str) -> list[tuple[Any, ...]]:
    """The log of children ``names`` started in order, then stopped in reverse."""
    started = [("started", n) for n in names]
    stopped = [("terminate", n, "shutdown") for n in reversed(names)]
    return started + stopped


class Crasher(GenServer):
    def init(self) -> parent.Continue:
        return parent.Continue(None)

    def handle_continue(self, arg: Any) -> None:
        raise RuntimeError("boom")


@pytest.fixture
def handlers() -> Iterator[tuple[Callable[..., None], Callable[..., None]]]:
    """Install sentinel SIGINT and SIGTERM handlers (restored after the test), so that
    a test can check `parent.run` gives back exactly these."""

    def on_sigint(signum: int, frame: Any) -> None:
        raise AssertionError("the sentinel SIGINT handler ran")

    def on_sigterm(signum: int, frame: Any) -> None:
        raise AssertionError("the sentinel SIGTERM handler ran")

    old = signal.signal(signal.SIGINT, on_sigint), signal.signal(signal.SIGTERM, on_sigterm)
    yield on_sigint, on_sigterm
    signal.signal(signal.SIGINT, old[0])
    signal.signal(signal.SIGTERM, old[1])


def assert_restored(handlers: tuple[Callable[..., None], Callable[..., None]]) -> None:
    assert signal.getsignal(signal.SIGINT) is handlers[0]
    assert signal.getsignal(signal.SIGTERM) is handlers[1]
    assert signal.set_wakeup_fd(-1) == -1  # no wake-up fd left behind
    assert process.list() == []


class When:
    """Runs actions on a thread of its own once `parent.run`'s main thread waits for
    the running supervisor (observed by wrapping ``_Run.wait_for_death``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waiting = threading.Event()
        self.cancelled = False
        self.threads: list[threading.Thread] = []
        original = _run._Run.wait_for_death
        waiting = self.waiting

        def wait_for_death(self: _run._Run, sup: parent.Pid) -> Any:
            if self.phase == "running":
                waiting.set()
            return original(self, sup)

        monkeypatch.setattr(_run._Run, "wait_for_death", wait_for_death)

    def running(self, action: Callable[[], None]) -> None:
        def body() -> None:
            if self.waiting.wait(10.0) and not self.cancelled:
                action()

        thread = threading.Thread(target=body)
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.cancelled = True
        self.waiting.set()
        for thread in self.threads:
            thread.join(10.0)


@pytest.fixture
def when(monkeypatch: pytest.MonkeyPatch) -> Iterator[When]:
    w = When(monkeypatch)
    yield w
    w.close()


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> queue.SimpleQueue[int]:
    """Each signal `parent.run`'s handler is called for (put before it acts)."""
    calls: queue.SimpleQueue[int] = queue.SimpleQueue()
    original = _run._Run.on_signal

    def on_signal(self: _run._Run, signum: int, frame: Any) -> None:
        calls.put(signum)  # SimpleQueue.put is safe in a signal handler
        original(self, signum, frame)

    monkeypatch.setattr(_run._Run, "on_signal", on_signal)
    return calls


def stopping_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "parent" and r.levelno == logging.INFO and "stopping" in r.getMessage()
    ]


def test_first_sigint_stops_the_tree_in_reverse_order_and_returns_shutdown(
    handlers: Any, when: When, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="parent")
    log: list[tuple[Any, ...]] = []
    when.running(to_main)
    reason = parent.run([child("a", log), child("b", log), child("c", log)])
    assert reason == "shutdown"
    assert log == in_order("a", "b", "c")
    (line,) = stopping_lines(caplog)
    assert re.fullmatch(rf"SIGINT: stopping {SUPERVISOR} \(Ctrl-C again to kill\)", line)
    assert capsys.readouterr().out == ""  # nothing printed
    assert_restored(handlers)


def test_a_signal_that_lands_on_another_thread_still_stops_it(handlers: Any, when: When) -> None:
    # the main thread sleeps until a byte comes on the wake-up fd: the interpreter writes
    # one whichever thread the signal reached (a lock's acquire would not have woken)
    log: list[tuple[Any, ...]] = []
    when.running(to_this_thread)
    started = time.monotonic()
    assert parent.run([child("a", log), child("b", log)]) == "shutdown"
    assert time.monotonic() - started < 5.0
    assert log == in_order("a", "b")
    assert_restored(handlers)


def test_sigterm_stops_like_a_first_sigint_and_a_second_sigterm_changes_nothing(
    handlers: Any, when: When, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parent")
    log: list[tuple[Any, ...]] = []
    when.running(lambda: to_main(signal.SIGTERM))
    # b stops first; its terminate sends SIGTERM again, and a still stops in order after
    again = child("b", log, on_terminate=lambda: to_main(signal.SIGTERM))
    reason = parent.run([child("a", log), again])
    assert reason == "shutdown"
    assert log == in_order("a", "b")
    (line,) = stopping_lines(caplog)
    assert re.fullmatch(rf"SIGTERM: stopping {SUPERVISOR} \(Ctrl-C to kill\)", line)
    assert_restored(handlers)


def test_a_second_sigint_during_the_shutdown_kills_the_whole_tree(
    handlers: Any, when: When, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[tuple[Any, ...]] = []
    release = threading.Event()  # lets the killed terminate's thread unwind at the end

    def stuck() -> None:
        to_main(signal.SIGINT)  # the second one, while this terminate is not done
        release.wait(10.0)

    sub: ChildSpec = {
        "id": "sub",
        "start": (supervisor.start_link, [[child("deep", log)]]),
        "type": "supervisor",
    }
    when.running(to_main)
    started = time.monotonic()
    try:
        reason = parent.run([child("a", log), sub, child("slow", log, on_terminate=stuck)])
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert reason == "killed"
    assert elapsed < 5.0  # not the 10 s the stuck terminate would take
    # slow stopped first; nothing else was stopped in order after it (a child whose
    # parent was killed may get as far as beginning its terminate before it is killed)
    stops = [entry for entry in log if entry[0] == "terminate"]
    assert stops[0] == ("terminate", "slow", "shutdown")
    assert all(reason == "killed" for _t, _name, reason in stops[1:]), stops
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        re.fullmatch(rf"SIGINT again: killing {SUPERVISOR} and the 4 processes under it", w)
        for w in warnings
    ), warnings
    assert_restored(handlers)


def test_a_signal_during_the_start_stops_the_tree_once_it_is_up(handlers: Any) -> None:
    log: list[tuple[Any, ...]] = []
    # b's init runs while run still waits for the start: the signal is kept for later
    reason = parent.run([child("a", log), child("b", log, on_init=to_main), child("c", log)])
    assert reason == "shutdown"
    assert log == in_order("a", "b", "c")  # c still started, then all stopped
    assert_restored(handlers)


def test_a_second_sigint_during_the_start_kills_what_has_started(
    handlers: Any, handled: queue.SimpleQueue[int]
) -> None:
    log: list[tuple[Any, ...]] = []
    release = threading.Event()

    def hang() -> None:
        to_main(signal.SIGINT)
        assert handled.get(timeout=5.0) == signal.SIGINT  # the first was seen as first
        to_main(signal.SIGINT)
        release.wait(10.0)  # a start that would not end by itself

    started = time.monotonic()
    try:
        reason = parent.run([child("a", log), child("b", log, on_init=hang), child("c", log)])
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert reason == "killed"
    assert elapsed < 5.0
    assert log[0] == ("started", "a")
    assert log[1:] in ([], [("terminate", "a", "killed")])  # killed; c never started
    assert_restored(handlers)


def test_the_supervisor_giving_up_ends_run_with_its_reason(
    handlers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parent")
    reason = parent.run([Crasher], max_restarts=1, max_seconds=60.0)
    assert reason == "shutdown"  # what a supervisor exits with at its restart intensity
    assert stopping_lines(caplog) == []  # no signal was involved
    assert any("maximum restart intensity" in r.getMessage() for r in caplog.records)
    assert_restored(handlers)


def test_a_failed_start_raises_start_error_and_leaves_nothing(handlers: Any) -> None:
    log: list[tuple[Any, ...]] = []

    def fail() -> None:
        raise Stop("no database")

    with pytest.raises(StartError) as info:
        parent.run([child("a", log), child("b", log, on_init=fail), child("c", log)])
    assert info.value.reason == ("failed_to_start_child", "b", "no database")
    assert log == [("started", "a"), ("terminate", "a", "shutdown")]
    assert_restored(handlers)


def test_bad_arguments_raise_the_supervisors_errors_before_any_handler_changes(
    handlers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_signal(*args: Any) -> None:
        raise AssertionError("a handler was installed")

    monkeypatch.setattr(signal, "signal", no_signal)
    cases: list[tuple[list[Any], dict[str, Any]]] = [
        ([Crasher], {"strategy": "one_for_some"}),
        ([Crasher], {"max_restarts": -1}),
        ([Crasher], {"max_seconds": 0}),
        ([{"id": "x"}], {}),  # no start
        ([Crasher, Crasher], {}),  # the same id twice
    ]
    for children, options in cases:
        with pytest.raises(Exception) as expected:
            supervisor.start_link(children, **options)
        with pytest.raises(type(expected.value)) as got:
            parent.run(children, **options)
        assert str(got.value) == str(expected.value)
    with pytest.raises(TypeError):
        parent.run("not a list")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hashable"):
        parent.run([Crasher], name=["unhashable"])  # type: ignore[arg-type]
    holder = parent.Agent.start_link(lambda: 0, name="taken")
    with pytest.raises(ValueError, match="cannot be used as a process name"):
        parent.run([Crasher], name=holder)
    parent.gen_server.stop(holder)
    holder = parent.Agent.start_link(lambda: 0, name="taken")
    try:
        with pytest.raises(parent.AlreadyStarted):
            parent.run([Crasher], name="taken")
    finally:
        parent.gen_server.stop(holder)
    assert signal.getsignal(signal.SIGINT) is handlers[0]
    assert process.list() == []


def test_run_outside_the_main_thread_raises_value_error_naming_the_thread(
    handlers: Any,
) -> None:
    errors: list[BaseException] = []

    def body() -> None:
        try:
            parent.run([Crasher])
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=body, name="not-main")
    thread.start()
    thread.join(10.0)
    (error,) = errors
    assert isinstance(error, ValueError)
    assert "main thread" in str(error) and "'not-main'" in str(error)
    assert_restored(handlers)


def test_run_in_a_process_raises_value_error(handlers: Any) -> None:
    errors: queue.SimpleQueue[BaseException] = queue.SimpleQueue()

    def body() -> None:
        try:
            parent.run([Crasher])
        except BaseException as exc:
            errors.put(exc)

    pid = process.spawn(body)
    assert pid.join(10.0) == "normal"
    error = errors.get(timeout=1.0)
    assert isinstance(error, ValueError)
    assert repr(pid) in str(error)
    assert_restored(handlers)


@pytest.fixture
def foreign() -> Iterator[Callable[[], None]]:
    """Someone else's SIGUSR1 handler, which raises KeyboardInterrupt; the fixture
    gives a function that sends SIGUSR1 to the main thread."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGUSR1, interrupt)
    yield lambda: to_main(signal.SIGUSR1)
    signal.signal(signal.SIGUSR1, old)


def test_an_exception_from_elsewhere_stops_the_tree_in_order_and_propagates(
    handlers: Any, when: When, foreign: Callable[[], None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parent")
    log: list[tuple[Any, ...]] = []
    when.running(foreign)
    with pytest.raises(KeyboardInterrupt):
        parent.run([child("a", log), child("b", log)])
    assert log == in_order("a", "b")
    (line,) = stopping_lines(caplog)
    assert re.fullmatch(rf"KeyboardInterrupt: stopping {SUPERVISOR} \(Ctrl-C to kill\)", line)
    assert_restored(handlers)


def test_a_ctrl_c_still_kills_during_the_stop_an_exception_started(
    handlers: Any, when: When, foreign: Callable[[], None]
) -> None:
    log: list[tuple[Any, ...]] = []
    release = threading.Event()

    def stuck() -> None:
        to_main(signal.SIGINT)
        release.wait(10.0)

    when.running(foreign)
    try:
        with pytest.raises(KeyboardInterrupt):
            parent.run([child("a", log), child("b", log, on_terminate=stuck)])
    finally:
        release.set()
    assert log[:3] == [("started", "a"), ("started", "b"), ("terminate", "b", "shutdown")]
    assert_restored(handlers)


def test_an_exception_from_elsewhere_during_the_stop_lets_the_stop_finish(
    handlers: Any, when: When, foreign: Callable[[], None]
) -> None:
    log: list[tuple[Any, ...]] = []
    when.running(to_main)
    with pytest.raises(KeyboardInterrupt):
        parent.run([child("a", log), child("b", log, on_terminate=foreign)])
    assert log == in_order("a", "b")  # a still stopped in order after b
    assert_restored(handlers)


def test_an_exception_from_elsewhere_during_the_start_kills_the_start(
    handlers: Any, foreign: Callable[[], None]
) -> None:
    log: list[tuple[Any, ...]] = []
    release = threading.Event()

    def hang() -> None:
        foreign()
        release.wait(10.0)

    try:
        with pytest.raises(KeyboardInterrupt):
            parent.run([child("a", log), child("b", log, on_init=hang), child("c", log)])
    finally:
        release.set()
    assert log[0] == ("started", "a") and ("started", "c") not in log
    assert_restored(handlers)


def test_a_second_ctrl_c_while_the_stop_is_requested_kills_right_after(
    handlers: Any, when: When, caplog: pytest.LogCaptureFixture
) -> None:
    # the INFO line is logged while the stop request is being posted ("requesting"): a
    # SIGINT then cannot raise there, it is kept and kills as soon as the request is out
    log: list[tuple[Any, ...]] = []
    release = threading.Event()

    class SecondCtrlC(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "stopping" in record.getMessage():
                to_main(signal.SIGINT)  # main's own thread: the handler runs right here

    handler = SecondCtrlC()
    logging.getLogger("parent").addHandler(handler)
    caplog.set_level(logging.INFO, logger="parent")
    when.running(to_main)
    try:
        reason = parent.run([child("a", log, on_terminate=lambda: release.wait(10.0))])
    finally:
        logging.getLogger("parent").removeHandler(handler)
        release.set()
    assert reason == "killed"
    assert_restored(handlers)


class Spawner(GenServer):
    """Spawns a linked plain process that traps exits and outlives it."""

    def init(self, spawned: queue.SimpleQueue[parent.Pid]) -> None:
        def stay() -> None:
            process.trap_exits(True)
            while process.receive() != "quit":
                pass  # an Exit from its dead parent is just a message here

        spawned.put(process.spawn(stay, link=True))


def test_a_kill_takes_children_before_parents_last_started_first() -> None:
    log: list[tuple[Any, ...]] = []
    spawned: queue.SimpleQueue[parent.Pid] = queue.SimpleQueue()
    sub: ChildSpec = {
        "id": "sub",
        "start": (supervisor.start_link, [[child("x", log), child("y", log)]]),
        "type": "supervisor",
    }
    spawner: ChildSpec = {
        "id": "spawner",
        "start": (Spawner.start_link, [spawned]),
        "restart": "temporary",
    }
    sup = supervisor.start_link([child("a", log), sub, spawner, child("b", log)])
    try:
        ids = {cid: pid for cid, pid, _type, _modules in supervisor.which_children(sup)}
        inner = {cid: pid for cid, pid, _type, _modules in supervisor.which_children(ids["sub"])}
        orphan = spawned.get(timeout=5.0)
        assert _run.descendants({sup}) == [
            ids["b"],
            orphan,
            ids["spawner"],
            inner["y"],
            inner["x"],
            ids["sub"],
            ids["a"],
        ]
        process.exit(ids["spawner"], "kill")  # its spawn stays, under a dead parent
        assert orphan in _run.descendants({sup})
    finally:
        _run.kill_tree(sup)
    assert process.list() == []


INT, TERM = signal.SIGINT, signal.SIGTERM


@pytest.mark.parametrize(
    ("phase", "pending", "signum", "raises", "after", "now_pending", "kill_pending"),
    [
        ("launching", None, INT, None, "launching", INT, False),
        ("launching", INT, INT, None, "launching", INT, True),
        ("launching", INT, TERM, None, "launching", INT, False),
        ("starting", None, TERM, None, "starting", TERM, False),
        ("starting", TERM, TERM, None, "starting", TERM, False),
        ("starting", TERM, INT, _run._KillNow, "killing", TERM, False),
        ("running", None, INT, _run._Shutdown, "requesting", None, False),
        ("running", None, TERM, _run._Shutdown, "requesting", None, False),
        ("requesting", None, INT, None, "requesting", None, True),
        ("requesting", None, TERM, None, "requesting", None, False),
        ("stopping", None, INT, _run._KillNow, "killing", None, False),
        ("stopping", None, TERM, None, "stopping", None, False),
        ("killing", None, INT, None, "killing", None, False),
        ("done", None, INT, None, "done", None, False),
    ],
)
def test_what_a_signal_does_in_each_phase(
    phase: str,
    pending: int | None,
    signum: int,
    raises: type[BaseException] | None,
    after: str,
    now_pending: int | None,
    kill_pending: bool,
) -> None:
    state = _run._Run(supervisor.init([]), None)
    try:
        state.phase = phase
        state.pending = pending
        if raises is None:
            state.on_signal(signum, None)
        else:
            with pytest.raises(raises):
                state.on_signal(signum, None)
        assert (state.phase, state.pending, state.kill_pending) == (
            after,
            now_pending,
            kill_pending,
        )
    finally:
        state.close()


# -- in a subprocess: real signals from outside ---------------------------------------


class App:
    """A program in its own interpreter, its stdout read line by line as it comes."""

    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.seen: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.err.extend(self.proc.stderr)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """The next line matching ``pattern`` (lines before it are kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
                timed_out = True
            else:
                timed_out = False
            if line is None:
                what = "timed out" if timed_out else "the output ended"
                pytest.fail(
                    f"{what} before a line matching {pattern!r}: {self.seen}\n{self.stderr}"
                )
            self.seen.append(line)
            found = re.match(pattern, line)
            if found is not None:
                return found

    def send(self, sig: int) -> float:
        self.proc.send_signal(sig)
        return time.monotonic()

    def exits(self, timeout: float = 15.0) -> tuple[int, float]:
        """Its exit code and the time it was seen to exit; the rest of its output is
        read into ``seen``."""
        code = self.proc.wait(timeout)
        ended = time.monotonic()
        self.close()
        while True:
            line = self.lines.get(timeout=5.0)
            if line is None:
                return code, ended
            self.seen.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def stamp(self, *words: str) -> float:
        """The time at the end of the line ``words...`` seen so far."""
        prefix = " ".join(words) + " "
        (line,) = [s for s in self.seen if s.startswith(prefix)]
        return float(line.rsplit(" ", 1)[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10.0)
        for reader in self.readers:
            reader.join(10.0)


@pytest.fixture
def app() -> Iterator[Callable[..., App]]:
    made: list[App] = []

    def start(*argv: str) -> App:
        made.append(App(*argv))
        return made[-1]

    yield start
    for a in made:
        a.close()


def assert_clean_stderr(a: App) -> None:
    assert "Traceback" not in a.stderr, a.stderr


def test_first_sigint_in_a_real_process_stops_in_order_within_shutdown_times(
    app: Callable[..., App],
) -> None:
    a = app(str(TREE), "order")
    a.expect("started c ")
    sent = a.send(signal.SIGINT)
    code, _ = a.exits()
    assert code == 0, a.stderr
    begun = [s.split()[1] for s in a.seen if s.startswith("terminate ") and " begin " in s]
    assert begun == ["c", "b", "a"]  # reverse start order
    ended = [s.split()[1] for s in a.seen if s.startswith("terminate ") and " end " in s]
    assert ended == ["c", "a"]  # b hung past its shutdown: killed, it never ended
    c_end, b_begin = a.stamp("terminate", "c", "end"), a.stamp("terminate", "b", "begin")
    a_begin, a_end = a.stamp("terminate", "a", "begin"), a.stamp("terminate", "a", "end")
    # b got its exit signal after c had ended, and all of its 0.3 s before it was killed
    # and a got its signal; killed after its shutdown, not after its 30 s
    assert a_begin - c_end >= 0.3 - 0.005
    assert a_begin - b_begin < 0.3 + 1.0
    assert a_end - a_begin >= 0.5 - 0.005  # a's terminate had the 0.5 s it took of its 2.0
    assert a.stamp("returned", "shutdown") - sent < 5.0
    assert a.stamp("alive", "0") >= a.stamp("returned", "shutdown")
    assert_clean_stderr(a)
    assert re.findall(r"^INFO parent (.*)$", a.stderr, re.MULTILINE) == [
        "SIGINT: stopping <Pid 1 Supervisor> (Ctrl-C again to kill)"
    ]


def test_a_second_sigint_in_a_real_process_ends_it_at_once(app: Callable[..., App]) -> None:
    a = app(str(TREE), "second")
    a.expect("started hang ")
    a.send(signal.SIGINT)
    a.expect("terminate hang begin ")  # its terminate would take 30 s
    sent = a.send(signal.SIGINT)
    code, ended = a.exits()
    assert code == 0, a.stderr
    assert ended - sent < 1.0
    assert a.stamp("returned", "killed") - sent < 1.0
    assert "alive 0" in " ".join(a.seen)
    assert not any(s.startswith("terminate hang end") for s in a.seen)
    assert not any(s.startswith("terminate deep end") for s in a.seen)  # killed
    assert_clean_stderr(a)
    assert "WARNING parent SIGINT again: killing <Pid 1 Supervisor> and the 4 processes" in (
        a.stderr
    )


def test_sigterm_in_a_real_process_stops_in_order_and_a_second_one_changes_nothing(
    app: Callable[..., App],
) -> None:
    a = app(str(TREE), "order")
    a.expect("started c ")
    a.send(signal.SIGTERM)
    a.expect("terminate b begin ")
    a.send(signal.SIGTERM)  # while b hangs: the shutdown goes on as it was
    code, _ = a.exits()
    assert code == 0, a.stderr
    ended = [s.split()[1] for s in a.seen if s.startswith("terminate ") and " end " in s]
    assert ended == ["c", "a"]
    assert "returned shutdown" in " ".join(a.seen)
    assert_clean_stderr(a)
    assert "INFO parent SIGTERM: stopping <Pid 1 Supervisor> (Ctrl-C to kill)" in a.stderr


def test_a_second_sigint_during_a_real_start_kills_it(app: Callable[..., App]) -> None:
    a = app(str(TREE), "hang-start")
    a.expect("init hang begin ")  # its init would take 30 s
    a.send(signal.SIGINT)
    with pytest.raises(subprocess.TimeoutExpired):  # kept until the start is done
        a.proc.wait(0.2)
    sent = a.send(signal.SIGINT)
    code, ended = a.exits()
    assert code == 0, a.stderr
    assert ended - sent < 1.0
    assert "returned killed" in " ".join(a.seen)
    assert_clean_stderr(a)


# -- the demo and the guide's example -------------------------------------------------


def test_denylist_demo_stops_cleanly_on_ctrl_c_during_its_run(app: Callable[..., App]) -> None:
    a = app("examples/denylist.py", "--calls", "10000000")  # far longer than the test
    a.expect(r"placing 10,000,000 calls")
    sent = a.send(signal.SIGINT)
    code, ended = a.exits()
    assert code == 0, a.stderr
    assert ended - sent < 10.0
    out = "\n".join(a.seen)
    assert re.search(r"^stopped \(shutdown\) after \d+ calls$", out, re.MULTILINE), out
    # a Ctrl-C is an orderly stop: every live worker saved its rules
    assert re.search(r"^denials made: +\d+, all kept across passivations$", out, re.MULTILINE)
    assert_clean_stderr(a)
    assert a.stderr == ""


def test_denylist_demo_observe_serves_the_page_until_ctrl_c(app: Callable[..., App]) -> None:
    a = app("examples/denylist.py", "--observe", "--quick")
    url = a.expect(r"observer: (http://127\.0\.0\.1:\d+/)$").group(1)
    a.expect(r"placing 4,000 calls \(over and over\)")
    with urllib.request.urlopen(url, timeout=10.0) as page:
        assert page.status == 200
    with urllib.request.urlopen(url + "api/tree", timeout=10.0) as tree:
        assert b"Denylist" in tree.read()
    a.send(signal.SIGINT)
    code, _ = a.exits()
    assert code == 0, a.stderr
    out = "\n".join(a.seen)
    assert re.search(r"^stopped \(shutdown\) after \d+ calls$", out, re.MULTILINE), out
    assert re.search(r"all kept across passivations$", out, re.MULTILINE), out
    assert_clean_stderr(a)


def test_guide_run_example_serves_until_ctrl_c_then_stops_in_order(
    app: Callable[..., App],
) -> None:
    a = app("examples/guide_run.py", "--port", "0")
    url = a.expect(r"listening on (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)$").group(1)
    for path, body in [("", b"/: 1\n"), ("", b"/: 2\n"), ("about", b"/about: 1\n")]:
        with urllib.request.urlopen(url + path, timeout=10.0) as page:
            assert page.read() == body
    a.send(signal.SIGINT)
    code, _ = a.exits()
    assert code == 0, a.stderr
    assert a.seen[-4:] == [
        "web: stopping (shutdown)",
        "web: stopped",
        "hits: saving 3 hits on 2 paths (shutdown)",
        "stopped: shutdown",
    ]
    assert a.stderr == "INFO parent: SIGINT: stopping <Pid 1 Supervisor> (Ctrl-C again to kill)\n"
