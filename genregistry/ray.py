"""One GenRegistry across a Ray cluster: ``pip install 'genregistry[ray]'``.

A registry is a fixed set of shards, each a detached named Ray actor running the thread
registry (`GenRegistry`) of this package; an id lives in the shard a stable hash of it
picks (`genregistry._remote.route`). Ray restarts a shard whose process dies; the new
one starts empty, with a new epoch, and re-activates ids on demand, while pids of the
old one get `NoProcess` (see `genregistry._remote.shard`).

Example:
    ```python
    import ray
    from genregistry.ray import RayRegistry

    ray.init()
    reg = RayRegistry.create(Denylist, name="denylist", shards=4)
    RayRegistry.call(reg, "+15551234567", ("deny", "+15550000000"), ["+15551234567"])
    ```
"""

from __future__ import annotations

import contextlib
import pickle
import time
from collections.abc import Hashable, Mapping
from typing import Any

try:
    import ray
    from ray import cloudpickle
    from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError
except ImportError as e:  # pragma: no cover - the default install has no Ray
    raise ImportError(
        "genregistry.ray needs Ray, which the default install leaves out: "
        "pip install 'genregistry[ray]'"
    ) from e

from compat._types import ChildSpec
from genregistry._remote.client import (
    Registry,
    RemotePid,
    RemoteRegistry,
    ShardDown,
    register_engine,
)
from genregistry._remote.setup import (
    check_create_options,
    connect,
    create,
    holder_start_link,
    worker_name,
)
from genregistry._remote.shard import Answer, ShardConfig, ShardCore
from parent._runtime import Pid
from parent.errors import CallTimeout

__all__ = ["RayRegistry", "Registry", "RemotePid"]

# requests one shard runs at once (Ray threads): a slow worker holds one of them
MAX_CONCURRENCY = 128
# how long reg.shutdown() lets one shard's workers terminate before it kills the shard
SHUTDOWN_TIMEOUT = 30.0


def _dumps(value: Any) -> bytes:
    data: bytes = cloudpickle.dumps(value, 5)
    return data


class _Shard:
    """The body of a shard actor: a `ShardCore`, made again by each restart.

    Requests and answers travel as one ``bytes`` each, pickled by us (cloudpickle, as
    Ray would, so classes defined in a driver's ``__main__`` still cross): Ray
    serializes a ``bytes`` argument far faster than a nested tuple, about 0.07 ms
    against 0.28 ms of a 0.84 ms round trip (benchmarks/ray_call.py's machine).
    """

    def __init__(self, config: ShardConfig, index: int) -> None:
        self._core = ShardCore(config, index)

    def run(self, request: bytes) -> bytes:
        token, method, args = pickle.loads(request)
        return _dumps(self._core.run(token, method, args))


_ShardActor = ray.remote(_Shard)


class _RayEngine:
    """Requests as Ray actor calls; actor handles cached per process."""

    key = "ray"

    def __init__(self) -> None:
        # (namespace, actor name) -> handle; a dict read and written whole (GIL-atomic)
        self._handles: dict[tuple[str, str], Any] = {}

    def ensure(self, config: ShardConfig, index: int) -> None:
        name = Registry(config.name, config.namespace, config.shards).shard_name(index)
        handle = _ShardActor.options(
            name=name,
            namespace=config.namespace,
            lifetime="detached",
            get_if_exists=True,  # exactly one actor per name, even when drivers race
            max_restarts=-1,  # Ray restarts a dead shard (empty, with a new epoch)
            max_task_retries=0,  # at most once: a request is never run twice
            max_concurrency=MAX_CONCURRENCY,
            num_cpus=0,
            scheduling_strategy="SPREAD",
        ).remote(config, index)
        self._handles[(config.namespace, name)] = handle

    def exists(self, namespace: str, name: str, index: int) -> bool:
        return self._lookup(namespace, Registry(name, namespace, 1).shard_name(index)) is not None

    def _lookup(self, namespace: str, name: str) -> Any:
        try:
            handle = ray.get_actor(name, namespace=namespace)
        except ValueError:
            return None
        self._handles[(namespace, name)] = handle
        return handle

    def _handle(self, reg: Registry, index: int) -> Any:
        name = reg.shard_name(index)
        handle = self._handles.get((reg.namespace, name)) or self._lookup(reg.namespace, name)
        if handle is None:
            raise ShardDown(name, permanent=True)
        return handle

    def _down(self, reg: Registry, index: int) -> ShardDown:
        name = reg.shard_name(index)
        self._handles.pop((reg.namespace, name), None)
        return ShardDown(name, permanent=self._lookup(reg.namespace, name) is None)

    def run(
        self,
        reg: Registry,
        index: int,
        method: str,
        args: tuple[Any, ...],
        timeout: float | None,
    ) -> Answer:
        ref = self._handle(reg, index).run.remote(_dumps((reg.token, method, args)))
        return self._get(reg, index, ref, timeout, method)

    def _get(self, reg: Registry, index: int, ref: Any, timeout: float | None, what: str) -> Answer:
        try:
            answer: Answer = pickle.loads(ray.get(ref, timeout=timeout))
            return answer
        except GetTimeoutError:
            raise CallTimeout(
                f"shard {reg.shard_name(index)} did not answer {what!r} within {timeout} s"
            ) from None
        except ActorUnavailableError as e:  # the same incarnation, maybe: it may have run
            raise ShardDown(reg.shard_name(index), maybe_ran=True) from e
        except RayActorError as e:
            raise self._down(reg, index) from e

    def run_all(
        self, reg: Registry, method: str, args: tuple[Any, ...], timeout: float | None
    ) -> list[Answer | ShardDown]:
        refs: list[Any] = []
        for index in range(reg.shards):
            try:
                refs.append(self._handle(reg, index).run.remote(_dumps((reg.token, method, args))))
            except ShardDown as e:
                refs.append(e)
        deadline = None if timeout is None else time.monotonic() + timeout
        out: list[Answer | ShardDown] = []
        for index, ref in enumerate(refs):
            if isinstance(ref, ShardDown):
                out.append(ref)
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                out.append(self._get(reg, index, ref, left, method))
            except ShardDown as e:
                out.append(e)
        return out

    def kill(self, reg: Registry, index: int) -> None:
        name = reg.shard_name(index)
        handle = self._lookup(reg.namespace, name)
        self._handles.pop((reg.namespace, name), None)
        if handle is not None:
            # stop the registry first, so every worker's terminate runs, then the actor
            with contextlib.suppress(RayActorError, GetTimeoutError):
                close = _dumps((reg.token, "close", ()))
                ray.get(handle.run.remote(close), timeout=SHUTDOWN_TIMEOUT)
            ray.kill(handle, no_restart=True)


