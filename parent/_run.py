"""parent.run: the application entry. Start a tree, stop it cleanly on Ctrl-C or SIGTERM.

`run` starts a top supervisor and blocks the main thread until a signal comes or the
supervisor dies. Python runs signal handlers in the main thread only, between
bytecodes; the handler raises a private exception (`_Shutdown`, `_KillNow`) that
unwinds the main thread's wait, and the main thread then acts on it.

The wait is a ``select`` on a socket pair that is also the interpreter's wake-up fd
(``signal.set_wakeup_fd``), and that the helper thread writes to when the start is done
and when the supervisor dies. A signal often reaches another thread than the main one
(the OS picks any thread that does not block it; CPython's C-level handler then only
flags it for the main thread): a main thread blocked in a lock's ``acquire`` would not
run the Python handler until that lock came free, and a first Ctrl-C would look lost.
The wake-up fd wakes it wherever the signal landed (on Windows too, where a lock's wait
cannot be interrupted at all). No polling: the main thread sleeps until a byte comes.

The handler never does anything itself beyond raising or recording: it may run at any
bytecode of the main thread, and the runtime's lock is not reentrant. It raises only
where the main thread waits on the socket (or joins a dead supervisor); while the main
thread changes runtime state (posting the stop request, killing) a signal is only
recorded, and acted on as soon as that step is done. The runtime's own code never runs
in the main thread while a signal may raise: the supervisor is started by the helper
thread.

Phases (``_Run.phase``) and what a signal does in each:

==============  =============================================  =========================
phase           the main thread                                a signal
==============  =============================================  =========================
``launching``   starts the helper thread                       first: recorded; a second
                                                               SIGINT: kill, after this
``starting``    waits for the helper thread to start the       first: recorded, acted on
                supervisor                                     once started; a second
                                                               SIGINT: raise `_KillNow`
``running``     waits for the supervisor's death               raise `_Shutdown`
``requesting``  logs the signal, posts the stop request        SIGINT: kill, after this
``stopping``    waits for the supervisor's death               SIGINT: raise `_KillNow`
``killing``     kills the tree                                 nothing
``done``        restores the previous handlers                 nothing
==============  =============================================  =========================

A SIGTERM after the first signal changes nothing, in any phase: whoever sends SIGTERM
(systemd, docker, Kubernetes, a process supervisor) waits its own grace period and then
sends SIGKILL, and a wrapper that forwards signals may deliver the same SIGTERM twice.
Erlang treats a repeated SIGTERM the same way (``init:stop/0`` again, which changes
nothing once the node is stopping), and so does uvicorn. A second Ctrl-C is a person
asking for "now".
"""

from __future__ import annotations

import contextlib
import logging
import select
import signal
import socket
import threading
from collections.abc import Callable, Hashable, Sequence
from types import FrameType
from typing import Any

from compat._types import ChildSpecLike, Strategy
from parent import process, supervisor
from parent._info import parent_of
from parent._runtime import number
from parent.errors import AlreadyStarted, NotFound
from parent.process import Pid
from parent.supervisor import Supervisor

__all__ = ["run"]

logger = logging.getLogger("parent")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Shutdown(BaseException):
    """Raised by the handler in the main thread: the first signal, shut down in order."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _KillNow(BaseException):
    """Raised by the handler in the main thread: a second SIGINT, kill the tree."""


class _StartingName:
    """The name the supervisor is registered under while it starts, when the caller gave
    none: a second Ctrl-C during the start finds it with ``whereis`` (``start_link``
    only returns the pid once every child has started)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<parent.run: starting>"


def _signame(signum: int) -> str:
    return signal.Signals(signum).name


def _check_caller() -> None:
    thread = threading.current_thread()
    if thread is not threading.main_thread():
        me = process.current()
        who = f"process {me!r} (thread {thread.name!r})" if me else f"thread {thread.name!r}"
        raise ValueError(
            f"parent.run must be called from the main thread, where Python handles "
            f"signals; it was called from {who}"
        )
    me = process.current()
    if me is not None:
        raise ValueError(f"parent.run cannot be called from a process ({me!r})")


