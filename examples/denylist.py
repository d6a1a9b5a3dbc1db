"""The phone-number denylist from GenRegistry's README, runnable, with virtual workers.

Every recipient has a ``Denylist`` worker holding the senders it refuses. Workers are
started on demand, one per recipient, by a supervised GenRegistry; a stream of calls
from many sender threads asks each recipient's worker whether to put the call through,
and now and then a recipient denies a sender who got through. Calls come in a wave that
moves through the numbers, so most recipients are busy for a while and then idle.

The workers are virtual (docs/guides/virtual-workers.md): one left idle for ``--idle``
seconds, or the least recently used one when ``max_workers`` are live, is passivated.
Its ``terminate`` saves its rules, and the next request for that recipient starts a new
activation whose ``init`` loads them.

The application runs under `parent.run`: a supervisor of the registry and of
``Calls``, which places the calls. When the wave is over, ``Calls`` stops the
application. Ctrl-C (or SIGTERM) stops it the same way, in order: the calls first, then
the registry, whose live workers save their rules (a second Ctrl-C kills it, and then
they do not). At the end the saved rules are checked against every denial made: none
may be lost to a passivation, nor to a Ctrl-C.

    python examples/denylist.py            # 40,000 calls to 2,000 recipients
    python examples/denylist.py --quick    # a few thousand calls
    python examples/denylist.py --observe  # calls until Ctrl-C, watched in a browser
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import threading
import time
import zlib
from typing import Any

import parent
from genregistry import GenRegistry
from parent import From, GenServer, Pid, ProcessError, process, supervisor


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


class Wave:
    """The stream of calls: ``threads`` sender threads, each placing its share of
    ``calls`` to a wave that moves through ``recipients`` numbers (with ``forever``, the
    wave starts over until the application stops), and what they counted."""

    def __init__(
        self, calls: int, recipients: int, threads: int, idle: float, forever: bool, seed: int = 7
    ) -> None:
        self.calls = calls
        self.threads = threads
        self.idle = idle
        self.forever = forever
        self.seed = seed
        self.width = max(recipients // 10, 1)  # the recipients most calls go to at once
        self.limit = self.width + self.width // 2
        self.numbers = [f"+1555{n:07d}" for n in range(recipients)]
        self.placed = [0] * threads
        self.rejected = [0] * threads
        self.denials: list[set[tuple[str, str]]] = [set() for _ in range(threads)]
        self.peak = 0
        self.seconds = 0.0
        self.completed = False  # every call placed (not stopped early)
        self.stopping = threading.Event()
        self.senders: list[threading.Thread] = []
        self.watcher: threading.Thread | None = None

    def registry_spec(self) -> Any:
        return GenRegistry.child_spec(
            worker_module=Denylist, idle_timeout=self.idle, max_workers=self.limit
        )

    def start(self, app: Pid) -> None:
        """Start the senders, and a thread that waits for them and then stops ``app``."""
        # the denied senders of recipient 0 include this one from now on
        Denylist.deny(self.numbers[0], "+15550000000")
        self.denials[0].add((self.numbers[0], "+15550000000"))
        self.senders = [
            threading.Thread(target=self.sender, args=(n,), name=f"sender-{n}")
            for n in range(self.threads)
        ]
        self.watcher = threading.Thread(target=self.watch, args=(app,), name="wave-watcher")
        self.started = time.perf_counter()
        for t in self.senders:
            t.start()
        self.watcher.start()

    def sender(self, n: int) -> None:
        rng = random.Random(self.seed + n)
        numbers = self.numbers
        recipients = len(numbers)
        per_thread = self.calls // self.threads
        last = max(per_thread - 1, 1)
        # with --observe, an easier pace (at most 200 calls/s per thread) for the page
        pause = 0.005 if self.forever else 0.0
        while True:
            for i in range(per_thread):
                if self.stopping.is_set() or (pause and self.stopping.wait(pause)):
                    return
                sender = f"+1555{rng.randrange(1000):07d}"
                if rng.random() < 0.02:  # a few calls go to anyone
                    recipient = numbers[rng.randrange(recipients)]
                else:  # most go to the current wave, which moves through the numbers
                    offset = i * (recipients - self.width) // last
                    recipient = numbers[offset + rng.randrange(self.width)]
                try:
                    allowed = place_call(sender, recipient)
                except ProcessError:
                    if self.stopping.is_set() or process.whereis(Denylist) is None:
                        return  # the application was killed under this call
                    raise
                if not allowed:
                    self.rejected[n] += 1
                    continue
                self.placed[n] += 1
                if rng.random() < 0.02:  # an unwanted call: the recipient denies its sender
                    Denylist.deny(recipient, sender)
                    self.denials[n].add((recipient, sender))
            if not self.forever:
                return

    def watch(self, app: Pid) -> None:
        for t in self.senders:
            while t.is_alive():
                t.join(0.01)
                with contextlib.suppress(ProcessError):  # unless the registry was killed
                    self.peak = max(self.peak, GenRegistry.count(Denylist))
        self.seconds = time.perf_counter() - self.started
        if self.stopping.is_set():
            return  # the application is stopping: Ctrl-C or SIGTERM
        self.completed = True
        # the wave is over: the program is done, it stops its application (unless a
        # Ctrl-C just did)
        with contextlib.suppress(ProcessError):
            supervisor.stop(app, "shutdown")

    def stop(self) -> None:
        """Stop the senders, each after the call it is placing; wait for them."""
        self.stopping.set()
        for t in self.senders:
            t.join()

    def finish(self) -> None:
        """Once the application has stopped: every thread of the wave has ended."""
        self.stop()
        if self.watcher is not None:
            self.watcher.join()

    def report(self) -> dict[str, float]:
        expected: dict[str, set[str]] = {}
        for pairs in self.denials:
            for recipient, sender in pairs:
                expected.setdefault(recipient, set()).add(sender)
        saved = storage.rules()
        # every recipient's saved rules: its first ones plus every denial made, no more,
        # no less
        intact = expected.keys() <= saved.keys() and all(
            rules == load_rules(r) | expected.get(r, set()) for r, rules in saved.items()
        )
        placed, rejected = sum(self.placed), sum(self.rejected)
        return {
            "recipients": float(len(saved)),
            "activations": float(storage.loads),
            "passivations": float(storage.passivations),
            "saves": float(storage.saves),
            "peak": float(self.peak),
            "limit": float(self.limit),
            "placed": float(placed),
            "rejected": float(rejected),
            "denials": float(sum(len(s) for s in expected.values())),
            "intact": float(intact),
            "seconds": self.seconds,
            "calls_per_second": (placed + rejected) / self.seconds if self.seconds else 0.0,
        }


class Calls(GenServer):
    """The application's second child: starts the wave in ``init`` and stops it in
    ``terminate``. Children stop in reverse start order, so the calls stop before the
    registry does."""

    def init(self, wave: Wave) -> None:
        process.trap_exits(True)  # so that terminate runs when the application stops
        me = process.info(process.current())  # type: ignore[arg-type]
        assert me is not None and me.parent is not None
        self.wave = wave
        wave.start(me.parent)
        every = "over and over" if wave.forever else "once"
        print(
            f"placing {wave.calls:,} calls ({every}) to {len(wave.numbers):,} recipients "
            f"from {wave.threads} threads; Ctrl-C stops",
            flush=True,
        )

    def terminate(self, reason: Any) -> None:
        self.wave.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40_000)
    parser.add_argument("--recipients", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--idle", type=float, default=0.1, help="idle_timeout, in seconds")
    parser.add_argument("--quick", action="store_true", help="a short run (4,000 calls)")
    parser.add_argument(
        "--observe",
        action="store_true",
        help="serve the observer's page and place calls until Ctrl-C",
    )
    args = parser.parse_args()
    calls, recipients = (4_000, 500) if args.quick else (args.calls, args.recipients)
    wave = Wave(calls, recipients, args.threads, args.idle, forever=args.observe)
    observer = None
    if args.observe:
        observer = parent.observer.serve()
        print(f"observer: {observer.url}", flush=True)
    try:
        # until the wave is over (Calls then stops the application), Ctrl-C or SIGTERM
        reason = parent.run([wave.registry_spec(), Calls.child_spec(wave)])
    finally:
        if observer is not None:
            observer.stop()
        wave.finish()
    stats = wave.report()
    if not wave.completed:
        print(f"stopped ({reason}) after {stats['placed'] + stats['rejected']:.0f} calls")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
