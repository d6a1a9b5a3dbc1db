"""Move the process to the kernel's global futex hash once many processes are live.

Why. Every blocking primitive that our processes wait on (``threading.Lock``,
``Condition``, ``Event``, ``queue.SimpleQueue``) ends in a ``futex(2)`` wait, and the
kernel finds a futex's waiters through a hash table. Since Linux 6.16 a multi-threaded
process gets a *private* futex hash, sized from the number of CPUs: 16 slots on a 2-CPU
machine. A wake-up walks the whole slot of its futex, so with thousands of threads
parked (one per idle process) every hand-off between two threads pays for a walk past
``live / 16`` strangers. Measured by ``benchmarks/futex.py`` (2-CPU VM, Linux 6.18,
CPython 3.11, pinned to one CPU; see ``benchmarks/README.md``): a request/reply round
trip over two ``SimpleQueue`` objects takes 17 us with no idle thread, 27 us with 2,000
and 210 us with 20,000; a ``gen_server.call`` 16, 29 and 231 us. On the global hash (the
one every process used before 6.16: 256 slots per possible CPU, machine-wide) the same
round trips take 16, 17 and 16 us, and 17, 19 and 17 us: 13-14x faster at 20,000 idle
threads. Starting the 20,000 threads is about 3x faster too (2 s instead of 6).
``prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS, 0)`` moves the process there.

What it costs. One system call of 15-30 ms, about the same whether 0 or 20,000 threads
are parked (ctypes releases the GIL meanwhile), paid once by the process start that
crosses the threshold. After it the round trips above are at their global-hash figures:
switching late, with the threads already alive, loses nothing. With few threads there is
no measurable difference (17.4 vs 15.7 us raw, 15.9 vs 16.6 us ours, with none idle). It
is one-way: once on the global hash, ``PR_FUTEX_HASH_SET_SLOTS`` with any value (nonzero
to go back to a private hash, or 0 again) fails with ``EBUSY`` for the rest of the
process's life, and threads started later stay on it. A ``fork()`` child starts over
with a private hash of its own at its first thread. The global hash is shared with the
other processes on the machine that use it (the pre-6.16 behaviour of all of them),
hence the runtime only switches once ``THRESHOLD`` processes are live (`maybe_switch`,
called on every process start) rather than at import.

Opting out. ``PARENT_FUTEX_HASH=private`` (or ``0`` or ``off``) in the environment
leaves the hash alone; unset or ``global`` is the default. Any other value warns once
and counts as the default.

Where unsupported (not Linux, no ``prctl`` in the C library, a kernel older than 6.16
answering ``EINVAL``, any other ``OSError``) nothing happens and nothing is raised.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys
import threading
import warnings
from typing import Protocol

__all__ = ["ENV_VAR", "THRESHOLD", "maybe_switch", "slots", "use_global_hash"]

THRESHOLD: int = 1000
"""`maybe_switch` switches once at least this many processes are live."""

ENV_VAR = "PARENT_FUTEX_HASH"
"""``global`` (default) or ``private`` / ``0`` / ``off`` (never touch the hash)."""

# include/uapi/linux/prctl.h (Linux 6.16+)
PR_FUTEX_HASH = 78
PR_FUTEX_HASH_SET_SLOTS = 1
PR_FUTEX_HASH_GET_SLOTS = 2

_OPT_OUT = frozenset({"private", "0", "off"})
_DEFAULT = frozenset({"", "global"})

_log = logging.getLogger("parent")
_lock = threading.Lock()
_done = False  # maybe_switch has made its one attempt (read without the lock: fast path)
_global = False  # this process is known to be on the global hash (one-way: never reset)
_warned = False  # the bad ENV_VAR value has been reported


class _Prctl(Protocol):
    def __call__(self, option: int, arg2: int, arg3: int, arg4: int, arg5: int, /) -> int: ...


def _load_prctl() -> _Prctl | None:
    """The C library's ``prctl``, typed, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    ulong = ctypes.c_ulong
    fn.argtypes = [ctypes.c_int, ulong, ulong, ulong, ulong]
    fn.restype = ctypes.c_int
    return fn


def _futex_hash(op: int, arg: int = 0) -> int:
    """``prctl(PR_FUTEX_HASH, op, arg, 0, 0)``; raises OSError on failure."""
    fn = _load_prctl()
    if fn is None:
        raise OSError(errno.ENOSYS, "prctl is not available on this platform")
    ctypes.set_errno(0)
    result = fn(PR_FUTEX_HASH, op, arg, 0, 0)
    if result < 0:
        err = ctypes.get_errno() or errno.EINVAL
        raise OSError(err, os.strerror(err))
    return result


def slots() -> int | None:
    """The process's futex hash slots now (``PR_FUTEX_HASH_GET_SLOTS``): 0 means the
    global hash (or, before the process's first thread, no private hash yet); None where
    unsupported."""
    try:
        return _futex_hash(PR_FUTEX_HASH_GET_SLOTS)
    except Exception:
        return None


def _opted_out() -> bool:
    """True when ENV_VAR asks to leave the hash alone; warns once on a bad value."""
    global _warned
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in _OPT_OUT:
        return True
    if value not in _DEFAULT and not _warned:
        _warned = True
        try:
            warnings.warn(
                f"{ENV_VAR}={os.environ.get(ENV_VAR)!r} is not one of 'global', 'private', "
                "'0', 'off': using the default ('global')",
                RuntimeWarning,
                stacklevel=3,
            )
        except Exception:  # warnings turned into errors: still never raise
            _log.warning("bad %s value %r: using the default", ENV_VAR, os.environ.get(ENV_VAR))
    return False


def use_global_hash() -> bool:
    """Move this process to the kernel's global futex hash (idempotent, never raises).

    True if the process is on the global hash now (it already was, or has just been
    moved); False where unsupported or when opted out through ``PARENT_FUTEX_HASH``.
    The move cannot be undone.
    """
    global _global
    try:
        with _lock:
            if _global:
                return True
            if _opted_out():
                _log.debug("futex hash: left as it is (%s=%s)", ENV_VAR, os.environ[ENV_VAR])
                return False
            before = slots()
            try:
                _futex_hash(PR_FUTEX_HASH_SET_SLOTS, 0)
            except OSError as e:
                # EBUSY: the process is on the global hash already (one-way)
                if e.errno == errno.EBUSY and slots() == 0:
                    _global = True
                    _log.debug("futex hash: already on the global hash")
                    return True
                _log.debug(
                    "futex hash: cannot switch to the global hash (%s: %s)",
                    errno.errorcode.get(e.errno or 0, e.errno),
                    "Linux < 6.16?" if e.errno == errno.EINVAL else e.strerror,
                )
                return False
            _global = True
            _log.debug("futex hash: switched to the global hash (private slots before: %s)", before)
            return True
    except Exception as e:  # a last resort: the runtime's spawn must not fail here
        _log.debug("futex hash: not switched (%r)", e)
        return False


def maybe_switch(live: int) -> None:
    """Called with the number of live processes on every process start: the first time
    ``live >= THRESHOLD``, calls `use_global_hash` (once, whatever its outcome)."""
    global _done
    if _done or live < THRESHOLD:
        return
    with _lock:
        if _done:
            return
        _done = True
    use_global_hash()