def _check_name(name: Hashable) -> None:
    """The name errors ``start_link`` would raise, raised before any handler changes."""
    if name is None:
        return
    if type(name) is Pid:
        raise ValueError(f"{name!r} cannot be used as a process name")
    taken = process.whereis(name)  # TypeError for a name that is not hashable
    if taken is not None:  # (so that a kill during the start finds ours by this name)
        raise AlreadyStarted(taken, f"the name {name!r} is already registered to {taken!r}")


def descendants(roots: set[Pid]) -> list[Pid]:
    """Every live process whose chain of parents leads to one of ``roots`` (roots
    excluded), in the order a kill should take them: each process's children before the
    process (the last started first), so that a parent is dead before it can see its
    children die (a supervisor would restart them) and no child sees its parent die
    (a trapping child would wake, run ``terminate`` and log a crash: with a registry of
    100,000 hibernating workers, parents first took 16 s and wrote 43,000 crash
    reports; children first takes 1.1 s and writes none).

    Reads each process's parent with `parent._info.parent_of` (written once, when it is
    spawned), not through `parent.process.info`, which also reads every running
    thread's stack: a kill must stay quick with a million workers live. Dead processes
    in a chain count as links of it (a process whose parent was just killed may still
    be running its ``terminate``)."""
    inside: dict[Pid, bool] = dict.fromkeys(roots, True)
    children: dict[Pid, list[Pid]] = {}
    for pid in process.list():
        chain: list[Pid] = []
        p: Pid | None = pid
        while p is not None and p not in inside:
            chain.append(p)
            p = parent_of(p)
        verdict = p is not None and inside[p]
        for q in chain:
            inside[q] = verdict
            if verdict:
                children.setdefault(parent_of(q), []).append(q)  # type: ignore[arg-type]
    order: list[Pid] = []
    walked: set[Pid] = set()  # a root under another root is walked once
    for root in roots:  # an iterative post-order walk: no recursion limit to reach
        stack: list[tuple[Pid, bool]] = [(root, False)]
        while stack:
            p, expanded = stack.pop()
            if expanded:
                if p not in roots and p.is_alive():
                    order.append(p)
                continue
            if p in walked:
                continue
            walked.add(p)
            stack.append((p, True))
            # pushed oldest first, so the last started is walked (and killed) first
            stack.extend((c, False) for c in sorted(children.get(p, ()), key=number))
    return order


def kill_tree(root: Pid) -> None:
    """Kill every live process under ``root``, children before their parents, then
    ``root``; then whatever a dying process managed to start meanwhile."""
    members = {root}
    for p in descendants(members):
        process.exit(p, "kill")
    process.exit(root, "kill")
    for _ in range(100):  # each pass finds only what the previous one's victims started
        found = descendants(members)
        if not found:
            return
        for p in found:
            process.exit(p, "kill")
        members.update(found)


