"""The phone-number denylist from GenRegistry's README, runnable.

Every recipient has a ``Denylist`` worker holding the senders it refuses. Workers are
started on demand, one per recipient, by a supervised GenRegistry; a stream of calls
from many sender threads asks each recipient's worker whether to put the call through.

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
from parent import From, GenServer, Pid, gen_server, supervisor


def load_rules(recipient: str) -> set[str]:
    """Stand-in for loading a recipient's rules from storage: a few denied senders,
    the same ones every time for the same recipient."""
    rng = random.Random(zlib.crc32(recipient.encode()))
    return {f"+1555{rng.randrange(1000):07d}" for _ in range(rng.randrange(1, 6))}


class Denylist(GenServer):
    """One recipient's denylist: caches its rules and answers ``allow?``."""

    def init(self, recipient: str) -> None:
        self.recipient = recipient
        self.denied = load_rules(recipient)

    def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case ("allow?", sender):
                return sender not in self.denied
            case ("deny", sender):
                self.denied.add(sender)
                return None
        raise ValueError(f"unknown request {request!r}")

    @classmethod
    def allow(cls, denylist: Pid, sender: str) -> bool:
        return bool(gen_server.call(denylist, ("allow?", sender)))

    @classmethod
    def deny(cls, denylist: Pid, sender: str) -> None:
        gen_server.call(denylist, ("deny", sender))


def place_call(sender: str, recipient: str) -> bool:
    """The seed's ``place_call``: find (or start) the recipient's Denylist and ask it."""
    denylist = GenRegistry.lookup_or_start(Denylist, recipient, [recipient])
    return Denylist.allow(denylist, sender)


def run(calls: int, recipients: int, threads: int, seed: int = 7) -> dict[str, float]:
    sup = supervisor.start_link([GenRegistry.child_spec(worker_module=Denylist)])
    numbers = [f"+1555{n:07d}" for n in range(recipients)]
    placed = [0] * threads
    rejected = [0] * threads

    def caller(n: int) -> None:
        rng = random.Random(seed + n)
        for _ in range(calls // threads):
            sender = f"+1555{rng.randrange(1000):07d}"
            recipient = numbers[rng.randrange(recipients)]
            if place_call(sender, recipient):
                placed[n] += 1
            else:
                rejected[n] += 1

    # the denied senders of recipient 0 include this one from now on
    Denylist.deny(GenRegistry.lookup_or_start(Denylist, numbers[0], [numbers[0]]), "+15550000000")
    started = time.perf_counter()
    workers = [threading.Thread(target=caller, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.perf_counter() - started
    stats = {
        "workers": float(GenRegistry.count(Denylist)),
        "placed": float(sum(placed)),
        "rejected": float(sum(rejected)),
        "seconds": elapsed,
        "calls_per_second": (sum(placed) + sum(rejected)) / elapsed,
    }
    supervisor.stop(sup)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40_000)
    parser.add_argument("--recipients", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="a short run (4,000 calls)")
    args = parser.parse_args()
    calls, recipients = (4_000, 500) if args.quick else (args.calls, args.recipients)
    stats = run(calls, recipients, args.threads)
    print(f"Denylist workers started: {stats['workers']:.0f} (one per recipient called)")
    print(f"calls placed:             {stats['placed']:.0f}")
    print(f"calls rejected:           {stats['rejected']:.0f}")
    print(
        f"throughput:               {stats['calls_per_second']:,.0f} calls/s "
        f"({args.threads} sender threads, {stats['seconds']:.2f} s)"
    )


if __name__ == "__main__":
    main()
