"""The phone-number denylist from GenRegistry's README, runnable, with virtual workers.

Every recipient has a ``Denylist`` worker holding the senders it refuses. Workers are
started on demand, one per recipient, by a supervised GenRegistry; a stream of calls
from many sender threads asks each recipient's worker whether to put the call through,
and now and then a recipient denies a sender who got through. Calls come in a wave that
moves through the numbers, so most recipients are busy for a while and then idle.

The workers are virtual (docs/guides/virtual-workers.md): one left idle for ``--idle``
seconds, or the least recently used one when ``max_workers`` are live, is passivated.
Its ``terminate`` saves its rules, and the next request for that recipient starts a new
activation whose ``init`` loads them. At the end the registry is stopped (every live
worker saves its rules) and the saved rules are checked against every denial made:
none may be lost to a passivation.

    python examples/denylist.py            # 40,000 calls to 2,000 recipients
    python examples/denylist.py --quick    # a few thousand calls
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import zlib
from typing import Any

from genregistry import GenRegistry
from parent import From, GenServer, process, supervisor


def load_rules(recipient: str) -> set[str]:
    """Stand-in for a recipient's rules as first configured: a few denied senders,
    the same ones every time for the same recipient."""
    rng = random.Random(zlib.crc32(recipient.encode()))
    return {f"+1555{rng.randrange(1000):07d}" for _ in range(rng.randrange(1, 6))}


class Storage:
    """Stand-in for a database: the rules each recipient's last activation saved, and
    how many activations loaded and saved them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, frozenset[str]] = {}
        self.loads = 0
        self.saves = 0
        self.passivations = 0

    def load(self, recipient: str) -> set[str]:
        with self._lock:
            self.loads += 1
            saved = self._rules.get(recipient)
        return load_rules(recipient) if saved is None else set(saved)

    def save(self, recipient: str, denied: set[str], passivated: bool) -> None:
        with self._lock:
            self._rules[recipient] = frozenset(denied)
            self.saves += 1
            self.passivations += passivated

    def rules(self) -> dict[str, frozenset[str]]:
        with self._lock:
            return dict(self._rules)


storage = Storage()


class Denylist(GenServer):
    """One recipient's denylist, a virtual worker: loads its rules in ``init``, saves
    them in ``terminate``, answers ``allow?`` and takes ``deny``."""

    def init(self, recipient: str) -> None:
        process.trap_exits(True)  # so that terminate runs when the registry stops too
        self.recipient = recipient
        self.denied = storage.load(recipient)

    def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case ("allow?", sender):
                return sender not in self.denied
        raise ValueError(f"unknown request {request!r}")

    def handle_cast(self, request: Any) -> None:
        match request:
            case ("deny", sender):
                self.denied.add(sender)
            case _:
                raise ValueError(f"unknown request {request!r}")

    def terminate(self, reason: Any) -> None:
        storage.save(self.recipient, self.denied, reason == ("shutdown", "idle"))

    # the client API: by recipient, not by pid (GenRegistry.call/cast start the worker
    # if needed, and reach the next activation if it passivates meanwhile)
    @classmethod
    def allow(cls, recipient: str, sender: str) -> bool:
        return bool(GenRegistry.call(Denylist, recipient, ("allow?", sender), [recipient]))

    @classmethod
    def deny(cls, recipient: str, sender: str) -> None:
        GenRegistry.cast(Denylist, recipient, ("deny", sender), [recipient])


def place_call(sender: str, recipient: str) -> bool:
    """The seed's ``place_call``: ask the recipient's Denylist (started if needed)."""
    return Denylist.allow(recipient, sender)


