"""parent.observer.serve: the live page and /api/tree, over real HTTP on 127.0.0.1.

What is checked: the page and the JSON serve a real supervision tree (a registry as a
count and a bounded sample); a process named ``<script>`` is escaped in the HTML the
server renders and raw only inside JSON strings; the security headers; 403 for a
foreign Host, 404, 405, 500 (and the server lives on); ``stop`` joins every thread the
server made, even with a client that never sent its request; bad arguments fail before
anything starts; and the guide's example prints what the guide shows.
"""

from __future__ import annotations

import gc
import http.client
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from probes import wait_for

import parent
from genregistry import GenRegistry
from parent import Agent, From, GenServer, gen_server, observer, process, supervisor

ROOT = Path(__file__).resolve().parent.parent


class Worker(GenServer):
    def init(self, *args: Any) -> None:
        self.args = args

    def handle_call(self, request: Any, from_: From) -> Any:
        if isinstance(request, threading.Event):
            request.wait(10.0)  # busy until the test lets it go
        return request

    def handle_cast(self, request: Any) -> None:
        pass


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str, path: str = "/", method: str = "GET", headers: dict[str, str] | None = None
) -> Answer:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10.0)
    try:
        conn.request(method, path, headers=headers or {})
        answer = conn.getresponse()
        return Answer(answer.status, answer.headers, answer.read())
    finally:
        conn.close()


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("parent-observer")]


@pytest.fixture
def server() -> Iterator[observer.Server]:
    with observer.serve() as s:
        yield s
    assert not server_threads()


@pytest.fixture
def shop() -> Iterator[parent.Pid]:
    sup = supervisor.start_link(
        [
            GenRegistry.child_spec(worker_module=Worker, name="carts"),
            {"id": "cache", "start": (Agent.start_link, [lambda: 0])},
            {"id": "jobs", "start": (Worker.start_link, ["jobs"])},
        ],
        name="shop",
    )
    yield sup
    supervisor.stop(sup)


def find(node: dict[str, Any], label: str) -> dict[str, Any]:
    """The node labelled ``label`` in the subtree of ``node`` (samples included)."""
    if node["label"] == label:
        return node
    for child in node["children"] + node["sample"]:
        try:
            return find(child, label)
        except LookupError:
            pass
    raise LookupError(f"no node labelled {label!r}")


# -- what it serves -------------------------------------------------------------------------


def test_the_page_serves_html_with_its_script_and_safety_headers(
    server: observer.Server, shop: parent.Pid
) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}/"
    answer = request(server.url)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp and "connect-src 'self'" in csp
    page = answer.text
    assert page.startswith("<!doctype html>")
    assert 'fetch("api/tree"' in page  # the page refreshes itself from the JSON
    # the text snapshot, for a browser without JavaScript
    assert "shop (Supervisor)" in page and "cache (Agent)" in page


def test_api_tree_is_the_live_supervision_tree(server: observer.Server, shop: parent.Pid) -> None:
    answer = request(server.url, "/api/tree")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    doc = answer.json()
    assert set(doc) == {"tree", "generated_at", "processes"}
    assert doc["processes"] == len(process.list())
    root = doc["tree"]
    assert root["pid"] is None and root["number"] is None
    (top,) = root["children"]
    assert top["pid"] == repr(shop) and repr(shop).startswith(f"<Pid {top['number']} ")
    assert top["behaviour"] == "Supervisor" and top["names"] == ["shop"]
    assert [c["child_id"] for c in top["children"]] == ["carts", "cache", "jobs"]
    jobs = find(top, "jobs (Worker)")
    assert jobs["status"] in ("waiting", "running") and jobs["mailbox"] == 0
    assert jobs["restarts"] == 0 and jobs["count"] is None and jobs["sample"] == []


def test_the_tree_follows_a_child_that_starts_and_one_that_is_restarted(
    server: observer.Server, shop: parent.Pid
) -> None:
    def labels() -> list[str]:
        (top,) = request(server.url, "/api/tree").json()["tree"]["children"]
        return [c["label"] for c in top["children"]]

    supervisor.start_child(shop, {"id": "late", "start": (Worker.start_link, [])})
    assert labels() == ["carts (Registry)", "cache (Agent)", "jobs (Worker)", "late (Worker)"]
    jobs = {i: pid for i, pid, _, _ in supervisor.which_children(shop)}["jobs"]
    assert jobs is not None
    process.exit(jobs, "kill")

    def restarted() -> bool:
        try:
            node = find(request(server.url, "/api/tree").json()["tree"], "jobs (Worker)")
        except LookupError:  # between its death and its restart
            return False
        return bool(node["restarts"] == 1 and node["pid"] != repr(jobs))

    assert wait_for(restarted, timeout=5.0)
    supervisor.terminate_child(shop, "late")
    supervisor.delete_child(shop, "late")
    assert "late (Worker)" not in labels()


