"""The scripts in examples/ run, exit 0 and print what the guides say they print.

Each script runs in its own interpreter (``sys.executable``), so a script that leaves a
process behind shows up here as a hang or a non-zero exit, not as a leak in this test
process.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 30.0

# Lines each guide example must print (in this order, other lines may come between).
EXPECTED: dict[str, list[str]] = {
    "guide_hibernation.py": [
        "ada: hello",
        "session ended: normal",
        "only the main thread: True",
        "all alive: True",
        "inbox 7 unread: 1",
        "counter: 2 5",
        "settings: {'debug': True}",
        "job 1",
        "polled three times: True",
        "{'specs': 0, 'active': 0, 'supervisors': 0, 'workers': 0}",
        "TIMEOUT after the query: True",
        "after hibernating: req-42 req-42",
        "colour: blue",
        "crashed while handling it, handled = True RuntimeError('boom')",
        "workers: 2000",
        "3 threads: True",
        "calls: 1",
    ],
    "guide_virtual_workers.py": [
        "balance: 30",
        "passivated: True",
        "balance: 42",
        "activations: 2",
        "passivating: True",
        "balance: 50",
        "activations: 3",
        "live: ['a', 'c']",
        "balance: 1000",
        "several activations: True",
        "plain after a kill: 0",
        "durable after a kill: 100",
    ],
    "guide_genserver.py": [
        "pop -> 3",
        "size -> 2",
        "terminate('normal') with 2 items left",
        "alive after stop: False",
        "deferred pop -> 42",
        "terminate('normal') with 1 items left",
        "quit -> bye, exit reason: normal",
        "call timed out; the server is still alive: True",
        "size -> 0",
        "the server crashed: ValueError(\"unknown request 'frobnicate'\")",
        "__cause__ is the exception: True",
        "start failed: 'invalid'",
    ],
    "guide_parent.py": [
        "quick job -> ('ok', 10)",
        "slow job -> ('error', 'timeout')",
        "finished: ['quick', 'slow']",
        "flush -> normal",
        "  stage parser stops (shutdown)",
        "children -> ['reader', 'writer', 'parser']",
        "pipeline terminate('normal') with 3 children",
        "  stage parser stops (shutdown)",
        "  stage writer stops (shutdown)",
        "  stage reader stops (shutdown)",
        "ids: ['reader', 'parser', 'writer']",
        "  stage parser stops (shutdown)",
        "ids: ['reader', 'writer', 'audit']",
        "audit running: True",
        "pipeline terminate('normal') with 3 children",
        "  stage audit stops (shutdown)",
    ],
    "guide_dynamic_supervisor.py": [
        "rooms: ['Grand Hotel #101', 'Grand Hotel #102']",
        "None {'specs': 2, 'active': 2, 'supervisors': 0, 'workers': 2}",
        "room 13: ignored, rooms: 2",
        "room 104: max_children",
        "  room 101 closes (room 101 is on fire)",
        "after a crash: ['Grand Hotel #102', 'Grand Hotel #103', 'Grand Hotel #101']",
        "  room 102 closes (normal)",
        "checkout: bye",
        "after a checkout: ['Grand Hotel #103', 'Grand Hotel #101']",
        "  room 103 closes (shutdown)",
        "terminated, not restarted: ['Grand Hotel #101']",
        "stopped: True",  # rooms 105 and 101 close before it, concurrently: in any order
        "suites  supervisor ['DynamicSupervisor']",
        "annex   supervisor ['Floor']",
        "annex: ['Annex #1'] suites: ['Suites #2']",
        "callback module: Floor",
        "  room 1 closes (shutdown)",
        "  room 2 closes (shutdown)",
    ],
    "guide_supervision.py": [
        "one_for_one: b crashed, restarted ['b']",
        "one_for_all: b crashed, restarted ['a', 'b', 'c']",
        "rest_for_one: b crashed, restarted ['b', 'c']",
        "after normal exits: {'permanent': True, 'transient': False}",
        "permanent after a crash: running again = True",
        "supervisor exit reason: shutdown",
        "{'specs': 2, 'active': 2, 'supervisors': 1, 'workers': 1}",
        "App",
        "pool workers: ['worker-0', 'worker-1']",
        "already started: True",
        "after terminate_child: None",
        "after delete_child: ['worker-0', 'worker-1']",
        "app stopped: True pool stopped: True",
    ],
    "guide_task.py": [
        "await_ -> 1024",
        "await_many -> [1, 2, 4, 8, 16]",
        "the task crashed: ValueError(\"invalid literal for int() with base 10: 'forty-two'\")",
        "__cause__ is the exception: True",
        "yield_ while it runs -> None",
        "await_ timed out; the task still runs: True",
        "shutdown -> None",
        "the task is dead: True",
        "shutdown of a finished task -> Ok(value=6)",
        "quote -> 45",
        "ordered -> [0, 1, 4, 9, 16]",
        "as they finish -> [16, 9, 4, 1, 0]",
        "item 0 ok",
        "item 1 ok",
        "an item failed: timeout",
        "item 3 ok",
        "nolink task failed: ValueError",
        "children: 1",
        "{'specs': 1, 'active': 1, 'supervisors': 0, 'workers': 1}",
        "start failed: max_children",
        "sizes -> [1, 2, 3]",
    ],
}


def run_script(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def assert_lines_in_order(output: str, expected: list[str]) -> None:
    lines = output.splitlines()
    position = 0
    for line in expected:
        try:
            position = lines.index(line, position) + 1
        except ValueError:
            pytest.fail(f"expected the line {line!r} (in order) in the output:\n{output}")


# Guide examples whose output another test checks, where a reader looks for it: they
# serve until stopped, so they do not fit "run it and read what it printed".
CHECKED_ELSEWHERE = {
    "guide_observer.py": "tests/test_observer_web.py (its whole output, line by line)",
    "guide_run.py": "tests/test_run.py (run until Ctrl-C in a subprocess)",
}


def test_every_guide_example_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("guide_*.py")) == sorted(
        [*EXPECTED, *CHECKED_ELSEWHERE]
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_guide_example_runs(name: str) -> None:
    result = run_script(EXAMPLES / name)
    assert result.returncode == 0, f"{name} exited {result.returncode}:\n{result.stderr}"
    assert_lines_in_order(result.stdout, EXPECTED[name])


def number(pattern: str, output: str) -> int:
    """The integer that ``pattern``'s one group matches in a line of ``output``."""
    found = re.search(pattern, output, re.MULTILINE)
    assert found is not None, f"no line matching {pattern!r} in the output:\n{output}"
    return int(found.group(1))


