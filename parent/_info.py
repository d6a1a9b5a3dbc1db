"""What a process is doing, read from outside it: `process.list` and `process.info`.

Nothing here sends a message or takes the runtime lock for long: a snapshot of a
process's fields is a handful of attribute reads, each atomic under the GIL (a set or
dict is copied by one C call, which no other thread can interleave). The fields of one
`ProcessInfo` are therefore each exact at the moment it was read, not necessarily all
at the same instant.

Two fields come from the process's thread rather than its record, so that the loop
that handles messages pays nothing for them:

* ``current`` is read from the thread's Python stack (`sys._current_frames`): the
  callback called by the GenServer loop, if any;
* ``handled`` is a local counter of the loop, published to ``Pid._handled`` whenever the
  loop is about to wait, hibernate or end; while the process runs, the live value is
  read from the loop's frame.

`sys._current_frames` costs one entry per thread of the interpreter, so it is only
taken for a process that is running (neither waiting nor hibernating), and once per
`parent.observer.tree`, shared by all its nodes.
"""

from __future__ import annotations

import builtins
import dataclasses
import sys
from collections.abc import Callable, Sized
from types import CodeType, FrameType
from typing import Any, Literal, NamedTuple, TypeAlias

from parent import _pool
from parent._runtime import Pid, _live, _lock

Status: TypeAlias = Literal["running", "waiting", "hibernating", "suspended"]

# the pids suspended with parent.sys.suspend, and the items a suspension has taken out
# of a mailbox and not yet replayed (they count as queued): written by the process's
# own thread (parent._suspend), and by its death hook once it has died
suspended: set[Pid] = set()
kept: dict[Pid, Sized] = {}


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
    """A snapshot of one process, from `parent.process.info`.

    Attributes:
        pid: the process.
        names: the names it is registered under.
        behaviour: its `GenServer` class (an `Agent`, a `Supervisor`, ...), or ``None``
            for a bare process (`parent.process.spawn`, a `Task`).
        status: ``"running"`` (in its own code: a callback, or a call it makes),
            ``"waiting"`` (for its next message), ``"hibernating"`` (no thread until
            its next message), or ``"suspended"`` (`parent.sys.suspend`).
        mailbox: how many messages are queued (for a suspended server, also those it
            keeps for after `parent.sys.resume`; one it is moving from the mailbox to
            what it keeps may be missed for an instant).
        handled: how many messages it has taken so far.
        current: the callback it is running (``"handle_call"``, ``"init"``, ...), or
            ``None``.
        links: the processes linked to it.
        monitors: the processes it monitors.
        monitored_by: the processes monitoring it.
        trap_exits: whether it traps exits.
        parent: the process that started it linked (its supervisor or parent), or
            ``None``.
        started_at: when it was started (`time.time`).
        thread: the native id of its thread (as in ``ps -L``), ``None`` while it has
            none (hibernating, or not yet started).

    Example:
        ```python
        pid = parent.Agent.start_link(lambda: 0)
        info = parent.process.info(pid)
        assert info is not None and info.behaviour is parent.Agent
        print(info.status, info.mailbox, info.handled)   # waiting 0 0
        ```
    """

    pid: Pid
    names: tuple[Any, ...]
    behaviour: type | None
    status: Status
    mailbox: int
    handled: int
    current: str | None
    links: tuple[Pid, ...]
    monitors: tuple[Pid, ...]
    monitored_by: tuple[Pid, ...]
    trap_exits: bool
    parent: Pid | None
    started_at: float
    thread: int | None


def parent_of(pid: Pid) -> Pid | None:
    """The process that started ``pid`` linked, or ``None`` (written once, at spawn):
    one attribute read, for walks over every process (`parent.run`'s kill)."""
    return pid._parent


def observed(pid: Pid) -> Children | None:
    """What ``pid``'s server tells the observer of its children (`Children`), or
    ``None`` (not a parent, or a bare process)."""
    server = pid._server
    return None if server is None else server._observe()


def label(pid: Pid) -> str:
    """What the process runs (its GenServer class or its function), as in its repr."""
    return pid._label


_new = object.__new__


def processes() -> builtins.list[Pid]:
    """Every live process (`parent.process.list`)."""
    with _lock:  # only the copy under the lock (1 ms for 100,000 processes)
        pids = builtins.list(_live.values())
    return [p for p in pids if p._alive]


class Frames:
    """The top frame of every thread, snapshotted on first use (`sys._current_frames`
    costs one entry per thread), so that many infos share one snapshot."""

    __slots__ = ("_frames",)

    def __init__(self) -> None:
        self._frames: dict[int, FrameType] | None = None

    def get(self, ident: int) -> FrameType | None:
        if self._frames is None:
            self._frames = sys._current_frames()
        return self._frames.get(ident)


