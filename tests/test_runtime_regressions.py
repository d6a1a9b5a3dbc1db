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