def test_a_registry_shows_its_count_and_a_bounded_sample(server: observer.Server) -> None:
    sup = supervisor.start_link([GenRegistry.child_spec(worker_module=Worker, name="big")])
    try:
        for n in range(400):
            GenRegistry.lookup_or_start("big", n, [n])
        answer = request(server.url, "/api/tree")
        registry = find(answer.json()["tree"], "big (Registry)")
        assert registry["count"] == 400
        assert 1 <= len(registry["sample"]) <= 10 and registry["children"] == []
        assert all(w["behaviour"] == "Worker" for w in registry["sample"])
        assert len(answer.body) < 10_000  # not 400 workers' worth of JSON
        assert "395 more workers" in request(server.url).text  # the text snapshot
    finally:
        supervisor.stop(sup)


def test_a_busy_and_a_suspended_server_do_not_hold_the_page_up(server: observer.Server) -> None:
    busy, paused = Worker.start(name="busy"), Worker.start(name="paused")
    release = threading.Event()
    caller = threading.Thread(target=gen_server.call, args=(busy, release, 10.0))
    caller.start()
    try:
        parent.sys.suspend(paused)
        gen_server.cast(paused, "kept")
        gen_server.cast(busy, "queued")

        def both_seen() -> bool:
            doc = request(server.url, "/api/tree").json()["tree"]
            b, p = find(doc, "busy (Worker)"), find(doc, "paused (Worker)")
            return bool(
                b["status"] == "running"
                and b["current"] == "handle_call"
                and b["mailbox"] == 1
                and p["status"] == "suspended"
                and p["mailbox"] == 1
            )

        assert wait_for(both_seen, timeout=5.0)
    finally:
        release.set()
        caller.join()
        parent.sys.resume(paused)
        gen_server.stop(busy)
        gen_server.stop(paused)


def test_the_servers_threads_are_not_processes(server: observer.Server) -> None:
    before = process.list()
    assert request(server.url, "/api/tree").json()["processes"] == len(before) == 0
    assert server_threads() and process.list() == []


# -- escaping and safety --------------------------------------------------------------------

EVIL = "<script>alert(1)</script>"
EVIL_IMG = '<img src=x onerror="alert(2)">'
EVIL_PRE = "</pre><script>alert(3)</script>"


def test_names_are_escaped_in_html_and_raw_only_inside_json_strings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", ["/srv/<b>app.py"])  # the page's title
    with observer.serve() as server:
        sup = supervisor.start_link(
            [{"id": EVIL_IMG, "start": (Agent.start_link, [lambda: 0, EVIL_PRE])}], name=EVIL
        )
        try:
            page = request(server.url).text
            for raw in (EVIL, EVIL_IMG, EVIL_PRE, "<b>app"):
                assert raw not in page
            assert "&lt;script&gt;alert(1)&lt;/script&gt; (Supervisor)" in page
            assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt; (Agent)" in page
            assert "<title>observer: &lt;b&gt;app.py (pid " in page

            answer = request(server.url, "/api/tree")
            assert answer.headers["Content-Type"] == "application/json"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            (top,) = answer.json()["tree"]["children"]
            assert top["names"] == [EVIL] and top["label"] == f"{EVIL} (Supervisor)"
            (agent,) = top["children"]
            assert agent["child_id"] == EVIL_IMG and agent["names"] == [EVIL_PRE]
            # in the body, only inside JSON strings: none is left once they are cut out
            assert EVIL in answer.text
            assert "<" not in re.sub(r'"(?:[^"\\]|\\.)*"', '""', answer.text)
        finally:
            supervisor.stop(sup)


def test_a_foreign_host_header_is_refused_while_bound_to_loopback(
    server: observer.Server,
) -> None:
    for host in ("evil.example", "evil.example:80", "10.0.0.1"):
        answer = request(server.url, "/api/tree", headers={"Host": host})
        assert answer.status == 403, host
        assert b"loopback" in answer.body
    for host in (f"127.0.0.1:{server.port}", "localhost:8080", "[::1]:9", "app.localhost"):
        assert request(server.url, "/api/tree", headers={"Host": host}).status == 200, host


