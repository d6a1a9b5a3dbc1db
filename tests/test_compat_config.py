"""Tests of the gen_module configuration: configure, override, the environment variable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import compat
from compat import config

ENV_VAR = "GENREGISTRY_GEN_MODULE"
ROOT = Path(__file__).resolve().parent.parent


class FakeGenModule:
    def __init__(self, reply: Any = "reply") -> None:
        self.reply = reply
        self.calls: list[tuple[Any, Any, float | None]] = []

    def call(self, server: Any, request: Any, timeout: float | None) -> Any:
        self.calls.append((server, request, timeout))
        return self.reply


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts unconfigured, with no environment value; all is restored after."""
    monkeypatch.setattr(config, "_configured", None)
    monkeypatch.setattr(config, "_default", None)
    monkeypatch.setattr(config, "_env_value", None)
    yield


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """An importable module `fake_gen` with a module-level call() and a `tracer` object."""
    module = types.ModuleType("fake_gen")
    module.call = lambda server, request, timeout: ("module", request)  # type: ignore[attr-defined]
    module.tracer = FakeGenModule("traced")  # type: ignore[attr-defined]
    module.nothing = object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_gen", module)
    return module


# -- configure and gen_module ---------------------------------------------------------


def test_configure_sets_the_gen_module() -> None:
    fake = FakeGenModule()

    compat.configure(gen_module=fake)

    assert compat.gen_module() is fake
    assert compat.gen_module().call("server", ("count",), 5.0) == "reply"
    assert fake.calls == [("server", ("count",), 5.0)]


def test_a_module_object_qualifies(fake_module: types.ModuleType) -> None:
    compat.configure(gen_module=fake_module)

    assert compat.gen_module().call("s", "r", None) == ("module", "r")


@pytest.mark.parametrize("bad", [object(), 5, types.SimpleNamespace(call="not callable")])
def test_configure_rejects_an_object_without_a_callable_call(bad: object) -> None:
    with pytest.raises(TypeError, match=f"configure.*{re.escape(repr(bad))} is not a gen_module"):
        compat.configure(gen_module=bad)  # type: ignore[arg-type]


def test_the_default_is_parent_gen_server() -> None:
    gen_server = pytest.importorskip("parent.gen_server")

    assert compat.gen_module() is gen_server


# -- override -------------------------------------------------------------------------


def test_override_applies_inside_and_restores_after() -> None:
    before, inside = FakeGenModule(), FakeGenModule()
    compat.configure(gen_module=before)

    with compat.override(gen_module=inside) as given:
        assert given is inside
        assert compat.gen_module() is inside

    assert compat.gen_module() is before


def test_override_restores_even_on_an_exception() -> None:
    before = FakeGenModule()
    compat.configure(gen_module=before)

    with pytest.raises(RuntimeError, match="boom"), compat.override(gen_module=FakeGenModule()):
        raise RuntimeError("boom")

    assert compat.gen_module() is before


def test_overrides_nest() -> None:
    outer, inner = FakeGenModule(), FakeGenModule()

    with compat.override(gen_module=outer):
        with compat.override(gen_module=inner):
            assert compat.gen_module() is inner
        assert compat.gen_module() is outer

    assert config._configured is None


def test_override_restores_the_unconfigured_state(fake_module: types.ModuleType) -> None:
    config._env_value = "fake_gen"

    with compat.override(gen_module=FakeGenModule()):
        pass

    assert compat.gen_module() is fake_module


def test_override_rejects_a_bad_object_and_changes_nothing() -> None:
    before = FakeGenModule()
    compat.configure(gen_module=before)

    with (
        pytest.raises(TypeError, match=r"override.*is not a gen_module"),
        compat.override(gen_module=object()),  # type: ignore[arg-type]
    ):
        pass

    assert compat.gen_module() is before


# -- the environment variable ---------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["fake_gen", "package.module", "package.module:attr", "pkg.mod:Cls.attr"]
)
def test_valid_environment_values_are_kept(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ENV_VAR, value)

    assert config._read_environment() == value


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_environment_value_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV_VAR, value)

    assert config._read_environment() is None


def test_an_unset_environment_variable_reads_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)

    assert config._read_environment() is None


@pytest.mark.parametrize(
    "value", ["a:b:c", "1abc", ":attr", "module:", "a..b", "pkg.mod:1x", "pkg/mod", "a b"]
)
def test_an_invalid_environment_value_names_the_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV_VAR, value)

    with pytest.raises(ValueError, match=f"GENREGISTRY_GEN_MODULE='{value}' is not a valid"):
        config._read_environment()


def test_the_environment_names_a_module(fake_module: types.ModuleType) -> None:
    config._env_value = "fake_gen"

    assert compat.gen_module() is fake_module


def test_the_environment_names_an_attribute(fake_module: types.ModuleType) -> None:
    config._env_value = "fake_gen:tracer"

    assert compat.gen_module() is fake_module.tracer


def test_configure_wins_over_the_environment(fake_module: types.ModuleType) -> None:
    config._env_value = "fake_gen"
    fake = FakeGenModule()

    compat.configure(gen_module=fake)

    assert compat.gen_module() is fake


def test_an_environment_module_that_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "no_such_gen_module", raising=False)
    config._env_value = "no_such_gen_module"

    with pytest.raises(
        ImportError, match="GENREGISTRY_GEN_MODULE='no_such_gen_module': cannot import"
    ):
        compat.gen_module()


def test_an_environment_attribute_that_does_not_exist(fake_module: types.ModuleType) -> None:
    config._env_value = "fake_gen:missing"

    with pytest.raises(ImportError, match=r"'fake_gen:missing'.*no attribute 'missing'"):
        compat.gen_module()


def test_an_environment_object_without_call(fake_module: types.ModuleType) -> None:
    config._env_value = "fake_gen:nothing"

    with pytest.raises(TypeError, match=r"'fake_gen:nothing'.*is not a gen_module"):
        compat.gen_module()


def run_python(code: str, env_value: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    env[ENV_VAR] = env_value
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_the_environment_variable_is_read_at_import(tmp_path: Path) -> None:
    (tmp_path / "tracing_gen.py").write_text(
        "def call(server, request, timeout):\n    return ('traced', request)\n"
    )

    result = run_python(
        "import compat; print(compat.gen_module().call('s', 'ping', 1.0))",
        "tracing_gen",
        tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('traced', 'ping')"


def test_an_invalid_environment_variable_fails_the_import(tmp_path: Path) -> None:
    result = run_python("import compat", "not a module", tmp_path)

    assert result.returncode != 0
    assert "ValueError: GENREGISTRY_GEN_MODULE='not a module' is not a valid" in result.stderr
