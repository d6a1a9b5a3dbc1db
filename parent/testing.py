"""Helpers for tests of code built on `parent`.

The pytest fixtures ``start_supervised`` and ``stop_supervised`` come from the plugin
`parent._pytest_plugin`, registered under the ``pytest11`` entry point, so they are
available in any project that installs this package.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["wait_until"]


def wait_until(fn: Callable[[], Any], timeout: float = 1.0) -> bool:
    """Return ``True`` as soon as ``fn()`` is truthy, ``False`` once ``timeout`` seconds
    have passed. ``fn`` is re-checked with a short, growing back-off (from 0.1 ms up to
    10 ms), which is how a test waits on a condition that no event announces.

    Example:
        ```python
        process.exit(pid, "kill")
        assert wait_until(lambda: GenRegistry.lookup(Worker, "a") is None)
        ```
    """
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0, got {timeout!r}")
    deadline = time.monotonic() + timeout
    pause = 0.0001
    waiter = threading.Event()
    while True:
        if fn():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bool(fn())
        waiter.wait(min(pause, remaining))
        pause = min(pause * 2, 0.01)
