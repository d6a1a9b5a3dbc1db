"""What runs inside one shard: a thread registry (`GenRegistry`) answering requests.

An engine (`genregistry.ray`, `genregistry._remote.local`) hosts one `ShardCore` per
shard and hands it requests as ``run(method, args)``. Each answer is a pair ``(tag,
value)``: `OK` and the result, `RAISED` and the exception to raise on the caller's side
(made picklable, see `portable`), or `ALREADY` and the running worker's ``(epoch, number)``
(`AlreadyStarted` carries a pid, which the caller builds). A worker leaves the shard as
its number (`parent._runtime.number`) and the shard's ``epoch``, a fresh random token
each time a shard starts: a pid from an earlier incarnation never matches again, so it
gets `NoProcess` (fencing).
"""

from __future__ import annotations

import os
import pickle
import secrets
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from genregistry._server import Registry as RegistryProcess
from genregistry.registry import GenRegistry, _options
from parent import gen_server, process
from parent._runtime import Pid, number
from parent.errors import AlreadyStarted, ExitError, NoProcess, ProcessError, StartError

__all__ = ["ALREADY", "OK", "RAISED", "ShardConfig", "ShardCore", "portable"]

OK = 0
RAISED = 1
ALREADY = 2

Answer = tuple[int, Any]


