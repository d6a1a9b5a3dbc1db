"""The hibernation guide (and the scaling guide's registry), as one runnable script.

An idle timeout (``parent.Timeout`` and ``parent.TIMEOUT``), hibernation from a callback
(``parent.Hibernate``) and by the ``hibernate_after`` start option (a GenServer, an
Agent, a Parent), how an explicit ``Timeout`` and a supervisor query interact with
them, context variables across hibernation, a process that must not hibernate (it holds
a sqlite3 connection), ``ExitError.handled``, and a registry of workers that hibernate.

Run it with ``python examples/hibernation.py``.
"""

from __future__ import annotations

import contextvars
import sqlite3
import threading
from collections.abc import Callable, Hashable
from typing import Any

import parent
from genregistry import GenRegistry
from parent import Agent, From, GenServer, Pid, gen_server, supervisor
from parent.testing import wait_until


# --8<-- [start:session]
class Session(GenServer):
    """A login session that ends itself after ``idle`` seconds without a request."""

    def init(self, user: str, idle: float) -> parent.Timeout:
        self.user = user
        self.idle = idle
        return parent.Timeout(idle)  # init may start the countdown too

    def handle_call(self, request: Any, from_: From) -> parent.Timeout:
        # every request answers and starts the countdown again
        return parent.Timeout(self.idle, reply=f"{self.user}: {request}")

    def handle_info(self, message: Any) -> None:
        if message is parent.TIMEOUT:  # idle seconds passed with no message at all
            raise parent.Stop("normal")
        # --8<-- [end:session]


def session() -> None:
    # --8<-- [start:session_use]
    pid = Session.start_link("ada", 0.1)
    print(gen_server.call(pid, "hello"))
    print("session ended:", pid.join(timeout=5.0))
    # --8<-- [end:session_use]


# --8<-- [start:hibernate]
class Inbox(GenServer):
    """Keeps one user's unread messages; there is nothing to do between two of them."""

    def init(self) -> parent.Hibernate:
        self.unread: list[str] = []
        return parent.Hibernate()  # started, and asleep until the first request

    def handle_cast(self, request: Any) -> parent.Hibernate:
        self.unread.append(request)
        return parent.Hibernate()

    def handle_call(self, request: Any, from_: From) -> parent.Hibernate:
        if request == "count":
            return parent.Hibernate(reply=len(self.unread))  # reply, then hibernate
        raise ValueError(request)
        # --8<-- [end:hibernate]


def hibernating_inboxes() -> None:
    # --8<-- [start:hibernate_use]
    inboxes = [Inbox.start_link() for _ in range(1_000)]
    gen_server.cast(inboxes[7], "hi")  # wakes inbox 7, which hibernates again
    # a runtime thread given back stays parked for a moment in case new work comes
    # (parent._pool.LINGER), then exits
    print("only the main thread:", wait_until(lambda: threading.active_count() == 1, 5.0))
    print("all alive:", all(pid.is_alive() for pid in inboxes))
    print("inbox 7 unread:", gen_server.call(inboxes[7], "count"))  # its state is intact
    for pid in inboxes:
        gen_server.stop(pid)  # a stop wakes it, terminate runs, it exits
    # --8<-- [end:hibernate_use]


class Counter(GenServer):
    def init(self) -> None:
        self.n = 0

    def handle_call(self, request: Any, from_: From) -> int:
        self.n += request
        return self.n


class Jobs(parent.Parent):
    """A Parent that runs one-off jobs as children; idle most of the time."""

    def handle_call(self, request: Any, from_: From) -> None:
        self.start_child({"id": request, "start": (parent.Task.start_link, [print, request])})


def hibernate_after() -> None:
    # --8<-- [start:hibernate_after]
    counter = Counter.start_link(hibernate_after=0.05)  # any GenServer subclass
    settings = Agent.start_link(dict, hibernate_after=0.05)
    jobs = Jobs.start_link(hibernate_after=0.05)  # a Parent (or Supervisor) is a GenServer

    print("counter:", gen_server.call(counter, 2), gen_server.call(counter, 3))
    Agent.update(settings, lambda d: {**d, "debug": True})
    print("settings:", Agent.get(settings, lambda d: d))
    gen_server.call(jobs, "job 1")  # wakes the parent, which starts a Task child
    for pid in (counter, settings, jobs):
        gen_server.stop(pid)
    # --8<-- [end:hibernate_after]


# --8<-- [start:override]
class Poller(GenServer):
    """Started with hibernate_after, but a Timeout keeps it awake for that wait."""

    def init(self, done: threading.Event) -> parent.Timeout:
        self.done = done
        self.polls = 0
        return parent.Timeout(0.1)

    def handle_info(self, message: Any) -> parent.Timeout | None:
        if message is parent.TIMEOUT:
            self.polls += 1
            if self.polls < 3:
                return parent.Timeout(0.1)  # poll again in 0.1 s
            self.done.set()
        return None  # back to the default wait: hibernate after hibernate_after
        # --8<-- [end:override]


