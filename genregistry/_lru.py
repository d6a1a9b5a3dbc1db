"""Least recently used order of a registry's workers (for ``max_workers``).

A heap of ``(stamp, seq, id, pid)`` where ``stamp`` is the worker's ``Pid._used`` as it
was when the entry was pushed. A worker's loop only ever raises its ``_used``
(`parent._serve`), so an entry's stamp is never above the worker's real one, and an
entry popped with a stamp equal to the real one is the least recently used of all:
every other worker's real stamp is at least its entry's, which is at least this one.
An entry whose worker has been used since is pushed again with its new stamp; entries
of workers that are gone are dropped when they come up (and all at once when they
outnumber the live ones).

Only the registry process touches it (one writer, no lock).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Mapping

from parent.process import Pid

_Entry = tuple[int, int, Hashable, Pid]


class Lru:
    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    def add(self, id: Hashable, pid: Pid) -> None:
        """Record a worker that has just been registered."""
        heapq.heappush(self._heap, (pid._used, next(self._seq), id, pid))

    def evict(self, live: Mapping[Hashable, Pid], passivate: Callable[[Pid, int], bool]) -> bool:
        """Passivate the least recently used worker of ``live`` that can go:
        ``passivate(pid, stamp)`` says whether it could (idle, and unused since
        ``stamp``). ``False`` when none could; every worker of ``live`` stays recorded."""
        heap = self._heap
        if len(heap) > 2 * len(live) + 64:  # mostly entries of workers that are gone
            self._rebuild(live)
        busy: list[_Entry] = []
        try:
            while heap:
                entry = heapq.heappop(heap)
                stamp, _seq, id, pid = entry
                if live.get(id) is not pid:
                    continue  # gone, closing, or replaced by a newer activation
                used = pid._used
                if used != stamp:
                    heapq.heappush(heap, (used, next(self._seq), id, pid))
                    continue
                if passivate(pid, stamp):
                    return True
                busy.append(entry)  # not idle right now: a candidate again next time
            return False
        finally:
            for entry in busy:
                heapq.heappush(heap, entry)

    def _rebuild(self, live: Mapping[Hashable, Pid]) -> None:
        heap = [(pid._used, next(self._seq), id, pid) for id, pid in live.items()]
        heapq.heapify(heap)
        self._heap = heap
