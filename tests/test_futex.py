"""parent._futex: the switch to the kernel's global futex hash (PR_FUTEX_HASH, Linux 6.16+).

The switch is process-wide and one-way, so everything that may really switch runs in a
fresh interpreter; only the failure paths (with ``prctl`` faked) run in this process.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from parent import _futex

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(30)

PRELUDE = r"""
import json, logging, threading, warnings
from parent import _futex

def spin_a_thread():
    # the kernel gives a process its private futex hash at its first thread
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
"""

NO_SUPPORT = "this kernel has no PR_FUTEX_HASH (Linux 6.16+): slots() is None"


def run(body: str, env_value: str | None = None) -> dict[str, Any]:
    """Run ``body`` in a fresh interpreter; it ends by printing one JSON object."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(_futex.ENV_VAR, None)
    if env_value is not None:
        env[_futex.ENV_VAR] = env_value
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["stderr"] = proc.stderr
    return result


def test_below_the_threshold_nothing_changes() -> None:
    r = run(
        r"""
        spin_a_thread()
        before = _futex.slots()
        for live in (0, 1, _futex.THRESHOLD - 1):
            _futex.maybe_switch(live)
        print(json.dumps({"before": before, "after": _futex.slots(), "done": _futex._done}))
        """
    )
    assert r["after"] == r["before"]
    assert r["done"] is False
    if r["before"] is not None:
        assert r["before"] > 0  # a private hash: the test above meant something


def test_at_the_threshold_the_process_switches_once_for_good() -> None:
    r = run(
        r"""
        logging.basicConfig(level=logging.DEBUG, format="%(name)s %(message)s")
        spin_a_thread()
        before = _futex.slots()
        calls = []
        real = _futex.use_global_hash
        _futex.use_global_hash = lambda: calls.append(1) or real()
        _futex.maybe_switch(_futex.THRESHOLD)
        after = _futex.slots()
        _futex.maybe_switch(_futex.THRESHOLD + 1)  # no second attempt
        spin_a_thread()                            # later threads stay on it
        try:
            _futex._futex_hash(_futex.PR_FUTEX_HASH_SET_SLOTS, 16)
            back = "switched back"
        except OSError as e:
            back = __import__("errno").errorcode[e.errno]
        print(json.dumps({
            "before": before, "after": after, "later": _futex.slots(), "calls": len(calls),
            "again": real(), "back": back,
        }))
        """
    )
    if r["before"] is None:
        pytest.skip(NO_SUPPORT)
    assert r["before"] > 0
    assert r["after"] == 0
    assert r["later"] == 0
    assert r["calls"] == 1
    assert r["again"] is True  # idempotent
    assert r["back"] == "EBUSY"  # one-way, as the module's docstring says
    assert "parent futex hash: switched to the global hash" in r["stderr"]


@pytest.mark.parametrize("value", ["private", "0", "off"])
def test_the_env_var_opts_out(value: str) -> None:
    r = run(
        r"""
        spin_a_thread()
        before = _futex.slots()
        _futex.maybe_switch(_futex.THRESHOLD)
        ok = _futex.use_global_hash()
        print(json.dumps({"before": before, "after": _futex.slots(), "ok": ok}))
        """,
        env_value=value,
    )
    assert r["ok"] is False
    assert r["after"] == r["before"]


def test_a_bad_env_value_warns_once_and_defaults() -> None:
    r = run(
        r"""
        spin_a_thread()
        before = _futex.slots()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _futex.maybe_switch(_futex.THRESHOLD)
            ok = _futex.use_global_hash()
        print(json.dumps({
            "before": before, "after": _futex.slots(), "ok": ok,
            "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        }))
        """,
        env_value="bogus",
    )
    assert len(r["warnings"]) == 1
    assert "'bogus'" in r["warnings"][0]
    assert _futex.ENV_VAR in r["warnings"][0]
    if r["before"] is None:
        pytest.skip(NO_SUPPORT)
    assert r["ok"] is True
    assert r["after"] == 0


@pytest.mark.parametrize("value", [None, "global", "GLOBAL"])
def test_the_default_values_do_not_warn(value: str | None) -> None:
    r = run(
        r"""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opted_out = _futex._opted_out()
        print(json.dumps({"opted_out": opted_out, "warnings": len(caught)}))
        """,
        env_value=value,
    )
    assert r["opted_out"] is False
    assert r["warnings"] == 0


# -- failures, in this process (prctl is faked: nothing really switches) --------------------


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's _futex state as if nothing had been tried, and no opt-out."""
    monkeypatch.delenv(_futex.ENV_VAR, raising=False)
    monkeypatch.setattr(_futex, "_global", False)
    monkeypatch.setattr(_futex, "_done", False)


def _failing(err: int, calls: list[tuple[int, ...]]) -> _futex._Prctl:
    def prctl(*args: int) -> int:
        calls.append(args)
        ctypes.set_errno(err)
        return -1

    return prctl


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize("err", [errno.EINVAL, errno.EPERM, errno.ENOMEM, errno.EBUSY])
def test_use_global_hash_is_false_when_prctl_fails(
    monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(_futex, "_load_prctl", lambda: _failing(err, calls))
    assert _futex.use_global_hash() is False
    assert _futex.slots() is None
    assert (_futex.PR_FUTEX_HASH, _futex.PR_FUTEX_HASH_SET_SLOTS, 0, 0, 0) in calls


@pytest.mark.usefixtures("fresh")
def test_maybe_switch_tries_once_even_when_it_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(_futex, "_load_prctl", lambda: _failing(errno.EINVAL, calls))
    _futex.maybe_switch(_futex.THRESHOLD)
    sets = [c for c in calls if c[1] == _futex.PR_FUTEX_HASH_SET_SLOTS]
    assert len(sets) == 1
    _futex.maybe_switch(_futex.THRESHOLD * 10)
    assert [c for c in calls if c[1] == _futex.PR_FUTEX_HASH_SET_SLOTS] == sets


@pytest.mark.usefixtures("fresh")
def test_use_global_hash_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: int) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(_futex, "_load_prctl", lambda: explode)
    assert _futex.use_global_hash() is False
    assert _futex.slots() is None


@pytest.mark.usefixtures("fresh")
def test_no_prctl_in_the_c_library(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_libc(name: str | None, use_errno: bool = False) -> Any:
        raise OSError("no C library")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert _futex._load_prctl() is None
    assert _futex.use_global_hash() is False
    assert _futex.slots() is None


@pytest.mark.usefixtures("fresh")
def test_unsupported_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _futex._load_prctl() is None
    assert _futex.use_global_hash() is False
    assert _futex.slots() is None
