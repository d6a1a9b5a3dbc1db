"""The phone-number denylist on a Ray cluster: one RayRegistry, its workers in shards.

The worker is the one of examples/denylist.py: a ``Denylist`` GenServer per recipient,
holding the senders it refuses. Here the registry is a `genregistry.ray.RayRegistry`:
two shards, each a Ray actor running a thread registry, and the rules are saved on every
change in a Ray actor standing in for a database (a killed shard runs no ``terminate``).

The script places calls from several threads, checks every answer, and then kills a
shard: its workers are lost (not moved), their old pids get ``NoProcess``, and the next
request for one of their ids starts it again in the restarted shard, where it loads the
rules it saved. It starts a local Ray cluster and stops it at the end.

    pip install 'genregistry[ray]'
    python examples/ray_denylist.py

See docs/guides/ray.md.
"""

from __future__ import annotations

import os

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # before Ray is imported

import random
import threading
import zlib
from typing import Any

import ray

from genregistry import Behaviour, GenRegistry
from genregistry.ray import RayRegistry, Registry, RemotePid
from parent import From, GenServer, Server, gen_server, process, supervisor
from parent.errors import NoProcess, ProcessError
from parent.testing import wait_until

NAMESPACE = "genregistry"  # the Ray namespace of the registry's shards (the default)
RULES = "denylist-rules"  # the name of the rules store, a Ray actor
SENDERS = 30
RECIPIENTS = [f"+1555{n:07d}" for n in range(40)]
THREADS = 4
CALLS = 150  # per thread


def load_rules(recipient: str) -> set[str]:
    """A recipient's rules as first configured: a few senders, the same ones every time."""
    rng = random.Random(zlib.crc32(recipient.encode()))
    return {f"+1666{rng.randrange(SENDERS):07d}" for _ in range(rng.randrange(1, 4))}


class Rules:
    """Stand-in for a database that every node reaches: each recipient's denied senders,
    as last saved (run as a Ray actor)."""

    def __init__(self) -> None:
        self._saved: dict[str, list[str]] = {}

    def load(self, recipient: str) -> list[str]:
        saved = self._saved.get(recipient)
        return sorted(load_rules(recipient)) if saved is None else saved

    def save(self, recipient: str, denied: list[str]) -> None:
        self._saved[recipient] = denied


RulesActor = ray.remote(num_cpus=0)(Rules)


# --8<-- [start:worker]
class Denylist(GenServer):
    """One recipient's denylist. It saves on every change: when a shard's process dies,
    its workers die with it and no ``terminate`` runs."""

    def init(self, recipient: str) -> None:
        self.recipient = recipient
        self.rules = ray.get_actor(RULES, namespace=NAMESPACE)
        self.denied = set(ray.get(self.rules.load.remote(recipient)))
        self.checks = 0  # answered by this activation: in memory only

    def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case ("allow?", sender):
                self.checks += 1
                return sender not in self.denied
            case "checks":
                return self.checks
        raise ValueError(f"unknown request {request!r}")

    def handle_cast(self, request: Any) -> None:
        match request:
            case ("deny", sender):
                self.denied.add(sender)
                ray.get(self.rules.save.remote(self.recipient, sorted(self.denied)))
            case _:
                raise ValueError(f"unknown request {request!r}")
                # --8<-- [end:worker]


# --8<-- [start:behaviour]
def place_call(registry: Behaviour, server: Server, sender: str, recipient: str) -> bool:
    """Whether ``recipient`` takes a call from ``sender``: the same code for any
    implementation of `genregistry.Behaviour` (``server`` is that registry's handle)."""
    return bool(registry.call(server, recipient, ("allow?", sender), [recipient]))


def deny(registry: Behaviour, server: Server, recipient: str, sender: str) -> None:
    registry.cast(server, recipient, ("deny", sender), [recipient])
    # --8<-- [end:behaviour]


def check(ok: bool, what: str) -> None:
    if not ok:
        print(f"WRONG: {what}")
        raise SystemExit(1)


def one_name() -> Registry:
    # --8<-- [start:switch]
    sender, recipient = "+16660000099", "+15559999999"
    # in this process: a thread registry, registered under the worker class
    sup = supervisor.start_link([GenRegistry.child_spec(worker_module=Denylist)])
    deny(GenRegistry, Denylist, recipient, sender)
    print("GenRegistry:", place_call(GenRegistry, Denylist, sender, recipient))
    supervisor.stop(sup)
    # across the cluster: the same functions, on the handle create returned
    reg = RayRegistry.create(Denylist, name="denylist", shards=2, idle_timeout=60.0)
    print("RayRegistry:", place_call(RayRegistry, reg, sender, recipient))
    # --8<-- [end:switch]
    check(not place_call(RayRegistry, reg, sender, recipient), "the saved denial is lost")
    return reg


