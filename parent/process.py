"""The process runtime: pids, mailboxes, exit signals, links, monitors and names.

A process is one daemon thread with one mailbox (a ``queue.SimpleQueue``). Every item in
a mailbox is a 3-tuple ``(kind, payload, reply_slot)``; ``kind`` is one of the private
sentinels below, so a user's message can never be mistaken for system traffic.

Locks
-----
``_lock`` (one ``threading.Lock`` for the whole runtime) guards:

* the liveness transition of every process (``Pid._alive`` goes ``True -> False`` once,
  under the lock),
* links (``Pid._links``), monitors (``Pid._monitors``, ``Pid._monitoring``),
* the name table ``_names`` and each ``Pid._names``,
* the table of live processes ``_live``,
* ``Pid._finished`` and the injection of asynchronous exceptions (so a kill is never
  injected into a thread that has already left the runtime).

Reads need no lock: ``whereis`` is one ``dict.get``; ``is_alive`` one attribute read.
Mailboxes and reply slots are ``SimpleQueue`` objects, thread-safe on their own.

Death
-----
A process dies exactly once, in `_die`: under the lock it is marked dead, removed from
every table, and its links and monitors are taken; outside the lock, callers waiting on
it get `ExitError`, linked processes get the exit signal, monitors get `Down`, and only
then is ``join`` released. A kill (or a non-trapped exit signal) calls `_die` from the
killer's thread, so the victim counts as dead at once, whatever its thread is doing; its
thread is then interrupted at its next bytecode boundary, or abandoned while it is
blocked in C.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import logging
import sys
import threading
import time
import weakref
from _queue import SimpleQueue
from collections.abc import Callable, Hashable
from queue import Empty
from typing import Any, NamedTuple, TypeAlias

from parent.errors import NoProcess, NotFound, ProcessError

__all__ = [
    "Down",
    "Exit",
    "From",
    "Pid",
    "Ref",
    "Server",
    "current",
    "demonitor",
    "exit",
    "link",
    "monitor",
    "receive",
    "register",
    "registered",
    "send",
    "send_after",
    "cancel_timer",
    "spawn",
    "trap_exits",
    "unlink",
    "unregister",
    "whereis",
]

logger = logging.getLogger("parent")

# -- mailbox item kinds ------------------------------------------------------------------


# Small ints, compared with ``is`` (CPython caches them): a tuple of ints and user data
# drops out of the garbage collector's tracking, a tuple holding a sentinel instance
# would not, and a busy mailbox full of tracked tuples makes every collection slower.
_Kind = int
_INFO = 0  # (INFO, message, None): a plain message (send, Exit, Down)
_CALL = 1  # (CALL, request, From)
_CAST = 2  # (CAST, request, None)
_SYS = 3  # (SYS, request, From): supervisor queries and changes
_STOP = 4  # (STOP, reason, None): gen_server.stop
_WAKE = 5  # (WAKE, None, None): wakes a killed process blocked on its mailbox

_WAKE_ITEM = (_WAKE, None, None)


class _Killed(BaseException):
    """Injected into the thread of a process that was killed; never seen by users
    unless they catch ``BaseException``."""


class _Died:
    """Put in a reply slot when the callee died before it replied."""

    __slots__ = ("reason",)

    def __init__(self, reason: Any) -> None:
        self.reason = reason


class _KilledWhileWaiting:
    """Put in the reply slot of a caller that was killed while it waited."""

    __slots__ = ()


_KILLED_WHILE_WAITING = _KilledWhileWaiting()


class From(SimpleQueue):  # type: ignore[type-arg]
    """The opaque handle of a caller, given to ``handle_call`` as ``from_``.

    Pass it to `parent.gen_server.reply` to answer later (after returning
    `parent.NoReply`). A ``From`` answers once: the first reply wins, and a reply after
    the caller gave up is dropped.

    Example:
        ```python
        def handle_call(self, request, from_):
            self.waiting.append(from_)
            return parent.NoReply

        def handle_info(self, message):
            for from_ in self.waiting:
                gen_server.reply(from_, message)
        ```
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<From {id(self):#x}>"


# -- the runtime's shared state (all writes under _lock) ---------------------------------

_lock = threading.Lock()
_names: dict[Hashable, Pid] = {}
# the shared, immutable "no names" / "no monitors held" of a process: most processes
# never get either, so they share this instead of two empty sets of their own
_EMPTY: Any = frozenset()
_live: dict[int, Pid] = {}
_ids = itertools.count(1)


class _Local(threading.local):
    pid: Pid | None = None


_tls = _Local()

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.c_void_p)
_set_async_exc.restype = ctypes.c_int


