"""Delivering a kill to a thread, and making sure a reused thread carries none.

Python cannot stop a thread. A killed process's thread is woken if it waits at one of
the runtime's own wait points, and otherwise gets `_Killed` injected with
``PyThreadState_SetAsyncExc``, raised at its next bytecode boundary (`interrupt`).
Three CPython facts shape this module:

* a thread being created carries its creator's id until it runs (<= 3.11), so nothing
  is injected while any thread is being started (`_inject`);
* below 3.13 an injection raises a flag for the whole interpreter, which is lowered at
  once by injecting `_Lowered` into the injecting thread itself (`_inject`);
* asynchronous exceptions belong to the thread, not to the process: a runtime thread
  that left a killed process may still hold that kill, pending. Before it runs another
  process it replaces whatever is pending with its own `_Lowered` and catches it
  (`clear_own_pending`), which proves nothing is left.

Every injection happens under ``_lock`` and targets the thread the process is attached
to at that moment (``Pid._ident``); a thread detaches under the same lock, so once it
has, no new kill for that process can reach it.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from typing import Any

from parent._runtime import _KILLED_WHILE_WAITING, _WAKE_ITEM, Pid, _Killed, _lock, _tls

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.c_void_p)
_set_async_exc.restype = ctypes.c_int


def interrupt(pid: Pid) -> None:
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
            if pid._ident is not None and not pid._parked and pid._waiting is None:
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
    if me is None or me._alive or me._ident is None:
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
    interrupt(pid)


def clear_own_pending() -> None:
    """Drop any asynchronous exception pending on the calling thread, and prove it.

    Called by a runtime thread that has detached from a killed process, before it
    serves another: the kill may have been injected and not fired yet (its thread was
    blocked in C, or left the process's code before reaching a check). One pending
    exception per thread is all CPython keeps, so injecting `_Lowered` replaces it;
    catching `_Lowered` then shows that the slot is empty, and raising it also lowered
    the interpreter-wide flag. No new kill can target this thread meanwhile: the
    process it left has ``_ident = None`` (see the module docstring)."""
    me = threading.get_ident()
    while True:
        try:
            _set_async_exc(me, _LOWERED_ID)
            _c_noop()
            _c_noop()
        except _Lowered:
            return
        except _Killed:  # pragma: no cover - only if _Lowered could not replace it
            continue
