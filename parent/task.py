"""Task: run one function in its own process, and collect its result.

`Task.start_link` and `Task.start` fire and forget. `Task.async_` starts a task whose
result its owner (the caller) collects with `Task.await_`, `Task.yield_` and friends;
`Task.async_stream` maps a function over an iterable with a bounded number of tasks.

Reply slots
-----------
A task's outcome is stored once on its `TaskRef`: `Ok(value)` when the function
returned, or ``Exit(pid, reason)`` put there by a hook that the runtime runs at the
task's death (the task's "monitor"). The first outcome wins, so a task that returned and
then died keeps its ``Ok``. Results never travel through the owner's mailbox (a
GenServer's loop consumes it): the owner waits on a fresh one-shot ``From`` that the
outcome wakes, so a result that arrives after the owner stopped waiting lands nowhere,
and each task's result stays on its own ``TaskRef``.

A task that returned unlinks itself from its owner before it exits ``"normal"``, so an
owner that traps exits (every Parent and Supervisor) gets ``Exit`` messages only for
tasks that crashed or were killed, never one per successful task.

Locks
-----
``_lock`` guards the pair ``TaskRef._outcome`` / ``TaskRef._slot`` of every task:
setting the outcome and waking the waiter registered in ``_slot`` happen together, and a
waiter registers only while the outcome is still unset. The death hook takes it while
the runtime holds ``parent._runtime._lock``; nothing here takes the runtime's lock while
holding ``_lock``. ``TaskRef._taken`` is only touched by the owner, so it needs no lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from queue import Empty
from typing import Any, Final, Generic, Literal, NoReturn, TypeVar

from typing_extensions import TypeVarTuple, Unpack

from compat._types import Shutdown
from parent import _lifecycle as _lc
from parent import process as _p
from parent.errors import CallTimeout, ExitError, ProcessError
from parent.process import Exit, From, Pid

__all__ = ["Ok", "Task", "TaskRef"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
In = TypeVar("In")
Ts = TypeVarTuple("Ts")

OnTimeout = Literal["exit", "kill_task"]

_lock = threading.Lock()
_TIMED_OUT: Final = object()


@dataclass(frozen=True, slots=True)
class Ok(Generic[T_co]):
    """The result of a task that finished: ``value`` is what its function returned.

    Example:
        ```python
        match Task.yield_(task, timeout=1.0):
            case parent.Ok(value):
                print("result", value)
            case parent.Exit(pid, reason):
                print("the task died:", reason)
            case None:
                print("still running")
        ```
    """

    value: T_co


class TaskRef(Generic[T_co]):
    """A task started with `Task.async_` (or `parent.TaskSupervisor.async_` /
    ``async_nolink``): its ``pid`` and its ``owner``, the process that started it
    (``None`` when a plain thread did). Only the owner may await, yield, shut down or
    ignore it, and its result is handed out once.

    Example:
        ```python
        task = Task.async_(sum, [1, 2, 3])
        assert task.owner is process.current()
        assert Task.await_(task) == 6
        ```
    """

    __slots__ = ("_outcome", "_owner", "_pid", "_slot", "_taken", "_thread")

    _pid: Pid

    def __init__(self, owner: Pid | None, slot: From | None = None) -> None:
        self._owner = owner
        # the plain thread that owns it (when owner is None)
        self._thread = threading.get_ident() if owner is None else 0
        self._outcome: Ok[Any] | Exit | None = None  # under _lock
        self._slot = slot  # under _lock: where the outcome's wake-up goes
        self._taken = False  # its outcome was handed out (or the task ignored)

    @property
    def pid(self) -> Pid:
        """The task's process."""
        return self._pid

    @property
    def owner(self) -> Pid | None:
        """The process that started the task, ``None`` for a plain thread."""
        return self._owner

    def __repr__(self) -> str:
        return f"<TaskRef {self._pid!r} owner={self._owner!r}>"


def _settle(ref: TaskRef[Any], outcome: Ok[Any] | Exit) -> None:
    """Record the outcome of a task (the first one wins) and wake its waiter."""
    with _lock:
        if ref._outcome is None:
            ref._outcome = outcome
            slot = ref._slot
            if slot is not None:
                slot.put(ref)