class Children(NamedTuple):
    """What a parent process tells the observer about its children (``_observe`` of a
    `parent.Parent`, read from the observer's thread with atomic copies, no lock)."""

    ids: dict[Pid, Any]  # child pid -> its child id
    restarts: dict[Any, int]  # child id -> how many times it was restarted
    workers: int | None = None  # a registry: how many workers it has (then ids is empty)
    sample: tuple[tuple[Any, Pid], ...] = ()  # a registry: a few (id, worker)


def info(pid: Pid, frames: Frames | None = None) -> ProcessInfo | None:
    """The snapshot of ``pid`` (`parent.process.info`); ``frames`` is a shared
    snapshot of the threads' stacks, used only when the process is running."""
    if not pid._alive:
        return None
    ident = pid._ident
    server = pid._server
    if pid._hib or ident is None:
        status: Status = "hibernating" if pid._hib else "running"
    elif pid in suspended:
        status = "suspended"
    elif pid._parked is True:  # (TAKING: it takes a queued item, which is running)
        status = "waiting"
    else:
        status = "running"
    handled = pid._handled
    current = None
    if status == "running" and ident is not None:
        frame = (frames or Frames()).get(ident)
        if frame is not None:
            current, live_count = _read_stack(frame, pid)
            if live_count is not None:
                handled = live_count
    monitoring = tuple(pid._monitoring)
    # a frozen dataclass's __init__ sets each field with object.__setattr__ (1.8 us for
    # these 14); filling its __dict__ at once builds the same object in 0.6 us
    result = _new(ProcessInfo)
    result.__dict__.update(
        pid=pid,
        names=tuple(pid._names),
        behaviour=None if server is None else type(server),
        status=status,
        mailbox=pid._mbox.qsize() + len(kept.get(pid, ())),
        handled=handled,
        current=current,
        links=tuple(pid._links),
        monitors=tuple(ref._target for ref in monitoring),
        monitored_by=tuple(pid._monitors.values()),
        trap_exits=pid._trap,
        parent=pid._parent,
        started_at=pid._started,
        thread=None if ident is None else _native_id(ident),
    )
    # died while we read it: what we read may be half torn down (its names freed)
    return result if pid._alive else None


def _native_id(ident: int) -> int | None:
    return _pool.native_ids.get(ident)


# -- reading a process's stack --------------------------------------------------------

# frames of the runtime between a GenServer's loop and its callbacks, and the callback
# each stands for when no user callback is found above it
_DISPATCH = {
    "_handle_message": "handle_info",
    "_settle": "handle_continue",
    "_boot": "init",
    "_terminate": "terminate",
    "_handle_system": "system",
}
_CALLBACKS = frozenset(
    {
        "init",
        "handle_call",
        "handle_cast",
        "handle_info",
        "handle_continue",
        "terminate",
        "handle_child_terminated",
    }
)
_bases: tuple[CodeType, ...] = ()  # the loop's and serve's code (set by register_loop)
_loop_code: CodeType | None = None


def register_loop(loop: Callable[..., Any], serve: Callable[..., Any]) -> None:
    """Tell this module which functions are a GenServer's loop and body
    (`parent._serve` calls it once at import)."""
    global _bases, _loop_code
    _loop_code = loop.__code__
    _bases = (loop.__code__, serve.__code__)


def _read_stack(top: FrameType, pid: Pid) -> tuple[str | None, int | None]:
    """``(current callback, live handled count)`` of ``pid``, whose thread's top frame
    is ``top``: the frames above its loop's frame, read from the loop outwards. A
    shared snapshot (`Frames`) may be older than the thread's hand-over to another
    process: a loop frame that is not ``pid``'s own says nothing about it."""
    above: builtins.list[FrameType] = []
    frame: FrameType | None = top
    base: FrameType | None = None
    while frame is not None:
        if frame.f_code in _bases:
            base = frame
            break
        above.append(frame)
        frame = frame.f_back
    if base is None:
        return None, None
    names = base.f_locals  # (_loop and serve both take ``pid``)
    if names.get("pid") is not pid:
        return None, None
    handled = None
    if base.f_code is _loop_code:
        value = names.get("handled")
        handled = value if type(value) is int else None
    fallback = None
    for frame in reversed(above):  # from the loop towards the top
        name = frame.f_code.co_name
        if name in _CALLBACKS:
            return name, handled
        if fallback is None:
            fallback = _DISPATCH.get(name)
            if fallback is None:
                break  # not a dispatch frame of ours: no callback runs (loop bookkeeping)
    return fallback, handled
