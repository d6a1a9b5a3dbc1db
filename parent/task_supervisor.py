"""TaskSupervisor: a supervisor of tasks, as Elixir's ``Task.Supervisor``.

`TaskSupervisor` is a class of static functions; the supervisor process itself is a
private `parent.Parent` subclass whose children are the tasks. Every function is a
system request to that process (like ``supervisor.start_child``), so the tasks are
started, counted and stopped in the supervisor's own thread; the results of ``async_``
and ``async_nolink`` tasks go straight to their `parent.TaskRef`, never through the
supervisor.

A task started for an owner (``async_``) links itself to the owner before it runs its
function, so a crash takes a non-trapping owner down, and an owner that died before the
task started ends the task (reason ``"noproc"``). ``async_nolink`` tasks are not linked
to the caller: their death only comes back through `parent.Task.await_` / ``yield_``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from typing_extensions import TypeVarTuple, Unpack

from compat._intensity import RestartIntensity
from parent import _lifecycle as _lc
from parent import gen_server
from parent import process as _p
from parent._task_stream import check_stream, stream
from parent.errors import NotFound, StartError, Stop
from parent.parent import Parent, _Child
from parent.process import Exit, From, Pid, Server
from parent.task import Ok, OnTimeout, Task, TaskRef, _check_callable, _spawn_task

if TYPE_CHECKING:
    from compat._types import ChildSpec, Restart

__all__ = ["TaskSupervisor"]

T = TypeVar("T")
In = TypeVar("In")
Ts = TypeVarTuple("Ts")

_RESTARTS = ("temporary", "transient", "permanent")
_TASK_SHUTDOWN = 5.0  # how long a task gets after the "shutdown" exit signal


class _TaskSupervisorProcess(Parent):
    """The TaskSupervisor process: a Parent whose children are tasks, identified
    inside it by a counter (``which_children`` reports their id as ``None``, as Elixir
    reports ``:undefined``). Only its own thread touches its state."""

    _changed_by = "parent.TaskSupervisor"  # not parent.Client

    def init(self, max_children: int | None) -> None:
        self._max_children = max_children
        self._ids = itertools.count()
        self._intensity = RestartIntensity(3, 5.0)  # Elixir's defaults

    def _sys_start_task(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        ref: TaskRef[Any] | None,
        owner: Pid | None,
        restart: str,
    ) -> Pid:
        limit = self._max_children
        if limit is not None and len(self._children) >= limit:
            raise StartError(
                "max_children",
                f"TaskSupervisor {self._me!r} is full: max_children={limit} are running",
            )
        spec: ChildSpec = {
            "id": next(self._ids),
            "start": (_spawn_task, [fn, args, ref, owner, owner is not None]),
            "restart": restart,  # type: ignore[typeddict-item]
            "shutdown": _TASK_SHUTDOWN,
            "type": "worker",
            "modules": [Task],
        }
        return self._start_normalized(spec).pid

    def _sys_task_children(self) -> list[Pid]:
        return [c.pid for c in self._children.values()]

    def _sys_terminate_task(self, pid: Pid) -> None:
        child = self._by_pid.get(pid)
        if child is None:
            raise NotFound(f"{pid!r} is not a child of TaskSupervisor {self._me!r}")
        self._stop([child], "shutdown", ordered=True)

    def _sys_which_children(self) -> list[tuple[Any, Pid | None, str, Any]]:
        return [(None, c.pid, c.type, c.modules) for c in self._children.values()]

    def _sys_get_callback_module(self) -> type:
        return TaskSupervisor

    def _child_exited(self, child: _Child, reason: Any) -> Any:
        if child.restart == "temporary" or (child.restart == "transient" and _lc.is_clean(reason)):
            return None
        if not self._intensity.add():
            raise Stop("shutdown")  # too many restarts: stop every task, then itself
        self._start_normalized(child.spec)
        return None

    def _terminate(self, reason: Any) -> None:
        # tasks are independent: signal them all, then wait for them together
        self.terminate(reason)
        self._stop(list(reversed(self._children.values())), "shutdown", ordered=False)

    def _exit_grace(self) -> float:
        return _TASK_SHUTDOWN if self._children else 0.0


def _start_link(name: Hashable, max_children: int | None) -> Pid:
    return TaskSupervisor.start_link(name=name, max_children=max_children)


def _start_task(
    sup: Server,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    link: bool,
    slot: From | None = None,
    restart: str = "temporary",
) -> TaskRef[Any]:
    """Ask ``sup`` to start ``fn(*args)``; the returned ref's owner is the caller."""
    owner = _p.current()
    ref: TaskRef[Any] = TaskRef(owner, slot)
    request = ("start_task", fn, args, ref, owner if link else None, restart)
    ref._pid = gen_server._sys_call(sup, request, None)
    return ref