def _spawn_task(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    ref: TaskRef[Any] | None,
    owner: Pid | None,
    link_owner: bool,
) -> Pid:
    """Start a task linked to the calling process (its owner, or a TaskSupervisor).
    ``owner`` is the process the task is linked to and unlinks from once it has
    returned: linked at the spawn when it is the caller, or (``link_owner``) in the
    same step of the spawn; an owner already dead then ends it with ``"noproc"``."""

    def body(me: Pid) -> Any:
        value = fn(*args)
        if owner is not None:
            _p._unlink_pair(owner, me)
        if ref is not None:
            _settle(ref, Ok(value))
        return "normal"

    hook = None if ref is None else (lambda dead: _settle(ref, Exit(dead, dead._reason)))
    label = getattr(fn, "__qualname__", type(fn).__name__)
    also = owner if link_owner else None  # linked before the start returns
    return _lc.spawn(body, label, link=True, on_death=hook, also_link=also)


def _check_callable(fn: object, where: str) -> None:
    if not callable(fn):
        raise TypeError(f"{where} needs a callable, got {fn!r}")


def _check_timeout(timeout: float | None, where: str) -> None:
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"{where}: timeout must be >= 0 or None, got {timeout!r}")


def _own(task: object, where: str) -> TaskRef[Any]:
    """``task`` as a TaskRef of the calling process or thread; ProcessError otherwise."""
    if type(task) is not TaskRef:
        raise TypeError(f"Task.{where} needs a TaskRef (from Task.async_), got {task!r}")
    me = _p.current()
    if me is not task._owner or (me is None and task._thread != threading.get_ident()):
        owner = task._owner if task._owner is not None else "the plain thread that started it"
        raise ProcessError(
            f"Task.{where}: {task!r} belongs to {owner}; only its owner can "
            f"await, yield, shut down or ignore it, not {me or 'this thread'}"
        )
    return task


def _unspent(task: object, where: str) -> TaskRef[Any]:
    ref = _own(task, where)
    if ref._taken:
        raise ProcessError(f"Task.{where}: the result of {ref!r} was already taken")
    return ref


def _wait(slot: From, timeout: float | None) -> Any:
    """The next wake-up token in ``slot``, or ``_TIMED_OUT``. A waiting process that is
    killed wakes at once and unwinds (`parent._lifecycle.wait_reply`)."""
    try:
        return _lc.wait_reply(_p.current(), slot, timeout)
    except Empty:
        return _TIMED_OUT


def _wait_one(ref: TaskRef[Any], timeout: float | None) -> Ok[Any] | Exit | None:
    with _lock:
        outcome = ref._outcome
        if outcome is not None:
            return outcome
        slot = ref._slot = From()
    try:
        _wait(slot, timeout)
    finally:
        with _lock:
            ref._slot = None
            outcome = ref._outcome
    return outcome


def _wait_all(
    refs: list[TaskRef[Any]], timeout: float | None, stop_on_exit: bool
) -> TaskRef[Any] | None:
    """Wait until every ref has an outcome or ``timeout`` has passed; with
    ``stop_on_exit``, stop at the first task that died and return it."""
    slot = From()
    pending = 0
    failed = None
    with _lock:
        for ref in dict.fromkeys(refs):  # one wake-up per task, even if listed twice
            if ref._outcome is None:
                ref._slot = slot
                pending += 1
            elif stop_on_exit and failed is None and type(ref._outcome) is Exit:
                failed = ref
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while pending and failed is None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            token = _wait(slot, remaining)
            if token is _TIMED_OUT:
                break
            pending -= 1
            if stop_on_exit and type(token._outcome) is Exit:
                failed = token
    finally:
        with _lock:
            for ref in refs:
                if ref._slot is slot:
                    ref._slot = None
    return failed


def _raise_exit(ref: TaskRef[Any], where: str) -> NoReturn:
    """Hand out the death of ``ref`` as `ExitError` (a crash is also its cause)."""
    reason = ref._outcome.reason  # type: ignore[union-attr]
    ref._taken = True
    err = ExitError(reason, f"Task.{where}: {ref.pid!r} exited with {reason!r}")
    if isinstance(reason, BaseException):
        raise err from reason
    raise err