_ENGINE = _RayEngine()
register_engine(_ENGINE)


class RayRegistry(RemoteRegistry):
    """`genregistry.Behaviour` over a Ray cluster: ``create`` or ``connect`` a registry,
    then call the same functions as on `GenRegistry` with its handle as ``registry``.

    Example:
        ```python
        reg = RayRegistry.create(Denylist, name="denylist")
        pid = RayRegistry.lookup_or_start(reg, "+15551234567", ["+15551234567"])
        assert RayRegistry.count(reg) == 1
        ```
    """

    @staticmethod
    def create(
        worker_module: Any,
        *,
        name: str,
        shards: int = 4,
        namespace: str | None = None,
        hibernate_after: float | None = None,
        idle_timeout: float | None = None,
        max_workers: int | None = None,
    ) -> Registry:
        """Start the ``shards`` detached actors of registry ``name`` in the Ray namespace
        ``namespace`` (default ``"genregistry"``), or join them if they run. The options
        are each shard's (``max_workers`` is per shard).

        Raises:
            ValueError: the registry runs with another worker class or other options,
                or an option is out of range.
            TypeError: an option of the wrong type.

        Example:
            ```python
            reg = RayRegistry.create(Denylist, name="denylist", shards=8, idle_timeout=60.0)
            ```
        """
        return create(
            _ENGINE,
            worker_module,
            name=name,
            shards=shards,
            namespace=namespace,
            hibernate_after=hibernate_after,
            idle_timeout=idle_timeout,
            max_workers=max_workers,
        )

    @staticmethod
    def connect(name: str, namespace: str | None = None) -> Registry:
        """Join the running registry ``name``.

        Raises:
            NotFound: no such registry runs in ``namespace``.

        Example:
            ```python
            reg = RayRegistry.connect("denylist")
            ```
        """
        return connect(_ENGINE, name, namespace)

    @staticmethod
    def start_link(
        worker_module: Any,
        name: Hashable = None,
        *,
        hibernate_after: float | None = None,
        idle_timeout: float | None = None,
        max_workers: int | None = None,
        timeout: float | None = 60.0,
        shards: int = 4,
        namespace: str | None = None,
    ) -> Pid:
        """`create` the registry (``name`` defaults to the worker class's dotted name)
        from a local process linked to the caller, for a supervision tree. While it
        runs, the name and its pid stand for the registry in this process's calls;
        stopping it leaves the shards running.

        Example:
            ```python
            RayRegistry.start_link(Denylist, "denylist")
            RayRegistry.lookup_or_start("denylist", "+15551234567", ["+15551234567"])
            ```
        """
        if name is not None and not isinstance(name, str):
            raise TypeError(f"a Ray registry's name must be a str, got {name!r}")
        options = {
            "shards": shards,
            "namespace": namespace,
            "hibernate_after": hibernate_after,
            "idle_timeout": idle_timeout,
            "max_workers": max_workers,
        }
        return holder_start_link(_ENGINE.key, worker_module, name, timeout, options)

    @staticmethod
    def child_spec(opts: Mapping[str, Any] | None = None, /, **kwargs: Any) -> ChildSpec:
        """The child spec of `start_link`: ``worker_module`` is required; ``name``,
        ``timeout`` and the options of `create` are optional.

        Raises:
            KeyError: ``worker_module`` is missing.

        Example:
            ```python
            supervisor.start_link([RayRegistry.child_spec(worker_module=Denylist)])
            ```
        """
        options = dict(opts or {})
        options.update(kwargs)
        if "worker_module" not in options:
            raise KeyError("worker_module")
        worker_module = options.pop("worker_module")
        name = options.pop("name", None)
        timeout = options.pop("timeout", 60.0)
        check_create_options(options)  # a bad option fails here, not in the supervisor
        if name is None:
            name = worker_name(worker_module)
        return {
            "id": name,
            "start": (holder_start_link, [_ENGINE.key, worker_module, name, timeout, options]),
            "type": "worker",
            "shutdown": 5.0,
            "modules": [RayRegistry],
        }
