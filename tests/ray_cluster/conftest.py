"""The Ray integration suite's fixtures: real local clusters, started once and stopped
with every process they started.

Without Ray installed (the default dev install) nothing here is collected. With it,
the test process connects to one cluster at a time: the session's local cluster
(`ray_cluster`), or, for the node-loss test, a `ray.cluster_utils.Cluster` of several
nodes (`node_cluster`), which replaces it; those tests run last, so the local cluster
is started once. Ray's workers import `workers` (this directory) by name: the directory
is put on ``PYTHONPATH`` before a cluster starts, and every process of the cluster
inherits it (a ``runtime_env`` with the same variable works too, but makes Ray start a
separate pool of worker processes: about six times slower to bring up shards here).
"""

from __future__ import annotations

import importlib.util
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from probes import check_no_leaks

from parent.testing import wait_until

# Without Ray (the default dev install) nothing here is collected; find_spec looks for
# it without importing it.
_spec = importlib.util.find_spec("ray")
if _spec is None or _spec.origin is None:
    collect_ignore_glob = ["*"]
else:
    import ray


HERE = Path(__file__).resolve().parent
GONE_DEADLINE = 30.0  # for every process of a stopped cluster to exit
READY_DEADLINE = 90.0  # for driver processes to connect (a few seconds each, 2 cores)


def _ours(item: pytest.Item | None) -> bool:
    return item is not None and HERE in Path(item.path).parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep this directory's tests together, those on a multi-node cluster last (each
    replaces the local cluster, which is then started once)."""
    ours = [item for item in items if _ours(item)]
    if ours:
        at = items.index(ours[0])
        rest = [item for item in items if not _ours(item)]
        ours.sort(key=lambda item: "node_cluster" in getattr(item, "fixturenames", ()))
        items[:] = rest[:at] + ours + rest[at:]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last of this directory's tests, stop the cluster (not at the session's
    end: the rest of a whole-suite run does not share the machine with it)."""
    if _CLUSTERS and not _ours(nextitem):
        _CLUSTERS[0].stop()
        assert not _descendants(), f"processes left running: {sorted(_descendants())}"


