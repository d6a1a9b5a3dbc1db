"""DynamicSupervisor: a supervisor that starts empty and takes children on demand, as
Elixir's ``DynamicSupervisor`` does.

`DynamicSupervisor` is the behaviour (a `parent.Parent` subclass) and the module
functions are its client API; `parent.supervisor`'s queries (``which_children``,
``count_children``, ``get_callback_module``) work on it too. The strategy is always
``one_for_one``: a child that must be restarted is restarted alone, with the arguments
it was first started with.

Children may share one spec id, so the supervisor keys them by pid: inside its process
the inherited `parent.Parent` methods (``children()``, ``shutdown_child(...)``,
``child_pid(...)``) see each child's pid where a Parent has the id, and
``which_children`` gives ``None`` for every id (Elixir's ``:undefined``).

Choices where Elixir leaves room, all documented in the guide:

* **Order.** Children are listed in the order they were (re)started: a restarted child
  moves to the end, as a new pid does in Elixir.
* **Shutdown.** When the supervisor stops, its children are stopped *concurrently*, as
  Elixir does: every child gets the exit signal ``"shutdown"`` (in reverse start order),
  then each gets its own ``shutdown`` time counted from the same instant before it is
  killed.
* **A failed restart** is tried again (a message the supervisor sends itself), and every
  try counts toward the restart intensity, as in Erlang's ``try_again``; meanwhile the
  child is listed with pid ``None``, counts toward ``max_children``, and
  ``terminate_child`` of its old pid cancels the restart (as in Elixir, which keeps a
  restarting child under its old pid). A restart whose ``init`` raises `parent.Ignore`
  drops the child.
* **Intensity** is Erlang's count (`compat._intensity.RestartIntensity`): more than
  ``max_restarts`` restarts within ``max_seconds`` stop every child and the supervisor,
  with reason ``"shutdown"``.

Every piece of state belongs to the supervisor's own thread (the Parent's rule), so
there is no lock.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from compat._intensity import RestartIntensity, check_intensity
from compat._types import ChildSpec, ChildSpecLike
from compat.child_spec import normalize
from parent import _lifecycle as _lc
from parent import gen_server
from parent import process as _p
from parent.errors import Ignored, NotFound, StartError, Stop
from parent.parent import Parent, _Child, start_spec
from parent.process import Pid, Server

__all__ = [
    "DynamicSupervisor",
    "DynamicSupervisorInit",
    "init",
    "start_child",
    "start_link",
    "stop",
    "terminate_child",
]

logger = logging.getLogger("parent")

_START_OPTIONS = (
    "name",
    "max_children",
    "extra_arguments",
    "max_restarts",
    "max_seconds",
    "timeout",
)


@dataclass(frozen=True)
class DynamicSupervisorInit:
    """What a module-based dynamic supervisor's ``init`` returns: build it with `init`.

    Example:
        ```python
        class Rooms(DynamicSupervisor):
            def init(self):
                return dynamic_supervisor.init(max_children=100)
        ```
    """

    max_children: int | None = None
    extra_arguments: tuple[Any, ...] = ()
    max_restarts: int = 3
    max_seconds: float = 5.0


def init(
    *,
    max_children: int | None = None,
    extra_arguments: list[Any] | tuple[Any, ...] = (),
    max_restarts: int = 3,
    max_seconds: float = 5.0,
) -> DynamicSupervisorInit:
    """Build the value a module-based `DynamicSupervisor`'s ``init`` returns.

    Args:
        max_children: at most this many children (``None``: no limit); `start_child`
            raises ``StartError("max_children")`` beyond it.
        extra_arguments: prepended to the start arguments of every child.
        max_restarts: the restart intensity's count, as for a Supervisor.
        max_seconds: the restart intensity's window, as for a Supervisor.

    Raises:
        ValueError: a negative or non-int ``max_children``, or a bad intensity
            (negative, NaN or infinite).
        TypeError: ``extra_arguments`` is not a list or tuple.

    Example:
        ```python
        class Connections(DynamicSupervisor):
            def init(self, pool):
                return dynamic_supervisor.init(max_children=10, extra_arguments=[pool])
        ```
    """
    max_restarts, max_seconds = check_intensity(max_restarts, max_seconds, "dynamic_supervisor")
    if max_children is not None and (
        isinstance(max_children, bool) or not isinstance(max_children, int) or max_children < 0
    ):
        raise ValueError(
            f"dynamic_supervisor: 'max_children' must be None or an int >= 0, got {max_children!r}"
        )
    if not isinstance(extra_arguments, (list, tuple)):
        raise TypeError(
            f"dynamic_supervisor: 'extra_arguments' must be a list or tuple, "
            f"got {extra_arguments!r}"
        )
    return DynamicSupervisorInit(max_children, tuple(extra_arguments), max_restarts, max_seconds)


class _Retry:
    """Private message: try again to restart the child, whose last pid was ``pid``,
    whose restart failed."""

    __slots__ = ("pid",)

    def __init__(self, pid: Pid) -> None:
        self.pid = pid


class DynamicSupervisor(Parent):
    """The DynamicSupervisor behaviour: a Parent that starts children on demand and
    restarts them one for one. Start one with `start_link`, or subclass it and return
    `init` from ``init``; add children with `start_child`.

    In a children list, ``DynamicSupervisor`` or ``(DynamicSupervisor, {"name": ...,
    "max_children": ...})`` starts one with those `start_link` options (its id is the
    name); a subclass ``Rooms`` or ``(Rooms, arg)`` runs ``Rooms.init(arg)``.

    Example:
        ```python
        class Rooms(DynamicSupervisor):
            def init(self):
                return dynamic_supervisor.init(max_children=100)

        app = supervisor.start_link([Rooms])   # or Rooms.start_link(name=...)
        rooms = dynamic_supervisor.start_link(name="rooms")
        lobby = dynamic_supervisor.start_child("rooms", (Room, "lobby"))
        kitchen = dynamic_supervisor.start_child("rooms", (Room, "kitchen"))  # same id
        ```
    """

    _changed_by = "parent.dynamic_supervisor"  # not parent.Client

    @classmethod
    def child_spec(cls, arg: Any = None) -> ChildSpec:
        """For ``DynamicSupervisor`` itself, ``arg`` is ``None`` or a dict of `start_link`
        options (checked here); the spec's id is the ``name`` option, else the class.
        For a subclass, the `parent.Parent` spec that starts ``cls.start_link(arg)``.

        Raises:
            ValueError, TypeError: an unknown or invalid option.

        Example:
            ```python
            supervisor.start_link([
                (DynamicSupervisor, {"name": "jobs", "max_children": 50}),
                Rooms,   # a subclass: Rooms.child_spec()
            ])
            ```
        """
        if cls is not DynamicSupervisor:
            return super().child_spec(arg)
        if arg is None:
            arg = {}
        if not isinstance(arg, Mapping):
            raise TypeError(
                f"DynamicSupervisor.child_spec takes a dict of start_link options, got {arg!r}"
            )
        options = dict(arg)
        unknown = sorted(repr(k) for k in options if k not in _START_OPTIONS)
        if unknown:
            raise ValueError(
                f"unknown DynamicSupervisor option(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(_START_OPTIONS)}"
            )
        init(**{k: v for k, v in options.items() if k not in ("name", "timeout")})
        name = options.get("name")
        return {
            "id": DynamicSupervisor if name is None else name,
            "start": (_start_from_options, [options]),
            "type": "supervisor",
            "shutdown": "infinity",
            "modules": [DynamicSupervisor],
        }

    def init(self, *args: Any) -> Any:
        """Return `init` (``dynamic_supervisor.init(...)``). The base class returns its
        single argument, which is how `start_link` passes its options.

        Example:
            ```python
            def init(self, limit):
                return dynamic_supervisor.init(max_children=limit)
            ```
        """
        if len(args) != 1:
            raise TypeError(
                f"{type(self).__qualname__}.init must be overridden to return "
                "dynamic_supervisor.init(...)"
            )
        return args[0]

    def start_child(self, spec: ChildSpecLike) -> Pid:
        """From the supervisor's own process (a subclass's callbacks): the same as the
        client function `start_child`.

        Example:
            ```python
            def handle_info(self, message):
                self.start_child((Room, message))
            ```
        """
        self._check_owner("start_child")
        return self._sys_start_child(spec)

    # -- internals -------------------------------------------------------------------

    def _boot(self, args: tuple[Any, ...]) -> Any:
        self._setup()
        flags = self.init(*args)
        if not isinstance(flags, DynamicSupervisorInit):
            raise TypeError(
                f"a DynamicSupervisor's init must return dynamic_supervisor.init(...), "
                f"got {flags!r}"
            )
        self._flags = flags
        self._intensity = RestartIntensity(flags.max_restarts, flags.max_seconds)
        # children whose restart failed, waiting for their _Retry: last pid -> spec
        self._restarting: dict[Pid, ChildSpec] = {}
        return None

    def _launch(self, spec: ChildSpec) -> Pid:
        pid = start_spec(spec)
        child = _Child(spec, pid)
        child.id = pid  # spec ids may repeat: the Parent's maps are keyed by pid here
        self._adopt(child)
        return pid

    def _child_exited(self, child: _Child, reason: Any) -> Any:
        clean = _lc.is_clean(reason)
        if not clean:
            logger.error(
                "Child %r of DynamicSupervisor %r terminated\n** (exit) %r\nPid: %r\nRestart: %s",
                child.spec["id"],
                self._me,
                reason,
                child.pid,
                child.restart,
            )
        if child.restart == "temporary" or (child.restart == "transient" and clean):
            return None
        self._restart(child.pid, child.spec)
        return None

    def _restart(self, old: Pid, spec: ChildSpec) -> None:
        if not self._intensity.add():
            logger.error(
                "DynamicSupervisor %r reached its maximum restart intensity "
                "(%d restarts in %s s); shutting down",
                self._me,
                self._flags.max_restarts,
                self._flags.max_seconds,
            )
            raise Stop("shutdown")
        try:
            self._launch(spec)
        except Ignored:
            return  # as in Erlang: a restart that is ignored drops the child
        except StartError as exc:
            logger.error(
                "DynamicSupervisor %r could not restart child %r: %r; trying again",
                self._me,
                spec["id"],
                exc.reason,
            )
            self._restarting[old] = spec
            _p.send(self._me, _Retry(old))

    def _handle_message(self, message: Any) -> Any:
        if type(message) is _Retry:
            spec = self._restarting.pop(message.pid, None)
            if spec is not None:  # else terminate_child cancelled it
                self._restart(message.pid, spec)
            return None
        return super()._handle_message(message)

    def _terminate(self, reason: Any) -> None:
        try:
            self.terminate(reason)
        finally:
            self._restarting.clear()
            children = self._ordered_children()
            children.reverse()
            self._stop(children, "shutdown", ordered=False)  # concurrently, as Elixir

    # -- supervisor requests ---------------------------------------------------------

    def _sys_start_child(self, spec: Any) -> Pid:
        normalized = normalize(spec)
        limit = self._flags.max_children
        if limit is not None and len(self._children) + len(self._restarting) >= limit:
            raise StartError(
                "max_children", f"{self._me!r} already has its max_children={limit} children"
            )
        extra = self._flags.extra_arguments
        if extra:
            fn, args = normalized["start"]  # type: ignore[misc]
            normalized["start"] = (fn, [*extra, *args])
        return self._launch(normalized)

    def _sys_terminate_child(self, pid: Any) -> None:
        if type(pid) is Pid:
            if self._restarting.pop(pid, None) is not None:
                return  # its restart was pending: cancelled
            child = self._by_pid.get(pid)
            if child is not None:
                self._stop([child], "shutdown", ordered=True)
                return
        raise NotFound(f"{pid!r} is not a child of {self._me!r}")

    def _sys_which_children(self) -> list[tuple[Any, Pid | None, str, Any]]:
        out: list[tuple[Any, Pid | None, str, Any]] = [
            (None, c.pid, c.type, c.modules) for c in self._children.values()
        ]
        out += [(None, None, s["type"], s["modules"]) for s in self._restarting.values()]
        return out

    def _sys_count_children(self) -> dict[str, int]:
        types = [c.type for c in self._children.values()]
        types += [s["type"] for s in self._restarting.values()]
        supervisors = types.count("supervisor")
        return {
            "specs": len(types),
            "active": len(self._children),
            "supervisors": supervisors,
            "workers": len(types) - supervisors,
        }


# -- client functions ------------------------------------------------------------------


def start_link(
    *,
    name: Hashable = None,
    max_children: int | None = None,
    extra_arguments: list[Any] | tuple[Any, ...] = (),
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    timeout: float | None = 5.0,
) -> Pid:
    """Start a dynamic supervisor with no children, linked to the caller.

    Raises:
        ValueError, TypeError: a bad option (see `init`), before anything starts.
        AlreadyStarted: ``name`` is taken.

    Example:
        ```python
        sup = dynamic_supervisor.start_link(name="jobs", max_children=50)
        ```
    """
    flags = init(
        max_children=max_children,
        extra_arguments=extra_arguments,
        max_restarts=max_restarts,
        max_seconds=max_seconds,
    )
    return DynamicSupervisor.start_link(flags, name=name, timeout=timeout)


def _start_from_options(options: dict[str, Any]) -> Pid:
    return start_link(**options)


def start_child(sup: Server, spec: ChildSpecLike) -> Pid:
    """Start a child from ``spec`` (any form a Supervisor takes) under ``sup``, with the
    supervisor's ``extra_arguments`` before the spec's own start arguments, and return
    its pid. Many children may share one spec id.

    Raises:
        StartError: the start failed, or ``StartError("max_children")`` when the
            supervisor is full; nothing is recorded.
        Ignored: the child's ``init`` raised `parent.Ignore`; nothing is recorded.
        KeyError, ValueError, TypeError: an invalid spec.

    Example:
        ```python
        a = dynamic_supervisor.start_child(sup, {"id": "job", "start": (Job.start_link, [1])})
        b = dynamic_supervisor.start_child(sup, {"id": "job", "start": (Job.start_link, [2])})
        ```
    """
    result: Pid = gen_server._sys_call(sup, ("start_child", spec), None)
    return result


def terminate_child(sup: Server, pid: Pid) -> None:
    """Stop the child ``pid`` (exit signal ``"shutdown"``, killed after its
    ``shutdown``) and forget it; it is dead when this returns and is not restarted. For
    a child whose restart failed and waits to be tried again, ``pid`` is its last pid,
    and its restart is cancelled.

    Raises:
        NotFound: ``pid`` is not a child of ``sup``.
        TypeError: ``pid`` is not a `Pid`.

    Example:
        ```python
        dynamic_supervisor.terminate_child(sup, pid)
        assert not pid.is_alive()
        ```
    """
    if type(pid) is not Pid:
        raise TypeError(f"dynamic_supervisor.terminate_child needs a child's Pid, got {pid!r}")
    gen_server._sys_call(sup, ("terminate_child", pid), None)


def stop(sup: Server, reason: Any = "normal", timeout: float | None = None) -> None:
    """Stop the supervisor: its children are stopped concurrently, then it exits with
    ``reason``.

    Raises:
        NoProcess: ``sup`` is not alive. CallTimeout: it did not stop within ``timeout``.

    Example:
        ```python
        dynamic_supervisor.stop(sup)
        ```
    """
    gen_server.stop(sup, reason, timeout)
