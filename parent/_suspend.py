"""A suspended GenServer (`parent.sys.suspend`): what its loop runs until it is resumed.

While suspended, the process handles only system requests (`parent.sys` and the
supervisor queries: ``get_state`` and ``replace_state`` work on a suspended process, as
in Erlang), a stop request, and its parent's exit signal (it terminates). Every other
item is kept, in order. On ``resume`` the loop takes the kept items before its mailbox
(`suspend` returns the function it takes them with), so nothing is lost or reordered.

The kept items live in one ``deque`` per process (`_Replay`), written only by the
process's own thread; a suspension that comes while earlier kept items are still being
replayed appends to the same deque, behind them, so suspensions never nest. If the
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
    current one: the mailbox's, or a `_Replay` still holding items an earlier
    suspension kept; those stay first, and what this one keeps goes after them."""
    if type(take) is _Replay and take.kept:
        replay = take  # its items are older than anything in the mailbox
    else:
        base = take.base if type(take) is _Replay else take
        replay = _Replay(pid, base)
    kept = replay.kept
    base = replay.base
    _info.suspended.add(pid)
    item: Any = None
    try:
        while True:
            item = None
            item = _next(pid, base)  # the mailbox only: what is kept is not actionable
            if type(item) is not tuple:
                replay.keep(item)  # a bare cast
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
                replay.keep(item)
    except _Killed:
        # killed after taking an item and before keeping or answering it (a kill can
        # fire at any call from here on): its caller must not wait for its timeout
        if type(item) is tuple and item[2] is not None:
            item[2].put(_Died(pid._reason, item[0] is _SYS))
        raise
    finally:
        _info.suspended.discard(pid)
    return replay if kept else base


def _next(pid: Pid, take: Take) -> Any:
    """The next item: what ``take`` has first (parked while it takes, as the loop's
    backlog take is, so a kill cannot lose it), then a blocking wait on the mailbox."""
    item = _lc.take_parked(pid, take)
    return _lc.wait_item(pid, None) if item is _lc.NOTHING else item


class _Replay:
    """The loop's take after a suspension: the kept items first, then the mailbox's
    ``base`` take. While it holds items, a death hook answers the calls among them."""

    __slots__ = ("base", "hook", "hooked", "kept", "pid")

    def __init__(self, pid: Pid, base: Take) -> None:
        self.pid = pid
        self.base = base
        self.kept: deque[Any] = deque()
        self.hook = self.answer_kept  # one bound method: drop_death_hook finds it by identity
        self.hooked = False

    def keep(self, item: Any) -> None:
        if not self.hooked:
            self.hooked = True
            _lc.on_death(self.pid, self.hook)
            _info.kept[self.pid] = self.kept
        self.kept.append(item)

    def __call__(self) -> Any:
        if self.kept:
            return self.kept.popleft()
        if self.hooked:  # all replayed: the death hook has nothing left to answer
            self.hooked = False
            _info.kept.pop(self.pid, None)
            _lc.drop_death_hook(self.pid, self.hook)
        return self.base()

    def answer_kept(self, dead: Pid) -> None:
        """The death hook (under the runtime lock, in whichever thread ends the
        process, while its own thread may still be taking from the deque: hence one
        C-level copy of it, not a loop over it)."""
        _info.kept.pop(dead, None)
        died = _Died(dead._reason, False)
        for item in tuple(self.kept):
            if type(item) is tuple and item[2] is not None:
                item[2].put(died)