# -- processes -------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of ``pid``, or None if it has gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _descendants() -> set[tuple[int, int]]:
    """(pid, start time) of every live descendant of this process."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] != "Z":
                children.setdefault(stat[0], []).append((int(entry), stat[2]))
    out: set[tuple[int, int]] = set()
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child[0])
    return out


def _alive(procs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    left = set()
    for pid, start in procs:
        stat = _stat(pid)
        if stat is not None and stat[1] != "Z" and stat[2] == start:
            left.add((pid, start))
    return left


def _session_processes(sessions: list[str]) -> list[str]:
    """Command lines of live processes started for one of these Ray sessions (raylets,
    GCS servers, agents name their session on their command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        stat = _stat(int(entry))
        if stat is not None and stat[1] != "Z" and any(s in cmdline for s in sessions):
            found.append(f"{entry}: {cmdline[:120]}")
    return found


# -- clusters --------------------------------------------------------------------------


class Clusters:
    """The one cluster this process is connected to, started on demand. While one
    runs, this directory is on ``PYTHONPATH`` (the cluster's processes inherit it)."""

    def __init__(self) -> None:
        self.kind: str | None = None
        self.cluster: Any = None
        self.sessions: list[str] = []
        self._env: dict[str, str | None] = {}

    def local(self) -> str:
        """Connect to the local cluster (started if needed); its GCS address."""
        if self.kind != "local":
            self.stop()
            self._set_env()
            ray.init(address="local", num_cpus=2, include_dashboard=False)
            self.kind = "local"
            self.sessions.append(ray._private.worker.global_worker.node.session_name)
        return str(ray.get_runtime_context().gcs_address)

    def nodes(self, workers: int) -> Any:
        """Connect to a new `Cluster`: a head and ``workers`` worker nodes, 1 CPU each."""
        from ray.cluster_utils import Cluster

        self.stop()
        self._set_env()
        cluster = Cluster(
            initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
        )
        self.cluster, self.kind = cluster, "nodes"
        self.sessions.append(cluster.head_node.session_name)
        for _ in range(workers):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        cluster.connect()
        return cluster

    def stop(self) -> None:
        """Disconnect and stop the cluster; every process it started has exited."""
        if self.kind is None:
            return
        started = _descendants()  # the cluster's processes (and any a test left)
        try:
            ray.shutdown()
            if self.cluster is not None:
                self.cluster.shutdown()
        finally:
            self.kind, self.cluster = None, None
            self._restore_env()
        assert wait_until(lambda: not _alive(started), GONE_DEADLINE), (
            f"processes left running after the cluster stopped: {sorted(_alive(started))}"
        )
        left = _session_processes(self.sessions[-1:])
        assert not left, f"Ray processes (raylets, GCS, agents) left running: {left}"

    def _set_env(self) -> None:
        self._env = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
        path = os.pathsep.join(filter(None, [str(HERE), self._env["PYTHONPATH"]]))
        os.environ.update(PYTHONPATH=path, RAY_USAGE_STATS_ENABLED="0")

    def _restore_env(self) -> None:
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._env = {}


_CLUSTERS: list[Clusters] = []  # the session's, once made


@pytest.fixture(scope="session")
def clusters() -> Iterator[Clusters]:
    made = Clusters()
    _CLUSTERS.append(made)
    try:
        yield made
    finally:
        _CLUSTERS.clear()
        made.stop()
        assert not _session_processes(made.sessions)


@pytest.fixture
def ray_cluster(clusters: Clusters) -> str:
    """The session's local cluster (2 CPUs), connected; its GCS address."""
    return clusters.local()


@pytest.fixture
def node_cluster(clusters: Clusters) -> Iterator[Any]:
    """A `ray.cluster_utils.Cluster` of three 1-CPU nodes on this machine (a head and
    two worker nodes), connected; stopped after the test."""
    cluster = clusters.nodes(workers=2)
    yield cluster
    clusters.stop()


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """tests/conftest.py's check, with the threads Ray's driver starts when it connects
    accepted: the baseline is taken once the test's cluster is up."""
    request.getfixturevalue(
        "node_cluster" if "node_cluster" in request.fixturenames else "ray_cluster"
    )
    baseline = set(threading.enumerate())
    yield
    check_no_leaks(baseline)


# -- names, ledgers, drivers -----------------------------------------------------------


def _named_in(namespace: str) -> list[str]:
    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == namespace
    )


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Ray namespace of the test's own; nothing named may be left in it at the end
    (every registry shut down, its shards gone)."""
    ns = f"t-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
    yield ns
    wait_until(lambda: not _named_in(ns), 10.0)  # a killed actor's name goes soon after
    left = _named_in(ns)
    for name in left:
        ray.kill(ray.get_actor(name, namespace=ns))
    assert not left, f"actors left in namespace {ns}: {left}"


@pytest.fixture
def ledger(namespace: str) -> Iterator[tuple[Any, tuple[str, str]]]:
    """A `workers.Ledger` actor and its (name, namespace), killed after the test."""
    import workers

    ref = ("ledger", namespace)
    handle = workers.Ledger.options(name=ref[0], namespace=ref[1]).remote()
    yield handle, ref
    ray.kill(handle)
    assert wait_until(lambda: "ledger" not in _named_in(namespace), 10.0)


@pytest.fixture
def make_registry(namespace: str) -> Iterator[Callable[..., Any]]:
    """``make_registry(shards=2, **options)``: a `RayRegistry` of `workers.Counter` in
    the test's namespace, shut down after the test."""
    import workers

    from genregistry.ray import RayRegistry

    made: list[Any] = []

    def make(shards: int = 2, **options: Any) -> Any:
        reg = RayRegistry.create(
            workers.Counter, name=f"r{len(made)}", namespace=namespace, shards=shards, **options
        )
        made.append(reg)
        return reg

    yield make
    for reg in made:
        reg.shutdown()


class Driver:
    """A `drivers.py` process connected to the cluster at ``address``."""

    def __init__(self, address: str) -> None:
        self.stderr: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "drivers.py"), address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self._buffer = b""

    def send(self, do: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"do": do, "args": args}) + "\n")
        self.proc.stdin.flush()

    def answer(self, deadline: float) -> Any:
        """The next answer line (parsed), waiting until ``deadline`` (monotonic)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                line, sep, rest = self._buffer.partition(b"\n")
                if sep:
                    self._buffer = rest
                    if line.startswith(b"@@ "):
                        return json.loads(line[3:])
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError(f"no answer from a driver in time:\n{self.log()}")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"a driver exited:\n{self.log()}")
                self._buffer += chunk

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-4000:]

    def close(self, deadline: float) -> tuple[int | None, str]:
        """Close its stdin (it leaves) and wait for it until ``deadline``, killed if it
        has not left by then: its exit code (``None`` if killed) and its log."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            code: int | None = self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.proc.stdout.close()
        log = self.log()
        self.stderr.close()
        return code, log


@pytest.fixture
def drivers(ray_cluster: str) -> Iterator[Callable[[int], list[Driver]]]:
    """``drivers(n)``: n driver processes started at once, returned once all are
    connected; each must leave cleanly when the test ends."""
    made: list[Driver] = []

    def start(n: int) -> list[Driver]:
        group = [Driver(ray_cluster) for _ in range(n)]
        made.extend(group)
        deadline = time.monotonic() + READY_DEADLINE
        for d in group:
            assert d.answer(deadline) == "READY"
        return group

    yield start
    deadline = time.monotonic() + 30.0
    closed = [d.close(deadline) for d in made]
    bad = [f"exit {code}:\n{log}" for code, log in closed if code != 0]
    assert not bad, f"drivers did not leave cleanly: {bad}"
