"""parent.Client: a Parent's children from outside its process."""

from __future__ import annotations

from typing import Any

import pytest
from probes import ProbeHandle

import parent
from parent import (
    Client,
    GenServer,
    NoProcess,
    NotFound,
    Parent,
    ProcessError,
    gen_server,
    process,
    supervisor,
)
from parent.testing import wait_until


class Worker(GenServer):
    def handle_call(self, request: Any, from_: Any) -> Any:
        return request


class Jobs(Parent):
    """Records the children that terminate, to show it owns what Client started."""

    def init(self) -> None:
        self.ended: list[tuple[Any, Any]] = []

    def handle_call(self, request: Any, from_: Any) -> Any:
        return list(self.ended)

    def handle_child_terminated(self, id: Any, meta: Any, pid: parent.Pid, reason: Any) -> None:
        self.ended.append((id, reason))


def _spec(id: Any, meta: Any = None) -> dict[str, Any]:
    return {"id": id, "start": (Worker.start_link, []), "meta": meta}


def test_client_starts_queries_and_shuts_down_children_of_a_parent() -> None:
    jobs = Jobs.start_link(name="jobs")
    a = Client.start_child(jobs, _spec("a", {"n": 1}))
    b = Client.start_child("jobs", _spec("b"))
    assert Client.children(jobs) == [("a", a, {"n": 1}), ("b", b, None)]
    assert Client.child_pid(jobs, "a") is a
    assert Client.child_pid(jobs, "missing") is None
    assert Client.child_meta(jobs, "a") == {"n": 1}
    info = process.info(a)
    assert info is not None and info.parent is jobs  # the parent owns it
    Client.shutdown_child(jobs, "a")
    assert not a.is_alive()
    assert Client.children(jobs) == [("b", b, None)]
    Client.shutdown_all(jobs)
    assert not b.is_alive() and Client.children(jobs) == []
    assert gen_server.call(jobs, "ended") == []  # shut down by request: no callback
    gen_server.stop(jobs)


def test_a_child_started_by_client_reports_to_its_parent(probes: Any) -> None:
    jobs = Jobs.start_link()
    pid = Client.start_child(jobs, _spec("w"))
    process.exit(pid, "boom")
    assert wait_until(lambda: gen_server.call(jobs, "ended") == [("w", "boom")])
    # from another process too, not only from a plain thread
    probe: ProbeHandle = probes()
    assert probe.run(lambda: Client.children(jobs)) == []
    gen_server.stop(jobs)


def test_client_raises_the_parents_errors_here() -> None:
    jobs = Jobs.start_link()
    Client.start_child(jobs, _spec("a"))
    with pytest.raises(ValueError, match="'a' is already running"):
        Client.start_child(jobs, _spec("a"))
    with pytest.raises(NotFound, match="'nope'"):
        Client.child_meta(jobs, "nope")
    with pytest.raises(NotFound, match="'nope'"):
        Client.shutdown_child(jobs, "nope")
    with pytest.raises(KeyError, match="missing the required key 'id'"):
        Client.start_child(jobs, {"start": "not a spec"})
    assert [id for id, _, _ in Client.children(jobs)] == ["a"]  # nothing was harmed
    gen_server.stop(jobs)
    with pytest.raises(NoProcess):
        Client.children(jobs)


def test_client_refuses_what_is_not_a_parent_and_changes_to_a_supervisor() -> None:
    worker = Worker.start_link()
    with pytest.raises(ProcessError, match="is not a Parent"):
        Client.children(worker)
    gen_server.stop(worker)
    sup = supervisor.start_link([_spec("s")])
    (pid,) = [p for _, p, _, _ in supervisor.which_children(sup)]
    assert [(i, p) for i, p, _ in Client.children(sup)] == [("s", pid)]  # queries work
    with pytest.raises(ProcessError, match=r"change its children with parent\.supervisor"):
        Client.start_child(sup, _spec("t"))
    with pytest.raises(ProcessError, match=r"parent\.supervisor"):
        Client.shutdown_all(sup)
    assert pid is not None and pid.is_alive()
    supervisor.stop(sup)
