"""`Behaviour`: the GenRegistry functions as a Protocol, for alternative
implementations and test doubles."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from compat._types import ChildSpec
from parent.process import Pid, Server

__all__ = ["Behaviour"]

A = TypeVar("A")


class Behaviour(Protocol):
    """The GenRegistry API. The class object `GenRegistry` satisfies it.

    Example:
        ```python
        def place_call(registry: genregistry.Behaviour, recipient: str) -> Pid:
            return registry.lookup_or_start(Denylist, recipient, [recipient])

        place_call(GenRegistry, "+15551234567")
        ```
    """

    @staticmethod
    def child_spec(opts: Mapping[str, Any] | None = None, /, **kwargs: Any) -> ChildSpec: ...

    @staticmethod
    def start_link(
        worker_module: Any,
        name: Hashable = None,
        *,
        hibernate_after: float | None = None,
        idle_timeout: float | None = None,
        max_workers: int | None = None,
        timeout: float | None = 5.0,
    ) -> Pid: ...

    @staticmethod
    def lookup(registry: Server, id: Hashable) -> Pid | None: ...

    @staticmethod
    def lookup_or_start(
        registry: Server, id: Hashable, args: Sequence[Any] = (), timeout: float | None = 5.0
    ) -> Pid: ...

    @staticmethod
    def start(
        registry: Server, id: Hashable, args: Sequence[Any] = (), timeout: float | None = 5.0
    ) -> Pid: ...

    @staticmethod
    def stop(registry: Server, id: Hashable, timeout: float | None = None) -> None: ...

    @staticmethod
    def count(registry: Server) -> int: ...

    @staticmethod
    def sample(registry: Server) -> tuple[Hashable, Pid] | None: ...

    @staticmethod
    def reduce(registry: Server, acc: A, fn: Callable[[tuple[Hashable, Pid], A], A]) -> A: ...

    @staticmethod
    def to_list(registry: Server) -> list[tuple[Hashable, Pid]]: ...

    @staticmethod
    def call(
        registry: Server,
        id: Hashable,
        request: Any,
        args: Sequence[Any] = (),
        timeout: float | None = 5.0,
    ) -> Any: ...

    @staticmethod
    def cast(registry: Server, id: Hashable, request: Any, args: Sequence[Any] = ()) -> None: ...
