"""An in-process engine: every shard a `ShardCore` in this interpreter.

It stands in for Ray in the default test suite (routing, fencing, error mapping) and
lets a user try a sharded registry without a cluster. Each request and each answer goes
through ``pickle``, as it would between processes, so whatever would not cross a real
wire fails here too. `crash` plays a shard's process dying and its engine restarting it
(a fresh `ShardCore`, a new epoch, no workers); `kill` stops one for good.

Lock: ``_lock`` guards the writes of ``_shards`` (which shard runs) and is held through
a `crash`; requests read it without the lock (one ``dict.get``) and run in the
caller's thread.
"""

from __future__ import annotations

import itertools
import pickle
import threading
from typing import Any

from genregistry._remote.client import Registry, ShardDown, register_engine
from genregistry._remote.setup import create
from genregistry._remote.shard import Answer, ShardConfig, ShardCore

__all__ = ["LocalEngine"]

_keys = itertools.count(1)


def _wire(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value))


class LocalEngine:
    """Shards in this process, reached through pickle.

    Example:
        ```python
        engine = LocalEngine()
        reg = engine.create(Counter, name="counters", shards=4)
        RemoteRegistry.call(reg, "a", "get")
        engine.close()
        ```
    """

    def __init__(self) -> None:
        self.key = f"local-{next(_keys)}"
        self._lock = threading.Lock()
        self._shards: dict[tuple[str, str, int], ShardCore] = {}
        register_engine(self)

    def create(self, worker_module: Any, **options: Any) -> Registry:
        """`genregistry._remote.client.create` on this engine."""
        return create(self, worker_module, **options)

    # -- the Engine protocol ------------------------------------------------------------

    def ensure(self, config: ShardConfig, index: int) -> None:
        where = (config.namespace, config.name, index)
        with self._lock:
            if where not in self._shards:
                self._shards[where] = ShardCore(_wire(config), index)

    def exists(self, namespace: str, name: str, index: int) -> bool:
        return (namespace, name, index) in self._shards

    def _core(self, reg: Registry, index: int) -> ShardCore:
        where = (reg.namespace, reg.name, index)
        core = self._shards.get(where)
        if core is not None and core.lost:  # crashing: wait until it is replaced
            with self._lock:
                core = self._shards.get(where)
        if core is None:
            raise ShardDown(reg.shard_name(index), permanent=True)
        return core

    def run(
        self,
        reg: Registry,
        index: int,
        method: str,
        args: tuple[Any, ...],
        timeout: float | None,
    ) -> Answer:
        core = self._core(reg, index)
        answer = core.run(reg.token, method, _wire(args))
        if core.lost:
            raise ShardDown(reg.shard_name(index))  # it crashed before answering
        result: Answer = _wire(answer)
        return result

    def run_all(
        self, reg: Registry, method: str, args: tuple[Any, ...], timeout: float | None
    ) -> list[Answer | ShardDown]:
        out: list[Answer | ShardDown] = []
        for index in range(reg.shards):
            try:
                out.append(self.run(reg, index, method, args, timeout))
            except ShardDown as e:
                out.append(e)
        return out

    def kill(self, reg: Registry, index: int) -> None:
        where = (reg.namespace, reg.name, index)
        with self._lock:
            core = self._shards.pop(where, None)
        if core is not None:
            core.close()

    # -- playing failures ---------------------------------------------------------------

    def crash(self, reg: Registry, index: int) -> None:
        """Shard ``index`` dies (its workers with it) and comes back empty with a new
        epoch, as Ray restarts a detached actor."""
        where = (reg.namespace, reg.name, index)
        with self._lock:  # requests meeting the lost shard wait for its successor
            old = self._shards[where]
            old.lost = True
            old.close("kill")
            self._shards[where] = ShardCore(old.config, index)

    def close(self) -> None:
        """Stop every shard of this engine."""
        with self._lock:
            cores = list(self._shards.values())
            self._shards.clear()
        for core in cores:
            core.close()