# CPython 3.10's SimpleQueue.get(True, timeout) can block for ever: when its first,
# non-blocking try takes the queue's lock although the queue is empty (a fresh queue,
# or one whose last item was put with nobody waiting), it recomputes the time left,
# and if the thread was descheduled for longer than ``timeout`` meanwhile, the
# negative result means "wait forever" to the lock (fixed in 3.11). A failed
# get_nowait() first leaves the lock taken, so the timed get that follows waits on it
# for exactly ``timeout``.
_TIMED_GET_IS_SAFE = sys.version_info >= (3, 11)


def _timed_get(q: SimpleQueue[Any], timeout: float | None) -> Any:
    """``q.get(True, timeout)``, also safe on CPython 3.10 (raises ``queue.Empty``)."""
    if timeout is not None and not _TIMED_GET_IS_SAFE:
        try:
            return q.get_nowait()
        except Empty:
            pass
    return q.get(True, timeout)


class Pid:
    """The handle of a process: one thread with one mailbox.

    Hashable, equal only to itself. Obtain one from ``start_link``, `spawn` or
    `current`.

    Example:
        ```python
        pid = Worker.start_link()
        assert pid.is_alive()
        gen_server.stop(pid)
        assert pid.join(timeout=1.0) == "normal"
        ```
    """

    __slots__ = (
        "__weakref__",
        "_alive",
        "_armed",
        "_critical",
        "_cur",
        "_done",
        "_finished",
        "_hooks",
        "_id",
        "_ident",
        "_kill_deferred",
        "_label",
        "_latch",
        "_links",
        "_mbox",
        "_monitoring",
        "_monitors",
        "_names",
        "_parent",
        "_parked",
        "_pending",
        "_reason",
        "_server",
        "_trap",
        "_waiting",
    )

    def __init__(self, label: str) -> None:
        self._id = next(_ids)
        self._label = label
        self._mbox: SimpleQueue[tuple[_Kind, Any, Any]] = SimpleQueue()
        self._alive = True
        self._reason: Any = None
        # join() waits on an Event made on demand (most processes are never joined), set
        # once the death is complete (_done: links and monitors notified). An Event, not
        # a Lock handed from joiner to joiner: a joiner killed right after its acquire
        # would keep such a lock forever.
        self._latch: threading.Event | None = None
        self._done = False
        self._links: set[Pid] = set()
        self._monitors: dict[Ref, Pid] = {}  # monitors on this process: ref -> watcher
        self._monitoring: set[Ref] = _EMPTY  # monitors this process holds
        self._names: set[Hashable] = _EMPTY
        self._trap = False
        self._parent: Pid | None = None
        self._ident: int | None = None
        self._finished = False
        self._cur: tuple[_Kind, Any, Any] | None = None  # the message being handled
        # weak references to the reply slots of calls answered later (NoReply)
        self._pending: set[weakref.ref[From]] | None = None
        self._waiting: From | None = None  # the reply slot this process waits on
        # True while the process waits on its own mailbox: a kill then wakes it with a
        # sentinel instead of injecting an exception (see _interrupt)
        self._parked = False
        # >0 while this process's own thread updates other processes in _die: a kill
        # then only sets _kill_deferred, and _die raises it when it is done, so the
        # processes it was ending are never left half-dead
        self._critical = 0
        self._armed = False  # a kill was injected into its thread (it may be pending)
        self._kill_deferred = False
        self._server: Any = None  # the GenServer instance, if any
        self._hooks: list[Callable[[Pid], None]] = []  # run under _lock at death

    def __repr__(self) -> str:
        return f"<Pid {self._id} {self._label}>"

    def is_alive(self) -> bool:
        """Whether the process is alive. ``False`` from the moment it is killed, even
        if its thread has not finished yet (for example while it is blocked in C).

        Example:
            ```python
            process.exit(pid, "kill")
            assert not pid.is_alive()
            ```
        """
        return self._alive

    def join(self, timeout: float | None = None) -> Any:
        """Wait until the process is dead and return its exit reason.

        Raises:
            TimeoutError: the process is still alive after ``timeout`` seconds.

        Example:
            ```python
            pid = parent.Task.start_link(print, "hi")
            assert pid.join(timeout=1.0) == "normal"
            ```
        """
        if not self._done:
            if timeout is not None and timeout < 0:
                raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
            me = _tls.pid
            if me is self:
                raise ProcessError(f"{self!r} cannot join itself")
            with _lock:
                latch = None
                if not self._done:
                    latch = self._latch
                    if latch is None:
                        latch = self._latch = threading.Event()
            if latch is not None and not latch.wait(timeout):
                raise TimeoutError(f"{self!r} is still alive after {timeout} s")
        return self._reason