@dataclass(frozen=True)
class ShardConfig:
    """What every shard of one registry is started with (compared by `create` when it
    joins shards that already run)."""

    worker_module: Any
    worker_name: str  # "module.qualname": what `same_as` compares, not the class object
    name: str
    namespace: str
    shards: int
    hibernate_after: float | None
    idle_timeout: float | None
    max_workers: int | None
    # drawn by the driver that made shard 0, copied to the others: which creation of
    # the registry a handle belongs to (a handle of an earlier one gets NoProcess)
    token: str

    def key(self) -> tuple[Any, ...]:
        return (
            self.worker_name,
            self.shards,
            self.hibernate_after,
            self.idle_timeout,
            self.max_workers,
        )

    def describe(self) -> str:
        return (
            f"worker_module={self.worker_name}, shards={self.shards}, "
            f"hibernate_after={self.hibernate_after!r}, idle_timeout={self.idle_timeout!r}, "
            f"max_workers={self.max_workers!r}"
        )


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it pickles; else an exception of the same kind whose unpicklable parts
    (a reason holding a local `Pid`, a lock, ...) are replaced by their ``repr``."""
    try:
        pickle.loads(pickle.dumps(exc))  # some pickle, then fail to load (__init__ args)
        return exc
    except Exception:
        pass
    if isinstance(exc, ExitError):
        return ExitError(repr(exc.reason), str(exc), handled=exc.handled)
    if type(exc) is StartError:
        return StartError(repr(exc.reason), str(exc))
    if isinstance(exc, ProcessError):
        return ProcessError(f"{type(exc).__name__}: {exc}")
    return RuntimeError(f"{type(exc).__name__}: {exc}")


class ShardCore:
    """Shard ``index`` of the registry described by ``config``: starts its thread
    registry at once; every request goes through `run`."""

    def __init__(self, config: ShardConfig, index: int) -> None:
        self.config = config
        self.index = index
        self.epoch = secrets.token_hex(8)
        self.lost = False  # set by an engine that replaced this shard (local.crash)
        # a process name unique in this interpreter (the in-process engine hosts many)
        self.registry: Hashable = ("genregistry.ray", config.namespace, config.name, index)
        options = _options(config.hibernate_after, config.idle_timeout, config.max_workers)
        # not linked to whoever builds the shard (a holder, a test): the shard is its
        # engine's, and ends only by `close`
        self.pid = RegistryProcess.start(
            config.worker_module, self.registry, options, name=self.registry
        )

    def run(self, token: str, method: str, args: tuple[Any, ...]) -> Answer:
        """Answer one request: ``method`` is one of the ``do_`` methods below, sent
        through a handle of creation ``token`` (``""`` only for ``hello``)."""
        if token != self.config.token and (token or method != "hello"):
            return RAISED, NoProcess(
                f"the registry {self.config.name!r} this handle names was shut down "
                "(a registry of that name was created again since)"
            )
        try:
            return OK, getattr(self, "do_" + method)(*args)
        except AlreadyStarted as e:
            return ALREADY, (self.epoch, number(e.pid))
        except Exception as e:
            return RAISED, portable(e)

    def close(self, reason: Any = "shutdown") -> None:
        """Stop the shard's registry and with it every worker (``"kill"``: at once)."""
        if reason == "kill":
            process.exit(self.pid, "kill")
            self.pid.join()
        elif self.pid.is_alive():
            gen_server.stop(self.pid, reason)

    # -- requests (run dispatches to these) ---------------------------------------------

    def do_close(self) -> None:
        """Stop the registry, running every worker's ``terminate`` (before a shutdown)."""
        self.close()

    def do_hello(self) -> tuple[tuple[Any, ...], str, str]:
        return self.config.key(), self.config.describe(), self.config.token

    def do_lookup(self, id: Hashable) -> tuple[str, int] | None:
        pid = GenRegistry.lookup(self.registry, id)
        return None if pid is None else (self.epoch, number(pid))

    def do_lookup_or_start(
        self, id: Hashable, args: list[Any], timeout: float | None
    ) -> tuple[str, int]:
        return self.epoch, number(GenRegistry.lookup_or_start(self.registry, id, args, timeout))

    def do_start(self, id: Hashable, args: list[Any], timeout: float | None) -> tuple[str, int]:
        return self.epoch, number(GenRegistry.start(self.registry, id, args, timeout))

    def do_stop(self, id: Hashable, timeout: float | None) -> None:
        GenRegistry.stop(self.registry, id, timeout)

    def do_count(self) -> int:
        return GenRegistry.count(self.registry)

    def do_to_list(self) -> tuple[str, list[tuple[Hashable, int]]]:
        return self.epoch, [(k, number(p)) for k, p in GenRegistry.to_list(self.registry)]

    def do_call(self, id: Hashable, request: Any, args: list[Any], timeout: float | None) -> Any:
        return GenRegistry.call(self.registry, id, request, args, timeout)

    def do_cast(self, id: Hashable, request: Any, args: list[Any]) -> None:
        GenRegistry.cast(self.registry, id, request, args)

    def _find(self, epoch: str, id: Hashable, num: int) -> Pid | None:
        if epoch != self.epoch:
            return None
        pid = GenRegistry.lookup(self.registry, id)
        return pid if pid is not None and number(pid) == num else None

    def do_pid_call(
        self, epoch: str, id: Hashable, num: int, request: Any, timeout: float | None
    ) -> Any:
        pid = self._find(epoch, id, num)
        if pid is None:
            why = "is no longer registered" if epoch == self.epoch else "ended with its shard"
            raise NoProcess(f"the worker {num} of {id!r} {why}")
        return gen_server.call(pid, request, timeout)

    def do_pid_cast(self, epoch: str, id: Hashable, num: int, request: Any) -> None:
        pid = self._find(epoch, id, num)
        if pid is not None:
            gen_server.cast(pid, request)

    def do_pid_alive(self, epoch: str, id: Hashable, num: int) -> bool:
        pid = self._find(epoch, id, num)
        return pid is not None and pid.is_alive()

    def do_sample(self) -> tuple[str, tuple[Hashable, int] | None]:
        found = GenRegistry.sample(self.registry)
        return self.epoch, None if found is None else (found[0], number(found[1]))

    def do_info(self) -> dict[str, Any]:
        """What the shard's process holds: its OS pid, resident memory (bytes),
        threads and workers (for benchmarks and operators)."""
        try:
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux
            rss = -1
        return {
            "index": self.index,
            "epoch": self.epoch,
            "os_pid": os.getpid(),
            "rss": rss,
            "threads": threading.active_count(),
            "workers": GenRegistry.count(self.registry),
        }