class _Run:
    """One `run`: its phase, the signal handler, the main thread's steps, and the
    helper thread that starts the supervisor and reports its death."""

    def __init__(self, flags: supervisor.SupervisorInit, name: Hashable) -> None:
        self.flags = flags
        self.name: Hashable = _StartingName() if name is None else name
        self.private_name = name is None
        self.phase = "launching"
        self.pending: int | None = None  # a first signal that came while starting
        self.kill_pending = False  # a SIGINT that came while it could not raise
        # written by the helper thread before it wakes the main thread
        self.start_done = False
        self.sup: Pid | None = None
        self.start_error: BaseException | None = None
        # the main thread sleeps on _wake_r; _wake_w is the interpreter's wake-up fd
        # while run runs, and the helper writes a byte to it after each of its steps
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.helper = threading.Thread(target=self.help, name="parent.run", daemon=True)

    def close(self) -> None:
        self.wake_r.close()
        self.wake_w.close()

    # -- the handler (runs in the main thread, between any two bytecodes) --------------

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        phase = self.phase
        if phase == "running":
            self.phase = "requesting"
            raise _Shutdown(signum)
        if phase in ("launching", "starting"):
            if self.pending is None:
                self.pending = signum  # acted on once the children have started
            elif signum == signal.SIGINT:
                if phase == "launching":
                    self.kill_pending = True
                    return
                self.phase = "killing"
                raise _KillNow
            return
        if signum != signal.SIGINT:
            return  # SIGTERM while stopping: the shutdown goes on (see the module doc)
        if phase == "requesting":
            self.kill_pending = True
        elif phase == "stopping":
            self.phase = "killing"
            raise _KillNow

    # -- the helper thread -------------------------------------------------------------

    def help(self) -> None:
        try:
            sup = Supervisor.start_link(self.flags, name=self.name, timeout=None)
        except BaseException as exc:
            self.start_error = exc
            self.start_done = True
            self.wake()
            return
        if self.private_name:
            with contextlib.suppress(NotFound):  # it died already, and its names with it
                process.unregister(self.name)
        self.sup = sup
        self.start_done = True
        self.wake()
        sup.join()
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # full: the main thread has bytes to read
            self.wake_w.send(b"\0")

    # -- the main thread ---------------------------------------------------------------

    def sleep_until(self, done: Callable[[], bool]) -> None:
        """Sleep until ``done()``; a signal, wherever it lands, wakes the main thread
        (the byte the interpreter writes to its wake-up fd), and its handler may raise
        here."""
        while not done():
            select.select([self.wake_r], [], [])
            with contextlib.suppress(BlockingIOError):
                self.wake_r.recv(4096)

    def wait_for_death(self, sup: Pid) -> Any:
        self.sleep_until(lambda: not sup.is_alive())
        return sup.join()

    def main(self) -> Any:
        try:
            try:
                sup = self.start()
                self.phase = "running"  # from here a signal raises _Shutdown
                if self.pending is not None:
                    self.phase = "requesting"
                    raise _Shutdown(self.pending)
                return self.wait_for_death(sup)  # the supervisor died on its own
            except _Shutdown as first:
                self.request_stop(_signame(first.signum), first.signum == signal.SIGINT)
                return self.wait_for_death(self.sup)  # type: ignore[arg-type]
        except _KillNow:
            return self.kill(warn=True)
        except BaseException as exc:
            self.clean_up_after(exc)
            raise
        finally:
            self.phase = "killing"
            if self.sup is not None and self.sup.is_alive():  # an exception on the way
                kill_tree(self.sup)
            self.phase = "done"
            if self.helper.ident is not None:
                self.helper.join()  # the supervisor is dead: the helper is ending

    def start(self) -> Pid:
        """Have the helper thread start the supervisor; the main thread only waits."""
        self.helper.start()  # (in "launching": a signal cannot raise in Thread.start)
        self.phase = "starting"
        if self.kill_pending:
            self.phase = "killing"
            raise _KillNow
        self.sleep_until(lambda: self.start_done)
        if self.start_error is not None:
            raise self.start_error
        assert self.sup is not None
        return self.sup

    def request_stop(self, why: str, by_ctrl_c: bool) -> None:
        """Ask the supervisor to stop as ``supervisor.stop`` does (its children stop
        in reverse start order, each within its shutdown), without waiting."""
        sup = self.sup
        assert sup is not None
        self.phase = "requesting"
        again = "Ctrl-C again" if by_ctrl_c else "Ctrl-C"
        logger.info("%s: stopping %r (%s to kill)", why, sup, again)
        if sup.is_alive():
            process._request_stop(sup, "shutdown")
        self.phase = "stopping"
        if self.kill_pending:
            self.phase = "killing"
            raise _KillNow

    def kill(self, warn: bool, raise_start_error: bool = True) -> Any:
        """Kill the supervisor and every live process under it (the second Ctrl-C),
        during the start too; returns its exit reason."""
        self.phase = "killing"
        sup = self.sup
        if sup is None:  # still starting: the supervisor is there under its name
            sup = process.whereis(self.name)
        if sup is not None:
            if warn:
                self.warn_kill(sup)
            kill_tree(sup)
        if self.helper.ident is not None:
            self.sleep_until(lambda: self.start_done)  # at once now: killed, failed or done
            if self.sup is not None and self.sup is not sup:
                if warn:
                    self.warn_kill(self.sup)
                kill_tree(self.sup)
                sup = self.sup
        if sup is None:  # the start failed before there was anything to kill
            if raise_start_error and self.start_error is not None:
                raise self.start_error
            return None
        return sup.join()

    def warn_kill(self, sup: Pid) -> None:
        under = len(descendants({sup}))
        logger.warning("SIGINT again: killing %r and the %d processes under it", sup, under)

    def clean_up_after(self, exc: BaseException) -> None:
        """An exception that is not one of ours reached `main` (a KeyboardInterrupt from
        someone else's handler, a failed start, a bug): a tree that is up stops in
        order as on a first signal (a Ctrl-C still kills it), a start is killed."""
        try:
            if self.phase == "starting":
                if self.start_error is not exc:
                    self.kill(warn=False, raise_start_error=False)
            elif self.phase in ("running", "requesting"):
                self.request_stop(type(exc).__name__, by_ctrl_c=False)
                self.wait_for_death(self.sup)  # type: ignore[arg-type]
            elif self.phase == "stopping":
                self.wait_for_death(self.sup)  # type: ignore[arg-type]
        except _KillNow:
            self.kill(warn=True)


