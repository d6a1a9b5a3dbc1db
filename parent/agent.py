"""Agent: a process that holds one value."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from parent import gen_server
from parent.gen_server import GenServer
from parent.process import From, Pid, Server

__all__ = ["Agent"]

T = TypeVar("T")


class Agent(GenServer):
    """A process holding the state ``fn()``, read and changed with functions that run in
    the agent's own process.

    Example:
        ```python
        agent = parent.Agent.start_link(lambda: 0)
        parent.Agent.update(agent, lambda n: n + 1)
        assert parent.Agent.get(agent, lambda n: n) == 1
        parent.Agent.stop(agent)
        ```
    """

    state: Any

    def init(self, *args: Any) -> None:
        (fn,) = args
        self.state = fn()

    def handle_call(self, request: Any, from_: From) -> Any:
        op, fn = request
        if op == "get":
            return fn(self.state)
        self.state = fn(self.state)
        return None

    def _sys_get_state(self) -> Any:
        return self.state

    def _sys_replace_state(self, fn: Callable[[Any], Any]) -> Any:
        self.state = fn(self.state)
        return self.state

    @classmethod
    def start_link(  # type: ignore[override]
        cls,
        fn: Callable[[], Any],
        name: Hashable = None,
        timeout: float | None = 5.0,
        hibernate_after: float | None = None,
    ) -> Pid:
        """Start an agent holding ``fn()``, linked to the caller. With
        ``hibernate_after``, an agent left alone that long gives its thread up until
        its next request.

        Example:
            ```python
            agent = parent.Agent.start_link(dict, name="settings")
            ```
        """
        if not callable(fn):
            raise TypeError(f"Agent.start_link needs a callable, got {fn!r}")
        return super().start_link(fn, name=name, timeout=timeout, hibernate_after=hibernate_after)

    @staticmethod
    def get(agent: Server, fn: Callable[[Any], T], timeout: float | None = 5.0) -> T:
        """Return ``fn(state)``, computed in the agent.

        Example:
            ```python
            size = parent.Agent.get(agent, len)
            ```
        """
        result: T = gen_server.call(agent, ("get", fn), timeout)
        return result

    @staticmethod
    def update(agent: Server, fn: Callable[[Any], Any], timeout: float | None = 5.0) -> None:
        """Set the state to ``fn(state)``.

        Example:
            ```python
            parent.Agent.update(agent, lambda d: {**d, "debug": True})
            ```
        """
        gen_server.call(agent, ("update", fn), timeout)

    @staticmethod
    def stop(agent: Server, reason: Any = "normal", timeout: float | None = None) -> None:
        """Stop the agent.

        Example:
            ```python
            parent.Agent.stop(agent)
            ```
        """
        gen_server.stop(agent, reason, timeout)
