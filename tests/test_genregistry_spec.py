"""Tests of the registry's child specs and of `genregistry.Behaviour` (API.md,
"genregistry"): `GenRegistry.child_spec` in every accepted form, the legacy
`genregistry.Spec.child_spec` with its DeprecationWarning, and registries supervised
both ways.

The supervision cases port the seed's ``test/supervisor_test.exs`` and the "supervising a
registry" blocks of ``test/gen_registry_test.exs`` (GenRegistry 1.3).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import pytest

import compat
import genregistry
import parent
from compat import spec as legacy
from genregistry import Behaviour, GenRegistry, Spec
from parent import GenServer, Pid, Supervisor, gen_server, process, supervisor
from parent.testing import wait_until

pytestmark = pytest.mark.timeout(60)


class ExampleWorker(GenServer):
    def init(self, value: object = None) -> None:
        self.value = value

    def handle_call(self, request: Any, from_: parent.From) -> Any:
        return self.value


class NameA:
    """A custom registry name."""


class NameB:
    """Another custom registry name."""


class ExampleSupervisor(Supervisor):
    """The seed's ExampleSupervisor: a module-based supervisor whose ``init`` returns a
    legacy ``supervise(...)`` value (built by the test, so that the DeprecationWarnings
    are raised, and checked, in the test's thread)."""

    def init(self, flags: Any) -> Any:
        return flags


def legacy_spec(worker_module: Any, **kwargs: Any) -> Any:
    with pytest.warns(DeprecationWarning):
        return Spec.child_spec(worker_module, **kwargs)


@pytest.fixture
def supervisors() -> Any:
    """Stop every supervisor a test started."""
    started: list[Pid] = []
    yield started
    for pid in started:
        if pid.is_alive():
            supervisor.stop(pid)


# -- GenRegistry.child_spec --------------------------------------------------------------


def test_child_spec_with_keyword_options() -> None:
    spec = GenRegistry.child_spec(worker_module=ExampleWorker)
    assert spec["id"] is ExampleWorker
    assert spec["type"] == "supervisor"
    assert spec["shutdown"] == "infinity"
    full = compat.normalize(spec)
    assert full["id"] is ExampleWorker
    assert full["type"] == "supervisor"
    assert full["shutdown"] == "infinity"
    assert full["restart"] == "permanent"


def test_child_spec_with_a_mapping_and_a_custom_name() -> None:
    spec = GenRegistry.child_spec({"worker_module": ExampleWorker, "name": "reads"})
    assert spec["id"] == "reads"
    assert spec["type"] == "supervisor"
    assert spec["shutdown"] == "infinity"
    # keyword arguments add to (and override) the mapping
    mixed = GenRegistry.child_spec({"worker_module": ExampleWorker}, name="writes")
    assert mixed["id"] == "writes"


def test_child_spec_start_starts_a_registry_under_the_name() -> None:
    spec = compat.normalize(GenRegistry.child_spec(worker_module=ExampleWorker, name="reads"))
    fn, args = spec["start"]
    registry = fn(*args)
    try:
        assert process.whereis("reads") is registry
        worker = GenRegistry.lookup_or_start("reads", "a", [1])
        assert gen_server.call(worker, "get") == 1
        with pytest.raises(parent.NoProcess):
            GenRegistry.lookup(ExampleWorker, "a")
    finally:
        gen_server.stop(registry)


def test_class_and_arg_tuple_form_normalizes_like_child_spec() -> None:
    via_tuple = compat.normalize((GenRegistry, {"worker_module": ExampleWorker}))
    direct = compat.normalize(GenRegistry.child_spec(worker_module=ExampleWorker))
    assert via_tuple == direct
    named = compat.normalize((GenRegistry, {"worker_module": ExampleWorker, "name": NameA}))
    assert named["id"] is NameA


@pytest.mark.parametrize(
    "make",
    [
        lambda: GenRegistry.child_spec(),
        lambda: GenRegistry.child_spec({}),
        lambda: GenRegistry.child_spec(name="x"),
        lambda: GenRegistry.child_spec({"test_key": "test_value"}),
        lambda: compat.normalize(GenRegistry),
        lambda: compat.normalize((GenRegistry, {"test_key": "test_value"})),
    ],
    ids=["no-args", "empty", "name-only", "other-key", "bare-class", "class-tuple"],
)
def test_missing_worker_module_raises_key_error_naming_it(make: Any) -> None:
    with pytest.raises(KeyError) as info:
        make()
    assert "worker_module" in str(info.value)


def test_unknown_options_raise_value_error() -> None:
    with pytest.raises(ValueError, match="bogus"):
        GenRegistry.child_spec(worker_module=ExampleWorker, bogus=1)


def test_start_link_refuses_a_worker_module_without_start_link() -> None:
    with pytest.raises(TypeError):
        GenRegistry.start_link(object())


def test_start_link_refuses_an_unhashable_name() -> None:
    with pytest.raises(TypeError):
        GenRegistry.start_link(ExampleWorker, ["unhashable"])


# -- the legacy Spec.child_spec ----------------------------------------------------------


def test_legacy_spec_is_the_documented_six_tuple() -> None:
    with pytest.warns(DeprecationWarning) as record:
        spec = Spec.child_spec(ExampleWorker)
    assert spec == (
        ExampleWorker,
        (GenRegistry, "start_link", [ExampleWorker, ExampleWorker]),
        "permanent",
        "infinity",
        "supervisor",
        [GenRegistry],
    )
    [warning] = record
    assert warning.filename == __file__  # it points at the caller
    message = str(warning.message)
    assert "deprecated" in message
    assert "GenRegistry.child_spec(worker_module=ExampleWorker" in message


def test_legacy_spec_with_a_custom_name() -> None:
    with pytest.warns(DeprecationWarning, match="name=NameA"):
        spec = Spec.child_spec(ExampleWorker, name=NameA)
    assert spec == (
        NameA,
        (GenRegistry, "start_link", [ExampleWorker, NameA]),
        "permanent",
        "infinity",
        "supervisor",
        [GenRegistry],
    )


@pytest.mark.parametrize("name", [None, NameA, "reads"])
def test_legacy_spec_warning_shows_the_modern_equivalent_as_source(name: Any) -> None:
    kwargs = {} if name is None else {"name": name}
    with pytest.warns(DeprecationWarning) as record:
        old = Spec.child_spec(ExampleWorker, **kwargs)
    message = str(record[0].message)
    call = "GenRegistry.child_spec(worker_module=ExampleWorker"
    call += ")" if name is None else f", name={'NameA' if name is NameA else repr(name)})"
    options = "{'worker_module': ExampleWorker"
    options += "}" if name is None else f", 'name': {'NameA' if name is NameA else repr(name)}}}"
    pair = f"(GenRegistry, {options})"
    assert call in message
    assert pair in message
    namespace = {"GenRegistry": GenRegistry, "ExampleWorker": ExampleWorker, "NameA": NameA}
    expected = compat.to_modern(old)
    for source in (call, pair):
        modern = compat.normalize(eval(source, namespace))
        for key in ("id", "type", "shutdown", "restart"):
            assert modern[key] == expected[key]  # type: ignore[literal-required]


def test_legacy_spec_name_is_keyword_only() -> None:
    with pytest.raises(TypeError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        Spec.child_spec(ExampleWorker, NameA)  # type: ignore[misc]


def test_legacy_spec_converts_to_the_modern_spec() -> None:
    modern = compat.to_modern(legacy_spec(ExampleWorker, name="reads"))
    assert modern["id"] == "reads"
    assert modern["start"] == (GenRegistry.start_link, [ExampleWorker, "reads"])
    assert modern["type"] == "supervisor"
    assert modern["shutdown"] == "infinity"
    assert modern["modules"] == [GenRegistry]


# -- supervisor_test.exs: pre-1.5 specs --------------------------------------------------


def test_pre_15_valid_spec(supervisors: list[Pid]) -> None:
    sup = supervisor.start_link([legacy_spec(ExampleWorker)], strategy="one_for_one")
    supervisors.append(sup)
    assert supervisor.count_children(sup) == {
        "active": 1,
        "specs": 1,
        "supervisors": 1,
        "workers": 0,
    }
    [(child_id, registry, child_type, modules)] = supervisor.which_children(sup)
    assert (child_id, child_type, modules) == (ExampleWorker, "supervisor", [GenRegistry])
    assert process.whereis(ExampleWorker) is registry
    worker = GenRegistry.lookup_or_start(ExampleWorker, "a")
    supervisor.stop(sup)
    assert not registry.is_alive()
    assert not worker.is_alive()


def test_pre_15_custom_names_run_several_registries_for_one_module(
    supervisors: list[Pid],
) -> None:
    children = [
        legacy_spec(ExampleWorker, name=NameA),
        legacy_spec(ExampleWorker, name=NameB),
    ]
    sup = supervisor.start_link(children, strategy="one_for_one")
    supervisors.append(sup)
    assert supervisor.count_children(sup) == {
        "active": 2,
        "specs": 2,
        "supervisors": 2,
        "workers": 0,
    }
    found = {(c[0], c[2]) for c in supervisor.which_children(sup)}
    assert found == {(NameA, "supervisor"), (NameB, "supervisor")}
    a = GenRegistry.lookup_or_start(NameA, "id", ["a"])
    b = GenRegistry.lookup_or_start(NameB, "id", ["b"])
    assert a is not b
    assert gen_server.call(a, "get") == "a"
    assert gen_server.call(b, "get") == "b"


# -- supervisor_test.exs: modern specs ---------------------------------------------------


def test_modern_invalid_spec_no_arguments() -> None:
    with pytest.raises(KeyError) as info:
        supervisor.start_link([GenRegistry], strategy="one_for_one")
    assert "worker_module" in str(info.value)
    assert process.whereis(ExampleWorker) is None


def test_modern_invalid_spec_no_worker_module_argument() -> None:
    with pytest.raises(KeyError) as info:
        supervisor.start_link([(GenRegistry, {"test_key": "test_value"})], strategy="one_for_one")
    assert "worker_module" in str(info.value)


def test_modern_valid_spec(supervisors: list[Pid]) -> None:
    sup = supervisor.start_link(
        [(GenRegistry, {"worker_module": ExampleWorker})], strategy="one_for_one"
    )
    supervisors.append(sup)
    assert supervisor.count_children(sup) == {
        "active": 1,
        "specs": 1,
        "supervisors": 1,
        "workers": 0,
    }
    [(child_id, registry, child_type, _modules)] = supervisor.which_children(sup)
    assert (child_id, child_type) == (ExampleWorker, "supervisor")
    assert process.whereis(ExampleWorker) is registry


def test_modern_custom_names_run_several_registries_for_one_module(
    supervisors: list[Pid],
) -> None:
    children = [
        (GenRegistry, {"worker_module": ExampleWorker, "name": NameA}),
        GenRegistry.child_spec(worker_module=ExampleWorker, name=NameB),
    ]
    sup = supervisor.start_link(children, strategy="one_for_one")
    supervisors.append(sup)
    assert supervisor.count_children(sup) == {
        "active": 2,
        "specs": 2,
        "supervisors": 2,
        "workers": 0,
    }
    found = {(c[0], c[2]) for c in supervisor.which_children(sup)}
    assert found == {(NameA, "supervisor"), (NameB, "supervisor")}


# -- gen_registry_test.exs: "supervising a registry via pre-1.5 Supervisor.Spec" ----------


def test_module_based_supervisor_with_legacy_supervise(supervisors: list[Pid]) -> None:
    with pytest.warns(DeprecationWarning):
        flags = legacy.supervise([Spec.child_spec(ExampleWorker)], strategy="one_for_one")
    sup = ExampleSupervisor.start_link(flags)
    supervisors.append(sup)
    assert supervisor.count_children(sup) == {
        "active": 1,
        "specs": 1,
        "supervisors": 1,
        "workers": 0,
    }
    [(child_id, _registry, child_type, _modules)] = supervisor.which_children(sup)
    assert (child_id, child_type) == (ExampleWorker, "supervisor")
    assert supervisor.get_callback_module(sup) is ExampleSupervisor


def test_a_supervised_registry_is_restarted_empty(supervisors: list[Pid]) -> None:
    sup = supervisor.start_link([GenRegistry.child_spec(worker_module=ExampleWorker)])
    supervisors.append(sup)
    first = process.whereis(ExampleWorker)
    assert first is not None
    worker = GenRegistry.lookup_or_start(ExampleWorker, "a")
    process.exit(first, "kill")
    assert worker.join(2.0) == "killed"

    def restarted() -> bool:
        current = process.whereis(ExampleWorker)
        return current is not None and current is not first

    assert wait_until(restarted, timeout=2.0)
    assert wait_until(lambda: _count_or_none(ExampleWorker) == 0, timeout=2.0)
    assert GenRegistry.lookup_or_start(ExampleWorker, "a") is not worker


def _count_or_none(name: Any) -> int | None:
    try:
        return GenRegistry.count(name)
    except parent.NoProcess:
        return None


# -- Behaviour ---------------------------------------------------------------------------


def _protocol_members() -> list[str]:
    """The Protocol's own members: its static methods (plus any other public callable)."""
    return sorted(
        name
        for name, value in vars(Behaviour).items()
        if not name.startswith("_") and (isinstance(value, staticmethod) or callable(value))
    )


def test_behaviour_lists_every_public_function() -> None:
    assert _protocol_members() == sorted(
        [
            "call",
            "cast",
            "child_spec",
            "count",
            "lookup",
            "lookup_or_start",
            "reduce",
            "sample",
            "start",
            "start_link",
            "stop",
            "to_list",
        ]
    )


@pytest.mark.parametrize("name", _protocol_members())
def test_gen_registry_satisfies_the_behaviour(name: str) -> None:
    ours = inspect.getattr_static(GenRegistry, name)
    assert isinstance(ours, staticmethod), f"GenRegistry.{name} must be a static method"
    expected = inspect.signature(getattr(Behaviour, name))
    actual = inspect.signature(getattr(GenRegistry, name))
    assert actual == expected


def test_the_class_object_is_usable_where_a_behaviour_is_expected() -> None:
    def place(registry: Behaviour) -> int:
        pid = registry.start_link(ExampleWorker)
        try:
            registry.lookup_or_start(ExampleWorker, "+15551234567", ["+15551234567"])
            return registry.count(ExampleWorker)
        finally:
            gen_server.stop(pid)

    assert place(GenRegistry) == 1
    assert genregistry.Behaviour is Behaviour
