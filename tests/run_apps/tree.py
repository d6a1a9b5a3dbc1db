"""An application for tests/test_run.py: `parent.run` over a small tree, in its own
interpreter so that the test can send it real signals.

    python tests/run_apps/tree.py MODE

Every child says what it does on stdout, one line each, ending with
``time.monotonic()`` (the same clock in the test's process, on Linux and macOS):
``started NAME T``, ``init NAME begin T``, ``terminate NAME begin T``,
``terminate NAME end T``. After `parent.run` returns, the script prints ``returned
REASON T`` and ``alive N T`` (the processes still alive) and exits 0. The ``parent``
logger writes to stderr at INFO.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import parent
from parent import GenServer, process, supervisor


def say(*words: str) -> None:
    print(*words, f"{time.monotonic():.6f}", flush=True)


class Worker(GenServer):
    """Traps exits (so that its terminate runs when the supervisor stops it); its init
    takes ``init_seconds`` and its terminate ``stop_seconds``."""

    def init(self, name: str, stop_seconds: float, init_seconds: float) -> None:
        process.trap_exits(True)
        self.name = name
        self.stop_seconds = stop_seconds
        if init_seconds:
            say("init", name, "begin")
            time.sleep(init_seconds)
        say("started", name)

    def terminate(self, reason: Any) -> None:
        say("terminate", self.name, "begin")
        time.sleep(self.stop_seconds)
        say("terminate", self.name, "end")


def worker(name: str, stop: float, shutdown: float, init: float = 0.0) -> dict[str, Any]:
    return {"id": name, "start": (Worker.start_link, [name, stop, init]), "shutdown": shutdown}


TREES: dict[str, list[Any]] = {
    # a's terminate takes 0.5 s of its 2.0; b's would take 30 s of its 0.3
    "order": [worker("a", 0.5, 2.0), worker("b", 30.0, 0.3), worker("c", 0.0, 1.0)],
    # stops hang first, whose terminate would take 30 s of its 60; deep is a grandchild
    "second": [
        worker("a", 0.0, 5.0),
        {
            "id": "sub",
            "start": (supervisor.start_link, [[worker("deep", 30.0, 60.0)]]),
            "type": "supervisor",
        },
        worker("hang", 30.0, 60.0),
    ],
    # slow's init takes 1 s
    "slow-start": [worker("a", 0.0, 1.0), worker("slow", 0.0, 1.0, init=1.0)],
    # hang's init would take 30 s (its start_link gives up after 5)
    "hang-start": [worker("a", 0.0, 1.0), worker("hang", 0.0, 1.0, init=30.0)],
}


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    reason = parent.run(TREES[sys.argv[1]])
    say("returned", str(reason))
    say("alive", str(len(process.list())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
