"""The runtime's records: pids, mailboxes, reply slots, and the tables they live in.

This module holds state only; `parent._lifecycle` is the one module that changes a
process's lifecycle fields (thread, hibernation, death), `parent.process` the one that
changes links, monitors and names.

A mailbox is a ``queue.SimpleQueue``. An item in it is a 3-tuple ``(kind, payload,
reply_slot)``, ``kind`` one of the small ints below, or, for a cast whose request is
not itself a ``tuple``, the bare request (`cast_item`: no envelope to build, index and
collect on the hottest path). ``type(item) is tuple`` tells them apart, so a user's
message can never be mistaken for system traffic (a tuple request is enveloped).

Locks
-----
``_lock`` (one ``threading.Lock`` for the whole runtime) guards:

* the lifecycle fields of every process: ``Pid._alive`` (goes ``True -> False`` once),
  ``_ident`` (the thread it runs on, ``None`` while it has none), ``_hib``, ``_done``,
  and the injection of asynchronous exceptions (so a kill is only ever injected into
  the thread the process is attached to at that moment),
* links (``Pid._links``), monitors (``Pid._monitors``, ``Pid._monitoring``),
* the name table ``_names`` and each ``Pid._names``,
* the table of live processes ``_live``.

Reads need no lock: ``whereis`` is one ``dict.get``; ``is_alive`` one attribute read.
Mailboxes and reply slots are ``SimpleQueue`` objects, thread-safe on their own.
Nothing that holds ``lock`` calls user code or blocks.
"""

from __future__ import annotations

import contextvars
import itertools
import sys
import threading
import weakref
from _queue import SimpleQueue
from collections.abc import Callable, Hashable
from queue import Empty
from time import time as _time
from typing import Any, NamedTuple, TypeAlias

from parent.errors import ProcessError

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

TAKING = 2  # Pid._parked while a queued item is taken without a wait (truthy, like True)


def cast_item(request: Any) -> Any:
    """The mailbox item of a cast (`parent.gen_server.cast` inlines it)."""
    return request if type(request) is not tuple else (_CAST, request, None)


class _Killed(BaseException):
    """Injected into the thread of a process that was killed; never seen by users
    unless they catch ``BaseException``."""


class _Died:
    """Put in a reply slot when the callee died before it replied. ``handled`` is
    ``False`` only when the request was certainly never taken from the mailbox (so it
    had no effect); when in doubt it is ``True``."""

    __slots__ = ("handled", "reason")

    def __init__(self, reason: Any, handled: bool) -> None:
        self.reason = reason
        self.handled = handled


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
_NO_MONITORS: dict[Any, Any] = {}  # never written: monitor() replaces it first
_ids = itertools.count(1)


class _Local(threading.local):
    pid: Pid | None = None
    # the _Watch the next process spawned from this thread gets (_lifecycle.acting_for)
    watch: _Watch | None = None


class _Watch:
    """What a registry asks of its workers' loops when it passivates them: ``target``
    (the registry) gets an `IdleNotice` when a worker has had no message for ``idle``
    seconds (``None``: never; the registry then only evicts, `_lifecycle.passivate`)."""

    __slots__ = ("idle", "target")

    def __init__(self, target: Pid, idle: float | None) -> None:
        self.target = target
        self.idle = idle


class IdleNotice(NamedTuple):
    """From a worker's loop (or a timer it armed before hibernating) to its registry:
    ``pid`` has taken no message since its ``_used`` was ``stamp``."""

    pid: Pid
    stamp: int


# the order in which processes last took a message (Pid._used): a global count, so that
# the least recently used of a registry's workers is the one with the smallest stamp
_stamps = itertools.count(1)


