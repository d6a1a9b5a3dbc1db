"""A suspended GenServer (`parent.sys.suspend`): what its loop runs until it is resumed.

While suspended, the process handles only system requests (`parent.sys` and the
supervisor queries: ``get_state`` and ``replace_state`` work on a suspended process, as
in Erlang), a stop request, and its parent's exit signal (it terminates). Every other
item is kept, in order. On ``resume`` the loop takes the kept items before its mailbox
(`suspend` returns the function it takes them with), so nothing is lost or reordered.

The kept items live in one ``deque`` per suspension (`_Replay`), written only by the
process's own thread; the next suspension starts from the mailbox's own take again, so
suspensions never nest. If the
process dies before it has taken them all, a death hook answers the calls among them
as never handled (``ExitError`` with ``handled=False``), as its death does for its
mailbox.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from queue import Empty
from typing import TYPE_CHECKING, Any, Final

from parent import _info
from parent import _lifecycle as _lc
from parent._runtime import _INFO, _STOP, _SYS, _WAKE, TAKING, Exit, Pid, _Died, _Killed
from parent.errors import Stop

if TYPE_CHECKING:
    from parent.gen_server import GenServer

SUSPEND: Final = object()
"""What ``GenServer._sys_suspend`` answers: the loop replies ``None`` and calls `suspend`."""

Take = Callable[[], Any]


def suspend(pid: Pid, server: GenServer, take: Take) -> Take:
    """Run the suspension of ``pid`` (its own thread) until a ``resume`` request; return
    the non-blocking take function its loop uses from then on. ``take`` is the loop's
    current one: the mailbox's, or an earlier suspension's `_Replay`, drained by now (a
    suspend request is queued behind everything that replay kept, so it is only taken
    once the replay is empty and has dropped its hook)."""
    base = take.base if type(take) is _Replay else take
    replay = _Replay(pid, base)
    item: Any = None
    try:
        _info.suspended.add(pid)
        while True:
            item = None
            item = _next(pid, replay)
            kind, payload, slot = item
            if kind is _SYS:
                if payload[0] == "resume":
                    slot.put(None)
                    break
                answer = server._handle_system(payload)
                slot.put(None if answer is SUSPEND else answer)  # suspended already
            elif kind is _STOP:
                raise Stop(payload)
            elif kind is _INFO:  # the parent's exit signal (_acts_on): terminate
                raise Stop(payload.reason)
            # else a wake-up sentinel left by a kill: the next take sees the death
    except _Killed:
        # killed after taking a system request and before answering it (its death
        # answers it too, as pid._cur: the first answer wins)
        if type(item) is tuple and item[2] is not None:
            item[2].put(_Died(pid._reason, True))
        raise
    finally:
        _info.suspended.discard(pid)
    return replay if replay.kept else base


def _next(pid: Pid, replay: _Replay) -> Any:
    """The next item the suspension acts on (`_acts_on`); every other item taken on the
    way is kept. All of it happens parked (as the loop's backlog take is): no kill is
    injected while the process holds an item that is neither queued, kept nor answered,
    and a death that comes meanwhile is seen before the item is let go (it is answered
    as unread). A kept item goes into the deque under the runtime lock, unless the
    process is dead (`_Replay.keep`)."""
    base = replay.base
    while True:
        pid._parked = TAKING
        try:
            try:
                item = base()
            except Empty:
                pid._parked = True  # waiting now, not taking
                item = pid._mbox.get()
            if not pid._alive:
                _lc.answer_taken_unread(pid, item)
            elif _acts_on(pid, item):
                if item[0] is _SYS:
                    pid._cur = item  # from here on its death answers it
                return item
            else:
                replay.keep(item)  # raises _Killed (it answered the item) if dead
                continue
        finally:
            pid._parked = False
        raise _Killed


def _acts_on(pid: Pid, item: Any) -> bool:
    """Whether a suspended process handles ``item`` now: a system request, a stop
    request, its parent's exit signal (it traps exits), or a kill's wake-up sentinel."""
    if type(item) is not tuple:
        return False  # a bare cast
    kind, payload, _slot = item
    if kind is _SYS or kind is _STOP or kind is _WAKE:
        return True
    return (
        kind is _INFO
        and type(payload) is Exit
        and payload.pid is not None
        and payload.pid is pid._parent
        and pid._trap
    )


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
        """Keep ``item``, under the runtime lock unless the process is dead: a death
        that comes while the suspended loop holds an item it has not kept yet runs its
        hook either after the item is in the deque or before, and then the item is
        answered here (a kill's hook runs before its injection fires, and the loop may
        keep taking items meanwhile)."""
        pid = self.pid
        if self.hooked:
            added = _lc.unless_dead(pid, lambda: self.kept.append(item), None)
        else:

            def first() -> None:
                self.hooked = True
                _info.kept[pid] = self.kept
                self.kept.append(item)

            added = _lc.unless_dead(pid, first, self.hook)
        if not added:
            _lc.answer_taken_unread(pid, item)
            raise _Killed

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
        _info.suspended.discard(dead)
        died = _Died(dead._reason, False)
        for item in tuple(self.kept):
            if type(item) is tuple and item[2] is not None:
                item[2].put(died)
