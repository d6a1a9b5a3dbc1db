"""Review of issue 12: parent.sys.suspend / resume (parent/_suspend.py, parent/_serve.py).

Each test shows one bug found in review; all of them pass once it is fixed.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from parent import GenServer, gen_server, process
from parent import sys as psys
from parent.testing import wait_until


class Log(GenServer):
    def init(self) -> None:
        self.log: list[Any] = []

    def handle_call(self, request: Any, from_: Any) -> Any:
        self.log.append(("call", request))
        return len(self.log)

    def handle_cast(self, request: Any) -> None:
        self.log.append(("cast", request))


def test_a_cast_of_none_to_a_suspended_server_is_kept() -> None:
    """`_suspend._next` takes "None" from `take_parked` to mean "nothing queued": a bare
    cast of ``None`` taken that way is dropped, and the suspension waits for the next
    item instead."""
    pid = Log.start_link()
    psys.suspend(pid)
    entered = threading.Event()
    release = threading.Event()

    def slow(state: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        release.wait(5.0)
        return state

    # hold the suspended server inside a system request, so that what is cast meanwhile
    # is queued, and taken by the non-blocking take when the request is answered
    t = threading.Thread(target=psys.replace_state, args=(pid, slow))
    t.start()
    assert entered.wait(5.0)
    gen_server.cast(pid, None)
    gen_server.cast(pid, "after")
    release.set()
    t.join(5.0)
    psys.resume(pid)
    try:
        assert gen_server.call(pid, "end") == 3
        assert psys.get_state(pid)["log"] == [("cast", None), ("cast", "after"), ("call", "end")]
    finally:
        gen_server.stop(pid)


def test_many_suspensions_do_not_nest_the_take_until_recursion_error() -> None:
    """Each suspension that keeps something wraps the loop's take in one more `_replay`
    closure, and a drained closure stays in the chain: every later take goes through all
    of them (slower and slower), and past the recursion limit the server crashes with
    RecursionError."""
    pid = Log.start_link()
    rounds = sys.getrecursionlimit() + 200
    try:
        for i in range(rounds):
            psys.suspend(pid)
            gen_server.cast(pid, i)  # kept, replayed on resume
            psys.resume(pid)
        assert gen_server.call(pid, "end", timeout=10.0) == rounds + 1
    finally:
        if pid.is_alive():
            gen_server.stop(pid)


def test_a_kill_while_kept_items_replay_completes_the_death() -> None:
    """The death hook `answer_kept` iterates the kept deque in the killer's thread while
    the victim's own thread may still pop (replay) or append (suspended) to it: "deque
    mutated during iteration" is raised in `die`, in the killer, with the death half
    done (``join`` never returns, links and callers are never told)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        pid = Log.start_link()
        psys.suspend(pid)
        n = 300_000
        for i in range(n):
            gen_server.cast(pid, i)
        # every cast is kept (taken out of the mailbox) before the resume is sent
        assert wait_until(lambda: pid._mbox.qsize() == 0, timeout=30.0)
        psys.resume(pid)  # the loop now replays n kept casts
        errors: list[BaseException] = []
        try:
            process.exit(pid, "kill")  # the hook walks what is still kept
        except BaseException as exc:  # the bug: an error escapes die()
            errors.append(exc)
        assert errors == []
        assert pid.join(5.0) == "killed"
    finally:
        sys.setswitchinterval(old)