def calls(reg: Registry) -> set[tuple[str, str]]:
    """Calls from THREADS threads; every answer checked. The denials made."""
    denials: list[set[tuple[str, str]]] = [set() for _ in range(THREADS)]
    wrong: list[str] = []
    put_through = [0] * THREADS

    def caller(n: int) -> None:
        rng = random.Random(n)
        for _ in range(CALLS):
            recipient = rng.choice(RECIPIENTS)
            sender = f"+1666{rng.randrange(SENDERS):07d}"
            allowed = place_call(RayRegistry, reg, sender, recipient)
            if allowed and (sender in load_rules(recipient) or (recipient, sender) in denials[n]):
                wrong.append(f"{sender} got through to {recipient}")
            if not allowed:
                continue
            put_through[n] += 1
            if rng.random() < 0.1:  # an unwanted call: deny its sender from now on
                deny(RayRegistry, reg, recipient, sender)
                denials[n].add((recipient, sender))
                # a cast returns once the worker has it: this call is answered after it
                if place_call(RayRegistry, reg, sender, recipient):
                    wrong.append(f"{sender} got through to {recipient} after a deny")

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not wrong, "; ".join(wrong[:3]))
    made = set().union(*denials)
    print(
        f"calls: {THREADS * CALLS} from {THREADS} threads, {sum(put_through)} put through, "
        f"{len(made)} senders denied"
    )
    return made


# --8<-- [start:task]
def asked_from_a_task(pid: RemotePid, sender: str) -> list[bool]:
    """Run as a Ray task, in another process: the pid it was given, and the registry
    joined by its name."""
    reg = RayRegistry.connect("denylist")
    recipient = str(pid.id)
    return [
        bool(gen_server.call(pid, ("allow?", sender))),
        place_call(RayRegistry, reg, sender, recipient),
    ]


ask = ray.remote(num_cpus=0)(asked_from_a_task)
# --8<-- [end:task]


def remote_pids(reg: Registry) -> None:
    # --8<-- [start:pids]
    pid = RayRegistry.lookup(reg, RECIPIENTS[0])
    assert isinstance(pid, RemotePid)  # picklable, the same in every process
    print("alive:", pid.is_alive(), "checks:", gen_server.call(pid, "checks") > 0)
    try:
        process.send(pid, "hello")  # so do monitor, join, gen_server.stop (link: TypeError)
    except ProcessError as e:
        print("send:", e)
    # the same worker, from a Ray task: through the pid, and by id
    answers = ray.get(ask.remote(pid, "+16669999999"))
    print("from a task:", answers)
    # --8<-- [end:pids]
    check(answers == [True, True], "the task's answers")


def shard_kill(reg: Registry, denials: set[tuple[str, str]]) -> None:
    # --8<-- [start:kill]
    before = dict(RayRegistry.to_list(reg))
    checks = {id: RayRegistry.call(reg, id, "checks", [id]) for id in before}
    shard = ray.get_actor(reg.shard_name(0), namespace=reg.namespace)
    ray.kill(shard, no_restart=False)  # its process dies; Ray starts it again, empty
    wait_until(lambda: RayRegistry.count(reg) < len(before), timeout=60.0)
    after = dict(RayRegistry.to_list(reg))
    lost = sorted(str(id) for id in set(before) - set(after))
    print(f"workers: {len(before)} before the kill, {len(after)} after ({len(lost)} lost)")
    print("the other shard's untouched:", all(before[id] == pid for id, pid in after.items()))
    recipient = lost[0]
    old = before[recipient]
    try:
        gen_server.call(old, "checks")
    except NoProcess as e:
        print("old pid:", e)
    # the next request starts the id again, in the restarted shard
    now = RayRegistry.call(reg, recipient, "checks", [recipient])
    print(f"checks: {checks[recipient]} before, {now} after (kept in memory only)")
    print("new pid:", RayRegistry.lookup(reg, recipient) != old)
    # --8<-- [end:kill]
    check(bool(lost) and set(after) | set(lost) == set(before), "the lost workers")
    check(all(before[id] == pid for id, pid in after.items()), "the other shard")
    kept = all(not place_call(RayRegistry, reg, s, r) for r, s in denials)
    print(f"denials: all {len(denials)} still refused" if kept else "denials: some lost")
    check(kept, "a denial lost with the shard")


def main() -> None:
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        # kept referenced: Ray ends an actor (not detached) when no handle is left
        rules = RulesActor.options(name=RULES, namespace=NAMESPACE).remote()
        ray.get(rules.load.remote(RECIPIENTS[0]))  # running, and found by its name
        reg = one_name()
        try:
            denials = calls(reg)
            remote_pids(reg)
            shard_kill(reg, denials)
        finally:
            reg.shutdown()  # stops the shards (they are detached: they outlive a driver)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
