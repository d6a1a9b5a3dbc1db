"""Regressions of the runtime found outside the contract's own promises."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_killing_and_ending_processes_under_a_profiler_does_not_hang() -> None:
    """Clearing a pending kill with PyThreadState_SetAsyncExc(id, NULL) left CPython
    3.11's interpreter-wide async-exception flag raised forever: every thread then took
    the interpreter's slow path, and a thread under sys.setprofile spun at its next
    function entry. The spin makes the bug observable without timing anything: this
    subprocess hangs (and the test times out) if the flag is left raised."""
    result = _run(
        """
        import cProfile
        from parent import GenServer, gen_server, process

        class W(GenServer):
            def handle_call(self, request, from_):
                return request

        def work():
            pids = [W.start_link() for _ in range(50)]
            for pid in pids[:25]:
                process.exit(pid, "kill")
            for pid in pids[25:]:
                gen_server.stop(pid)
            for pid in pids:
                pid.join(5.0)
            return [gen_server.call(W.start(), "after")]

        cProfile.run("print(work())", "/dev/null")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "['after']" in result.stdout


# coverage, pdb and other debuggers trace every thread: sys.settrace for this one,
# threading.settrace for the ones started later
_TRACED = """
        import sys, threading, time
        def tracer(frame, event, arg):
            return tracer
        sys.settrace(tracer)
        threading.settrace(tracer)
"""


def test_a_start_timeout_holds_under_a_tracer_while_init_is_blocked_in_c() -> None:
    """``start_link(timeout=0.2)`` kills an ``init`` blocked in ``time.sleep``. The
    kill raised CPython 3.11's interpreter-wide async-exception flag until the sleep
    returned, and a traced thread spins at every function entry while that flag is up:
    start_link returned only after the full sleep (coverage runs took 560 s instead of
    30). Now the injecting thread lowers the flag at once."""
    result = _run(
        _TRACED
        + """
        import parent
        from parent import GenServer

        class Slow(GenServer):
            def init(self):
                time.sleep(8)

        t0 = time.monotonic()
        try:
            Slow.start(timeout=0.2)
        except parent.StartError as e:
            print("reason", e.reason)
        print("returned after", round(time.monotonic() - t0, 1))
        """
    )
    assert result.returncode == 0, result.stderr
    assert "reason timeout" in result.stdout
    elapsed = float(result.stdout.split("returned after")[1])
    assert elapsed < 4.0, result.stdout


def test_the_interpreter_exits_under_a_tracer_with_a_process_blocked_in_c() -> None:
    """At exit the runtime kills a process still blocked in C after its grace period;
    under a tracer the main thread then spun until the blocked call returned (here 60
    s, so the subprocess timed out). It must exit after the 5 s grace."""
    result = _run(
        _TRACED
        + """
        from parent import GenServer, gen_server

        class Stuck(GenServer):
            def handle_cast(self, request):
                time.sleep(60)

        gen_server.cast(Stuck.start(), "sleep")
        print("leaving")
        """,
        timeout=25.0,
    )
    assert result.returncode == 0, result.stderr
    assert "leaving" in result.stdout


def test_interpreter_exit_gives_a_tree_its_childrens_shutdown_times() -> None:
    """A supervised child whose terminate needs longer than the default 5 s exit grace,
    but less than its own shutdown, finishes its terminate before the interpreter ends."""
    result = _run(
        """
        import threading
        from parent import GenServer, supervisor, process

        class Slow(GenServer):
            def init(self):
                process.trap_exits(True)

            def terminate(self, reason):
                threading.Event().wait(5.6)   # longer than the 5 s default grace
                print("terminated after its work", reason, flush=True)

            @classmethod
            def child_spec(cls, arg=None):
                return {"id": cls, "start": (cls.start_link, []), "shutdown": 10.0}

        supervisor.start_link([Slow])
        print("main done", flush=True)
        """,
        timeout=40.0,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["main done", "terminated after its work shutdown"]
