"""The virtual workers guide, as one runnable script.

Bank accounts as virtual workers of a GenRegistry: each loads its balance in ``init``
and saves it in ``terminate``; the registry passivates an account left idle
(``idle_timeout``) or the least recently used one (``max_workers``), and
``GenRegistry.call`` / ``GenRegistry.cast`` reach whichever activation is next. Then:
a passivation in progress (a slow save), deposits racing passivations, and what a kill
costs a worker that saves only in ``terminate``.

Run it with ``python examples/guide_virtual_workers.py``.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from genregistry import GenRegistry
from parent import From, GenServer, process, supervisor
from parent.testing import wait_until


# --8<-- [start:storage]
class Storage:
    """Stand-in for a database: each account's saved balance, and how many activations
    loaded it. ``hold()`` makes saves wait until ``release()`` (a slow database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._balances: dict[str, int] = {}
        self._loads: dict[str, int] = {}
        self._open = threading.Event()
        self._open.set()

    def load(self, number: str) -> int:
        with self._lock:
            self._loads[number] = self._loads.get(number, 0) + 1
            return self._balances.get(number, 0)

    def save(self, number: str, balance: int) -> None:
        self._open.wait()
        with self._lock:
            self._balances[number] = balance

    def loads(self, number: str) -> int:
        with self._lock:
            return self._loads.get(number, 0)

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()
        # --8<-- [end:storage]


storage = Storage()


# --8<-- [start:worker]
class Account(GenServer):
    """One bank account, a virtual worker: it exists for as long as it is used."""

    def init(self, number: str) -> None:
        process.trap_exits(True)  # so that terminate also runs when the registry stops
        self.number = number
        self.balance = storage.load(number)  # load the state in init...

    def handle_call(self, request: Any, from_: From) -> int:
        match request:
            case "balance":
                return self.balance
            case ("deposit", amount):
                self.balance += amount
                return self.balance
        raise ValueError(f"unknown request {request!r}")

    def handle_cast(self, request: Any) -> None:
        match request:
            case ("deposit", amount):
                self.balance += amount
            case _:
                raise ValueError(f"unknown request {request!r}")

    def terminate(self, reason: Any) -> None:
        storage.save(self.number, self.balance)  # ...and save it in terminate

    # the client API takes the account number, never a pid: GenRegistry.call and
    # GenRegistry.cast start the worker if needed and follow it across activations
    @staticmethod
    def balance_of(number: str) -> int:
        balance: int = GenRegistry.call(Account, number, "balance", [number])
        return balance

    @staticmethod
    def deposit(number: str, amount: int) -> None:
        GenRegistry.cast(Account, number, ("deposit", amount), [number])
        # --8<-- [end:worker]


def accounts() -> None:
    # --8<-- [start:registry]
    registry = GenRegistry.child_spec(
        worker_module=Account,
        idle_timeout=0.2,  # passivate an account after 0.2 s without a message
        hibernate_after=0.05,  # until then, idle accounts hold no thread
        max_workers=10_000,  # and never more than 10,000 live accounts
    )
    sup = supervisor.start_link([registry])
    # --8<-- [end:registry]

    # --8<-- [start:use]
    Account.deposit("acct-7", 30)  # starts acct-7's first activation
    print("balance:", Account.balance_of("acct-7"))
    # 0.2 s without a message: passivated, its terminate saved 30
    print("passivated:", wait_until(lambda: GenRegistry.lookup(Account, "acct-7") is None, 5.0))
    Account.deposit("acct-7", 12)  # a new activation, which loads 30
    print("balance:", Account.balance_of("acct-7"))
    print("activations:", storage.loads("acct-7"))
    # --8<-- [end:use]

    # --8<-- [start:closing]
    storage.hold()  # from now on a save takes until release(): a slow database
    # acct-7 passivates: gone from the table at once, its terminate still saving
    print("passivating:", wait_until(lambda: GenRegistry.lookup(Account, "acct-7") is None, 5.0))
    threading.Timer(0.1, storage.release).start()  # the save finishes in 0.1 s
    Account.deposit("acct-7", 8)  # waits for that terminate, then a new activation
    print("balance:", Account.balance_of("acct-7"))  # 42 loaded, + 8
    print("activations:", storage.loads("acct-7"))
    # --8<-- [end:closing]
    supervisor.stop(sup)


def least_recently_used() -> None:
    # --8<-- [start:max_workers]
    sup = supervisor.start_link(
        [GenRegistry.child_spec(worker_module=Account, name="branch", max_workers=2)]
    )
    for number in ["a", "b", "a", "c"]:  # "c" needs a slot: "b" is the least recently used
        GenRegistry.call("branch", number, "balance", [number])
    print("live:", sorted(str(number) for number, _pid in GenRegistry.to_list("branch")))
    supervisor.stop(sup)
    # --8<-- [end:max_workers]


def racing_passivation() -> None:
    # --8<-- [start:races]
    # passivate after 1 ms idle: deposits keep arriving while accounts passivate
    sup = supervisor.start_link(
        [GenRegistry.child_spec(worker_module=Account, name="busy", idle_timeout=0.001)]
    )

    def customer(n: int) -> None:
        rng = random.Random(n)
        for _ in range(250):
            if n % 2:  # half of the customers cast, the other half call
                GenRegistry.cast("busy", "acct-9", ("deposit", 1), ["acct-9"])
            else:
                GenRegistry.call("busy", "acct-9", ("deposit", 1), ["acct-9"])
            time.sleep(rng.random() * 0.004)  # a pause: time to passivate

    customers = [threading.Thread(target=customer, args=(n,)) for n in range(4)]
    for t in customers:
        t.start()
    for t in customers:
        t.join()
    # 1,000 deposits, each handled exactly once, by however many activations it took
    print("balance:", GenRegistry.call("busy", "acct-9", "balance", ["acct-9"]))
    print("several activations:", storage.loads("acct-9") > 1)
    supervisor.stop(sup)
    # --8<-- [end:races]


# --8<-- [start:durable]
class DurableAccount(Account):
    """Saves on every change, so a kill loses nothing (terminate does not run then)."""

    def handle_call(self, request: Any, from_: From) -> int:
        balance = super().handle_call(request, from_)
        storage.save(self.number, self.balance)
        return balance

    def handle_cast(self, request: Any) -> None:
        super().handle_cast(request)
        storage.save(self.number, self.balance)
        # --8<-- [end:durable]


def killed() -> None:
    # --8<-- [start:kill]
    sup = supervisor.start_link(
        [
            GenRegistry.child_spec(worker_module=Account, name="plain"),
            GenRegistry.child_spec(worker_module=DurableAccount, name="durable"),
        ]
    )
    for registry in ["plain", "durable"]:
        number = f"{registry}-1"
        GenRegistry.call(registry, number, ("deposit", 100), [number])
        pid = GenRegistry.lookup(registry, number)
        assert pid is not None
        process.exit(pid, "kill")  # no terminate: nothing saved on the way out
        pid.join()
        print(registry, "after a kill:", GenRegistry.call(registry, number, "balance", [number]))
    supervisor.stop(sup)
    # --8<-- [end:kill]


def main() -> None:
    accounts()
    least_recently_used()
    racing_passivation()
    killed()


if __name__ == "__main__":
    main()
