"""A suspended GenServer (`parent.sys.suspend`): what its loop runs until it is resumed.

While suspended, the process handles only system requests (`parent.sys` and the
supervisor queries: ``get_state`` and ``replace_state`` work on a suspended process, as
in Erlang), a stop request, and its parent's exit signal (it terminates). Every other
item is kept, in order. On ``resume`` the loop takes the kept items before its mailbox
(`suspend` returns the function it takes them with), so nothing is lost or reordered.

The kept items live in a ``deque`` written only by the process's own thread; if the
process dies before it has taken them all, a death hook answers the calls among them
as never handled (``ExitError`` with ``handled=False``), as its death does for its
mailbox.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from parent import _info
from parent import _lifecycle as _lc
from parent._runtime import _INFO, _STOP, _SYS, _WAKE, Exit, Pid, _Died, _Killed
from parent.errors import Stop

if TYPE_CHECKING:
    from parent.gen_server import GenServer

SUSPEND: Final = object()
"""What ``GenServer._sys_suspend`` answers: the loop replies ``None`` and calls `suspend`."""

Take = Callable[[], Any]


def suspend(pid: Pid, server: GenServer, take: Take) -> Take:
    """Run the suspension of ``pid`` (its own thread) until a ``resume`` request; return
    the non-blocking take function its loop uses from then on. ``take`` is the loop's
    current one (it may hold items kept by an earlier suspension)."""
    kept: deque[Any] = deque()

    def answer_kept(dead: Pid) -> None:  # a death hook: under the runtime lock
        _info.kept.pop(dead, None)
        died = _Died(dead._reason, False)
        for item in kept:
            if type(item) is tuple and item[2] is not None:
                item[2].put(died)

    _lc.on_death(pid, answer_kept)
    _info.kept[pid] = kept
    _info.suspended.add(pid)
    item: Any = None
    try:
        while True:
            item = None
            item = _next(pid, take)
            if type(item) is not tuple:
                kept.append(item)  # a bare cast
                continue
            kind, payload, slot = item
            if kind is _SYS:
                pid._cur = item
                if payload[0] == "resume":
                    slot.put(None)
                    break
                answer = server._handle_system(payload)
                slot.put(None if answer is SUSPEND else answer)  # suspended already
            elif kind is _STOP:
                raise Stop(payload)
            elif kind is _WAKE:
                continue
            elif (
                kind is _INFO
                and type(payload) is Exit
                and payload.pid is not None
                and payload.pid is pid._parent
                and pid._trap
            ):
                raise Stop(payload.reason)  # the parent's exit signal: terminate
            else:
                kept.append(item)
    except _Killed:
        # killed after taking an item and before keeping or answering it (a kill can
        # fire at any call from here on): its caller must not wait for its timeout
        if type(item) is tuple and item[2] is not None:
            item[2].put(_Died(pid._reason, item[0] is _SYS))
        raise
    finally:
        _info.suspended.discard(pid)
    if not kept:
        _info.kept.pop(pid, None)
        _lc.drop_death_hook(pid, answer_kept)
        return take
    return _replay(pid, kept, take, answer_kept)


def _next(pid: Pid, take: Take) -> Any:
    """The next item: what ``take`` has first (parked while it takes, as the loop's
    backlog take is, so a kill cannot lose it), then a blocking wait on the mailbox."""
    item = _lc.take_parked(pid, take)
    return _lc.wait_item(pid, None) if item is None else item


def _replay(pid: Pid, kept: deque[Any], take: Take, hook: Callable[[Pid], None]) -> Take:
    dropped = False

    def replay() -> Any:
        nonlocal dropped
        if kept:
            return kept.popleft()
        if not dropped:  # all replayed: the death hook has nothing left to answer
            dropped = True
            _info.kept.pop(pid, None)
            _lc.drop_death_hook(pid, hook)
        return take()

    return replay