def test_denylist_example_runs() -> None:
    script = EXAMPLES / "denylist.py"
    if not script.exists():
        pytest.skip("examples/denylist.py does not exist")
    args = ["--quick"] if "--quick" in script.read_text(encoding="utf-8") else []
    result = run_script(script, *args)
    assert result.returncode == 0, f"denylist.py exited {result.returncode}:\n{result.stderr}"
    assert result.stderr == "", result.stderr  # no traceback, no crash report
    out = result.stdout
    # it ran under parent.run and ended by itself once the wave was over
    assert out.startswith("placing 4,000 calls (once)" if args else "placing 40,000 calls (once)")
    assert "stopped (" not in out
    activations = number(r"^Denylist workers started: (\d+) activations", out)
    recipients = number(r"activations for (\d+) recipients", out)
    passivated = number(r"^passivated: +(\d+) ", out)
    limit = number(r"max_workers=(\d+)", out)
    peak = number(r"^live workers: +at most (\d+) at once", out)
    saved_at_stop = number(r"; (\d+) saved their rules when the registry stopped", out)
    placed = number(r"^calls placed: +(\d+)$", out)
    rejected = number(r"^calls rejected: +(\d+)$", out)
    # more recipients than max_workers: workers were passivated and came back
    assert limit < recipients < activations
    # every activation ended once, saving its rules: passivated, or with the registry
    assert passivated + saved_at_stop == activations
    assert 0 < peak <= limit and saved_at_stop <= limit
    assert placed + rejected == (4_000 if args else 40_000) and rejected > 0
    assert number(r"^denials made: +(\d+), all kept across passivations$", out) > 0