def timeout_overrides_hibernate_after() -> None:
    # --8<-- [start:override_use]
    done = threading.Event()
    pid = Poller.start_link(done, hibernate_after=0.01)
    # a hibernating process has no countdown: three TIMEOUTs show it stayed awake
    print("polled three times:", done.wait(5.0))
    gen_server.stop(pid)
    # --8<-- [end:override_use]


# --8<-- [start:system]
class Pool(parent.Parent):
    """A Parent that reports when it has been left alone for 0.2 s."""

    def init(self, done: threading.Event) -> parent.Timeout:
        self.done = done
        return parent.Timeout(0.2)

    def handle_info(self, message: Any) -> None:
        if message is parent.TIMEOUT:
            self.done.set()
            # --8<-- [end:system]


def system_queries() -> None:
    # --8<-- [start:system_use]
    done = threading.Event()
    pool = Pool.start_link(done)
    print(supervisor.count_children(pool))  # a system request: the countdown goes on
    print("TIMEOUT after the query:", done.wait(5.0))
    gen_server.stop(pool)
    # --8<-- [end:system_use]


# --8<-- [start:contextvars]
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class Tagged(GenServer):
    def init(self) -> parent.Hibernate:
        request_id.set("req-42")  # a context variable follows the process
        return parent.Hibernate()

    def handle_call(self, request: Any, from_: From) -> parent.Hibernate:
        return parent.Hibernate(reply=request_id.get())
        # --8<-- [end:contextvars]


def context_variables() -> None:
    pid = Tagged.start_link()
    print("after hibernating:", gen_server.call(pid, "id"), gen_server.call(pid, "id"))
    gen_server.stop(pid)


# --8<-- [start:sqlite]
class Store(GenServer):
    """Owns a sqlite3 connection, which may only be used by the thread that opened it:
    this process never hibernates (no hibernate_after, no Hibernate return)."""

    def init(self) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute("create table kv (k text primary key, v text)")

    def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case ("put", key, value):
                self.db.execute("insert or replace into kv values (?, ?)", (key, value))
                return None
            case ("get", key):
                row = self.db.execute("select v from kv where k = ?", (key,)).fetchone()
                return None if row is None else row[0]
            case _:
                raise ValueError(request)

    def terminate(self, reason: Any) -> None:
        self.db.close()
        # --8<-- [end:sqlite]


def sqlite_store() -> None:
    pid = Store.start_link()
    gen_server.call(pid, ("put", "colour", "blue"))
    print("colour:", gen_server.call(pid, ("get", "colour")))
    gen_server.stop(pid)


# --8<-- [start:handled]
class Flaky(GenServer):
    def handle_call(self, request: Any, from_: From) -> Any:
        if request == "crash":
            raise RuntimeError("boom")
        return request


def call_retrying(find: Callable[[], Pid], request: Any, attempts: int = 3) -> Any:
    """Call the server ``find()`` returns (e.g. a registry's ``lookup_or_start``);
    send the request again, to a new server, only while it was never read."""
    for _ in range(attempts - 1):
        try:
            return gen_server.call(find(), request)
        except parent.ExitError as e:
            if e.handled:
                raise  # the server took the request: it may have had an effect
    return gen_server.call(find(), request)
    # --8<-- [end:handled]


def exit_error_handled() -> None:
    # --8<-- [start:handled_use]
    pid = Flaky.start()  # its crash report goes to the "parent" logger (stderr)
    try:
        call_retrying(lambda: pid, "crash")
    except parent.ExitError as e:
        print("crashed while handling it, handled =", e.handled, repr(e.reason))
    # --8<-- [end:handled_use]


# --8<-- [start:registry]
class Phone(GenServer):
    """One phone number's state; a registry may hold a million of them."""

    @classmethod
    def start_link(
        cls,
        *args: Any,
        name: Hashable = None,
        timeout: float | None = 5.0,
        hibernate_after: float | None = 0.05,  # every worker hibernates when idle
    ) -> Pid:
        return super().start_link(
            *args, name=name, timeout=timeout, hibernate_after=hibernate_after
        )

    def init(self, number: str) -> None:
        self.number = number
        self.calls = 0

    def handle_call(self, request: Any, from_: From) -> int:
        self.calls += 1
        return self.calls
        # --8<-- [end:registry]


def registry() -> None:
    # --8<-- [start:registry_use]
    sup = supervisor.start_link([GenRegistry.child_spec(worker_module=Phone)])
    for n in range(2_000):
        GenRegistry.lookup_or_start(Phone, n, [f"+1555{n:07}"])
    print("workers:", GenRegistry.count(Phone))
    # 2,000 workers asleep; the registry and its supervisor keep a thread each
    print("3 threads:", wait_until(lambda: threading.active_count() == 3, 5.0))
    worker = GenRegistry.lookup(Phone, 1_234)  # a dict read: no thread needed
    assert worker is not None
    print("calls:", gen_server.call(worker, "ring"))  # wakes it on a runtime thread
    supervisor.stop(sup)  # the registry stops every worker, asleep or not
    # --8<-- [end:registry_use]


def main() -> None:
    session()
    hibernating_inboxes()
    hibernate_after()
    timeout_overrides_hibernate_after()
    system_queries()
    context_variables()
    sqlite_store()
    exit_error_handled()
    registry()


if __name__ == "__main__":
    main()
