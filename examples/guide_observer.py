"""The "Observing a running system" guide, as one runnable script.

A small shop runs under one supervisor: a registry of carts (one worker per shopper,
hibernating between requests), a price list in an Agent, an order desk and a dynamic
supervisor of mailers. The script looks at it the four ways the guide shows:
``process.list`` and ``process.info``, ``parent.sys`` (state, and pausing a server),
``observer.format_tree`` and ``observer.serve`` (the web page and its JSON).

Run it with ``python examples/guide_observer.py``; with ``--serve`` it keeps the shop
running and its observer page open until you press Enter.
"""

from __future__ import annotations

import contextlib
import json
import sys
import urllib.request
from functools import partial
from typing import Any

import parent
from genregistry import GenRegistry
from parent import (
    Agent,
    From,
    GenServer,
    Pid,
    dynamic_supervisor,
    gen_server,
    observer,
    process,
    supervisor,
)
from parent.testing import wait_until


# --8<-- [start:shop]
class Cart(GenServer):
    """One shopper's cart: a registry worker, asleep (hibernating) between requests."""

    def init(self, shopper: str) -> None:
        self.shopper = shopper
        self.items: list[str] = []

    def handle_call(self, request: Any, from_: From) -> Any:
        _, item = request  # ("add", item)
        self.items.append(item)
        return len(self.items)


class Orders(GenServer):
    """The order desk: numbers each order and keeps those not shipped yet."""

    def init(self) -> None:
        self.pending: dict[int, list[str]] = {}
        self.next_id = 1

    def handle_call(self, request: Any, from_: From) -> Any:
        _, items = request  # ("place", items)
        order, self.next_id = self.next_id, self.next_id + 1
        self.pending[order] = items
        return order

    def handle_cast(self, request: Any) -> None:
        _, order = request  # ("shipped", order)
        self.pending.pop(order, None)


class Mailer(GenServer):
    """Sends one order's confirmation (started on demand under the mailers)."""

    def init(self, order: int) -> None:
        self.order = order


def start_shop() -> Pid:
    return supervisor.start_link(
        [
            GenRegistry.child_spec(worker_module=Cart, name="carts", hibernate_after=0.05),
            {"id": "prices", "start": partial(Agent.start_link, lambda: {"tea": 4}, "prices")},
            {"id": "orders", "start": partial(Orders.start_link, name="orders")},
            (parent.DynamicSupervisor, {"name": "mailers"}),
        ],
        name="shop",
    )
    # --8<-- [end:shop]


def open_shop() -> Pid:
    """The shop, with 300 carts and two mailers, once every process has settled (carts
    hibernating, the others waiting), so that what follows prints the same every run."""
    shop = start_shop()
    for n in range(300):
        cart = GenRegistry.lookup_or_start("carts", f"shopper-{n}", [f"shopper-{n}"])
        gen_server.call(cart, ("add", "tea"))
    for order in (1, 2):
        dynamic_supervisor.start_child(
            "mailers", {"id": order, "start": (Mailer.start_link, [order])}
        )

    def settled(info: parent.ProcessInfo | None) -> bool:
        return info is None or info.status == (
            "hibernating" if info.behaviour is Cart else "waiting"
        )

    assert wait_until(lambda: all(settled(process.info(p)) for p in process.list()), timeout=10.0)
    return shop


def infos() -> None:
    # --8<-- [start:info]
    print("processes:", len(process.list()))
    orders = process.whereis("orders")
    assert orders is not None
    info = process.info(orders)  # a frozen snapshot; None once the process is dead
    assert info is not None
    print(f"{info.names=} {info.status=} {info.mailbox=} {info.handled=} {info.current=}")
    print("behaviour:", info.behaviour is Orders, "parent:", info.parent == process.whereis("shop"))
    print("linked to its parent:", info.links == (info.parent,), "traps exits:", info.trap_exits)
    cart = GenRegistry.lookup("carts", "shopper-7")
    assert cart is not None
    cart_info = process.info(cart)
    assert cart_info is not None
    print("a cart:", cart_info.status, "thread:", cart_info.thread)
    # --8<-- [end:info]


def state() -> None:
    orders = process.whereis("orders")
    assert orders is not None
    # --8<-- [start:sys]
    order = gen_server.call(orders, ("place", ["tea", "cake"]))
    print("state:", parent.sys.get_state(orders))
    parent.sys.replace_state(orders, lambda state: {**state, "next_id": 100})
    parent.sys.suspend(orders)
    gen_server.cast(orders, ("shipped", order))  # kept in the mailbox until resume
    parent.sys.get_state(orders)  # answered in turn: the cast before it is kept by now
    info = process.info(orders)
    assert info is not None
    print("while suspended:", info.status, "mailbox", info.mailbox)
    parent.sys.resume(orders)
    print("after resume:", parent.sys.get_state(orders))
    # --8<-- [end:sys]


def text_tree() -> None:
    # --8<-- [start:format_tree]
    print(observer.format_tree("shop"))
    # --8<-- [end:format_tree]
    # --8<-- [start:tree]
    shop = observer.tree("shop")
    carts = next(node for node in shop.children if node.child_id == "carts")
    print(carts.label, "count", carts.count, "sample", len(carts.sample))
    print(json.dumps(carts.sample[0].to_dict(), indent=2))
    # --8<-- [end:tree]


def web_page() -> None:
    # --8<-- [start:serve]
    with observer.serve() as server:  # 127.0.0.1, a free port
        print("observer at", server.url.replace(str(server.port), "PORT"))
        with urllib.request.urlopen(server.url + "api/tree") as answer:
            doc = json.load(answer)
        (shop,) = doc["tree"]["children"]
        print(doc["processes"], "processes;", shop["label"], "has", len(shop["children"]))
    print("stopped:", not server.running)
    # --8<-- [end:serve]


def keep_serving() -> None:
    with observer.serve() as server:
        print("observer at", server.url, "(press Enter to stop)")
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            input()


def main() -> None:
    shop = open_shop()
    try:
        infos()
        state()
        text_tree()
        web_page()
        if "--serve" in sys.argv[1:]:
            keep_serving()
    finally:
        supervisor.stop(shop)


if __name__ == "__main__":
    main()
