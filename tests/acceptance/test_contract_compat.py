"""Acceptance tests for API.md `compat`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import typing
import warnings

import pytest

import compat
import parent
from parent import GenServer, gen_server

pytestmark = pytest.mark.timeout(60)

THIS_MODULE = sys.modules[__name__]


class ExampleWorker(GenServer):
    def init(self, value: object = None) -> None:
        if value == "invalid":
            raise parent.Stop("invalid")
        self.value = value

    def handle_call(self, request: object, from_: parent.From) -> object:
        if request == "get":
            return self.value
        raise ValueError(request)


class Sup(parent.Supervisor):
    def init(self):
        from parent import supervisor

        return supervisor.init([])


def start_fn(*args):
    return ExampleWorker.start_link(*args)


def _balanced(text: str, start: int, open_ch: str, close_ch: str) -> str:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_ch:
            depth += 1
        elif text[i] == close_ch:
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    raise AssertionError(f"unbalanced {open_ch}{close_ch} in {text!r}")


# -- ChildSpec -------------------------------------------------------------------------


def test_child_spec_typed_dict():
    import typing_extensions

    cs = compat.ChildSpec
    assert typing.is_typeddict(cs) or typing_extensions.is_typeddict(cs)
    keys = cs.__required_keys__ | cs.__optional_keys__
    assert keys == {"id", "start", "meta", "shutdown", "timeout", "type", "restart", "modules"}


def test_child_spec_required_keys_at_runtime():
    cs = compat.ChildSpec
    assert cs.__required_keys__ == frozenset({"id", "start"})
    assert "id" not in cs.__optional_keys__


# -- normalize -------------------------------------------------------------------------


def test_normalize_fills_every_default():
    spec = compat.normalize({"id": "a", "start": (start_fn, [1])})
    assert spec == {
        "id": "a",
        "start": (start_fn, [1]),
        "meta": None,
        "shutdown": 5.0,
        "timeout": "infinity",
        "type": "worker",
        "restart": "permanent",
        "modules": [THIS_MODULE],
    }


def test_normalize_supervisor_shutdown_default():
    spec = compat.normalize({"id": "s", "start": (start_fn, []), "type": "supervisor"})
    assert spec["shutdown"] == "infinity"
    assert spec["type"] == "supervisor"


def test_normalize_keeps_given_values():
    given = {
        "id": "a",
        "start": (start_fn, []),
        "meta": {"m": 1},
        "shutdown": "brutal_kill",
        "timeout": 2.5,
        "type": "worker",
        "restart": "temporary",
        "modules": ["x"],
    }
    assert compat.normalize(given) == given
    assert (
        compat.normalize({"id": "b", "start": (start_fn, []), "shutdown": 0.5})["shutdown"] == 0.5
    )
    assert (
        compat.normalize({"id": "b", "start": (start_fn, []), "shutdown": "infinity"})["shutdown"]
        == "infinity"
    )
    assert (
        compat.normalize({"id": "b", "start": (start_fn, []), "restart": "transient"})["restart"]
        == "transient"
    )


def test_normalize_does_not_mutate_input():
    given = {"id": "a", "start": (start_fn, (1, 2))}
    compat.normalize(given)
    assert given == {"id": "a", "start": (start_fn, (1, 2))}


def test_normalize_start_forms():
    def zero():
        return ExampleWorker.start_link()

    s = compat.normalize({"id": "z", "start": zero})
    assert s["start"] == (zero, [])
    assert s["modules"] == [THIS_MODULE]
    s = compat.normalize({"id": "t", "start": (start_fn, (1, 2))})
    assert s["start"] == (start_fn, [1, 2])
    assert isinstance(s["start"][1], list)
    s = compat.normalize({"id": "m", "start": (ExampleWorker, "start_link", [3])})
    assert s["start"] == (ExampleWorker.start_link, [3])
    assert s["modules"] == [ExampleWorker]
    s = compat.normalize({"id": "b", "start": (ExampleWorker.start_link, [])})
    assert s["modules"] == [ExampleWorker]
    assert isinstance(s["start"], tuple)


def test_normalize_class_and_class_arg():
    s = compat.normalize(ExampleWorker)
    assert s["id"] is ExampleWorker
    assert s["start"] == (ExampleWorker.start_link, [])
    assert s["modules"] == [ExampleWorker]
    assert s["type"] == "worker" and s["shutdown"] == 5.0 and s["restart"] == "permanent"
    s = compat.normalize((ExampleWorker, 3))
    assert s["start"] == (ExampleWorker.start_link, [3])
    s = compat.normalize(Sup)
    assert s["id"] is Sup


def test_normalize_parent_class_defaults():
    s = compat.normalize(Sup)
    assert s["type"] == "supervisor" and s["shutdown"] == "infinity"


def test_normalize_legacy_tuple():
    legacy = ("x", (ExampleWorker, "start_link", [1]), "transient", 2.0, "worker", [ExampleWorker])
    s = compat.normalize(legacy)
    assert s == {
        "id": "x",
        "start": (ExampleWorker.start_link, [1]),
        "restart": "transient",
        "shutdown": 2.0,
        "type": "worker",
        "modules": [ExampleWorker],
        "meta": None,
        "timeout": "infinity",
    }
    assert compat.to_modern(legacy) == s


def test_to_modern_supervisor_and_brutal_kill():
    legacy = ("s", (Sup, "start_link", []), "permanent", "infinity", "supervisor", [Sup])
    s = compat.to_modern(legacy)
    assert s["id"] == "s" and s["type"] == "supervisor" and s["shutdown"] == "infinity"
    assert s["start"][0] == Sup.start_link and list(s["start"][1]) == []
    legacy = (
        "w",
        (ExampleWorker, "start_link", []),
        "temporary",
        "brutal_kill",
        "worker",
        [ExampleWorker],
    )
    s = compat.to_modern(legacy)
    assert s["shutdown"] == "brutal_kill" and s["restart"] == "temporary"


@pytest.mark.parametrize(
    "bad, exc, word",
    [
        ({"start": (start_fn, [])}, KeyError, "id"),
        ({"id": "a"}, KeyError, "start"),
        ({"id": None, "start": (start_fn, [])}, ValueError, "id"),
        ({"id": ["unhashable"], "start": (start_fn, [])}, TypeError, "id"),
        ({"id": "a", "start": (start_fn, []), "restart": "sometimes"}, ValueError, "sometimes"),
        ({"id": "a", "start": (start_fn, []), "type": "thing"}, ValueError, "thing"),
        ({"id": "a", "start": (start_fn, []), "shutdown": -1.0}, ValueError, "shutdown"),
        ({"id": "a", "start": (start_fn, []), "shutdown": "forever"}, ValueError, "forever"),
        ({"id": "a", "start": (start_fn, []), "timeout": "never"}, ValueError, "never"),
        ({"id": "a", "start": 42}, TypeError, "start"),
        (42, TypeError, "42"),
    ],
)
def test_normalize_errors_name_bad_key_or_value(bad, exc, word):
    with pytest.raises(exc) as ei:
        compat.normalize(bad)
    assert word in str(ei.value)


def test_normalize_missing_function_any_clear_error():
    with pytest.raises((ValueError, TypeError, AttributeError, KeyError)) as ei:
        compat.normalize({"id": "a", "start": (ExampleWorker, "no_such_function", [])})
    assert "no_such_function" in str(ei.value)


# -- legacy helpers --------------------------------------------------------------------


def test_spec_worker_defaults():
    with pytest.warns(DeprecationWarning):
        t = compat.spec.worker(ExampleWorker)
    assert len(t) == 6
    id_, (mod, fn, args), restart, shutdown, type_, modules = t
    assert id_ is ExampleWorker and mod is ExampleWorker and fn == "start_link"
    assert list(args) == []
    assert (restart, shutdown, type_, modules) == ("permanent", 5.0, "worker", [ExampleWorker])


def test_spec_worker_all_params():
    with pytest.warns(DeprecationWarning):
        t = compat.spec.worker(
            ExampleWorker,
            [1, 2],
            id="w1",
            function="start",
            restart="transient",
            shutdown="brutal_kill",
            modules=["m"],
        )
    assert t[0] == "w1"
    assert t[1][0] is ExampleWorker and t[1][1] == "start" and list(t[1][2]) == [1, 2]
    assert t[2:] == ("transient", "brutal_kill", "worker", ["m"])


def test_spec_supervisor_defaults():
    with pytest.warns(DeprecationWarning):
        t = compat.spec.supervisor(Sup, [])
    assert t[0] is Sup and t[1][0] is Sup and t[1][1] == "start_link"
    assert t[2:] == ("permanent", "infinity", "supervisor", [Sup])


def test_spec_supervise():
    with pytest.warns(DeprecationWarning):
        children = [compat.spec.worker(ExampleWorker)]
    with pytest.warns(DeprecationWarning):
        r = compat.spec.supervise(children, strategy="one_for_all")
    assert r == (("one_for_all", 3, 5.0), children)
    with pytest.warns(DeprecationWarning):
        r = compat.spec.supervise(
            children, strategy="rest_for_one", max_restarts=1, max_seconds=2.0
        )
    assert r == (("rest_for_one", 1, 2.0), children)


def test_spec_supervise_strategy_keyword_only_required():
    with pytest.raises(TypeError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        compat.spec.supervise([])  # type: ignore[call-arg]


def test_spec_helpers_signatures():
    import inspect

    for fn, shutdown in ((compat.spec.worker, 5.0), (compat.spec.supervisor, "infinity")):
        p = inspect.signature(fn).parameters
        assert p["args"].default == ()
        assert p["id"].default is None and p["id"].kind is inspect.Parameter.KEYWORD_ONLY
        assert p["function"].default == "start_link"
        assert p["restart"].default == "permanent"
        assert p["shutdown"].default == shutdown
        assert p["modules"].default is None
    p = inspect.signature(compat.spec.supervise).parameters
    assert p["max_restarts"].default == 3 and p["max_seconds"].default == 5.0


def test_worker_warning_contains_modern_dict_literal():
    with pytest.warns(DeprecationWarning) as rec:
        compat.spec.worker(ExampleWorker, [1], id="w1")
    text = str(rec[0].message)
    assert "{" in text
    literal = _balanced(text, text.index("{"), "{", "}")
    compile(literal, "<warning>", "eval")  # valid Python source
    assert "'id'" in literal or '"id"' in literal
    assert "'start'" in literal or '"start"' in literal
    assert "ExampleWorker" in literal


def test_supervisor_warning_contains_modern_dict_literal():
    with pytest.warns(DeprecationWarning) as rec:
        compat.spec.supervisor(Sup)
    text = str(rec[0].message)
    literal = _balanced(text, text.index("{"), "{", "}")
    compile(literal, "<warning>", "eval")
    assert "supervisor" in literal


def test_supervise_warning_contains_supervisor_init_call():
    with pytest.warns(DeprecationWarning) as rec:
        compat.spec.supervise([], strategy="one_for_all", max_restarts=2)
    text = str(rec[0].message)
    assert "supervisor.init(" in text
    start = text.index("supervisor.init(")
    call = text[start : start + len("supervisor.init")] + _balanced(
        text, start + len("supervisor.init"), "(", ")"
    )
    compile(call, "<warning>", "eval")
    assert "one_for_all" in call


def test_legacy_worker_runs_under_supervisor():
    from parent import supervisor

    with pytest.warns(DeprecationWarning):
        children = [compat.spec.worker(ExampleWorker, ["legacy"], id="lw")]
    sup = supervisor.start_link(children)
    try:
        [(cid, pid, ctype, modules)] = supervisor.which_children(sup)
        assert (cid, ctype, modules) == ("lw", "worker", [ExampleWorker])
        assert gen_server.call(pid, "get") == "legacy"
    finally:
        supervisor.stop(sup)


# -- gen_module ------------------------------------------------------------------------


def test_gen_module_default_is_gen_server():
    assert compat.gen_module() is parent.gen_server


def test_configure_and_restore():
    class GM:
        def call(self, server, request, timeout):
            return None

    obj = GM()
    old = compat.gen_module()
    try:
        compat.configure(gen_module=obj)
        assert compat.gen_module() is obj
    finally:
        compat.configure(gen_module=old)
    assert compat.gen_module() is parent.gen_server


def test_override_context_manager_nests_and_restores():
    class GM:
        def call(self, server, request, timeout):
            return None

    a, b = GM(), GM()
    with compat.override(gen_module=a):
        assert compat.gen_module() is a
        with compat.override(gen_module=b):
            assert compat.gen_module() is b
        assert compat.gen_module() is a
    assert compat.gen_module() is parent.gen_server


def test_override_restores_on_exception():
    class GM:
        def call(self, server, request, timeout):
            return None

    with pytest.raises(RuntimeError), compat.override(gen_module=GM()):
        raise RuntimeError("x")
    assert compat.gen_module() is parent.gen_server


def test_gen_module_protocol():
    gm = compat.GenModule
    assert getattr(gm, "_is_protocol", False)
    assert "call" in dir(gm)
    assert callable(parent.gen_server.call)
    if getattr(gm, "_is_runtime_protocol", False):
        assert isinstance(parent.gen_server, gm)


def _run_with_env(tmp_path, value: str, code: str):
    (tmp_path / "acc_gm_pkg").mkdir(exist_ok=True)
    (tmp_path / "acc_gm_pkg" / "__init__.py").write_text("")
    (tmp_path / "acc_gm_pkg" / "mod.py").write_text(
        textwrap.dedent(
            """
        def call(server, request, timeout):
            return ("module", request)

        class _GM:
            def call(self, server, request, timeout):
                return ("attr", request)

        GM = _GM()
        """
        )
    )
    env = dict(os.environ)
    env["GENREGISTRY_GEN_MODULE"] = value
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=tmp_path,
    )


def test_env_var_module(tmp_path):
    out = _run_with_env(
        tmp_path,
        "acc_gm_pkg.mod",
        "import compat, acc_gm_pkg.mod as m; print(compat.gen_module() is m)",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_env_var_module_attr(tmp_path):
    out = _run_with_env(
        tmp_path,
        "acc_gm_pkg.mod:GM",
        "import compat, acc_gm_pkg.mod as m; print(compat.gen_module() is m.GM)",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_env_var_used_by_genregistry(tmp_path):
    code = textwrap.dedent(
        """
        from genregistry import GenRegistry
        from parent import GenServer, gen_server
        class W(GenServer):
            pass
        reg = GenRegistry.start_link(W)
        try:
            print(GenRegistry.count(reg))
        finally:
            gen_server.stop(reg)
        """
    )
    out = _run_with_env(tmp_path, "acc_gm_pkg.mod:GM", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('attr', ('count',))"


# -- typing (mypy --strict) ------------------------------------------------------------


TYPED_SNIPPET = textwrap.dedent(
    """
    from __future__ import annotations

    import compat
    import genregistry
    import parent
    from genregistry import GenRegistry
    from parent import GenServer, gen_server, supervisor


    class ExampleWorker(GenServer):
        def init(self, value: object = None) -> None:
            if value == "invalid":
                raise parent.Stop("invalid")
            self.value = value

        def handle_call(self, request: object, from_: parent.From) -> object:
            if request == "get":
                return self.value
            raise ValueError(request)

        @classmethod
        def get(cls, server: parent.Server) -> object:
            return gen_server.call(server, "get")


    gm: compat.GenModule = parent.gen_server
    beh: genregistry.Behaviour = GenRegistry
    spec: compat.ChildSpec = {"id": "a", "start": (ExampleWorker.start_link, [1])}
    strategy: parent.Strategy = "one_for_all"
    shutdown: parent.Shutdown = "brutal_kill"
    shutdown2: parent.Shutdown = 1.5


    def main() -> None:
        sup = supervisor.start_link([GenRegistry.child_spec(worker_module=ExampleWorker)])
        pid: parent.Pid = GenRegistry.lookup_or_start(ExampleWorker, "+1", ["+1"])
        found: parent.Pid | None = GenRegistry.lookup(ExampleWorker, "+1")
        n: int = GenRegistry.count(ExampleWorker)
        counts: dict[str, int] = supervisor.count_children(sup)
        print(pid, found, n, counts, ExampleWorker.get(pid))
        supervisor.stop(sup)
    """
)


def test_contract_snippet_type_checks_strict(tmp_path):
    f = tmp_path / "snippet.py"
    f.write_text(TYPED_SNIPPET)
    # the editable install uses an import hook that mypy cannot follow: point it at the source
    env = dict(os.environ)
    env["MYPYPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(parent.__file__)))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            str(f),
        ],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
