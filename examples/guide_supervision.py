"""The supervision guide, as one runnable script.

Strategies, restart types, restart intensity, a module-based supervision tree, the
supervisor queries and dynamic children.

Run it with ``python examples/guide_supervision.py``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import parent
from compat import ChildSpec
from parent import From, GenServer, Pid, Supervisor, gen_server, supervisor
from parent.testing import wait_until


# --8<-- [start:worker]
class Worker(GenServer):
    def init(self, name: str) -> None:
        self.name = name

    def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case "crash":
                raise RuntimeError(f"{self.name} crashed")
            case "finish":
                raise parent.Stop("normal", reply="done")
            case _:
                return self.name


def worker(name: str, restart: parent.Restart = "permanent") -> ChildSpec:
    """A child spec for a Worker called ``name``."""
    return {"id": name, "start": (Worker.start_link, [name]), "restart": restart}


def pids(sup: parent.Server) -> dict[Any, Pid | None]:
    return {id: pid for id, pid, _type, _modules in supervisor.which_children(sup)}


def crash(sup: parent.Server, id: str) -> None:
    """Crash child ``id`` and wait until the supervisor has dealt with it."""
    before = pids(sup)
    with contextlib.suppress(parent.ExitError):
        gen_server.call(before[id], "crash")
    wait_until(lambda: pids(sup).get(id) not in (before[id], None), timeout=5.0)


# --8<-- [end:worker]


def strategies() -> None:
    # --8<-- [start:strategies]
    strategies: list[parent.Strategy] = ["one_for_one", "one_for_all", "rest_for_one"]
    for strategy in strategies:
        sup = supervisor.start_link([worker("a"), worker("b"), worker("c")], strategy=strategy)
        before = pids(sup)
        crash(sup, "b")
        after = pids(sup)
        restarted = [id for id in before if after[id] is not before[id]]
        print(f"{strategy}: b crashed, restarted {restarted}")
        supervisor.stop(sup)
    # --8<-- [end:strategies]


def restart_types() -> None:
    # --8<-- [start:restart_types]
    sup = supervisor.start_link(
        [
            worker("permanent"),
            worker("transient", restart="transient"),
            worker("temporary", restart="temporary"),
        ]
    )
    for id in ["transient", "temporary"]:
        gen_server.call(pids(sup)[id], "finish")  # a normal exit
    wait_until(lambda: len(pids(sup)) == 2 and pids(sup)["transient"] is None, timeout=5.0)
    print("after normal exits:", {id: pid is not None for id, pid in pids(sup).items()})
    crash(sup, "permanent")
    print("permanent after a crash: running again =", pids(sup)["permanent"] is not None)
    supervisor.stop(sup)
    # --8<-- [end:restart_types]


def intensity() -> None:
    # --8<-- [start:intensity]
    sup = supervisor.start_link([worker("flaky")], max_restarts=2, max_seconds=5.0)
    crash(sup, "flaky")  # restart 1
    crash(sup, "flaky")  # restart 2
    with contextlib.suppress(parent.ExitError):
        gen_server.call(pids(sup)["flaky"], "crash")  # a 3rd within 5 s: too many
    print("supervisor exit reason:", sup.join(timeout=1.0))
    # --8<-- [end:intensity]


# --8<-- [start:tree]
class Pool(Supervisor):
    """``size`` interchangeable workers; any one can crash alone."""

    def init(self, size: int) -> Any:
        children = [worker(f"worker-{i}") for i in range(size)]
        return supervisor.init(children, strategy="one_for_one")


class App(Supervisor):
    """The cache must be up before the pool; if it crashes, the pool restarts too."""

    def init(self) -> Any:
        return supervisor.init(
            [worker("cache"), (Pool, 2)],  # (class, arg) means Pool.child_spec(2)
            strategy="rest_for_one",
            max_restarts=3,
            max_seconds=5.0,
        )


# --8<-- [end:tree]


def tree() -> None:
    # --8<-- [start:queries]
    app = App.start_link(name="app")
    for id, _pid, kind, modules in supervisor.which_children("app"):
        name = id.__name__ if isinstance(id, type) else id
        print(f"{name:<6} {kind:<10} {[m.__name__ for m in modules]}")
    print(supervisor.count_children("app"))
    print(supervisor.get_callback_module("app").__name__)
    pool = pids("app")[Pool]
    assert pool is not None
    print("pool workers:", list(pids(pool)))
    # --8<-- [end:queries]

    # --8<-- [start:dynamic]
    extra = supervisor.start_child(pool, worker("worker-extra"))
    try:
        supervisor.start_child(pool, worker("worker-extra"))
    except parent.AlreadyStarted as e:
        print("already started:", e.pid is extra)
    supervisor.terminate_child(pool, "worker-extra")  # stopped, spec kept
    print("after terminate_child:", pids(pool)["worker-extra"])
    supervisor.restart_child(pool, "worker-extra")
    supervisor.terminate_child(pool, "worker-extra")
    supervisor.delete_child(pool, "worker-extra")  # spec forgotten
    print("after delete_child:", list(pids(pool)))
    # --8<-- [end:dynamic]

    supervisor.stop("app")
    print("app stopped:", not app.is_alive(), "pool stopped:", not pool.is_alive())


def main() -> None:
    # Each crash below is logged as a crash report to the "parent" logger; keep this
    # example's output short.
    logging.getLogger("parent").setLevel(logging.CRITICAL)
    strategies()
    restart_types()
    intensity()
    tree()


if __name__ == "__main__":
    main()
