"""Tests of compat.normalize and compat.to_modern: every form, default and error."""

from __future__ import annotations

import copy
import functools
import math
import re
import sys
import types
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import compat
from compat.child_spec import default_modules

THIS_MODULE = sys.modules[__name__]
ALL_KEYS = {"id", "start", "restart", "shutdown", "type", "modules", "meta", "timeout"}


class FakeWorker:
    """Stands in for a GenServer: a classmethod start_link and child_spec."""

    not_callable = 3

    @classmethod
    def start_link(cls, *args: Any) -> tuple[Any, ...]:
        return ("started", cls, args)

    @classmethod
    def child_spec(cls, arg: Any = None) -> dict[str, Any]:
        return {"id": cls, "start": (cls.start_link, [] if arg is None else [arg])}


class FakeSupervisor(FakeWorker):
    @classmethod
    def child_spec(cls, arg: Any = None) -> dict[str, Any]:
        return {"id": cls, "start": (cls.start_link, [arg]), "type": "supervisor"}


class LegacyChildSpec(FakeWorker):
    @classmethod
    def child_spec(cls, arg: Any = None) -> Any:
        return ("legacy", (cls, "start_link", [arg]), "temporary", 1.0, "worker", [cls])


class BadChildSpec(FakeWorker):
    @classmethod
    def child_spec(cls, arg: Any = None) -> Any:
        return "not a spec"


class NoChildSpec:
    pass


class Instance:
    def start(self) -> None:
        pass


def start_plain(*args: Any) -> None:
    pass


# -- defaults -------------------------------------------------------------------------


def test_a_minimal_dict_gets_every_default() -> None:
    spec = compat.normalize({"id": "cache", "start": start_plain})

    assert spec == {
        "id": "cache",
        "start": (start_plain, []),
        "restart": "permanent",
        "shutdown": 5.0,
        "type": "worker",
        "modules": [THIS_MODULE],
        "meta": None,
        "timeout": "infinity",
    }


def test_a_supervisor_shuts_down_with_infinity_by_default() -> None:
    spec = compat.normalize({"id": "sup", "start": start_plain, "type": "supervisor"})

    assert spec["shutdown"] == "infinity"


def test_given_values_are_kept() -> None:
    meta = {"started": 1}
    spec: Any = compat.normalize(
        {
            "id": "job",
            "start": (start_plain, [1]),
            "restart": "transient",
            "shutdown": "brutal_kill",
            "type": "supervisor",
            "modules": "dynamic",
            "meta": meta,
            "timeout": 30.0,
        }
    )

    assert spec["restart"] == "transient"
    assert spec["shutdown"] == "brutal_kill"
    assert spec["type"] == "supervisor"
    assert spec["modules"] == "dynamic"
    assert spec["meta"] is meta
    assert spec["timeout"] == 30.0


@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
def test_every_restart_type_is_accepted(restart: str) -> None:
    spec = compat.normalize({"id": 1, "start": start_plain, "restart": restart})

    assert spec["restart"] == restart


@pytest.mark.parametrize("key", ["shutdown", "timeout"])
def test_an_int_duration_becomes_a_float(key: str) -> None:
    spec: Any = compat.normalize({"id": 1, "start": start_plain, key: 7})

    assert spec[key] == 7.0
    assert type(spec[key]) is float


@pytest.mark.parametrize("key", ["shutdown", "timeout"])
def test_an_infinite_float_duration_becomes_infinity(key: str) -> None:
    spec: Any = compat.normalize({"id": 1, "start": start_plain, key: math.inf})

    assert spec[key] == "infinity"


def test_shutdown_zero_is_accepted() -> None:
    assert compat.normalize({"id": 1, "start": start_plain, "shutdown": 0})["shutdown"] == 0.0


# -- start forms ----------------------------------------------------------------------


def test_a_zero_arg_callable_gets_no_args() -> None:
    assert compat.normalize({"id": 1, "start": start_plain})["start"] == (start_plain, [])


def test_callable_and_args_get_a_new_list_of_args() -> None:
    args = [1, 2]

    start = compat.normalize({"id": 1, "start": (start_plain, args)})["start"]

    assert start == (start_plain, [1, 2])
    assert start[1] is not args


def test_a_tuple_of_args_becomes_a_list() -> None:
    assert compat.normalize({"id": 1, "start": (start_plain, (1, 2))})["start"] == (
        start_plain,
        [1, 2],
    )


def test_obj_function_name_args_resolves_the_function() -> None:
    spec = compat.normalize({"id": 1, "start": (FakeWorker, "start_link", (3,))})

    assert spec["start"] == (FakeWorker.start_link, [3])
    assert spec["modules"] == [FakeWorker]


def test_a_module_and_function_name_resolve_too() -> None:
    spec = compat.normalize({"id": 1, "start": (THIS_MODULE, "start_plain", [])})

    assert spec["start"] == (start_plain, [])
    assert spec["modules"] == [THIS_MODULE]


# -- other spec forms -----------------------------------------------------------------