class Ref:
    """A monitor reference, returned by `monitor` and carried by `Down`.

    Example:
        ```python
        ref = process.monitor(pid)
        process.demonitor(ref)
        ```
    """

    __slots__ = ("_id", "_target", "_watcher")

    def __init__(self, target: Pid, watcher: Pid) -> None:
        self._id = next(_ids)
        self._target = target
        self._watcher = watcher

    def __repr__(self) -> str:
        return f"<Ref {self._id}>"


class Exit(NamedTuple):
    """The message a process that traps exits receives for an exit signal.

    ``pid`` is the sender (``None`` when a plain thread sent it), ``reason`` the reason.

    Example:
        ```python
        def handle_info(self, message):
            match message:
                case parent.Exit(pid, reason):
                    print(pid, "exited with", reason)
        ```
    """

    pid: Pid | None
    reason: Any


class Down(NamedTuple):
    """The message a monitoring process receives once the monitored process is dead.

    Example:
        ```python
        def handle_info(self, message):
            if isinstance(message, parent.Down):
                print(message.pid, "is down:", message.reason)
        ```
    """

    ref: Ref
    pid: Pid
    reason: Any


Server: TypeAlias = "Pid | Hashable"
"""A process: its `Pid`, or a name it is registered under."""


# -- lookups -----------------------------------------------------------------------------


def current() -> Pid | None:
    """The calling process, or ``None`` in a plain thread.

    Example:
        ```python
        def init(self):
            self.me = process.current()
        ```
    """
    return _tls.pid


def _need_current(what: str) -> Pid:
    me = _tls.pid
    if me is None:
        raise ProcessError(f"{what} must be called from a process, not a plain thread")
    return me


def _check_hashable(name: object, what: str = "name") -> None:
    try:
        hash(name)
    except TypeError:
        raise TypeError(f"{what} must be hashable, got {name!r}") from None


def whereis(name: Hashable) -> Pid | None:
    """The process registered under ``name``, or ``None``.

    Example:
        ```python
        Worker.start_link(name="cache")
        assert process.whereis("cache") is not None
        ```
    """
    try:
        return _names.get(name)
    except TypeError:
        raise TypeError(f"a process name must be hashable, got {name!r}") from None


def _resolve(server: Server) -> Pid | None:
    if type(server) is Pid:
        return server
    return whereis(server)


def registered() -> list[Hashable]:
    """The names registered right now.

    Example:
        ```python
        assert "cache" in process.registered()
        ```
    """
    return list(_names)


def register(name: Hashable, pid: Pid) -> None:
    """Register ``pid`` under ``name`` (any hashable value; a class is a common name).

    Raises:
        TypeError: ``name`` is not hashable, or ``pid`` is not a `Pid`.
        ValueError: the name is taken, ``name`` is ``None``, or ``pid`` is dead.

    Example:
        ```python
        process.register("cache", pid)
        assert process.whereis("cache") is pid
        ```
    """
    _check_hashable(name)
    if name is None or type(name) is Pid:
        raise ValueError(f"{name!r} cannot be used as a process name")
    if type(pid) is not Pid:
        raise TypeError(f"register needs a Pid, got {pid!r}")
    with _lock:
        taken = _names.get(name)
        if taken is not None:
            raise ValueError(f"the name {name!r} is already registered to {taken!r}")
        if not pid._alive:
            raise ValueError(f"cannot register {name!r}: {pid!r} is dead")
        _names[name] = pid
        if pid._names is _EMPTY:
            pid._names = set()
        pid._names.add(name)


def unregister(name: Hashable) -> None:
    """Remove the registration of ``name``.

    Raises:
        NotFound: no process is registered under ``name``.

    Example:
        ```python
        process.unregister("cache")
        assert process.whereis("cache") is None
        ```
    """
    _check_hashable(name)
    with _lock:
        pid = _names.pop(name, None)
        if pid is None:
            raise NotFound(f"no process is registered under {name!r}")
        pid._names.discard(name)


# -- sending -----------------------------------------------------------------------------


def send(server: Server, message: Any) -> None:
    """Put ``message`` in the mailbox of ``server``. Never blocks; never raises for a
    dead or unknown target (the message is dropped).

    Example:
        ```python
        process.send(pid, ("hello", 1))
        ```
    """
    p = server if type(server) is Pid else whereis(server)
    if p is not None and p._alive:
        p._mbox.put((_INFO, message, None))