def test_only_get_and_head_of_two_paths(server: observer.Server) -> None:
    for path in ("/nope", "/api", "/api/tree/", "/index.html", "/favicon.ico"):
        answer = request(server.url, path)
        assert answer.status == 404, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert request(server.url, "/api/tree?pretty=1").status == 200  # a query is ignored
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        for path in ("/", "/api/tree"):
            answer = request(server.url, path, method)
            assert answer.status == 405, (method, path)
            assert answer.headers["Allow"] == "GET, HEAD"
    assert request(server.url, "/", "BREW").status == 501  # not a method HTTP knows
    head = request(server.url, "/", "HEAD")
    assert head.status == 200 and head.body == b""
    assert int(head.headers["Content-Length"]) > 1000
    assert request(server.url, "/nope", "HEAD").status == 404


def test_a_failure_building_the_tree_is_a_500_and_the_server_goes_on(
    server: observer.Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(root: Any = None) -> observer.Node:
        raise RuntimeError("the runtime's tables are on fire")

    monkeypatch.setattr(observer, "tree", broken)
    answer = request(server.url, "/api/tree")
    assert answer.status == 500
    assert answer.text == "500 the observer could not build the tree: RuntimeError\n"
    page = request(server.url)  # the page itself still loads, and says so
    assert page.status == 200 and "the tree could not be built: RuntimeError" in page.text
    assert any("building the tree failed" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    assert request(server.url, "/api/tree").status == 200


def test_concurrent_readers_while_the_tree_changes(server: observer.Server) -> None:
    sup = parent.dynamic_supervisor.start_link()
    failures: list[Any] = []

    def read(n: int) -> None:
        for _ in range(n):
            answer = request(server.url, "/api/tree")
            if answer.status != 200:
                failures.append(answer.text)
            else:
                answer.json()  # complete, valid JSON

    readers = [threading.Thread(target=read, args=(40,)) for _ in range(4)]
    for r in readers:
        r.start()
    try:
        for n in range(100):
            pid = parent.dynamic_supervisor.start_child(
                sup, {"id": n, "start": (Worker.start_link, [])}
            )
            if n % 2:
                parent.dynamic_supervisor.terminate_child(sup, pid)
    finally:
        for r in readers:
            r.join()
        parent.dynamic_supervisor.stop(sup)
    assert failures == []
    assert gc.isenabled()  # the last of the concurrent requests enabled it again


# -- starting and stopping ------------------------------------------------------------------


def test_stop_joins_every_thread_even_with_an_idle_client() -> None:
    server = observer.serve()
    assert server.running and len(server_threads()) == 1
    idle = socket.create_connection(("127.0.0.1", server.port))  # never sends a request
    try:
        assert request(server.url).status == 200
        assert wait_for(lambda: len(server_threads()) == 2)  # the idle client's thread
        server.stop()
        assert server_threads() == [] and not server.running
        assert idle.recv(1) == b""  # its connection was closed
    finally:
        idle.close()
    server.stop()  # harmless
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2.0).close()
    assert repr(server) == f"<observer.Server {server.url} stopped>"


def test_a_context_manager_stops_it_and_stop_from_several_threads() -> None:
    with observer.serve(port=0) as server:
        assert request(server.url).status == 200
    assert not server.running and server_threads() == []
    other = observer.serve()
    stoppers = [threading.Thread(target=other.stop) for _ in range(3)]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join()
    assert server_threads() == []


def test_a_given_port_and_ipv6_loopback() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with observer.serve("127.0.0.1", port) as server:
        assert server.port == port and server.url == f"http://127.0.0.1:{port}/"
        with pytest.raises(OSError):  # taken: nothing is started for the second one
            observer.serve(port=port)
        assert len(server_threads()) == 1
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with observer.serve("::1") as server:
        assert server.url == f"http://[::1]:{server.port}/"
        assert request(server.url, "/api/tree").status == 200


def test_a_server_whose_thread_cannot_start_closes_its_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from parent import _observer_http

    ports: list[int] = []

    def cannot_start(self: Any, httpd: Any, host: str) -> None:
        ports.append(httpd.server_address[1])
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_observer_http.Server, "__init__", cannot_start)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        observer.serve()
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", ports[0]))
    assert server_threads() == []


