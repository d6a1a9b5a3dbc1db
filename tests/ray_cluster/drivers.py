"""A Ray driver process for the race tests: ``python drivers.py <gcs address>``.

It connects to the running cluster, prints a ``READY`` line, then runs one JSON command
per line of stdin and prints one JSON answer line for each (lines it prints start with
`PREFIX`, so that anything else on stdout is ignored). It leaves when stdin closes.
"""

from __future__ import annotations

import json
import random
import sys
import threading
from collections.abc import Callable
from typing import Any

import ray
import workers

from genregistry.ray import RayRegistry
from parent import gen_server

PREFIX = "@@ "


def emit(value: Any) -> None:
    sys.stdout.write(PREFIX + json.dumps(value) + "\n")
    sys.stdout.flush()


def race(
    name: str, namespace: str, ids: list[str], threads: int, ledger: list[str]
) -> dict[str, list[str]]:
    """``threads`` threads, released at once, each going over ``ids`` in its own order:
    ``lookup_or_start``, a call through the pid, a call through the registry. The answer
    maps each id to every activation token seen for it."""
    reg = RayRegistry.connect(name, namespace)
    ledger_ref = (ledger[0], ledger[1])
    seen: dict[str, set[str]] = {id: set() for id in ids}
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def run(seed: int) -> None:
        order = list(ids)
        random.Random(seed).shuffle(order)
        try:
            barrier.wait(30)
            for id in order:
                pid = RayRegistry.lookup_or_start(reg, id, [id, ledger_ref], timeout=30)
                seen[id].add(gen_server.call(pid, "token", 30))
                seen[id].add(RayRegistry.call(reg, id, "token", [id, ledger_ref], 30))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return {id: sorted(tokens) for id, tokens in seen.items()}


def create(name: str, namespace: str, shards: int, idle_timeout: float | None) -> dict[str, Any]:
    """`RayRegistry.create`: the handle's fields, or the error's class and message."""
    try:
        reg = RayRegistry.create(
            workers.Counter,
            name=name,
            namespace=namespace,
            shards=shards,
            idle_timeout=idle_timeout,
        )
    except Exception as e:
        return {"error": type(e).__name__, "message": str(e)}
    return {"ok": [reg.name, reg.namespace, reg.shards]}


COMMANDS: dict[str, Callable[..., Any]] = {"race": race, "create": create}


def main() -> None:
    ray.init(address=sys.argv[1], log_to_driver=False)
    emit("READY")
    for line in sys.stdin:
        command = json.loads(line)
        emit(COMMANDS[command["do"]](**command["args"]))
    ray.shutdown()


if __name__ == "__main__":
    main()