def receive(timeout: float | None = None) -> Any:
    """Take the next message from the calling process's mailbox (for processes started
    with `spawn`; a GenServer receives through its callbacks).

    Raises:
        TimeoutError: no message arrived within ``timeout`` seconds.
        ProcessError: called from a plain thread.

    Example:
        ```python
        def echo():
            sender, text = process.receive()
            process.send(sender, text)

        pid = process.spawn(echo)
        ```
    """
    me = _need_current("receive")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            me._parked = True
            kind, payload, _slot = _timed_get(me._mbox, remaining)
        except Empty:
            raise TimeoutError(f"no message within {timeout} s") from None
        finally:
            me._parked = False
        if not me._alive:
            raise _Killed
        if kind is _INFO:
            return payload
        if kind is _WAKE and not me._alive:
            raise _Killed
        if kind is _STOP:
            raise _StopRequested(payload)
        # calls, casts and system requests are for GenServers: a plain process
        # leaves them unanswered (the caller times out), as in Erlang.


class _StopRequested(BaseException):
    def __init__(self, reason: Any) -> None:
        self.reason = reason


# -- exit signals, death -----------------------------------------------------------------


def _is_clean(reason: Any) -> bool:
    """``"normal"``, ``"shutdown"`` and ``("shutdown", term)`` are clean exits."""
    if type(reason) is str:
        return reason == "normal" or reason == "shutdown"
    return type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown"


def _interrupt(pid: Pid) -> None:
    """Make the thread of a dead process stop.

    A thread waiting at one of the runtime's own wait points (its mailbox, a reply) is
    woken with a sentinel, and checks ``_alive`` as soon as it wakes. Any other thread
    (busy in Python, or blocked in C) gets `_Killed` injected (`_inject`), raised at its
    next bytecode boundary. While a thread is being started anywhere, the injection
    waits for that start to finish (see `_inject`).
    """
    while True:
        starting: list[threading.Thread] = []
        with _lock:
            if (
                not pid._finished
                and pid._ident is not None
                and not pid._parked
                and pid._waiting is None
            ):
                if pid._critical:
                    pid._kill_deferred = True
                else:
                    _watch_swallowed_kills()
                    if not _inject(pid):
                        starting = list(_limbo)
        if not starting:
            break
        for thread in starting:  # a start ends within moments: it only needs the GIL
            thread._started.wait(1.0)  # type: ignore[attr-defined]
        # past _started a thread only has to leave _limbo (threading's next two lines;
        # no event marks that): hand it the GIL rather than spin for a switch interval
        time.sleep(0)
    pid._mbox.put(_WAKE_ITEM)
    slot = pid._waiting
    if slot is not None:
        slot.put(_KILLED_WHILE_WAITING)


# threads between Thread.start() and their first bytecode (CPython's own table)
_limbo: dict[threading.Thread, threading.Thread] = getattr(threading, "_limbo", {})

# Below 3.13 an injection raises a flag for the whole interpreter, which only the target
# thread lowers when it next runs bytecode: while the target is blocked in C every other
# thread takes the interpreter's slow path, and on 3.11 a thread under sys.settrace
# (coverage, a debugger) spins at its next function entry until the target returns.
# 3.13 keeps the flag per thread.
_LOWER_AFTER_INJECT = sys.version_info < (3, 13)


class _Lowered(BaseException):
    """Injected into the injecting thread itself and caught at once, to lower the
    interpreter-wide flag (see `_inject`)."""


_KILLED_ID = id(_Killed)
_LOWERED_ID = id(_Lowered)


def _inject(pid: Pid) -> bool:
    """Inject `_Killed` into the thread of the dead process ``pid`` (under ``_lock``);
    ``False`` (nothing done) while some thread is being started.

    An injection finds its thread by id, and on CPython <= 3.11 a thread being created
    carries its creator's id until it runs: injected then, the kill lands in the new
    thread and the killed creator runs on for ever. Such a thread is in
    ``threading._limbo`` for longer than that, and from the check of ``_limbo`` to the
    injection nothing here calls or loops, so no other thread can run in between.

    Then, below 3.13, lower the interpreter-wide flag the injection raised: inject
    `_Lowered` into the calling thread and catch it, which clears the flag (CPython
    clears it whenever any thread takes its own pending exception). ``pid``'s pending
    exception stays set on its thread state: its thread is not holding the GIL (we
    are), and it raises the flag again when it takes the GIL back, so the kill still
    fires, at its next bytecode boundary once it runs. Nothing between the two
    injections may enter a Python function: on 3.11 under a tracer that is where a
    raised flag makes a thread spin.

    The calling thread must have no pending exception of its own, or `_Lowered` would
    replace it: that is only possible for a dead process's own thread that was armed
    and has not fired yet, and then its own kill lowers the flag when it fires.
    """
    ident = pid._ident
    assert ident is not None
    own = _tls.pid
    me = threading.get_ident()
    lower = _LOWER_AFTER_INJECT and not (own is not None and own._armed and own._ident == me)
    if _limbo:
        return False
    pid._armed = True
    if lower:
        try:
            _set_async_exc(ident, _KILLED_ID)
            _set_async_exc(me, _LOWERED_ID)
            _c_noop()  # it fires at one of these calls' own checks at the latest
        except _Lowered:
            pass
    else:
        _set_async_exc(ident, _KILLED_ID)
    return True


