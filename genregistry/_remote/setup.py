"""Making and joining sharded registries: `create`, `connect`, and the holder process
that keeps one in a supervision tree (`holder_start_link`)."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from genregistry._remote.client import (
    READ_TIMEOUT,
    Engine,
    Registry,
    _engine,
    _request,
    forget,
    lend,
)
from genregistry._remote.shard import ShardConfig
from genregistry.registry import _options
from parent._runtime import Pid
from parent.errors import NotFound
from parent.gen_server import GenServer
from parent.process import current, trap_exits

__all__ = [
    "CREATE_OPTIONS",
    "check_create_options",
    "connect",
    "create",
    "holder_start_link",
    "worker_name",
]

CREATE_OPTIONS = ("shards", "namespace", "hibernate_after", "idle_timeout", "max_workers")


def worker_name(worker_module: Any) -> str:
    """``module.qualname`` of a worker class (what `create` compares)."""
    module = getattr(worker_module, "__module__", None)
    qualname = getattr(worker_module, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"worker_module must be a class, got {worker_module!r}")
    return f"{module}.{qualname}"


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} must be a non-empty str, got {name!r}")
    return name


def check_create_options(options: dict[str, Any]) -> None:
    """Refuse an unknown option or a bad value of `create`'s options (by name)."""
    unknown = sorted(map(repr, set(options) - set(CREATE_OPTIONS)))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; expected {', '.join(CREATE_OPTIONS)}"
        )
    _options(
        options.get("hibernate_after"), options.get("idle_timeout"), options.get("max_workers")
    )


def _make(
    engine: Engine,
    worker_module: Any,
    *,
    name: str,
    shards: int = 4,
    namespace: str | None = None,
    hibernate_after: float | None = None,
    idle_timeout: float | None = None,
    max_workers: int | None = None,
) -> Registry:
    _check_name(name, "name")
    ns = _check_name("genregistry" if namespace is None else namespace, "namespace")
    if type(shards) is not int or shards < 1:
        raise ValueError(f"shards must be an int >= 1, got {shards!r}")
    opts = _options(hibernate_after, idle_timeout, max_workers)
    config = ShardConfig(
        worker_module,
        worker_name(worker_module),
        name,
        ns,
        shards,
        opts.hibernate_after,
        opts.idle_timeout,
        opts.max_workers,
        secrets.token_hex(8),
    )
    # shard 0 first: a registry that runs with other options is refused before any
    # other shard is started for it, and its token (ours, or that of the driver that
    # made it first) is the one every other shard gets
    engine.ensure(config, 0)
    key, described, token = _hello(engine, name, ns)
    if tuple(key) != config.key():
        raise ValueError(
            f"the registry {name!r} in namespace {ns!r} already runs with "
            f"{described}, not {config.describe()}"
        )
    config = dataclasses.replace(config, token=token)
    for index in range(1, shards):
        engine.ensure(config, index)
    return Registry(name, ns, shards, engine.key, token)


def _hello(engine: Engine, name: str, namespace: str) -> tuple[Any, str, str]:
    probe = Registry(name, namespace, 1, engine.key)  # no token: only hello answers it
    key, described, token = _request(probe, 0, None, "hello", (), READ_TIMEOUT)
    return key, described, token


def create(engine: Engine, worker_module: Any, **options: Any) -> Registry:
    """Start the shards of registry ``name`` over ``engine``, or join them (see
    `genregistry.ray.RayRegistry.create`); its name then stands for it here."""
    reg = _make(engine, worker_module, **options)
    lend(reg.name, reg)
    return reg


def connect(engine: Engine, name: str, namespace: str | None = None) -> Registry:
    """Join the running registry ``name`` (`NotFound` if there is none)."""
    _check_name(name, "name")
    ns = _check_name("genregistry" if namespace is None else namespace, "namespace")
    if not engine.exists(ns, name, 0):
        raise NotFound(f"no remote registry {name!r} runs in namespace {ns!r}")
    key, _described, token = _hello(engine, name, ns)
    reg = Registry(name, ns, int(key[1]), engine.key, token)
    lend(name, reg)
    return reg


class _Holder(GenServer):
    """A local process holding a remote registry for a supervision tree: while it
    runs, the registry's name (unless `create`/`connect` gave it already) and the
    holder's pid stand for the `Registry` in this process. Stopping it leaves the
    shards running (they are the cluster's)."""

    def init(self, engine_key: str, worker_module: Any, name: str, options: dict[str, Any]) -> None:
        trap_exits(True)  # so that terminate runs when its supervisor stops it
        self.reg = _make(_engine(engine_key), worker_module, name=name, **options)
        me = current()
        assert me is not None
        self.me = me
        lend(name, self.reg, me)  # a dead holder's names resolve no more
        lend(me, self.reg, me)

    def handle_call(self, request: Any, from_: Any) -> Registry:
        return self.reg

    def terminate(self, reason: Any) -> None:
        forget(self.reg, self.me)


def holder_start_link(
    engine_key: str,
    worker_module: Any,
    name: str | None,
    timeout: float | None,
    options: dict[str, Any],
) -> Pid:
    """Start a `_Holder` linked to the caller (see `genregistry.ray.RayRegistry.start_link`)."""
    check_create_options(options)
    if name is None:
        name = worker_name(worker_module)
    _check_name(name, "name")
    return _Holder.start_link(engine_key, worker_module, name, options, timeout=timeout)
