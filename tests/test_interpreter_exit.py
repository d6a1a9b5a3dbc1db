"""At interpreter exit every live process is shut down, and a forgotten process never
makes the interpreter hang (API.md, end of "parent: processes")."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(60)

PRELUDE = r"""
import os, sys, threading, time
from parent import GenServer, gen_server, process

class Loud(GenServer):
    def init(self, tag):
        self.tag = tag

    def handle_cast(self, request):
        request()

    def terminate(self, reason):
        # one write(2) per line: lines from concurrent terminates never interleave
        os.write(1, f"terminate {self.tag} {reason!r}\n".encode())

class Trapping(Loud):
    def init(self, tag):
        process.trap_exits(True)
        self.tag = tag
"""


def run_script(body: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = PRELUDE + textwrap.dedent(body)
    t0 = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    return result, time.monotonic() - t0


def test_the_interpreter_exits_promptly_and_runs_terminate() -> None:
    result, elapsed = run_script(
        r"""
        ready = threading.Event()

        def sleeper():
            ready.set()
            time.sleep(60)

        Loud.start_link("plain")
        Trapping.start("trapping")
        process.spawn(sleeper)
        assert ready.wait(5)
        os.write(1, b"main done\n")
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "main done"
    assert "terminate plain 'shutdown'" in lines
    assert "terminate trapping 'shutdown'" in lines
    assert elapsed < 5.0, f"took {elapsed:.1f} s"


def test_a_trapping_child_of_a_forgotten_server_is_shut_down_too() -> None:
    result, elapsed = run_script(
        r"""
        class Owner(Loud):
            def init(self, tag):
                self.tag = tag
                self.child = Trapping.start_link("child")

        Owner.start("owner")
        os.write(1, b"main done\n")
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "terminate owner 'shutdown'" in lines
    assert "terminate child 'shutdown'" in lines
    assert elapsed < 5.0, f"took {elapsed:.1f} s"


def test_a_server_stuck_in_a_callback_does_not_hang_the_interpreter() -> None:
    result, elapsed = run_script(
        r"""
        stuck = Loud.start("stuck")
        started = threading.Event()

        def block():
            started.set()
            time.sleep(60)

        gen_server.cast(stuck, block)
        assert started.wait(5)
        busy = Loud.start("busy")

        def spin():
            while True:
                pass

        gen_server.cast(busy, spin)
        Loud.start("idle")
        os.write(1, b"main done\n")
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "terminate idle 'shutdown'" in lines
    assert not any("stuck" in line or "busy" in line for line in lines)  # killed, no terminate
    assert elapsed < 15.0, f"took {elapsed:.1f} s"