_tls = _Local()


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
        "_closing",
        "_critical",
        "_ctx",
        "_cur",
        "_done",
        "_handled",
        "_hib",
        "_hib_after",
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
        "_next",
        "_parent",
        "_parked",
        "_pending",
        "_reason",
        "_server",
        "_started",
        "_top",
        "_trap",
        "_used",
        "_waiting",
        "_watch",
    )

    def __init__(self, label: str) -> None:
        self._id = next(_ids)
        self._label = label
        self._started = _time()  # process.info's started_at
        # messages its loop has taken: published by the loop when it waits, hibernates or
        # ends (parent._info reads the live count from the loop's frame meanwhile)
        self._handled = 0
        self._mbox: SimpleQueue[tuple[_Kind, Any, Any]] = SimpleQueue()
        self._alive = True
        self._reason: Any = None
        # join() waits on an Event made on demand (most processes are never joined), set
        # once the death is complete (_done: links and monitors notified). An Event, not
        # a Lock handed from joiner to joiner: a joiner killed right after its acquire
        # would keep such a lock forever.
        self._latch: threading.Event | None = None
        self._done = False
        # a tuple while small (a worker's one link to its parent costs 48 bytes, not the
        # 224 of a set), a set beyond _SMALL_LINKS; changed only by _add_link/_drop_link
        self._links: tuple[Pid, ...] | set[Pid] = ()
        # monitors on this process, ref -> watcher; the shared empty _NO_MONITORS until
        # the first one (a dict of its own costs 64 bytes, most processes have none)
        self._monitors: dict[Ref, Pid] = _NO_MONITORS
        self._monitoring: set[Ref] = _EMPTY  # monitors this process holds
        self._names: set[Hashable] = _EMPTY
        self._trap = False
        self._parent: Pid | None = None
        # the thread the process runs on; None while it has none (starting, hibernating,
        # waking, and once its thread has left it)
        self._ident: int | None = None
        # True while hibernating: no thread; whoever posts to it wakes it (_lifecycle.wake)
        self._hib = False
        self._hib_after: float | None = None  # the hibernate_after start option
        # what the process runs when it next gets a thread: its body, then after each
        # hibernation the function that resumes it (it returns the exit reason, or
        # _lifecycle.HIBERNATE to give the thread up)
        self._next: Callable[[Pid], Any] | None = None
        # the process's contextvars, kept across hibernation (None while it has set none)
        self._ctx: contextvars.Context | None = None
        # the call being handled: written by the server loop (its own thread, parent._serve),
        # read by its death to answer that caller
        self._cur: tuple[_Kind, Any, Any] | None = None
        # weak references to the reply slots of calls answered later (NoReply)
        self._pending: set[weakref.ref[From]] | None = None
        self._waiting: SimpleQueue[Any] | None = None  # the reply slot this process waits on
        # True while the process waits on its own mailbox: a kill then wakes it with a
        # sentinel instead of injecting an exception (see _interrupt); TAKING (also
        # truthy) while it takes a queued item without waiting, which is work, not a
        # wait (process.info tells them apart)
        self._parked: bool | int = False
        # >0 while this process's own thread updates other processes in _die: a kill
        # then only sets _kill_deferred, and _die raises it when it is done, so the
        # processes it was ending are never left half-dead
        self._critical = 0
        self._armed = False  # a kill was injected into its thread (it may be pending)
        self._kill_deferred = False
        self._server: Any = None  # the GenServer instance, if any
        # run under _lock at death; a tuple, replaced whole (most processes have none)
        self._hooks: tuple[Callable[[Pid], None], ...] = ()
        # passivation (a registry's idle_timeout / max_workers, genregistry): the
        # registry's _Watch, or None (then the three below are never written)
        self._watch: _Watch | None = None
        # when it last took a message (an _stamps value; written by its own loop only)
        self._used = 0
        # True while its GenServer loop waits for the next message (its own loop only)
        self._top = False
        # True once it was chosen to passivate (under _lock, once): it refuses
        # messages posted with _lifecycle.post_open and stops after its last one
        self._closing = False

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


class ForeignPid(Pid):
    """The base of pids of processes that live elsewhere (`genregistry.ray.RemotePid`).

    Not a local process: it has none of `Pid`'s runtime fields. The runtime's hot paths
    test ``type(server) is Pid``, so a foreign pid always takes their slower branch,
    where `parent.gen_server.call` and `parent.gen_server.cast` hand it to ``_call`` and
    ``_cast``; the functions that need a local process raise naming it: ``send``,
    monitors, ``join`` and ``gen_server.stop`` `ProcessError` (`refuse_foreign`),
    ``link`` and ``exit`` `TypeError` (they take a local `Pid` only).
    """

    __slots__ = ()

    def __init__(self) -> None:  # no Pid.__init__: nothing local to set up
        pass

    def _call(self, request: Any, timeout: float | None) -> Any:
        raise NotImplementedError

    def _cast(self, request: Any) -> None:
        raise NotImplementedError

    def is_alive(self) -> bool:
        raise NotImplementedError

    def join(self, timeout: float | None = None) -> Any:
        raise refuse_foreign(self)


def number(pid: Pid) -> int:
    """The process's number, unique in this interpreter (the ``12`` of ``<Pid 12 ...>``);
    `genregistry._remote` puts it in the remote pids it hands out."""
    return pid._id


def refuse_foreign(pid: ForeignPid) -> ProcessError:
    """The error for a local-only operation on a foreign pid."""
    return ProcessError(
        f"{pid!r} is a remote pid: only gen_server.call, gen_server.cast and is_alive() reach it"
    )


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
"""A process: its `Pid` (a `ForeignPid` such as `genregistry.ray.RemotePid` too), or a
name it is registered under."""


_SMALL_LINKS = 4


def _add_link(a: Pid, b: Pid) -> None:
    """Record ``b`` among ``a``'s links (under ``_lock``)."""
    links = a._links
    if type(links) is set:
        links.add(b)
    elif b not in links:
        a._links = (*links, b) if len(links) < _SMALL_LINKS else {*links, b}


def _drop_link(a: Pid, b: Pid) -> None:
    """Forget ``b`` among ``a``'s links, if it is there (under ``_lock``)."""
    links = a._links
    if type(links) is set:
        links.discard(b)
    elif b in links:
        a._links = tuple(q for q in links if q is not b)
