"""The DynamicSupervisor guide, as one runnable script.

A hotel's rooms, started on demand under a dynamic supervisor: shared ids,
``extra_arguments``, ``max_children``, restarts, ``terminate_child``, ``Ignore``, the
queries, a module-based dynamic supervisor in a supervision tree, and the shutdown.

Run it with ``python examples/guide_dynamic_supervisor.py``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import parent
from compat import ChildSpec
from parent import (
    DynamicSupervisor,
    From,
    GenServer,
    Pid,
    dynamic_supervisor,
    gen_server,
    process,
    supervisor,
)
from parent.testing import wait_until


# --8<-- [start:room]
class Room(GenServer):
    """A room of a hotel. The hotel comes first: the supervisor's extra_arguments."""

    def init(self, hotel: str, number: int) -> None:
        if number == 13:
            raise parent.Ignore()  # no room 13: start_child raises parent.Ignored
        process.trap_exits(True)  # so terminate runs when the supervisor stops it
        self.hotel, self.number = hotel, number

    def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case "crash":
                raise RuntimeError(f"room {self.number} is on fire")
            case "checkout":
                raise parent.Stop("normal", reply="bye")
            case _:
                return f"{self.hotel} #{self.number}"

    def terminate(self, reason: Any) -> None:
        print(f"  room {self.number} closes ({reason})")


def room(number: int, restart: parent.Restart = "permanent") -> ChildSpec:
    """Every room has the id "room": a dynamic supervisor doesn't mind."""
    return {"id": "room", "start": (Room.start_link, [number]), "restart": restart}


def pids(sup: parent.Server) -> list[Pid]:
    return [pid for _, pid, _, _ in supervisor.which_children(sup) if pid is not None]


def names(sup: parent.Server) -> list[str]:
    return [gen_server.call(pid, "name") for pid in pids(sup)]


# --8<-- [end:room]


def basics() -> None:
    # --8<-- [start:start]
    rooms = dynamic_supervisor.start_link(
        name="rooms", max_children=3, extra_arguments=["Grand Hotel"]
    )
    dynamic_supervisor.start_child("rooms", room(101))
    dynamic_supervisor.start_child("rooms", room(102, restart="transient"))
    print("rooms:", names("rooms"))
    print(supervisor.which_children("rooms")[0][0], supervisor.count_children("rooms"))
    # --8<-- [end:start]

    # --8<-- [start:limits]
    try:
        dynamic_supervisor.start_child("rooms", room(13))
    except parent.Ignored:
        print("room 13: ignored, rooms:", len(names("rooms")))
    dynamic_supervisor.start_child("rooms", room(103))
    try:
        dynamic_supervisor.start_child("rooms", room(104))
    except parent.StartError as e:
        print("room 104:", e.reason)
    # --8<-- [end:limits]

    # --8<-- [start:restarts]
    before = pids("rooms")
    with contextlib.suppress(parent.ExitError):
        gen_server.call(before[0], "crash")  # permanent: restarted, same arguments
    wait_until(lambda: before[0] not in pids("rooms"), 5.0)
    print("after a crash:", names("rooms"))
    reply = gen_server.call(before[1], "checkout")  # transient, and a normal exit
    before[1].join(5.0)
    print("checkout:", reply)
    wait_until(lambda: supervisor.count_children("rooms")["active"] == 2, 5.0)
    print("after a checkout:", names("rooms"))
    # --8<-- [end:restarts]

    # --8<-- [start:terminate]
    first = pids("rooms")[0]
    dynamic_supervisor.terminate_child("rooms", first)
    try:
        dynamic_supervisor.terminate_child("rooms", first)
    except parent.NotFound:
        print("terminated, not restarted:", names("rooms"))
    # --8<-- [end:terminate]

    # --8<-- [start:stop]
    dynamic_supervisor.start_child("rooms", room(105))
    dynamic_supervisor.stop("rooms")  # the rooms are stopped all at once
    print("stopped:", not rooms.is_alive())
    # --8<-- [end:stop]


# --8<-- [start:module]
class Floor(DynamicSupervisor):
    """The rooms of one floor of a hotel, at most ``size`` of them."""

    def init(self, hotel: str, size: int = 2) -> Any:
        return dynamic_supervisor.init(max_children=size, extra_arguments=[hotel])


def tree() -> None:
    hotel = supervisor.start_link(
        [
            (DynamicSupervisor, {"name": "suites", "extra_arguments": ["Suites"]}),
            {**Floor.child_spec("Annex"), "id": "annex"},  # Floor.init("Annex")
        ]
    )
    for id, _pid, kind, modules in supervisor.which_children(hotel):
        print(f"{id:<7} {kind:<10} {[m.__name__ for m in modules]}")
    annex = next(pid for id, pid, _, _ in supervisor.which_children(hotel) if id == "annex")
    assert annex is not None
    dynamic_supervisor.start_child(annex, room(1))
    dynamic_supervisor.start_child("suites", room(2))
    print("annex:", names(annex), "suites:", names("suites"))
    print("callback module:", supervisor.get_callback_module(annex).__name__)
    supervisor.stop(hotel)


# --8<-- [end:module]


def main() -> None:
    # The crash below is logged as a crash report and a supervisor report to the
    # "parent" logger; keep this example's output short.
    logging.getLogger("parent").setLevel(logging.CRITICAL)
    basics()
    tree()


if __name__ == "__main__":
    main()