def test_a_class_uses_its_child_spec() -> None:
    spec = compat.normalize(FakeWorker)

    assert spec["id"] is FakeWorker
    assert spec["start"] == (FakeWorker.start_link, [])
    assert spec["modules"] == [FakeWorker]
    assert spec["shutdown"] == 5.0


def test_a_class_and_arg_pass_the_arg_to_child_spec() -> None:
    spec = compat.normalize((FakeSupervisor, {"size": 3}))

    assert spec["start"] == (FakeSupervisor.start_link, [{"size": 3}])
    assert spec["type"] == "supervisor"
    assert spec["shutdown"] == "infinity"
    assert spec["modules"] == [FakeSupervisor]


def test_child_spec_may_return_a_legacy_tuple() -> None:
    spec = compat.normalize((LegacyChildSpec, 9))

    assert spec["id"] == "legacy"
    assert spec["start"] == (LegacyChildSpec.start_link, [9])
    assert spec["restart"] == "temporary"


def test_a_legacy_tuple_is_converted() -> None:
    legacy: Any = ("w", (FakeWorker, "start_link", [1]), "transient", 2, "worker", [FakeWorker])

    spec = compat.normalize(legacy)

    assert spec == compat.to_modern(legacy)
    assert spec == {
        "id": "w",
        "start": (FakeWorker.start_link, [1]),
        "restart": "transient",
        "shutdown": 2.0,
        "type": "worker",
        "modules": [FakeWorker],
        "meta": None,
        "timeout": "infinity",
    }


def test_a_legacy_tuple_with_dynamic_modules() -> None:
    legacy: Any = (
        "s",
        (FakeWorker, "start_link", []),
        "permanent",
        "infinity",
        "supervisor",
        "dynamic",
    )
    spec: Any = compat.to_modern(legacy)

    assert spec["modules"] == "dynamic"


def test_any_mapping_is_accepted() -> None:
    spec = compat.normalize(types.MappingProxyType({"id": 1, "start": start_plain}))

    assert spec["start"] == (start_plain, [])


# -- modules default ------------------------------------------------------------------


def test_modules_of_a_bound_instance_method_is_its_class() -> None:
    spec = compat.normalize({"id": 1, "start": Instance().start})

    assert spec["modules"] == [Instance]


def test_modules_of_a_lambda_is_its_module() -> None:
    assert compat.normalize({"id": 1, "start": lambda: None})["modules"] == [THIS_MODULE]


def test_modules_of_a_partial_is_the_module_of_its_function() -> None:
    assert default_modules(functools.partial(start_plain, 1)) == [THIS_MODULE]
    assert default_modules(functools.partial(FakeWorker.start_link, 1)) == [FakeWorker]


def test_modules_given_as_a_tuple_become_a_list() -> None:
    spec = compat.normalize({"id": 1, "start": start_plain, "modules": (FakeWorker,)})

    assert spec["modules"] == [FakeWorker]


# -- never mutates --------------------------------------------------------------------


def test_the_callers_dict_is_never_changed() -> None:
    modules = [FakeWorker]
    original = {"id": 1, "start": (start_plain, [1]), "modules": modules}
    before = copy.copy(original)

    spec = compat.normalize(original)

    assert original == before
    assert spec is not original
    assert spec["modules"] is not modules


@st.composite
def modern_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": draw(st.one_of(st.text(), st.integers(), st.tuples(st.text(), st.integers()))),
        "start": draw(
            st.sampled_from([start_plain, (start_plain, (1,)), (FakeWorker, "start_link", [2, 3])])
        ),
    }
    optional = {
        "restart": st.sampled_from(["permanent", "transient", "temporary"]),
        "shutdown": st.one_of(
            st.sampled_from(["infinity", "brutal_kill"]),
            st.integers(min_value=0, max_value=10**6),
            st.floats(min_value=0, max_value=1e6),
        ),
        "type": st.sampled_from(["worker", "supervisor"]),
        "meta": st.none() | st.integers(),
        "timeout": st.one_of(st.just("infinity"), st.floats(min_value=0.001, max_value=1e6)),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            spec[key] = draw(strategy)
    return spec


@given(modern_specs())
def test_normalize_is_idempotent_and_fills_every_key(spec: dict[str, Any]) -> None:
    once = compat.normalize(spec)

    assert set(once) == ALL_KEYS
    assert compat.normalize(once) == once


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["id", "start"])
def test_a_missing_required_key_is_a_key_error_naming_it(missing: str) -> None:
    spec = {"id": 1, "start": start_plain}
    del spec[missing]

    with pytest.raises(KeyError, match=f"missing the required key '{missing}'"):
        compat.normalize(spec)


def test_id_none_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'id' must not be None"):
        compat.normalize({"id": None, "start": start_plain})


def test_an_unhashable_id_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match=r"'id' must be hashable, got \[1\] of type list"):
        compat.normalize({"id": [1], "start": start_plain})


def test_an_unknown_key_is_a_value_error_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match="unknown key 'restrat' \\(did you mean 'restart'\\?\\)"):
        compat.normalize({"id": 1, "start": start_plain, "restrat": "temporary"})


