"""Type errors a user would make are caught by mypy (run on small user programs)."""

from __future__ import annotations

import textwrap

import pytest

mypy_api = pytest.importorskip("mypy.api")

pytestmark = pytest.mark.timeout(300)

PROGRAM = """
from typing import Any
from genregistry import GenRegistry
from parent import GenServer, Parent, From, supervisor

class Worker(GenServer):
    def handle_call(self, request: Any, from_: From) -> Any:
        return request

{body}
"""

# A dict literal checked against the union of accepted spec forms is reported as not
# matching "ChildSpec | type | tuple" rather than by key name: still caught, and the
# message names ChildSpec, which is what the user must write.
SPEC = '{"id": "w", "start": (Worker.start_link, []), %s}'
MISTAKES = {
    "unknown strategy": (
        'supervisor.start_link([Worker], strategy="one_for_none")',
        'Argument "strategy"',
    ),
    "spec without start": ('supervisor.start_link([{"id": "w"}])', 'expected "ChildSpec'),
    "misspelt spec key": (
        "supervisor.start_link([%s])" % (SPEC % '"restar": "temporary"'),
        'expected "ChildSpec',
    ),
    "unknown restart type": (
        "supervisor.start_link([%s])" % (SPEC % '"restart": "always"'),
        'expected "ChildSpec',
    ),
    "unknown shutdown string": (
        "supervisor.start_link([%s])" % (SPEC % '"shutdown": "never"'),
        'expected "ChildSpec',
    ),
    "wrong max_restarts type": (
        'supervisor.start_link([Worker], max_restarts="3")',
        'Argument "max_restarts"',
    ),
    "lookup result used as a Pid without a None check": (
        "pid = GenRegistry.lookup(Worker, 1)\npid.join()",
        "None",
    ),
    "task result used as another type": (
        "from parent import Task\nname: str = Task.await_(Task.async_(lambda: 1))",
        "Incompatible types in assignment",
    ),
    "task started with arguments its function does not take": (
        "from parent import Task\ndef add(a: int, b: int) -> int: ...\nTask.async_(add, 1, '2')",
        'Argument 1 to "async_"',
    ),
    "process.info used without a None check (the process may be dead)": (
        "from parent import process\nprint(process.info(Worker.start_link()).status)",
        "None",
    ),
    "a status that does not exist": (
        "from parent import process\ninfo = process.info(Worker.start_link())\n"
        "sleeping = info is not None and info.status == 'sleeping'",
        "Non-overlapping equality check",
    ),
    "replace_state given the new state instead of a function": (
        "import parent\nparent.sys.replace_state(Worker.start_link(), {'n': 0})",
        'Argument 2 to "replace_state"',
    ),
    "yield_ result used without checking what it is": (
        "from parent import Task\nprint(Task.yield_(Task.async_(lambda: 1)).value)",
        "has no attribute",
    ),
}


def _check(body: str) -> tuple[str, int]:
    source = PROGRAM.format(body=textwrap.dedent(body))
    stdout, stderr, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", "-c", source]
    )
    return stdout + stderr, status


def test_a_correct_program_type_checks() -> None:
    out, status = _check(
        """
        sup = supervisor.start_link(
            [
                Worker,
                (Worker, 1),
                {"id": "w", "start": (Worker.start_link, []), "restart": "temporary"},
                GenRegistry.child_spec(worker_module=Worker),
            ],
            strategy="rest_for_one",
        )
        pid = GenRegistry.lookup_or_start(Worker, "a", ["a"])
        found = GenRegistry.lookup(Worker, "a")
        if found is not None:
            found.join(0.1)
        """
    )
    assert status == 0, out


def test_task_results_are_typed() -> None:
    out, status = _check(
        """
        from parent import Ok, Task, TaskRef, TaskSupervisor
        task: TaskRef[int] = Task.async_(pow, 2, 10)
        n: int = Task.await_(Task.async_(lambda: 1)) + Task.await_(task)
        ns: list[int] = Task.await_many([Task.async_(len, "abc")])
        result = Task.yield_(TaskSupervisor.async_nolink("tasks", str, 1))
        if isinstance(result, Ok):
            text: str = result.value
        for item in Task.async_stream(range(3), str):
            if isinstance(item, Ok):
                text = item.value
        """
    )
    assert status == 0, out


def test_introspection_is_typed() -> None:
    out, status = _check(
        """
        import parent
        from parent import Client, ProcessInfo, observer, process
        pid = Worker.start_link()
        info: ProcessInfo | None = process.info(pid)
        if info is not None and info.status == "suspended":
            callback: str | None = info.current
        node: observer.Node = observer.tree()
        counts = [child.count for child in node.children if child.count is not None]
        text: str = observer.format_tree(pid)
        state = parent.sys.get_state(pid)
        parent.sys.replace_state(pid, lambda s: {**s, "n": 0})
        jobs = Client.children(pid)
        with_ids = [(child_id, p) for child_id, p, _meta in jobs]
        server: observer.Server = observer.serve(port=0)
        url: str = server.url
        server.stop()
        reason: object = parent.run([Worker])
        """
    )
    assert status == 0, out


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_user_mistake_is_a_type_error(name: str) -> None:
    body, expected = MISTAKES[name]
    out, status = _check(body)
    assert status == 1, out
    # the mistake is reported on the user's line (line 10 is where {body} starts)
    assert "<string>:1" in out and "error" in out and expected in out, out


RAY_PROGRAM = """
import genregistry
from genregistry.ray import RayRegistry, Registry

impl: genregistry.Behaviour = RayRegistry

def place_call(registry: genregistry.Behaviour, reg: Registry, recipient: str) -> int:
    registry.lookup_or_start(reg, recipient, [recipient])
    return registry.count(reg)

reg = RayRegistry.create(Worker, name="phones", shards=8)
n: int = place_call(RayRegistry, reg, "+15551234567")
"""


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ("", None),
        ('RayRegistry.call(reg, "a", "get", timeout="1")', 'Argument "timeout"'),
    ],
    ids=["correct", "wrong timeout type"],
)
def test_ray_registry_type_checks_as_a_behaviour(mistake: str, expected: str | None) -> None:
    # Ray need not be installed: pyproject's override makes mypy treat it as Any
    out, status = _check(RAY_PROGRAM + mistake)
    if expected is None:
        assert status == 0, out
    else:
        line = PROGRAM.format(body=RAY_PROGRAM + mistake).splitlines().index(mistake) + 1
        assert status == 1 and f"<string>:{line}: error" in out and expected in out, out
