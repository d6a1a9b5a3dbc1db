"""Supervisor: a Parent that restarts its children, as Erlang's ``supervisor`` does.

`Supervisor` is the behaviour (subclass it and return `init` from ``init``, or use
`start_link` with a list of children); the module functions are its client API, and
the queries (`which_children`, `count_children`, `get_callback_module`) work on any
Parent, Supervisor or GenRegistry.

Restart intensity is counted as Erlang counts it: each restart appends its time to a
list, times older than ``max_seconds`` are dropped, and when the list holds more than
``max_restarts`` entries the supervisor shuts every child down and exits with reason
``"shutdown"``.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from compat._intensity import RestartIntensity, check_intensity
from compat._types import ChildSpec, ChildSpecLike, ChildType, Strategy
from compat.child_spec import normalize
from parent import _lifecycle as _lc
from parent import gen_server
from parent import process as _p
from parent.errors import AlreadyStarted, Ignored, NotFound, ProcessError, StartError, Stop
from parent.parent import Parent, _Child
from parent.process import Pid, Server

__all__ = [
    "Supervisor",
    "SupervisorInit",
    "count_children",
    "delete_child",
    "get_callback_module",
    "get_childspec",
    "init",
    "restart_child",
    "start_child",
    "start_link",
    "stop",
    "terminate_child",
    "which_children",
]

logger = logging.getLogger("parent")

_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")


@dataclass(frozen=True)
class SupervisorInit:
    """What a module-based supervisor's ``init`` returns: build it with `init`.

    Example:
        ```python
        class App(Supervisor):
            def init(self):
                return supervisor.init([Cache, (Worker, 1)], strategy="rest_for_one")
        ```
    """

    children: list[ChildSpec] = field(default_factory=list)
    strategy: Strategy = "one_for_one"
    max_restarts: int = 3
    max_seconds: float = 5.0


def init(
    children: Sequence[ChildSpecLike],
    *,
    strategy: Strategy = "one_for_one",
    max_restarts: int = 3,
    max_seconds: float = 5.0,
) -> SupervisorInit:
    """Build the value a module-based supervisor's ``init`` returns. Every child spec
    is checked here, so a bad one fails before any child starts.

    Raises:
        KeyError, ValueError, TypeError: a bad child spec or option (the message names it).

    Example:
        ```python
        def init(self, n):
            return supervisor.init([(Worker, i) for i in range(n)], max_restarts=10)
        ```
    """
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")
    max_restarts, max_seconds = check_intensity(max_restarts, max_seconds, "supervisor.init")
    if isinstance(children, (str, bytes)) or not isinstance(children, Sequence):
        raise TypeError(f"children must be a list of child specs, got {children!r}")
    specs = [normalize(child) for child in children]
    seen: set[Hashable] = set()
    for spec in specs:
        if spec["id"] in seen:
            raise ValueError(f"two children have the id {spec['id']!r}; ids must be unique")
        seen.add(spec["id"])
    return SupervisorInit(specs, strategy, max_restarts, max_seconds)


def _from_init_value(value: Any) -> SupervisorInit:
    if isinstance(value, SupervisorInit):
        return value
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], tuple)
        and len(value[0]) == 3
    ):  # the legacy compat.spec.supervise(...) value
        (strategy, max_restarts, max_seconds), children = value
        return init(children, strategy=strategy, max_restarts=max_restarts, max_seconds=max_seconds)
    raise TypeError(
        "a Supervisor's init must return supervisor.init(children, ...) "
        f"(or the legacy compat.spec.supervise(...) value), got {value!r}"
    )


class _Retry:
    """Private message: try again to restart the group of child ``id``, whose restart
    failed (Erlang's ``try_again_restart``)."""

    __slots__ = ("id",)

    def __init__(self, id: Hashable) -> None:
        self.id = id


class Supervisor(Parent):
    """The Supervisor behaviour: a Parent that restarts its children by a strategy.

    Start one with `start_link` and a list of children, or subclass it and return
    `init` from ``init``:

    Example:
        ```python
        class App(Supervisor):
            def init(self, url):
                return supervisor.init(
                    [{"id": "db", "start": (Db.start_link, [url])}, Cache],
                    strategy="rest_for_one",
                )

        sup = App.start_link("sqlite://", name="app")
        ```
    """

    _changed_by = "parent.supervisor"  # not parent.Client

    def init(self, *args: Any) -> Any:
        """Return `init` (``supervisor.init(children, strategy=...)``). The base class
        returns its single argument, which is how `start_link` passes its children.

        Example:
            ```python
            def init(self):
                return supervisor.init([Worker], strategy="one_for_all")
            ```
        """
        if len(args) != 1:
            raise TypeError(
                f"{type(self).__qualname__}.init must be overridden to return "
                "supervisor.init(children, ...)"
            )
        return args[0]

    # -- start -----------------------------------------------------------------------

    def _boot(self, args: tuple[Any, ...]) -> Any:
        self._setup()
        flags = _from_init_value(self.init(*args))
        self._strategy: Strategy = flags.strategy
        self._intensity = RestartIntensity(flags.max_restarts, flags.max_seconds)
        self._specs: dict[Hashable, ChildSpec] = {}
        # ids whose restart failed and waits for its _Retry message (Erlang's
        # "restarting" pid); terminate_child cancels it, delete_child refuses it
        self._restarting: set[Hashable] = set()
        self._restarts: dict[Hashable, int] = {}  # child id -> times restarted (observer)
        for spec in flags.children:
            try:
                self._start_normalized(spec)
            except Ignored:
                if spec["restart"] == "temporary":
                    continue  # as Erlang: an ignored temporary child is forgotten
            except StartError as exc:
                logger.error(
                    "Supervisor %r failed to start child %r: %r", self._me, spec["id"], exc.reason
                )
                self._stop_in_reverse(list(self._children.values()))
                raise Stop(("failed_to_start_child", spec["id"], exc.reason)) from exc
            self._specs[spec["id"]] = spec
        return None

    # -- restarts --------------------------------------------------------------------

    def _ordered_children(self) -> list[_Child]:
        running = self._children
        return [running[i] for i in self._specs if i in running]

    def _stop_in_reverse(self, children: list[_Child]) -> None:
        children = list(children)
        children.reverse()
        self._stop(children, "shutdown", ordered=True)

    def _child_exited(self, child: _Child, reason: Any) -> Any:
        clean = _lc.is_clean(reason)
        if not clean:
            logger.error(
                "Child %r of Supervisor %r terminated\n** (exit) %r\nPid: %r\nRestart: %s",
                child.id,
                self._me,
                reason,
                child.pid,
                child.restart,
            )
        if child.restart == "temporary":
            self._specs.pop(child.id, None)
            return None
        if child.restart == "transient" and clean:
            return None
        self._restart(child.id)
        return None

    def _add_restart(self) -> bool:
        """Count one restart as Erlang does; ``False`` when the intensity is exceeded."""
        return self._intensity.add()

    def _restart(self, failed: Hashable) -> None:
        """Restart the group of the child ``failed`` (its strategy's group), counting one
        restart; over the intensity, the supervisor shuts down."""
        if not self._add_restart():
            logger.error(
                "Supervisor %r reached its maximum restart intensity "
                "(%d restarts in %s s); shutting down",
                self._me,
                self._intensity.max_restarts,
                self._intensity.max_seconds,
            )
            raise Stop("shutdown")
        self._restart_group(failed)

    def _group(self, failed: Hashable) -> list[Hashable]:
        ids = list(self._specs)
        if self._strategy == "one_for_one":
            return [failed]
        if self._strategy == "one_for_all":
            return ids
        return ids[ids.index(failed) :]  # rest_for_one

    def _restart_group(self, failed: Hashable) -> None:
        """Stop what still runs of the group (in reverse start order), then start the
        whole group in start order. If a start fails, the children started so far keep
        running and a `_Retry` for the failed one is posted: like Erlang, the retry
        restarts the whole group again, siblings included."""
        group = self._group(failed)
        running = [self._children[i] for i in group if i in self._children]
        self._stop_in_reverse(running)
        for child in running:
            if child.restart == "temporary":
                self._specs.pop(child.id, None)
        for cid in group:
            spec = self._specs.get(cid)
            if spec is None or cid in self._children:
                continue
            self._restarts[cid] = self._restarts.get(cid, 0) + 1
            try:
                self._start_normalized(spec)
            except Ignored:
                continue  # kept with no pid; restart_child tries again
            except StartError as exc:
                logger.error(
                    "Supervisor %r could not restart child %r: %r; trying again",
                    self._me,
                    cid,
                    exc.reason,
                )
                self._restarting.add(cid)
                _p.send(self._me, _Retry(cid))
                return

    def _restarted(self) -> dict[Any, int]:
        restarts: dict[Any, int] = getattr(self, "_restarts", {})  # none until init returns
        return restarts.copy()

    def _handle_message(self, message: Any) -> Any:
        if type(message) is _Retry:
            if message.id not in self._restarting:
                return None  # cancelled: terminate_child or delete_child came first
            self._restarting.discard(message.id)
            self._restart(message.id)
            return None
        return super()._handle_message(message)

    # -- supervisor requests ---------------------------------------------------------

    def _sys_which_children(self) -> list[tuple[Any, Pid | None, str, Any]]:
        out: list[tuple[Any, Pid | None, str, Any]] = []
        for cid, spec in self._specs.items():
            child = self._children.get(cid)
            out.append((cid, None if child is None else child.pid, spec["type"], spec["modules"]))
        return out

    def _sys_count_children(self) -> dict[str, int]:
        supervisors = sum(1 for s in self._specs.values() if s["type"] == "supervisor")
        return {
            "specs": len(self._specs),
            "active": sum(1 for i in self._specs if i in self._children),
            "supervisors": supervisors,
            "workers": len(self._specs) - supervisors,
        }

    def _sys_start_child(self, spec: Any) -> Pid:
        normalized = normalize(spec)
        cid = normalized["id"]
        if cid in self._specs:
            running = self._children.get(cid)
            if running is not None:
                raise AlreadyStarted(running.pid)
            raise ValueError(
                f"a stopped child keeps the id {cid!r}; restart_child or delete_child it first"
            )
        try:
            child = self._start_normalized(normalized)
        except Ignored:
            if normalized["restart"] != "temporary":  # kept with no pid, as Erlang does
                self._specs[cid] = normalized
            raise
        self._specs[cid] = normalized
        return child.pid

    def _spec(self, cid: Hashable) -> ChildSpec:
        try:
            return self._specs[cid]
        except KeyError:
            raise NotFound(f"no child with id {cid!r}") from None
        except TypeError:
            raise TypeError(f"a child id must be hashable, got {cid!r}") from None

    def _sys_get_childspec(self, cid: Hashable) -> ChildSpec:
        return dict(self._spec(cid))  # type: ignore[return-value]

    def _sys_terminate_child(self, cid: Hashable) -> None:
        spec = self._spec(cid)
        self._restarting.discard(cid)  # a pending restart is cancelled, as in Erlang
        child = self._children.get(cid)
        if child is not None:
            self._stop([child], "shutdown", ordered=True)
        if spec["restart"] == "temporary":
            del self._specs[cid]

    def _sys_restart_child(self, cid: Hashable) -> Pid:
        spec = self._spec(cid)
        running = self._children.get(cid)
        if running is not None:
            raise AlreadyStarted(running.pid)
        if cid in self._restarting:
            raise ProcessError(f"child {cid!r} is being restarted by the supervisor")
        return self._start_normalized(spec).pid

    def _sys_delete_child(self, cid: Hashable) -> None:
        self._spec(cid)
        if cid in self._children:
            raise ProcessError(f"child {cid!r} is running; terminate_child it first")
        if cid in self._restarting:
            raise ProcessError(
                f"child {cid!r} is being restarted; terminate_child it first (that cancels "
                "the restart), then delete_child"
            )
        del self._specs[cid]


# -- client functions ------------------------------------------------------------------


def start_link(
    children: Sequence[ChildSpecLike],
    *,
    strategy: Strategy = "one_for_one",
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    name: Hashable = None,
    timeout: float | None = 5.0,
) -> Pid:
    """Start a supervisor with ``children`` (modern specs, classes, ``(class, arg)``
    tuples and legacy tuples, mixed), linked to the caller. Children start in order.

    Raises:
        KeyError, ValueError, TypeError: an invalid spec, before anything starts.
        StartError: a child failed to start (those already started are stopped).

    Example:
        ```python
        sup = supervisor.start_link(
            [Cache, (Worker, 1), {"id": "job", "start": (Task.start_link, [run])}],
            strategy="one_for_one",
        )
        ```
    """
    flags = init(children, strategy=strategy, max_restarts=max_restarts, max_seconds=max_seconds)
    return Supervisor.start_link(flags, name=name, timeout=timeout)


def which_children(sup: Server) -> list[tuple[Any, Pid | None, ChildType, list[Any]]]:
    """``(id, pid, type, modules)`` for each child in start order; ``pid`` is ``None``
    for a stopped child whose spec is kept. Works on any Parent or GenRegistry too.

    Example:
        ```python
        for id, pid, type, modules in supervisor.which_children(sup):
            print(id, pid)
        ```
    """
    result: list[tuple[Any, Pid | None, ChildType, list[Any]]] = gen_server._sys_call(
        sup, ("which_children",)
    )
    return result


def count_children(sup: Server) -> dict[str, int]:
    """``{"specs", "active", "supervisors", "workers"}`` counts.

    Example:
        ```python
        assert supervisor.count_children(sup)["active"] == 3
        ```
    """
    result: dict[str, int] = gen_server._sys_call(sup, ("count_children",))
    return result


def get_callback_module(sup: Server) -> type:
    """The behaviour class of the process: `Supervisor` for `start_link`, the subclass
    for a module-based supervisor, the registry's class for a GenRegistry.

    Example:
        ```python
        assert supervisor.get_callback_module(sup) is Supervisor
        ```
    """
    result: type = gen_server._sys_call(sup, ("get_callback_module",))
    return result


def get_childspec(sup: Server, id: Any) -> ChildSpec:
    """The spec of child ``id``, every default filled in (as `compat.normalize` gives
    it); for a Parent or a GenRegistry, the spec of a running child.

    Raises:
        NotFound: no child has this id.

    Example:
        ```python
        spec = supervisor.get_childspec(sup, "cache")
        assert spec["restart"] == "permanent"
        ```
    """
    result: ChildSpec = gen_server._sys_call(sup, ("get_childspec", id))
    return result


def start_child(sup: Server, spec: ChildSpecLike) -> Pid:
    """Add a child to a running supervisor and start it.

    Raises:
        AlreadyStarted: a child with this id is running.
        ValueError: a stopped child keeps this id.
        StartError: the start failed (the spec is not kept).

    Example:
        ```python
        pid = supervisor.start_child(sup, {"id": "extra", "start": (Worker.start_link, [])})
        ```
    """
    result: Pid = gen_server._sys_call(sup, ("start_child", spec), None)
    return result


def terminate_child(sup: Server, id: Any) -> None:
    """Shut a child down and keep its spec (a temporary child's spec is dropped).

    Raises:
        NotFound: no child has this id.

    Example:
        ```python
        supervisor.terminate_child(sup, "extra")
        ```
    """
    gen_server._sys_call(sup, ("terminate_child", id), None)


def restart_child(sup: Server, id: Any) -> Pid:
    """Start a stopped child again from its kept spec.

    Raises:
        AlreadyStarted: it is running. NotFound: no child has this id.

    Example:
        ```python
        pid = supervisor.restart_child(sup, "extra")
        ```
    """
    result: Pid = gen_server._sys_call(sup, ("restart_child", id), None)
    return result


def delete_child(sup: Server, id: Any) -> None:
    """Forget the spec of a stopped child.

    Raises:
        ProcessError: the child is running. NotFound: no child has this id.

    Example:
        ```python
        supervisor.terminate_child(sup, "extra")
        supervisor.delete_child(sup, "extra")
        ```
    """
    gen_server._sys_call(sup, ("delete_child", id))


def stop(sup: Server, reason: Any = "normal", timeout: float | None = None) -> None:
    """Stop the supervisor: its children stop in reverse start order, then it exits.

    Example:
        ```python
        supervisor.stop(sup)
        ```
    """
    gen_server.stop(sup, reason, timeout)