_c_noop = ().__len__  # a C function: calling it checks for pending exceptions


def _watch_swallowed_kills() -> None:
    """Make sure ``sys.unraisablehook`` catches a kill that fired where Python swallows
    exceptions: inside a weakref callback or ``__del__`` (for instance one freeing an
    object of another thread). The hook re-arms the kill on that thread instead of
    printing "Exception ignored" for it, and passes everything else on. It wraps
    whatever hook is current when a kill is injected (a test runner installs its own)."""
    current = sys.unraisablehook
    if getattr(current, "_parent_kill_filter", False):
        return

    def hook(unraisable: Any) -> None:
        if unraisable.exc_type is not _Killed:
            current(unraisable)
            return
        while True:
            try:
                _rearm_kill()
                return
            except _Killed:  # the re-armed kill fired in here, where it would be lost
                continue

    hook._parent_kill_filter = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _rearm_kill() -> None:
    """The calling thread's kill was swallowed: have it injected again by another
    thread, once this one is leaving the hook. Injected from here, it would fire at
    once, inside the hook, whose own exceptions Python swallows too; one that still
    fires in the hook is caught there and re-armed again."""
    me = _tls.pid
    if me is None or me._alive or me._finished:
        return
    leaving = threading.Event()
    try:
        threading.Thread(
            target=_rearm_after, args=(me, leaving), name="parent-rearm", daemon=True
        ).start()
    finally:  # also when the kill fires inside start(): the helper must not wait for ever
        leaving.set()  # the last thing this thread does in the hook


def _rearm_after(pid: Pid, leaving: threading.Event) -> None:
    leaving.wait()
    _interrupt(pid)


def _die(pid: Pid, reason: Any, interrupt: bool) -> None:
    """Kill ``pid`` with ``reason`` (no-op if it is dead), then propagate: linked
    processes that do not trap exits die too, unless the reason is ``"normal"``.

    ``interrupt`` says whether ``pid``'s thread must be stopped (a kill) or is ending on
    its own (a natural exit). Linked processes that die are always interrupted; if one
    of them is the calling thread, `_Killed` is raised here once everything is done.
    """
    me = threading.get_ident()
    own = _tls.pid
    if own is not None and own._ident != me:
        own = None  # a thread acting for a process (a registry's starter): not its thread
    if own is not None:
        with _lock:
            own._critical += 1
        try:
            # a kill injected before we were marked fires here, before anything changes;
            # from now on kills of this thread are deferred (see _interrupt)
            _let_pending_kill_fire()
        except _Killed:
            with _lock:
                own._critical -= 1
            raise
    kill_self = False
    try:
        _end_all(pid, reason, interrupt, me)
    except _KillSelf:
        kill_self = True
    finally:
        if own is not None:
            with _lock:
                own._critical -= 1
                if own._critical == 0 and own._kill_deferred:
                    own._kill_deferred = False
                    kill_self = True
    if kill_self:
        raise _Killed


class _KillSelf(Exception):
    """Internal: the thread running `_end_all` is one of the processes it ended."""


def _end_all(pid: Pid, reason: Any, interrupt: bool, me: int) -> None:
    kill_self = False
    work: list[tuple[Pid, Any, bool]] = [(pid, reason, interrupt)]
    while work:
        p, r, stop_thread = work.pop()
        with _lock:
            if not p._alive:
                continue
            p._reason = r  # before _alive: whoever sees it dead must see its reason
            p._alive = False
            _live.pop(p._id, None)
            for name in p._names:
                if _names.get(name) is p:
                    del _names[name]
            p._names = _EMPTY
            links = p._links
            p._links = set()
            for q in links:
                q._links.discard(p)
            monitors = p._monitors
            p._monitors = {}
            for ref in p._monitoring:
                ref._target._monitors.pop(ref, None)
            p._monitoring = _EMPTY
            for hook in p._hooks:
                hook(p)
        _fail_callers(p, r)
        for q in links:
            if q._trap:
                q._mbox.put((_INFO, Exit(p, r), None))
            elif type(r) is not str or r != "normal":
                work.append((q, r, True))
        for ref, watcher in monitors.items():
            watcher._mbox.put((_INFO, Down(ref, p, r), None))
        if stop_thread:
            if p._ident == me:
                kill_self = True
            else:
                _interrupt(p)
        with _lock:
            p._done = True
            latch = p._latch
        if latch is not None:
            latch.set()
    if kill_self:
        raise _KillSelf


