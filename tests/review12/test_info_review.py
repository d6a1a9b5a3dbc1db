"""Review of issue 12: process.info of a server draining a backlog."""

from __future__ import annotations

import sys
import time
from typing import Any

from parent import GenServer, gen_server, process


class Busy(GenServer):
    def init(self) -> None:
        self.n = 0

    def handle_call(self, request: Any, from_: Any) -> Any:
        return self.n

    def handle_cast(self, request: Any) -> None:
        sum(range(300))
        self.n += 1


def test_handled_never_goes_back_while_a_backlog_drains() -> None:
    """The loop's inlined backlog take raises ``pid._parked`` (for kill safety) and does
    not publish ``pid._handled``; `info` then says "waiting" and reads the count
    published before the burst: ``handled`` falls from thousands back to 1 (and the page
    shows "waiting, mailbox 40000")."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch often, so that the take is seen often
    pid = Busy.start_link()
    try:
        gen_server.call(pid, "sync")
        for i in range(30_000):
            gen_server.cast(pid, i)
        drops: list[tuple[int, int, str]] = []
        last = 0
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            info = process.info(pid)
            assert info is not None
            if info.handled < last:
                drops.append((last, info.handled, info.status))
            last = max(last, info.handled)
            if info.mailbox == 0:
                break
        assert drops == [], f"{len(drops)} reads went back, e.g. {drops[:3]}"
    finally:
        sys.setswitchinterval(old)
        gen_server.stop(pid)
