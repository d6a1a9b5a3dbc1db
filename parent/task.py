"""Task: run one function in its own process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parent import process as _p
from parent.process import Pid

__all__ = ["Task"]


class Task:
    """A process that runs ``fn(*args)`` and exits ``"normal"`` when it returns; an
    exception crashes it (logged once, reason: the exception).

    Example:
        ```python
        pid = parent.Task.start_link(print, "hello")
        assert pid.join(timeout=1.0) == "normal"
        ```
    """

    @staticmethod
    def start_link(fn: Callable[..., Any], *args: Any) -> Pid:
        """Start the task linked to the calling process.

        Example:
            ```python
            pid = parent.Task.start_link(sum, [1, 2, 3])
            ```
        """
        return _p.spawn(fn, *args, link=True)

    @staticmethod
    def start(fn: Callable[..., Any], *args: Any) -> Pid:
        """Start the task without a link.

        Example:
            ```python
            pid = parent.Task.start(print, "fire and forget")
            ```
        """
        return _p.spawn(fn, *args, link=False)