@pytest.mark.parametrize(
    ("host", "port", "error", "shown"),
    [
        (1, 0, TypeError, "1"),
        (b"127.0.0.1", 0, TypeError, "b'127.0.0.1'"),
        (None, 0, TypeError, "None"),
        ("", 0, ValueError, "0.0.0.0"),
        ("127.0.0.1", "8080", TypeError, "'8080'"),
        ("127.0.0.1", 80.0, TypeError, "80.0"),
        ("127.0.0.1", True, TypeError, "True"),
        ("127.0.0.1", -1, ValueError, "-1"),
        ("127.0.0.1", 65536, ValueError, "65536"),
    ],
)
def test_bad_arguments_fail_before_anything_starts(
    host: Any, port: Any, error: type[Exception], shown: str
) -> None:
    with pytest.raises(error, match=r"observer\.serve") as raised:
        observer.serve(host, port)
    assert shown in str(raised.value)
    assert server_threads() == []


# -- the guide's example ----------------------------------------------------------------------

# the example's whole output, which docs/guides/observing.md shows
GUIDE_LINES = [
    "processes: 307",
    "info.names=('orders',) info.status='waiting' info.mailbox=0 info.handled=0 info.current=None",
    "behaviour: True parent: True",
    "linked to its parent: True traps exits: False",
    "a cart: hibernating thread: None",
    "state: {'pending': {1: ['tea', 'cake']}, 'next_id': 2}",
    "while suspended: suspended mailbox 1",
    "after resume: {'pending': {}, 'next_id': 100}",
    "shop (Supervisor)  <Pid 1 Supervisor>  waiting",
    "├─ carts (Registry)  <Pid 2 Registry>  waiting  handled 600  300 workers",
    "│  ├─ shopper-0 (Cart)  <Pid 6 Cart>  hibernating  handled 1",
    "│  ├─ shopper-1 (Cart)  <Pid 7 Cart>  hibernating  handled 1",
    "│  ├─ shopper-2 (Cart)  <Pid 8 Cart>  hibernating  handled 1",
    "│  ├─ shopper-3 (Cart)  <Pid 9 Cart>  hibernating  handled 1",
    "│  ├─ shopper-4 (Cart)  <Pid 10 Cart>  hibernating  handled 1",
    "│  └─ … 295 more workers",
    "├─ prices (Agent)  <Pid 3 Agent>  waiting",
    "├─ orders (Orders)  <Pid 4 Orders>  waiting  handled 6",
    "└─ mailers (DynamicSupervisor)  <Pid 5 DynamicSupervisor>  waiting  handled 2",
    "   ├─ Mailer  <Pid 306 Mailer>  waiting",
    "   └─ Mailer  <Pid 307 Mailer>  waiting",
    "carts (Registry) count 300 sample 5",
    "{",
    '  "pid": "<Pid 6 Cart>",',
    '  "number": 6,',
    '  "label": "shopper-0 (Cart)",',
    '  "behaviour": "Cart",',
    '  "names": [],',
    '  "status": "hibernating",',
    '  "mailbox": 0,',
    '  "handled": 1,',
    '  "current": null,',
    '  "restarts": 0,',
    '  "child_id": "shopper-0",',
    '  "count": null,',
    '  "sample": [],',
    '  "children": []',
    "}",
    "observer at http://127.0.0.1:PORT/",
    "307 processes; shop (Supervisor) has 4",
    "stopped: True",
]


def test_the_guide_example_prints_what_the_guide_shows() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "guide_observer.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60.0,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == GUIDE_LINES


# -- how the JSON is built --------------------------------------------------------------------


def test_the_tree_is_encoded_node_by_node_as_json_dumps_would() -> None:
    from parent._observer_page import _encode_node

    leaf = {"pid": "<Pid 3 W>", "label": EVIL, "sample": [], "children": []}
    registry = {"pid": "<Pid 2 R>", "count": 7, "sample": [leaf, leaf], "children": []}
    root = {"pid": None, "label": "runtime", "sample": [], "children": [registry, leaf]}
    out: list[str] = []
    _encode_node(root, out)
    assert "".join(out) == json.dumps(root, separators=(",", ":"))


def test_the_collector_is_paused_while_building_and_left_as_it_was(
    server: observer.Server,
) -> None:
    assert gc.isenabled()
    assert request(server.url, "/api/tree").status == 200
    assert gc.isenabled()
    gc.disable()  # the program's choice: a request must not undo it
    try:
        assert request(server.url, "/api/tree").status == 200
        assert request(server.url).status == 200
        assert not gc.isenabled()
    finally:
        gc.enable()