def _fail_callers(p: Pid, reason: Any) -> None:
    """Answer every call still waiting on ``p`` with its death."""
    died = _Died(reason)
    cur = p._cur
    if cur is not None and cur[2] is not None:
        cur[2].put(died)
    mbox = p._mbox
    while True:
        try:
            item = mbox.get_nowait()
        except Empty:
            break
        if item[2] is not None:
            item[2].put(died)
    pending = p._pending
    if pending is not None:
        # one C call under the GIL: the server's thread may still be adding to it (a
        # kill lands while it runs) and other threads drop dead slots from it
        for ref in pending.copy():
            slot = ref()
            if slot is not None:
                slot.put(died)


def _defer_reply(pid: Pid, slot: From) -> None:
    """Remember a call that ``pid`` answers later (``NoReply``), so that its death
    answers it. Called from ``pid``'s own thread only; a slot that nobody holds any more
    drops out by itself (its weak reference's callback discards it)."""
    pending = pid._pending
    if pending is None:
        pending = pid._pending = set()
    pending.add(weakref.ref(slot, pending.discard))


def exit(pid: Pid, reason: Any) -> None:
    """Send the exit signal ``reason`` to ``pid``.

    ``"kill"`` cannot be trapped: the target dies with reason ``"killed"``. A target that
    traps exits receives any other signal as the message ``Exit(sender, reason)``. One
    that does not trap dies with ``reason``, unless ``reason`` is ``"normal"``, which it
    ignores (except when it sends ``"normal"`` to itself). Signalling a dead process
    does nothing.

    Example:
        ```python
        process.exit(pid, "kill")
        assert pid.join(timeout=1.0) == "killed"
        ```
    """
    if type(pid) is not Pid:
        raise TypeError(f"exit needs a Pid, got {pid!r}")
    if not pid._alive:
        return
    sender = _tls.pid
    if type(reason) is str and reason == "kill":
        _die(pid, "killed", True)
    elif pid._trap:
        pid._mbox.put((_INFO, Exit(sender, reason), None))
    elif type(reason) is str and reason == "normal" and sender is not pid:
        return
    else:
        _die(pid, reason, True)


def _request_stop(pid: Pid, reason: Any) -> None:
    """Ask a process to stop as ``gen_server.stop`` does: a GenServer gets a stop
    request in its mailbox (its ``terminate`` runs); any other process an exit signal."""
    if pid._server is not None:
        pid._mbox.put((_STOP, reason, None))
    else:
        exit(pid, reason)


def _kill(pid: Pid, reason: Any = "killed") -> None:
    """Kill ``pid`` with ``reason`` whatever it traps (runtime-internal)."""
    _die(pid, reason, True)


def link(pid: Pid) -> None:
    """Link the calling process and ``pid``, both ways: when one dies, the other gets
    the exit signal.

    Linking to a dead process: a caller that traps exits receives
    ``Exit(pid, "noproc")``; any other caller gets `NoProcess`.

    Example:
        ```python
        process.trap_exits(True)
        process.link(pid)
        ```
    """
    if type(pid) is not Pid:
        raise TypeError(f"link needs a Pid, got {pid!r}")
    if _tls.pid is None and not pid._alive:
        raise NoProcess(f"cannot link to {pid!r}: it is not alive")
    me = _need_current("link")
    if pid is me:
        return
    with _lock:
        if pid._alive and me._alive:
            me._links.add(pid)
            pid._links.add(me)
            return
    if not me._alive:
        return
    if me._trap:
        me._mbox.put((_INFO, Exit(pid, "noproc"), None))
        return
    raise NoProcess(f"cannot link to {pid!r}: it is not alive")


def _link_pair(a: Pid, b: Pid) -> bool:
    """Link two processes (runtime-internal); ``False`` if either is dead."""
    with _lock:
        if a._alive and b._alive:
            a._links.add(b)
            b._links.add(a)
            return True
    return False


def unlink(pid: Pid) -> None:
    """Remove the link between the calling process and ``pid`` (both ways). Unlinking
    a process that is not linked does nothing.

    Example:
        ```python
        process.unlink(pid)
        ```
    """
    me = _need_current("unlink")
    _unlink_pair(me, pid)


def _unlink_pair(a: Pid, b: Pid) -> None:
    with _lock:
        a._links.discard(b)
        b._links.discard(a)