def run(calls: int, recipients: int, threads: int, idle: float, seed: int = 7) -> dict[str, float]:
    wave = max(recipients // 10, 1)  # the recipients most calls go to at any moment
    limit = wave + wave // 2
    spec = GenRegistry.child_spec(worker_module=Denylist, idle_timeout=idle, max_workers=limit)
    sup = supervisor.start_link([spec])
    numbers = [f"+1555{n:07d}" for n in range(recipients)]
    placed = [0] * threads
    rejected = [0] * threads
    denials: list[set[tuple[str, str]]] = [set() for _ in range(threads)]
    per_thread = calls // threads
    last = max(per_thread - 1, 1)

    def caller(n: int) -> None:
        rng = random.Random(seed + n)
        for i in range(per_thread):
            sender = f"+1555{rng.randrange(1000):07d}"
            if rng.random() < 0.02:  # a few calls go to anyone
                recipient = numbers[rng.randrange(recipients)]
            else:  # most go to the current wave, which moves through the numbers
                recipient = numbers[i * (recipients - wave) // last + rng.randrange(wave)]
            if not place_call(sender, recipient):
                rejected[n] += 1
                continue
            placed[n] += 1
            if rng.random() < 0.02:  # an unwanted call: the recipient denies its sender
                Denylist.deny(recipient, sender)
                denials[n].add((recipient, sender))

    # the denied senders of recipient 0 include this one from now on
    Denylist.deny(numbers[0], "+15550000000")
    denials[0].add((numbers[0], "+15550000000"))
    started = time.perf_counter()
    workers = [threading.Thread(target=caller, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    peak = 0
    for t in workers:
        while t.is_alive():
            t.join(0.01)
            peak = max(peak, GenRegistry.count(Denylist))
    elapsed = time.perf_counter() - started
    supervisor.stop(sup)  # every live worker saves its rules in terminate

    expected: dict[str, set[str]] = {}
    for pairs in denials:
        for recipient, sender in pairs:
            expected.setdefault(recipient, set()).add(sender)
    saved = storage.rules()
    # every recipient's saved rules: its first ones plus every denial made, no more, no less
    intact = expected.keys() <= saved.keys() and all(
        rules == load_rules(r) | expected.get(r, set()) for r, rules in saved.items()
    )
    return {
        "recipients": float(len(saved)),
        "activations": float(storage.loads),
        "passivations": float(storage.passivations),
        "saves": float(storage.saves),
        "peak": float(peak),
        "limit": float(limit),
        "placed": float(sum(placed)),
        "rejected": float(sum(rejected)),
        "denials": float(sum(len(s) for s in expected.values())),
        "intact": float(intact),
        "seconds": elapsed,
        "calls_per_second": (sum(placed) + sum(rejected)) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40_000)
    parser.add_argument("--recipients", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--idle", type=float, default=0.1, help="idle_timeout, in seconds")
    parser.add_argument("--quick", action="store_true", help="a short run (4,000 calls)")
    args = parser.parse_args()
    calls, recipients = (4_000, 500) if args.quick else (args.calls, args.recipients)
    stats = run(calls, recipients, args.threads, args.idle)
    returns = stats["activations"] - stats["recipients"]
    print(
        f"Denylist workers started: {stats['activations']:.0f} activations for "
        f"{stats['recipients']:.0f} recipients ({returns:.0f} came back after a passivation)"
    )
    print(
        f"passivated:               {stats['passivations']:.0f} (idle for {args.idle:g} s, "
        f"or least recently used at max_workers={stats['limit']:.0f})"
    )
    print(
        f"live workers:             at most {stats['peak']:.0f} at once; "
        f"{stats['saves'] - stats['passivations']:.0f} saved their rules when the registry stopped"
    )
    print(f"calls placed:             {stats['placed']:.0f}")
    print(f"calls rejected:           {stats['rejected']:.0f}")
    print(
        f"denials made:             {stats['denials']:.0f}, "
        f"{'all' if stats['intact'] else 'NOT all'} kept across passivations"
    )
    print(
        f"throughput:               {stats['calls_per_second']:,.0f} calls/s "
        f"({args.threads} sender threads, {stats['seconds']:.2f} s)"
    )


if __name__ == "__main__":
    main()