def run(
    children: Sequence[ChildSpecLike],
    *,
    strategy: Strategy = "one_for_one",
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    name: Hashable = None,
) -> object:
    """Run an application: start a top supervisor of ``children`` and block until
    SIGINT (Ctrl-C) or SIGTERM, or until that supervisor dies; return its exit reason.

    The first signal stops the tree in order, as `parent.supervisor.stop` does: the
    children stop in reverse start order, each within its ``shutdown`` (then it is
    killed), and ``run`` returns ``"shutdown"``. A second Ctrl-C during that shutdown
    kills the supervisor and every process under it at once (``run`` returns
    ``"killed"``); a SIGTERM during it changes nothing (a process manager sends SIGKILL
    after its own grace period). If the supervisor dies on its own (more restarts than
    ``max_restarts`` in ``max_seconds``), ``run`` returns its reason. A signal while the
    children start is acted on once they have started; a second Ctrl-C kills the
    start. The previous SIGINT and SIGTERM handlers are restored before ``run``
    returns or raises, and nothing it started is left alive.

    The start waits for every child however long the children's own start timeouts
    allow (the supervisor itself has no start timeout here). One INFO line on the
    ``"parent"`` logger says which signal started the shutdown; a kill is logged as a
    WARNING. Nothing is printed to stdout.

    Args:
        children: child specs, as for `parent.supervisor.start_link`.
        strategy: the restart strategy of the top supervisor.
        max_restarts: restarts allowed within ``max_seconds`` before it gives up.
        max_seconds: the window ``max_restarts`` is counted in.
        name: a name to register the top supervisor under.

    Raises:
        ValueError: called from a thread other than the main thread (Python only
            handles signals there), or from a process; also a bad option or child
            spec (as `parent.supervisor.start_link`, with ``KeyError`` and
            ``TypeError``), raised before any handler changes.
        StartError: a child failed to start (the children already started are
            stopped).
        AlreadyStarted: ``name`` is taken.

    Example:
        ```python
        import sys
        import parent

        def main() -> int:
            reason = parent.run([Database.child_spec(url), WebServer])
            print("stopped:", reason)   # "shutdown" after Ctrl-C or SIGTERM
            return 0

        if __name__ == "__main__":
            sys.exit(main())
        ```
    """
    _check_caller()
    flags = supervisor.init(
        children, strategy=strategy, max_restarts=max_restarts, max_seconds=max_seconds
    )
    _check_name(name)
    state = _Run(flags, name)
    previous = [(sig, signal.getsignal(sig)) for sig in _SIGNALS]
    old_wakeup = None
    try:
        for sig, _old in previous:
            signal.signal(sig, state.on_signal)
        old_wakeup = signal.set_wakeup_fd(state.wake_w.fileno(), warn_on_full_buffer=False)
        return state.main()
    finally:
        state.phase = "done"
        if old_wakeup is not None:
            signal.set_wakeup_fd(old_wakeup)
        for sig, old in previous:
            # None: a handler not installed from Python; the default is all we can give
            signal.signal(sig, signal.SIG_DFL if old is None else old)
        state.close()