def monitor(pid: Server) -> Ref:
    """Monitor ``pid`` (or the process registered under a name): the calling process
    receives ``Down(ref, pid, reason)`` once when it dies; reason ``"noproc"`` at once
    if it is already dead.

    Raises:
        NoProcess: a name that nobody has registered.
        ProcessError: called from a plain thread.

    Example:
        ```python
        ref = process.monitor(pid)
        ```
    """
    me = _need_current("monitor")
    target = _resolve(pid)
    if target is None:
        raise NoProcess(f"no process is registered under {pid!r}")
    ref = Ref(target, me)
    with _lock:
        if target._alive:
            target._monitors[ref] = me
            if me._monitoring is _EMPTY:
                me._monitoring = set()
            me._monitoring.add(ref)
            return ref
    me._mbox.put((_INFO, Down(ref, target, "noproc"), None))
    return ref


def demonitor(ref: Ref) -> None:
    """Stop monitoring; a ``Down`` already in the mailbox stays there.

    Example:
        ```python
        process.demonitor(ref)
        ```
    """
    if type(ref) is not Ref:
        raise TypeError(f"demonitor needs a Ref, got {ref!r}")
    with _lock:
        ref._target._monitors.pop(ref, None)
        if ref in ref._watcher._monitoring:
            ref._watcher._monitoring.remove(ref)


def trap_exits(flag: bool) -> bool:
    """Set whether the calling process traps exits; returns the previous value.

    Example:
        ```python
        def init(self):
            process.trap_exits(True)   # terminate() will run on the parent's shutdown
        ```
    """
    me = _need_current("trap_exits")
    old = me._trap
    me._trap = bool(flag)
    return old


# -- spawning ----------------------------------------------------------------------------


def _spawn(
    body: Callable[[Pid], Any],
    label: str,
    *,
    link: bool,
    name: Hashable = None,
    on_name_taken: Callable[[Pid], BaseException] | None = None,
    on_death: Callable[[Pid], None] | None = None,
) -> Pid:
    """Create a process running ``body(pid)`` in a new daemon thread. ``body`` returns
    the exit reason. With ``link``, the new process is linked to the calling process
    (if any) and that process becomes its parent."""
    pid = Pid(label)
    if on_death is not None:
        pid._hooks.append(on_death)
    caller = _tls.pid
    orphan = False
    with _lock:
        if name is not None:
            taken = _names.get(name)
            if taken is not None:
                assert on_name_taken is not None
                raise on_name_taken(taken)
            _names[name] = pid
            pid._names = {name}
        _live[pid._id] = pid
        if link and caller is not None:
            if caller._alive:
                pid._parent = caller
                caller._links.add(pid)
                pid._links.add(caller)
            else:  # started on behalf of a process that has died meanwhile
                orphan = True
    thread = threading.Thread(
        target=_thread_main, args=(pid, body), name=f"parent-{pid._id}-{label}", daemon=True
    )
    thread.start()
    if orphan:
        _die(pid, "noproc", True)
    return pid


def _thread_main(pid: Pid, body: Callable[[Pid], Any]) -> None:
    _tls.pid = pid
    pid._ident = threading.get_ident()
    try:
        try:
            if not pid._alive:
                return
            reason = body(pid)
        except _Killed:
            return
        except _StopRequested as stop:
            reason = stop.reason
        except BaseException as exc:  # a plain process crashed
            reason = exc
            _log_crash(pid, exc, None)
        _die(pid, reason, False)
    except _Killed:
        pass  # a kill that raced with this process's own exit
    finally:
        # a pending kill can fire at the entry of _leave_runtime itself, so the retry
        # loop is here, around the call
        while True:
            try:
                _leave_runtime(pid)
                break
            except _Killed:
                continue


def _leave_runtime(pid: Pid) -> None:
    """The last thing a process thread does. Once ``_finished`` is set (under the lock
    that every injection holds), no kill is injected into this thread any more (its
    thread id may be reused); a kill injected before that is still pending, so make it
    fire here by entering a function (function entry checks for pending exceptions).

    Never clear a pending kill with ``PyThreadState_SetAsyncExc(id, NULL)``: on CPython
    3.11 that raises the interpreter-wide "async exception pending" flag, which only a
    thread that has a pending exception ever lowers, so every thread would take the
    interpreter's slow path from then on (and a profiled thread spins forever).
    """
    with _lock:
        pid._finished = True
        _tls.pid = None
    _let_pending_kill_fire()


def _let_pending_kill_fire() -> None:
    """Does nothing: calling it lets a pending asynchronous exception fire."""


def _log_crash(pid: Pid, reason: Any, last: Any) -> None:
    if isinstance(reason, BaseException):
        exc_info: Any = (type(reason), reason, reason.__traceback__)
        text = f"{type(reason).__name__}: {reason}"
    else:
        exc_info = None
        text = repr(reason)
    if last is None:
        logger.error("process %r terminating\n** (exit) %s", pid, text, exc_info=exc_info)
    else:
        logger.error(
            "process %r terminating\n** (exit) %s\nLast message: %s",
            pid,
            text,
            last,
            exc_info=exc_info,
        )


