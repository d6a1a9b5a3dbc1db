"""The GenServer guide, as one runnable script.

A stack server shows the callbacks (``init``, ``handle_call``, ``handle_cast``,
``handle_info``, ``handle_continue``, ``terminate``), ``Continue``, a deferred reply
(``NoReply`` + ``gen_server.reply``), ``Stop`` with a reply, call timeouts and the
crash report of an abnormal exit.

Run it with ``python examples/guide_genserver.py``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import parent
from parent import From, GenServer, gen_server, process


# --8<-- [start:stack]
class Stack(GenServer):
    """A stack of ints. ``pop`` on an empty stack waits until something is pushed."""

    def init(self, *items: int) -> parent.Continue:
        self.items: list[int] = []
        self.waiting: list[From] = []  # callers of "pop" on an empty stack
        self.ticks = 0
        # start_link returns as soon as init does; the slow part runs in handle_continue
        return parent.Continue(("load", items))

    def handle_continue(self, arg: Any) -> None:
        _, items = arg
        self.items.extend(items)  # imagine reading a file or a database here

    def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case "pop" if self.items:
                return self.items.pop()  # the return value is the reply
            case "pop":
                self.waiting.append(from_)
                return parent.NoReply  # answered later, by handle_cast
            case "size":
                return len(self.items)
            case ("sleep", seconds):
                time.sleep(seconds)
                return "slept"
            case "quit":
                raise parent.Stop("normal", reply="bye")
            case _:
                raise ValueError(f"unknown request {request!r}")

    def handle_cast(self, request: Any) -> None:
        match request:
            case ("push", item) if self.waiting:
                gen_server.reply(self.waiting.pop(0), item)
            case ("push", item):
                self.items.append(item)

    def handle_info(self, message: Any) -> None:
        if message == "tick":
            self.ticks += 1

    def terminate(self, reason: Any) -> None:
        print(f"terminate({reason!r}) with {len(self.items)} items left")

    # The client API lives on the class and hides the message format.
    @classmethod
    def push(cls, server: parent.Server, item: int) -> None:
        gen_server.cast(server, ("push", item))

    @classmethod
    def pop(cls, server: parent.Server, timeout: float | None = 5.0) -> int:
        item: int = gen_server.call(server, "pop", timeout)
        return item


# --8<-- [end:stack]


def basics() -> None:
    # --8<-- [start:basics]
    stack = Stack.start_link(1, 2, name="stack")
    Stack.push("stack", 3)  # a registered name works wherever a pid does
    print("pop ->", Stack.pop(stack))
    print("size ->", gen_server.call(stack, "size"))

    process.send(stack, "tick")  # a plain message goes to handle_info
    gen_server.stop(stack)  # returns once terminate has run and the process is dead
    print("alive after stop:", stack.is_alive())
    # --8<-- [end:basics]


def deferred_reply() -> None:
    # --8<-- [start:deferred]
    stack = Stack.start_link()
    popper = parent.Task.start(lambda: print("deferred pop ->", Stack.pop(stack)))
    time.sleep(0.05)  # the task is now waiting inside gen_server.call
    Stack.push(stack, 42)  # handle_cast answers the waiting caller
    popper.join(timeout=1.0)
    gen_server.stop(stack)
    # --8<-- [end:deferred]


def stop_with_reply() -> None:
    # --8<-- [start:stop]
    stack = Stack.start_link(7)
    answer = gen_server.call(stack, "quit")  # the reply comes before terminate runs
    reason = stack.join(timeout=1.0)  # wait until it is dead: terminate has run
    print(f"quit -> {answer}, exit reason: {reason}")
    # --8<-- [end:stop]


def timeouts() -> None:
    # --8<-- [start:timeouts]
    stack = Stack.start_link()
    try:
        gen_server.call(stack, ("sleep", 0.2), timeout=0.05)
    except parent.CallTimeout:
        print("call timed out; the server is still alive:", stack.is_alive())
    # The late reply ("slept") is dropped: the next call gets its own answer.
    print("size ->", gen_server.call(stack, "size"))
    gen_server.stop(stack)
    # --8<-- [end:timeouts]


def crash_report() -> None:
    # --8<-- [start:crash]
    reports: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            reports.append(record.getMessage())

    logger = logging.getLogger("parent")
    handler = Collect()
    logger.addHandler(handler)
    logger.propagate = False  # keep the traceback off stderr in this example
    try:
        stack = Stack.start_link()
        try:
            gen_server.call(stack, "frobnicate")
        except parent.ExitError as e:
            print("the server crashed:", repr(e.reason))
            print("__cause__ is the exception:", e.__cause__ is e.reason)
        print("join ->", repr(stack.join(timeout=1.0)))
        print("crash report:", reports[0].splitlines()[0])
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    # --8<-- [end:crash]


def failed_start() -> None:
    # --8<-- [start:start_error]
    class Picky(GenServer):
        def init(self, value: object) -> None:
            if value == "invalid":
                raise parent.Stop("invalid")
            self.value = value

    try:
        Picky.start_link("invalid")
    except parent.StartError as e:
        print("start failed:", repr(e.reason))
    # --8<-- [end:start_error]


def main() -> None:
    basics()
    deferred_reply()
    stop_with_reply()
    timeouts()
    crash_report()
    failed_start()


if __name__ == "__main__":
    main()