class TaskSupervisor:
    """A supervisor of tasks (Elixir's ``Task.Supervisor``). Its tasks are temporary
    children unless `start_child` says otherwise; it answers the supervisor queries
    (``supervisor.which_children``, ``count_children``, ``get_callback_module``) and goes
    in a children list like any supervisor.

    Example:
        ```python
        sup = supervisor.start_link([TaskSupervisor.child_spec(name="tasks")])
        task = TaskSupervisor.async_nolink("tasks", fetch, url)
        match Task.yield_(task, timeout=5.0):
            case parent.Ok(page):
                print(page)
            case parent.Exit(_, reason):
                print("fetch failed:", reason)   # the caller is still alive
            case None:
                Task.shutdown(task)
        ```
    """

    @staticmethod
    def start_link(*, name: Hashable = None, max_children: int | None = None) -> Pid:
        """Start a task supervisor linked to the caller; ``max_children`` bounds how many
        tasks run at once (``None``: no bound).

        Raises:
            ValueError: ``max_children`` is not an int ``>= 0`` or ``None``.
            AlreadyStarted: ``name`` is taken.

        Example:
            ```python
            sup = TaskSupervisor.start_link(name="tasks", max_children=100)
            ```
        """
        if max_children is not None and (
            isinstance(max_children, bool) or not isinstance(max_children, int) or max_children < 0
        ):
            raise ValueError(
                f"TaskSupervisor: max_children must be an int >= 0 or None, got {max_children!r}"
            )
        return _TaskSupervisorProcess.start_link(max_children, name=name)

    @staticmethod
    def child_spec(opts: Mapping[str, Any] | None = None, /, **kwargs: Any) -> ChildSpec:
        """The child spec of a task supervisor; options ``name`` and ``max_children``.
        Its id is the name (default: `TaskSupervisor`), its type ``"supervisor"``.

        Raises:
            ValueError: an unknown option.

        Example:
            ```python
            children = [
                TaskSupervisor.child_spec(name="mail"),
                (TaskSupervisor, {"name": "jobs", "max_children": 10}),
            ]
            ```
        """
        options = dict(opts or {})
        options.update(kwargs)
        name = options.pop("name", None)
        max_children = options.pop("max_children", None)
        if options:
            raise ValueError(
                f"unknown TaskSupervisor option(s) {sorted(options)!r}; expected name, max_children"
            )
        return {
            "id": TaskSupervisor if name is None else name,
            "start": (_start_link, [name, max_children]),
            "type": "supervisor",
            "shutdown": "infinity",
            "modules": [TaskSupervisor],
        }

    @staticmethod
    def start_child(
        sup: Server,
        fn: Callable[[Unpack[Ts]], Any],
        *args: Unpack[Ts],
        restart: Restart = "temporary",
    ) -> Pid:
        """Start ``fn(*args)`` as a child of ``sup``, linked to nobody but ``sup``.
        ``restart="transient"`` restarts it after a crash, ``"permanent"`` after any
        exit (more than 3 restarts in 5 s stop the supervisor).

        Raises:
            StartError: ``StartError("max_children")`` when ``sup`` is full.
            NoProcess: ``sup`` is not running.

        Example:
            ```python
            TaskSupervisor.start_child("tasks", send_email, "ada@example.com")
            ```
        """
        _check_callable(fn, "TaskSupervisor.start_child")
        if restart not in _RESTARTS:
            raise ValueError(
                f"TaskSupervisor.start_child: restart must be one of {_RESTARTS}, got {restart!r}"
            )
        return _start_task(sup, fn, args, link=False, restart=restart).pid

    @staticmethod
    def async_(sup: Server, fn: Callable[[Unpack[Ts]], T], *args: Unpack[Ts]) -> TaskRef[T]:
        """Like `parent.Task.async_`, with the task a child of ``sup``: linked to the
        caller (when it is a process) and to ``sup``.

        Example:
            ```python
            task = TaskSupervisor.async_("tasks", sum, [1, 2, 3])
            assert Task.await_(task) == 6
            ```
        """
        _check_callable(fn, "TaskSupervisor.async_")
        return _start_task(sup, fn, args, link=True)

    @staticmethod
    def async_nolink(sup: Server, fn: Callable[[Unpack[Ts]], T], *args: Unpack[Ts]) -> TaskRef[T]:
        """Like `async_`, without the link to the caller: a crash never takes the
        caller down; it comes back as `parent.ExitError` from ``Task.await_`` or
        ``Exit`` from ``Task.yield_``.

        Example:
            ```python
            task = TaskSupervisor.async_nolink("tasks", lambda: 1 / 0)
            assert isinstance(Task.yield_(task).reason, ZeroDivisionError)
            ```
        """
        _check_callable(fn, "TaskSupervisor.async_nolink")
        return _start_task(sup, fn, args, link=False)

    @staticmethod
    def async_stream(
        sup: Server,
        iterable: Iterable[In],
        fn: Callable[[In], T],
        *,
        max_concurrency: int | None = None,
        ordered: bool = True,
        timeout: float | None = 5.0,
        on_timeout: OnTimeout = "exit",
    ) -> Iterator[Ok[T] | Exit]:
        """`parent.Task.async_stream` with every task a child of ``sup`` (and linked
        to the caller); same options and results.

        Example:
            ```python
            sizes = [r.value for r in TaskSupervisor.async_stream("tasks", paths, size)]
            ```
        """
        return _supervised_stream(
            sup, iterable, fn, max_concurrency, ordered, timeout, on_timeout, link=True
        )

    @staticmethod
    def async_stream_nolink(
        sup: Server,
        iterable: Iterable[In],
        fn: Callable[[In], T],
        *,
        max_concurrency: int | None = None,
        ordered: bool = True,
        timeout: float | None = 5.0,
        on_timeout: OnTimeout = "exit",
    ) -> Iterator[Ok[T] | Exit]:
        """`async_stream` without the links to the caller: a crashing item is yielded
        as ``Exit(pid, exception)`` and never takes the caller down.

        Example:
            ```python
            for result in TaskSupervisor.async_stream_nolink("tasks", [1, 0], lambda n: 1 / n):
                print(result)   # Ok(value=1.0), then Exit(pid, ZeroDivisionError(...))
            ```
        """
        return _supervised_stream(
            sup, iterable, fn, max_concurrency, ordered, timeout, on_timeout, link=False
        )

    @staticmethod
    def children(sup: Server) -> list[Pid]:
        """The pids of the tasks running under ``sup``, in start order.

        Example:
            ```python
            for pid in TaskSupervisor.children("tasks"):
                print(pid)
            ```
        """
        result: list[Pid] = gen_server._sys_call(sup, ("task_children",))
        return result

    @staticmethod
    def terminate_child(sup: Server, pid: Pid) -> None:
        """Stop the task ``pid`` (exit signal ``"shutdown"``, killed after 5 s); it is
        not restarted. Returns when it is dead.

        Raises:
            NotFound: ``pid`` is not a child of ``sup``.

        Example:
            ```python
            TaskSupervisor.terminate_child("tasks", pid)
            ```
        """
        gen_server._sys_call(sup, ("terminate_task", pid), None)


def _supervised_stream(
    sup: Server,
    iterable: Iterable[Any],
    fn: Callable[[Any], Any],
    max_concurrency: int | None,
    ordered: bool,
    timeout: float | None,
    on_timeout: str,
    *,
    link: bool,
) -> Iterator[Any]:
    limit = check_stream(fn, max_concurrency, timeout, on_timeout)

    def start(item: Any, slot: From) -> TaskRef[Any]:
        return _start_task(sup, fn, (item,), link=link, slot=slot)

    return stream(iterable, start, limit, ordered, timeout, on_timeout)
