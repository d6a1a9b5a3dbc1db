"""Restart intensity: the one check of ``max_restarts`` / ``max_seconds`` and the one
counter of restarts, shared by Supervisor, DynamicSupervisor and the legacy
``compat.spec.supervise`` helper.

The counter is Erlang's ``add_restart``/``inPeriod``: every restart appends its time,
times older than ``max_seconds`` are dropped, and the intensity is exceeded when more
than ``max_restarts`` times are left. Only the supervisor's own thread uses a counter, so
it needs no lock.
"""

from __future__ import annotations

import math
import time

__all__ = ["RestartIntensity", "check_intensity"]


def check_intensity(max_restarts: object, max_seconds: object, where: str) -> tuple[int, float]:
    """``(max_restarts, max_seconds)`` checked: a finite int ``>= 0`` and a finite number
    ``> 0``; ``ValueError`` naming ``where`` and the bad value otherwise."""
    if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
        raise ValueError(f"{where}: 'max_restarts' must be an int >= 0, got {max_restarts!r}")
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, (int, float))
        or not math.isfinite(max_seconds)
        or not max_seconds > 0
    ):
        raise ValueError(f"{where}: 'max_seconds' must be a finite number > 0, got {max_seconds!r}")
    return max_restarts, float(max_seconds)


class RestartIntensity:
    """Counts restarts within a sliding window of ``max_seconds``.

    Example:
        ```python
        intensity = RestartIntensity(3, 5.0)
        if not intensity.add():
            raise parent.Stop("shutdown")   # more than 3 restarts within 5 s
        ```
    """

    __slots__ = ("_times", "max_restarts", "max_seconds")

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self._times: list[float] = []

    def add(self) -> bool:
        """Count one restart now; ``False`` when the intensity is exceeded."""
        now = time.monotonic()
        period = self.max_seconds
        self._times = [now] + [t for t in self._times if now <= t + period]
        return len(self._times) <= self.max_restarts
