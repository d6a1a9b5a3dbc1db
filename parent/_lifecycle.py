"""The process lifecycle: the one module that starts, parks, wakes and ends processes.

A process is a `Pid` (its records live in `parent._runtime`) that is attached to a
runtime thread while it has something to do. Its states, and every transition, are
written as a table in docs/design.md ("Process lifecycle"); in short:

* **starting**: created and registered, waiting for a thread (`spawn`);
* **running** / **waiting**: attached to a thread (``_ident`` set), in its own code or
  blocked on its mailbox or a reply;
* **hibernating**: alive with no thread (``_hib``); whoever posts to it wakes it;
* **waking**: claimed by a waker (``_hib`` flipped back under ``_lock``, once), queued
  for a thread;
* **dying** / **dead**: ``_alive`` is ``False``; its death is being / has been
  propagated (``_done``).

Runtime threads come from `parent._pool`. A thread attaches to a process under
``_lock`` (only if it is still alive) and detaches under ``_lock``; a kill is only
ever injected into the thread a process is attached to at that moment
(`parent._kill`), and a thread that leaves a killed process clears what may still
be pending before it serves another (`parent._kill.clear_own_pending`).

Death
-----
A process dies exactly once, in `die`: under the lock it is marked dead, removed from
every table, and its links and monitors are taken; outside the lock, callers waiting on
it get `ExitError`, linked processes get the exit signal, monitors get `Down`, and only
then is ``join`` released. A kill (or a non-trapped exit signal) calls `die` from the
killer's thread, so the victim counts as dead at once, whatever it is doing: a running
thread is interrupted at its next bytecode boundary, one blocked in C is abandoned,
and a hibernating process has no thread to stop at all.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import weakref
from _queue import SimpleQueue
from collections.abc import Callable, Hashable, Iterator
from queue import Empty
from typing import Any, Final

from parent import _futex, _pool
from parent._kill import clear_own_pending, interrupt
from parent._runtime import (
    _EMPTY,
    _INFO,
    _KILLED_WHILE_WAITING,
    _NO_MONITORS,
    _STOP,
    _TIMED_GET_IS_SAFE,
    Down,
    Exit,
    From,
    Pid,
    _add_link,
    _Died,
    _drop_link,
    _Killed,
    _live,
    _lock,
    _names,
    _stamps,
    _timed_get,
    _tls,
    _Watch,
)

logger = logging.getLogger("parent")


class _Hibernate:
    __slots__ = ()

    def __repr__(self) -> str:
        return "HIBERNATE"


HIBERNATE: Final = _Hibernate()
"""Returned by a process's body (or resume function) to give its thread up until its
next message; ``pid._next`` must then be the function that resumes it."""


class StopRequested(BaseException):
    """Raised in a plain process by a stop request (`parent.process.receive`)."""

    def __init__(self, reason: Any) -> None:
        self.reason = reason


def is_clean(reason: Any) -> bool:
    """``"normal"``, ``"shutdown"`` and ``("shutdown", term)`` are clean exits."""
    if type(reason) is str:
        return reason == "normal" or reason == "shutdown"
    return type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown"


# -- starting, running, hibernating, waking ----------------------------------------------


def spawn(
    body: Callable[[Pid], Any],
    label: str,
    *,
    link: bool,
    name: Hashable = None,
    on_name_taken: Callable[[Pid], BaseException] | None = None,
    on_death: Callable[[Pid], None] | None = None,
    hibernate_after: float | None = None,
    also_link: Pid | None = None,
) -> Pid:
    """Create a process that runs ``body(pid)`` on a runtime thread. ``body`` returns
    the exit reason (or `HIBERNATE`). With ``link``, the new process is linked to the
    calling process (if any) and that process becomes its parent. ``also_link`` is
    linked too, in the same step (a task's owner); if it is dead by then, the new
    process ends with ``"noproc"`` before it runs."""
    pid = Pid(label)
    pid._next = body
    pid._hib_after = hibernate_after
    if on_death is not None:
        pid._hooks = (on_death,)
    caller = _tls.pid
    watch = _tls.watch
    if watch is not None:  # the first process a registry's starter spawns: its worker
        _tls.watch = None
        pid._watch = watch
        pid._used = next(_stamps)
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
                _add_link(caller, pid)
                _add_link(pid, caller)
            else:  # started on behalf of a process that has died meanwhile
                orphan = True
        if also_link is not None and also_link is not caller:
            if also_link._alive:
                _add_link(also_link, pid)
                _add_link(pid, also_link)
            else:
                orphan = True
    _futex.maybe_switch(len(_live))
    try:
        _pool.submit(_run, pid)
    except RuntimeError:  # no thread to be had ("can't start new thread")
        with _lock:  # a start that failed sends no exit signal to its caller
            for q in pid._links:
                _drop_link(q, pid)
            pid._links = ()
            pid._parent = None
        die(pid, "noproc", False)
        raise
    if orphan:
        die(pid, "noproc", True)
    return pid


def _run(pid: Pid) -> None:
    """A runtime thread serves ``pid`` until it hibernates or ends (a pool job)."""
    thread = threading.current_thread()
    me = thread.ident
    outer = _tls.pid  # not None only when run inline, at interpreter exit (_pool.submit)
    name = thread.name
    attached = False
    # a kill may fire at any check from the attach on, even at the one right after the
    # lock's release (a GIL switch there lets the killer inject, and the exception is
    # raised as this thread takes the GIL back): the attach is inside the try
    try:
        with _lock:
            if not pid._alive:  # killed while it waited for a thread
                return
            pid._ident = me
            _tls.pid = pid
            attached = True
        thread.name = f"parent-{pid._id}-{pid._label}"
        # each process runs in a contextvars context of its own, not its runtime
        # thread's: what one process sets is never seen by the next one served on the
        # same thread, and follows the process across hibernation
        ctx = pid._ctx or contextvars.Context()
        try:
            while True:
                step = pid._next
                assert step is not None
                reason = ctx.run(step, pid)
                if reason is not HIBERNATE:
                    break
                pid._ctx = ctx if len(ctx) else None
                if _hibernate(pid):
                    attached = False
                    return
                if not pid._alive:  # killed just as it was about to hibernate
                    return
        except _Killed:
            return
        except StopRequested as stop:
            reason = stop.reason
        except BaseException as exc:  # a plain process crashed
            reason = exc
            log_crash(pid, exc, None)
        die(pid, reason, False)
    except _Killed:
        pass  # a kill that raced with this process's own exit
    finally:
        # a pending kill can fire anywhere until it is cleared, _detach's own entry
        # included: retry around both
        while attached:
            try:
                _detach(pid, me)
                if pid._armed:  # a kill was injected into this thread: it may be pending
                    clear_own_pending()
                attached = False
            except _Killed:
                continue
        thread.name = name
        _tls.pid = outer


def hibernate(pid: Pid, resume: Callable[[Pid], Any]) -> _Hibernate:
    """What a process's body returns to hibernate: ``resume(pid)`` runs when it wakes
    (on whichever runtime thread wakes it) and returns as the body does."""
    pid._next = resume
    return HIBERNATE


def _hibernate(pid: Pid) -> bool:
    """Give up ``pid``'s thread if its mailbox is empty; ``False``: keep running.

    ``_hib`` is raised before the mailbox is checked, both under ``_lock``: a sender
    puts first and reads ``_hib`` after, so either its message is seen here or it sees
    ``_hib`` and wakes the process (`wake`)."""
    with _lock:
        if not pid._alive:
            return False  # killed: its kill is on its way to this thread
        pid._hib = True
        if not pid._mbox.empty():
            pid._hib = False
            return False
        pid._ident = None
        pid._cur = None  # the last call's slot and request: nothing to keep them for
        _tls.pid = None
    return True


def _detach(pid: Pid, me: int | None) -> None:
    """The calling thread leaves ``pid`` for good. From here on no kill is injected into
    it for ``pid`` (see `parent._kill`)."""
    with _lock:
        if pid._ident == me:
            pid._ident = None
        _tls.pid = None


def wake(pid: Pid) -> None:
    """Give a hibernating process a thread again (no-op unless it hibernates). Called
    by whoever just put something in its mailbox; at most one waker claims it."""
    with _lock:
        # an empty mailbox: the process took the sender's message itself before it
        # hibernated (the sender read _hib late), and has nothing to wake up for
        if not pid._hib or not pid._alive or pid._mbox.empty():
            return
        pid._hib = False
    try:
        _pool.submit(_run, pid)
    except RuntimeError:  # no thread to be had: stay hibernating, the next post retries
        with _lock:
            if pid._alive:
                pid._hib = True
        logger.warning("%r could not be woken: no thread could be started", pid)


def post(pid: Pid, item: tuple[int, Any, Any]) -> None:
    """Put ``item`` in ``pid``'s mailbox and wake it if it hibernates. The hot paths
    (`parent.process.send`, `parent.gen_server.call` and ``cast``) inline these two
    lines: the order (put, then read ``_hib``) is what makes a wake-up never lost."""
    pid._mbox.put(item)
    if pid._hib:
        wake(pid)


@contextlib.contextmanager
def acting_for(pid: Pid, watch: _Watch | None = None) -> Iterator[None]:
    """Run the block as if in ``pid`` (a plain thread doing a process's work, e.g. a
    registry starting a worker: what it starts links to ``pid``). A kill of ``pid``
    does not reach this thread. With ``watch``, the first process spawned in the block
    gets it (a registry's worker: see `passivate`)."""
    _tls.pid = pid
    _tls.watch = watch
    try:
        yield
    finally:
        _tls.pid = None
        _tls.watch = None


# -- passivation (genregistry's idle_timeout and max_workers) ---------------------------


def passivate(pid: Pid, stamp: int | None, reason: Any) -> bool:
    """Stop ``pid`` with ``reason`` (as ``gen_server.stop`` does) if it is idle: alive,
    its mailbox empty, waiting in its GenServer loop for the next message (or
    hibernating), and, with ``stamp``, having taken no message since its ``_used`` was
    ``stamp``. ``True``: it is closing; from now on `post_open` refuses it, and the stop
    request is the next item it takes. ``False``: nothing changed.

    A worker that takes a message at the very moment of the check handles it first, then
    stops; anything posted afterwards without `post_open` stays unread (a call is then
    answered ``ExitError(handled=False)``)."""
    with _lock:
        if not pid._alive or pid._closing:
            return False
        if stamp is not None and pid._used != stamp:
            return False
        if not (pid._hib or pid._top) or not pid._mbox.empty():
            return False
        pid._closing = True
        pid._mbox.put((_STOP, reason, None))
        hib = pid._hib
    if hib:
        wake(pid)
    return True


def post_open(pid: Pid, item: tuple[int, Any, Any]) -> bool:
    """`post` unless ``pid`` is dead or closing (`passivate`): ``True`` when the item is
    in a mailbox that will be read. Exact for a worker that can passivate (the check and
    the put are under ``_lock``, as `passivate`'s are)."""
    if pid._watch is None:  # it never passivates: no close to race with
        if not pid._alive:
            return False
        post(pid, item)
        return True
    with _lock:
        if not pid._alive or pid._closing:
            return False
        pid._mbox.put(item)
        hib = pid._hib
    if hib:
        wake(pid)
    return True


def on_death(pid: Pid, hook: Callable[[Pid], None]) -> None:
    """Run ``hook(pid)`` under the runtime lock when ``pid`` dies (it must not block)."""
    with _lock:
        pid._hooks = (*pid._hooks, hook)


def unless_dead(pid: Pid, fn: Callable[[], None], hook: Callable[[Pid], None] | None) -> bool:
    """Run ``fn()`` (quick, never blocking, calling no user code) and add ``hook`` as a
    death hook of ``pid``, in one step under the lock, if ``pid`` is alive: it then
    happens wholly before ``pid``'s death hooks run. ``False`` (nothing done) if dead."""
    with _lock:
        if not pid._alive:
            return False
        fn()
        if hook is not None:
            pid._hooks = (*pid._hooks, hook)
        return True


def drop_death_hook(pid: Pid, hook: Callable[[Pid], None]) -> None:
    with _lock:
        pid._hooks = tuple(h for h in pid._hooks if h is not hook)


def wait_item(pid: Pid, timeout: float | None) -> Any:
    """Wait for the next item of the calling process's own mailbox. Raises
    ``queue.Empty`` after ``timeout`` (``None``: wait forever), and `_Killed` if the
    process was killed meanwhile: a kill wakes a process that waits here with a
    sentinel instead of an injected exception (`parent._kill.interrupt`)."""
    pid._parked = True
    try:
        item = pid._mbox.get() if timeout is None else _timed_get(pid._mbox, timeout)
        if not pid._alive:
            answer_taken_unread(pid, item)
    finally:
        pid._parked = False
    if not pid._alive:
        raise _Killed
    return item


def answer_taken_unread(pid: Pid, item: Any) -> None:
    """Answer a call its dead process took just before the killer's drain, as unread.
    Called while still parked: once the process is not, the kill's injection may fire
    at any call (this one's entry included) and the item would be lost with it."""
    if type(item) is tuple and item[2] is not None:
        item[2].put(_Died(pid._reason, False))


def wait_reply(me: Pid | None, slot: SimpleQueue[Any], timeout: float | None) -> Any:
    """Wait for the answer in ``slot`` (the caller is ``me``, or a plain thread).
    Raises ``queue.Empty`` after ``timeout``, and `_Killed` if ``me`` was killed
    meanwhile (a kill wakes it through the slot)."""
    if me is not None:
        me._waiting = slot
    try:
        result = slot.get(True, timeout) if _TIMED_GET_IS_SAFE else _timed_get(slot, timeout)
    finally:
        if me is not None:
            me._waiting = None
    if me is not None and (not me._alive or result is _KILLED_WHILE_WAITING):
        raise _Killed
    return result


def take_all(pid: Pid) -> list[Any]:
    """Empty the calling process's own mailbox (its thread only)."""
    items = []
    while True:
        try:
            items.append(pid._mbox.get_nowait())
        except Empty:
            return items


def _let_pending_kill_fire() -> None:
    """Does nothing: calling it lets a pending asynchronous exception fire."""


def log_crash(pid: Pid, reason: Any, last: Any) -> None:
    """Log a crash report for ``pid`` once, with the traceback of ``reason``."""
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


# -- death -----------------------------------------------------------------------


def die(pid: Pid, reason: Any, stop_thread: bool) -> None:
    """Kill ``pid`` with ``reason`` (no-op if it is dead), then propagate: linked
    processes that do not trap exits die too, unless the reason is ``"normal"``.

    ``stop_thread`` says whether ``pid``'s thread must be stopped (a kill) or is ending on
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
        _end_all(pid, reason, stop_thread, me)
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


def _end_all(pid: Pid, reason: Any, stop_thread: bool, me: int) -> None:
    kill_self = False
    work: list[tuple[Pid, Any, bool]] = [(pid, reason, stop_thread)]
    while work:
        p, r, stop = work.pop()
        with _lock:
            if not p._alive:
                continue
            p._reason = r  # before _alive: whoever sees it dead must see its reason
            p._alive = False
            p._hib = False  # a hibernating process dies without a thread
            p._next = None
            p._ctx = None
            _live.pop(p._id, None)
            for name in p._names:
                if _names.get(name) is p:
                    del _names[name]
            p._names = _EMPTY
            links = p._links
            p._links = ()
            for q in links:
                _drop_link(q, p)
            monitors = p._monitors
            p._monitors = _NO_MONITORS
            for ref in p._monitoring:
                ref._target._monitors.pop(ref, None)
            p._monitoring = _EMPTY
            for hook in p._hooks:
                hook(p)
            p._hooks = ()
        _fail_callers(p, r)
        for q in links:
            if q._trap:
                post(q, (_INFO, Exit(p, r), None))
            elif type(r) is not str or r != "normal":
                work.append((q, r, True))
        for ref, watcher in monitors.items():
            post(watcher, (_INFO, Down(ref, p, r), None))
        if stop:
            if p._ident == me:
                kill_self = True
            else:
                interrupt(p)  # nothing to do for one that has no thread (hibernating)
        with _lock:
            p._done = True
            latch = p._latch
        if latch is not None:
            latch.set()
    if kill_self:
        raise _KillSelf


def _fail_callers(p: Pid, reason: Any) -> None:
    """Answer every call still waiting on ``p`` with its death: the one it was handling
    and those it answers later (``handled=True``), and those still unread in its
    mailbox (``handled=False``)."""
    taken = _Died(reason, True)
    cur = p._cur
    if cur is not None and cur[2] is not None:
        cur[2].put(taken)
    p._cur = None
    died = _Died(reason, False)
    mbox = p._mbox
    while True:
        try:
            item = mbox.get_nowait()
        except Empty:
            break
        if type(item) is tuple and item[2] is not None:
            item[2].put(died)
    pending = p._pending
    if pending is not None:
        # one C call under the GIL: the server's thread may still be adding to it (a
        # kill lands while it runs) and other threads drop dead slots from it
        for ref in pending.copy():
            slot = ref()
            if slot is not None:
                slot.put(taken)


def defer_reply(pid: Pid, slot: From) -> None:
    """Remember a call that ``pid`` answers later (``NoReply``), so that its death
    answers it. Called from ``pid``'s own thread only; a slot that nobody holds any more
    drops out by itself (its weak reference's callback discards it)."""
    pending = pid._pending
    if pending is None:
        pending = pid._pending = set()
    pending.add(weakref.ref(slot, pending.discard))


def answer_unread(p: Pid, slot: From) -> None:
    """A caller put its request in the mailbox of ``p`` and then found ``p`` dead: if
    the death missed it (it came after the drain), answer it as unread. Waits for the
    death to be complete first, so that a request ``p`` did take is answered as taken
    (`_fail_callers`) before this looks."""
    reason = p.join()
    if slot.empty():
        slot.put(_Died(reason, False))


def kill(pid: Pid, reason: Any = "killed") -> None:
    """Kill ``pid`` with ``reason`` whatever it traps (runtime-internal)."""
    die(pid, reason, True)
