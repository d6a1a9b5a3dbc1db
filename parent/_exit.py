"""Interpreter exit: every live process is shut down as its supervisor or parent would.

Registered with ``atexit`` when `parent.process` is imported.
"""

from __future__ import annotations

import atexit
import contextlib
import time

from parent._info import processes
from parent._lifecycle import kill
from parent._runtime import Pid
from parent.process import _request_stop

EXIT_GRACE = 5.0  # for a process outside any tree, and added to a tree's own needs
EXIT_LIMIT = 60.0  # no root is given longer than this: the interpreter must not hang


def _exit_grace(root: Pid) -> float:
    """How long a top-level process may take to stop at interpreter exit: the default
    grace plus what its tree needs to stop its children (a Parent's ``_exit_grace``),
    never more than ``EXIT_LIMIT``."""
    needs = getattr(root._server, "_exit_grace", None)
    extra = 0.0
    if callable(needs):
        with contextlib.suppress(Exception):
            extra = float(needs())
    return min(EXIT_GRACE + extra, EXIT_LIMIT)


def _shutdown_all_at_exit() -> None:
    """Stop every live process, top-level trees first, as their parents would: roots
    get a polite stop (``"shutdown"``) and each is killed if it is still alive after
    its grace period. Runs once, from ``atexit``; never blocks for longer than the
    longest grace period plus a kill."""
    procs = processes()
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
            kill(p)
    deadline = max(deadlines, default=start + EXIT_GRACE)
    # what the roots left behind is still shutting down on its parent's exit signal (a
    # trapping child runs terminate): it gets the rest of the grace period, then is killed
    for p in processes():
        try:
            p.join(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            kill(p)


atexit.register(_shutdown_all_at_exit)
