"""The Task and TaskSupervisor guides, as one runnable script.

``Task.async_`` / ``await_`` / ``await_many``, a crash coming back as ``ExitError``,
``yield_`` and ``shutdown`` for a slow task, a GenServer awaiting a task inside
``handle_call``, ``async_stream`` (bounded, ordered or not, a timeout), and a
``TaskSupervisor`` in a supervision tree (``async_nolink``, ``start_child``, ``children``,
``max_children``).

Run it with ``python examples/guide_task.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import parent
from parent import GenServer, Task, TaskSupervisor, gen_server, supervisor


def basics() -> None:
    # --8<-- [start:basics]
    task = Task.async_(pow, 2, 10)  # runs pow(2, 10) in a new process
    print("await_ ->", Task.await_(task))  # waits up to 5 s by default

    tasks = [Task.async_(pow, 2, n) for n in range(5)]
    print("await_many ->", Task.await_many(tasks, timeout=1.0))  # one timeout for all
    # --8<-- [end:basics]


def crash() -> None:
    # --8<-- [start:crash]
    task = Task.async_(int, "forty-two")
    try:
        Task.await_(task)
    except parent.ExitError as e:
        print("the task crashed:", repr(e.reason))
        print("__cause__ is the exception:", e.__cause__ is e.reason)
    # --8<-- [end:crash]


def slow() -> None:
    # --8<-- [start:yield]
    release = threading.Event()
    task = Task.async_(release.wait)  # runs until we let it go
    print("yield_ while it runs ->", Task.yield_(task, timeout=0.05))
    try:
        Task.await_(task, timeout=0.05)
    except parent.CallTimeout:
        print("await_ timed out; the task still runs:", task.pid.is_alive())
    print("shutdown ->", Task.shutdown(task))  # stopped before it finished: None
    print("the task is dead:", not task.pid.is_alive())

    quick = Task.async_(sum, [1, 2, 3])
    quick.pid.join(1.0)  # it has finished...
    print("shutdown of a finished task ->", Task.shutdown(quick))  # ...so its result
    # --8<-- [end:yield]


# --8<-- [start:genserver]
class Prices(GenServer):
    """Answers a quote by asking two slow sources at once, in tasks."""

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        item = request
        a = Task.async_(self.source, "a", item)  # both run while we wait
        b = Task.async_(self.source, "b", item)
        return min(Task.await_many([a, b], timeout=2.0))

    @staticmethod
    def source(name: str, item: str) -> int:
        time.sleep(0.05)  # a network call, say
        return len(item) * (10 if name == "a" else 9)


# --8<-- [end:genserver]


def genserver() -> None:
    # --8<-- [start:genserver_use]
    prices = Prices.start_link()
    print("quote ->", gen_server.call(prices, "apple"))
    gen_server.stop(prices)
    # --8<-- [end:genserver_use]


def streams() -> None:
    # --8<-- [start:stream]
    def square(n: int) -> int:
        time.sleep(0.04 * (5 - n))  # the later items finish first
        return n * n

    results = Task.async_stream(range(5), square, max_concurrency=5)
    print("ordered ->", [r.value for r in results if isinstance(r, parent.Ok)])
    results = Task.async_stream(range(5), square, max_concurrency=5, ordered=False)
    print("as they finish ->", [r.value for r in results if isinstance(r, parent.Ok)])
    # --8<-- [end:stream]

    # --8<-- [start:stream_timeout]
    def check(n: int) -> str:
        if n == 2:
            time.sleep(1.0)  # stuck
        return f"item {n} ok"

    for result in Task.async_stream(range(4), check, timeout=0.3, on_timeout="kill_task"):
        match result:
            case parent.Ok(value):
                print(value)
            case parent.Exit(_, reason):
                print("an item failed:", reason)
    # --8<-- [end:stream_timeout]


def task_supervisor() -> None:
    # --8<-- [start:supervisor]
    app = supervisor.start_link([TaskSupervisor.child_spec(name="jobs", max_children=2)])

    # async_nolink: the task is a child of "jobs", not linked to us
    task = TaskSupervisor.async_nolink("jobs", int, "not a number")
    match Task.yield_(task, timeout=1.0):
        case parent.Exit(_, reason):
            print("nolink task failed:", type(reason).__name__)
    task.pid.join(1.0)  # dead: its exit is on its way to "jobs" before what we send next

    # start_child: fire and forget, under the supervisor
    done = threading.Event()
    first = TaskSupervisor.start_child("jobs", done.wait)
    print("children:", len(TaskSupervisor.children("jobs")))
    print(supervisor.count_children("jobs"))

    second = TaskSupervisor.start_child("jobs", done.wait)
    try:
        TaskSupervisor.start_child("jobs", done.wait)  # a third one: full
    except parent.StartError as e:
        print("start failed:", e.reason)
    done.set()
    first.join(1.0)  # once they are dead, their exits reach "jobs" before our next
    second.join(1.0)  # request: both places are free again

    sizes = TaskSupervisor.async_stream("jobs", ["a", "bb", "ccc"], len, max_concurrency=2)
    print("sizes ->", [r.value for r in sizes if isinstance(r, parent.Ok)])
    supervisor.stop(app)  # stops "jobs" and any task still running under it
    # --8<-- [end:supervisor]


def main() -> None:
    logging.getLogger("parent").setLevel(logging.CRITICAL)  # no crash reports here
    basics()
    crash()
    slow()
    genserver()
    streams()
    task_supervisor()


if __name__ == "__main__":
    main()