def spawn(fn: Callable[..., Any], *args: Any, link: bool = False) -> Pid:
    """Run ``fn(*args)`` in a new process; it exits ``"normal"`` when ``fn`` returns and
    crashes (logged, reason: the exception) when it raises. With ``link=True`` it is
    linked to the calling process.

    Example:
        ```python
        def worker():
            msg = process.receive(timeout=1.0)
            print("got", msg)

        pid = process.spawn(worker)
        process.send(pid, "hello")
        ```
    """
    if not callable(fn):
        raise TypeError(f"spawn needs a callable, got {fn!r}")

    def body(pid: Pid) -> Any:
        fn(*args)
        return "normal"

    label = getattr(fn, "__qualname__", type(fn).__name__)
    return _spawn(body, label, link=link)


# -- timers ------------------------------------------------------------------------------


class _TimerRef:
    __slots__ = ("cancelled", "due", "message", "pid")

    def __init__(self, due: float, pid: Pid, message: Any) -> None:
        self.due = due
        self.pid = pid
        self.message = message
        self.cancelled = False

    def __lt__(self, other: _TimerRef) -> bool:
        return self.due < other.due


class _TimerThread:
    """One thread for every timer of the runtime; it exits when no timer is left.

    ``_cond`` guards ``_heap`` and ``_running``."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[_TimerRef] = []
        self._running = False

    def add(self, ref: _TimerRef) -> None:
        import heapq

        with self._cond:
            heapq.heappush(self._heap, ref)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="parent-timers", daemon=True).start()
            self._cond.notify()

    def _run(self) -> None:
        import heapq

        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._running = False
                        return
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        ref = heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
            if not ref.cancelled:
                send(ref.pid, ref.message)


_timers = _TimerThread()


def send_after(pid: Pid, message: Any, delay: float) -> _TimerRef:
    """Send ``message`` to ``pid`` after ``delay`` seconds; returns a timer reference for
    `cancel_timer`.

    Example:
        ```python
        ref = process.send_after(process.current(), "tick", 1.0)
        ```
    """
    if delay < 0:
        raise ValueError(f"delay must be >= 0, got {delay!r}")
    ref = _TimerRef(time.monotonic() + delay, pid, message)
    _timers.add(ref)
    return ref


def cancel_timer(ref: _TimerRef) -> None:
    """Cancel a timer from `send_after`; a message already sent stays in the mailbox.

    Example:
        ```python
        process.cancel_timer(ref)
        ```
    """
    with _timers._cond:
        ref.cancelled = True
        _timers._cond.notify()  # the timer thread drops it and exits if none is left


# -- interpreter exit --------------------------------------------------------------------

_EXIT_GRACE = 5.0  # for a process outside any tree, and added to a tree's own needs
_EXIT_LIMIT = 60.0  # no root is given longer than this: the interpreter must not hang


def _exit_grace(root: Pid) -> float:
    """How long a top-level process may take to stop at interpreter exit: the default
    grace plus what its tree needs to stop its children (a Parent's ``_exit_grace``),
    never more than ``_EXIT_LIMIT``."""
    needs = getattr(root._server, "_exit_grace", None)
    extra = 0.0
    if callable(needs):
        with contextlib.suppress(Exception):
            extra = float(needs())
    return min(_EXIT_GRACE + extra, _EXIT_LIMIT)


def _live_processes() -> list[Pid]:
    with _lock:
        return list(_live.values())


def _shutdown_all_at_exit() -> None:
    """Stop every live process, top-level trees first, as their parents would: roots
    get a polite stop (``"shutdown"``) and each is killed if it is still alive after
    its grace period. Runs once, from ``atexit``; never blocks for longer than the
    longest grace period plus a kill."""
    procs = _live_processes()
    if not procs:
        return
    roots = [p for p in procs if p._parent is None or not p._parent._alive]
    start = time.monotonic()
    deadlines = [start + _exit_grace(p) for p in roots]
    for p in roots:
        with contextlib.suppress(BaseException):  # best effort, at exit
            _request_stop(p, "shutdown")
    for p, deadline in zip(roots, deadlines, strict=True):
        try:
            p.join(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            _kill(p)
    deadline = max(deadlines, default=start + _EXIT_GRACE)
    # what the roots left behind is still shutting down on its parent's exit signal (a
    # trapping child runs terminate): it gets the rest of the grace period, then is killed
    for p in _live_processes():
        try:
            p.join(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            _kill(p)


atexit.register(_shutdown_all_at_exit)