class Task:
    """Functions that run in their own processes.

    `start_link` / `start` fire and forget: the process exits ``"normal"`` when ``fn``
    returns, and an exception crashes it (logged once, reason: the exception).
    `async_` starts a task whose result its owner collects with `await_` or `yield_`.

    Example:
        ```python
        pid = parent.Task.start_link(print, "hello")
        assert pid.join(timeout=1.0) == "normal"

        task = parent.Task.async_(pow, 2, 10)
        assert parent.Task.await_(task) == 1024
        ```
    """

    @staticmethod
    def start_link(fn: Callable[..., Any], *args: Any) -> Pid:
        """Start the task linked to the calling process.

        Example:
            ```python
            pid = parent.Task.start_link(sum, [1, 2, 3])
            ```
        """
        return _p.spawn(fn, *args, link=True)

    @staticmethod
    def start(fn: Callable[..., Any], *args: Any) -> Pid:
        """Start the task without a link.

        Example:
            ```python
            pid = parent.Task.start(print, "fire and forget")
            ```
        """
        return _p.spawn(fn, *args, link=False)

    @staticmethod
    def async_(fn: Callable[[Unpack[Ts]], T], *args: Unpack[Ts]) -> TaskRef[T]:
        """Run ``fn(*args)`` in a new process and return its `TaskRef`. The task is
        linked to the caller when the caller is a process (a crash takes a caller that
        does not trap exits down with it) and its death is always reported to the
        caller's `await_` / `yield_`. A plain thread's task is not linked.

        Example:
            ```python
            task = Task.async_(fetch, "https://example.com")
            page = Task.await_(task, timeout=10.0)
            ```
        """
        _check_callable(fn, "Task.async_")
        owner = _p.current()
        ref: TaskRef[T] = TaskRef(owner)
        ref._pid = _spawn_task(fn, args, ref, owner, False)
        return ref

    @staticmethod
    def await_(task: TaskRef[T], timeout: float | None = 5.0) -> T:
        """Wait for the task's result (``timeout=None``: for ever).

        Raises:
            ExitError: the task died (``reason``; a crash is also the ``__cause__``).
            CallTimeout: it still runs after ``timeout``; it keeps running (if the
                exception ends an owner linked to it, the link ends the task).
            ProcessError: not the owner, or the result was already taken.

        Example:
            ```python
            task = Task.async_(lambda: 6 * 7)
            assert Task.await_(task, timeout=1.0) == 42
            ```
        """
        ref = _unspent(task, "await_")
        _check_timeout(timeout, "Task.await_")
        outcome = _wait_one(ref, timeout)
        if outcome is None:
            raise CallTimeout(f"Task.await_: {ref.pid!r} still runs after {timeout} s")
        if isinstance(outcome, Exit):
            _raise_exit(ref, "await_")
        ref._taken = True
        return outcome.value  # type: ignore[no-any-return]

    @staticmethod
    def await_many(tasks: Iterable[TaskRef[T]], timeout: float | None = 5.0) -> list[T]:
        """Wait for all the tasks, ``timeout`` counting for them together; their
        results in the order given.

        Raises:
            ExitError: as soon as one task has died (the others keep running).
            CallTimeout: some still run after ``timeout``.
            ProcessError: as `await_`.

        Example:
            ```python
            tasks = [Task.async_(pow, 2, n) for n in range(4)]
            assert Task.await_many(tasks) == [1, 2, 4, 8]
            ```
        """
        refs = [_unspent(t, "await_many") for t in tasks]
        _check_timeout(timeout, "Task.await_many")
        failed = _wait_all(refs, timeout, stop_on_exit=True)
        if failed is not None:
            _raise_exit(failed, "await_many")
        if any(ref._outcome is None for ref in refs):
            left = sum(ref._outcome is None for ref in refs)
            raise CallTimeout(f"Task.await_many: {left} of {len(refs)} tasks still run")
        for ref in refs:
            ref._taken = True
        return [ref._outcome.value for ref in refs]  # type: ignore[union-attr]

    @staticmethod
    def yield_(task: TaskRef[T], timeout: float | None = 5.0) -> Ok[T] | Exit | None:
        """Wait up to ``timeout`` for the task: `Ok` with its result, ``Exit(pid,
        reason)`` if it died, or ``None`` while it runs (yield it again later, or shut
        it down).

        Example:
            ```python
            result = Task.yield_(task, timeout=0.5)
            if result is None:
                result = Task.shutdown(task)
            ```
        """
        ref = _unspent(task, "yield_")
        _check_timeout(timeout, "Task.yield_")
        outcome = _wait_one(ref, timeout)
        if outcome is not None:
            ref._taken = True
        return outcome

    @staticmethod
    def yield_many(
        tasks: Iterable[TaskRef[T]], timeout: float | None = 5.0
    ) -> list[tuple[TaskRef[T], Ok[T] | Exit | None]]:
        """Wait up to ``timeout`` (for all together) and return ``(task, result)`` for
        each task, in order, with results as from `yield_`.

        Example:
            ```python
            for task, result in Task.yield_many(tasks, timeout=1.0):
                if result is None:
                    Task.shutdown(task, "brutal_kill")
            ```
        """
        refs = [_unspent(t, "yield_many") for t in tasks]
        _check_timeout(timeout, "Task.yield_many")
        _wait_all(refs, timeout, stop_on_exit=False)
        results: list[tuple[TaskRef[T], Ok[T] | Exit | None]] = []
        for ref in refs:
            outcome = ref._outcome
            if outcome is not None:
                ref._taken = True
            results.append((ref, outcome))
        return results

    @staticmethod
    def shutdown(task: TaskRef[T], shutdown: Shutdown = 5.0) -> Ok[T] | Exit | None:
        """Unlink the task and stop it: exit signal ``"shutdown"``, then a kill after
        ``shutdown`` seconds (``"brutal_kill"`` kills at once, ``"infinity"`` waits).
        Returns `Ok` if it finished first, ``Exit`` if it died of something else, and
        ``None`` if it was stopped (or its result was already taken).

        Example:
            ```python
            if Task.yield_(task, timeout=1.0) is None:
                Task.shutdown(task, "brutal_kill")
            ```
        """
        ref = _own(task, "shutdown")
        if shutdown != "brutal_kill" and shutdown != "infinity":
            if isinstance(shutdown, bool) or not isinstance(shutdown, (int, float)):
                raise TypeError(f"Task.shutdown: bad shutdown {shutdown!r}")
            if not shutdown >= 0:
                raise ValueError(f"Task.shutdown: shutdown must be >= 0, got {shutdown!r}")
        pid = ref._pid
        if ref._owner is not None:
            _p._unlink_pair(ref._owner, pid)
        killed = shutdown == "brutal_kill"
        if killed:
            _lc.kill(pid)
        else:
            _p.exit(pid, "shutdown")
            try:
                pid.join(None if shutdown == "infinity" else float(shutdown))
            except TimeoutError:
                _lc.kill(pid)
        pid.join()  # dead: its death hook has set the outcome
        outcome = ref._outcome
        if ref._taken or outcome is None:
            return None
        ref._taken = True
        if type(outcome) is Exit and outcome.reason == ("killed" if killed else "shutdown"):
            return None
        return outcome

    @staticmethod
    def ignore(task: TaskRef[T]) -> Ok[T] | Exit | None:
        """Unlink the task and stop tracking it: it keeps running, and can no longer be
        awaited or yielded. Returns its result if it had already finished.

        Example:
            ```python
            Task.ignore(Task.async_(send_report, report))
            ```
        """
        ref = _own(task, "ignore")
        if ref._owner is not None:
            _p._unlink_pair(ref._owner, ref._pid)
        if ref._taken:
            return None
        ref._taken = True
        return ref._outcome

    @staticmethod
    def async_stream(
        iterable: Iterable[In],
        fn: Callable[[In], T],
        *,
        max_concurrency: int | None = None,
        ordered: bool = True,
        timeout: float | None = 5.0,
        on_timeout: OnTimeout = "exit",
    ) -> Iterator[Ok[T] | Exit]:
        """Run ``fn(item)`` for each item in its own task, linked to the caller as
        `async_`, at most ``max_concurrency`` at once (default ``os.cpu_count()``), and
        yield each result as `Ok(value)` or ``Exit(pid, reason)``: in input order, or
        in completion order with ``ordered=False``.

        Lazy: nothing starts before the first ``next()``, and the iterable is read only
        as tasks finish. Each task has ``timeout`` seconds from its start; then
        ``on_timeout="exit"`` raises `CallTimeout` here (the other tasks are stopped),
        and ``"kill_task"`` kills it, yields ``Exit(pid, "timeout")`` and goes on.
        Closing the iterator (``close()``, a ``break`` out of the ``for`` that holds
        it, garbage collection) kills the tasks still running.

        Raises:
            TypeError: ``fn`` is not callable. ValueError: ``max_concurrency < 1``
                or an unknown ``on_timeout``.

        Example:
            ```python
            for result in Task.async_stream(urls, fetch, max_concurrency=8):
                match result:
                    case parent.Ok(page):
                        save(page)
                    case parent.Exit(_, reason):
                        print("failed:", reason)
            ```
        """
        from parent._task_stream import check_stream, stream

        limit = check_stream(fn, max_concurrency, timeout, on_timeout)

        def start(item: In, slot: From) -> TaskRef[Any]:
            owner = _p.current()
            ref: TaskRef[T] = TaskRef(owner, slot)
            ref._pid = _spawn_task(fn, (item,), ref, owner, False)
            return ref

        return stream(iterable, start, limit, ordered, timeout, on_timeout)