def test_an_unknown_non_string_key_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown key 7"):
        compat.normalize({"id": 1, "start": start_plain, 7: "x"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("restart", "forever"),
        ("restart", None),
        ("restart", 1),
        ("type", "wroker"),
        ("type", None),
        ("shutdown", -1),
        ("shutdown", -0.5),
        ("shutdown", True),
        ("shutdown", "never"),
        ("shutdown", "5"),
        ("shutdown", None),
        ("shutdown", math.nan),
        ("timeout", 0),
        ("timeout", -1.0),
        ("timeout", False),
        ("timeout", "brutal_kill"),
        ("timeout", None),
        ("timeout", math.nan),
        ("modules", "static"),
        ("modules", 5),
    ],
)
def test_a_bad_option_value_is_a_value_error_naming_key_and_value(key: str, value: Any) -> None:
    spec = {"id": "cache", "start": start_plain, key: value}

    with pytest.raises(
        ValueError, match=f"child spec 'cache': '{key}' .*got {re.escape(repr(value))}$"
    ):
        compat.normalize(spec)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (42, "'start' must be a callable, .*got 42"),
        ([start_plain, []], "'start' must be a callable, .*got \\[<function start_plain"),
        ((start_plain,), "'start' must be a callable, .*got \\(<function start_plain"),
        ((start_plain, [], {}, 1), "'start' must be a callable"),
        ((1, []), "'start' \\(1, \\[\\]\\) does not begin with a callable"),
        ((start_plain, 1), "args of 'start' must be a list or tuple, got 1"),
        ((start_plain, "ab"), "args of 'start' must be a list or tuple, got 'ab'"),
        ((FakeWorker, "start_link", 1), "args of 'start' must be a list or tuple, got 1"),
        ((FakeWorker, 5, []), "function name must be a str, got 5"),
        ((FakeWorker, "missing", []), "has no attribute 'missing'"),
        ((FakeWorker, "not_callable", []), "FakeWorker'>.not_callable is not callable"),
    ],
)
def test_a_malformed_start_is_a_type_error(start: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        compat.normalize({"id": 1, "start": start})


@pytest.mark.parametrize(
    "spec",
    [None, 5, "worker", [FakeWorker], (FakeWorker, 1, 2), (5, 1), (1, 2, 3, 4, 5), ()],
)
def test_something_else_is_a_type_error_naming_it(spec: object) -> None:
    with pytest.raises(TypeError, match=re.escape(f"cannot use {spec!r} as a child spec")):
        compat.normalize(spec)


@pytest.mark.parametrize("spec", [NoChildSpec, (NoChildSpec, 1)])
def test_a_class_without_child_spec_is_a_type_error(spec: object) -> None:
    with pytest.raises(TypeError, match=r"class NoChildSpec .*no child_spec"):
        compat.normalize(spec)


def test_a_child_spec_returning_junk_is_a_type_error() -> None:
    with pytest.raises(
        TypeError, match=re.escape("BadChildSpec.child_spec() returned 'not a spec'")
    ):
        compat.normalize(BadChildSpec)


def test_errors_from_child_spec_itself_pass_through() -> None:
    class Needy:
        @staticmethod
        def child_spec(arg: Any = None) -> Any:
            raise KeyError("worker_module")

    with pytest.raises(KeyError, match="worker_module"):
        compat.normalize(Needy)


@pytest.mark.parametrize(
    "legacy",
    [[1, 2, 3, 4, 5, 6], (1, 2, 3, 4, 5), {"id": 1}, None],
)
def test_to_modern_needs_a_6_tuple(legacy: object) -> None:
    with pytest.raises(TypeError, match="legacy child spec must be a 6-tuple"):
        compat.to_modern(legacy)


@pytest.mark.parametrize(
    "mfa",
    [start_plain, (FakeWorker, "start_link"), (FakeWorker, FakeWorker.start_link, [])],
)
def test_to_modern_needs_module_function_args(mfa: object) -> None:
    legacy = ("w", mfa, "permanent", 5.0, "worker", [FakeWorker])

    with pytest.raises(TypeError, match="legacy child spec 'w': the start element must be"):
        compat.to_modern(legacy)


@pytest.mark.parametrize(
    ("position", "key", "value"),
    [(2, "restart", "always"), (3, "shutdown", -5), (4, "type", "task"), (5, "modules", 3)],
)
def test_to_modern_names_a_bad_element(position: int, key: str, value: object) -> None:
    legacy: list[Any] = ["w", (FakeWorker, "start_link", []), "permanent", 5.0, "worker", []]
    legacy[position] = value

    with pytest.raises(
        ValueError, match=f"legacy child spec 'w': '{key}' .*got {re.escape(repr(value))}$"
    ):
        compat.to_modern(tuple(legacy))


def test_to_modern_reports_a_missing_start_function() -> None:
    legacy: Any = ("w", (FakeWorker, "start", []), "permanent", 5.0, "worker", [FakeWorker])

    with pytest.raises(TypeError, match="legacy child spec 'w': 'start' names 'start'"):
        compat.to_modern(legacy)
