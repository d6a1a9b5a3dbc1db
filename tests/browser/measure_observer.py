"""What observing costs: the figures quoted in docs/guides/observing.md.

For trees of 100 and 10,000 processes (waiting GenServers under dynamic supervisors,
100 per supervisor, so that the page draws every one) and a registry of 100,000
hibernated workers, it measures, best of several runs:

* ``tree()``, ``format_tree()`` and the body of ``/api/tree`` (``tree().to_dict()``,
  encoded) in this process;
* ``GET /api/tree`` over loopback (what the page fetches every second) and its size;
* with Chromium on PATH and Playwright installed: one refresh in the page (fetch,
  parse, rebuild the table and lay it out), timed inside the page;
* what a page left open does to the observed program, with 10,000 processes: the CPU
  time it takes (a share of one core, over 10 s), and the latency of
  ``gen_server.call`` round trips made meanwhile (median, 99th percentile, worst).

Run it with ``python tests/browser/measure_observer.py`` (about a minute).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from genregistry import GenRegistry
from parent import GenServer, dynamic_supervisor, gen_server, observer, supervisor
from parent._observer_page import _tree_json


class Idle(GenServer):
    def handle_call(self, request: Any, from_: Any) -> Any:
        return request


def best(fn: Callable[[], object], runs: int = 7) -> float:
    """The fastest of ``runs`` calls of ``fn``, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


@contextmanager
def processes(n: int) -> Iterator[None]:
    """``n`` waiting GenServers, 100 per dynamic supervisor, under one supervisor."""
    groups = max(1, n // 100)
    top = supervisor.start_link(
        [
            {"id": g, "start": (dynamic_supervisor.start_link, []), "type": "supervisor"}
            for g in range(groups)
        ]
    )
    try:
        for _, group, _, _ in supervisor.which_children(top):
            assert group is not None
            for _ in range(n // groups):
                dynamic_supervisor.start_child(group, Idle)
        yield
    finally:
        supervisor.stop(top)


@contextmanager
def registry(n: int) -> Iterator[None]:
    """A registry of ``n`` hibernated workers."""
    top = supervisor.start_link(
        [GenRegistry.child_spec(worker_module=Idle, name="many", hibernate_after=0.0)]
    )
    try:
        for i in range(n):
            GenRegistry.lookup_or_start("many", i, [])
        yield
    finally:
        supervisor.stop(top)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url + "api/tree") as answer:
        body: bytes = answer.read()
        return body


class Browser:
    """A headless Chromium on the observer page, if one can be had."""

    def __init__(self) -> None:
        self.page: Any = None
        executable = shutil.which("chromium")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            return
        if executable is None:
            return
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        self.page = self._browser.new_page(viewport={"width": 1200, "height": 800})

    def refresh_ms(self, url: str, runs: int = 5) -> tuple[float, float]:
        """(fetch + parse, rebuild + layout) of one refresh, best of ``runs``, in ms."""
        self.page.goto(url)
        self.page.locator("#rows tr").first.wait_for()
        self.page.locator("#pause").click()  # no timer refresh in between
        results = []
        for _ in range(runs):
            results.append(
                self.page.evaluate(
                    """async () => {
                        const t0 = performance.now();
                        const doc = await (await fetch("api/tree")).json();
                        const t1 = performance.now();
                        draw(doc);
                        document.body.offsetHeight;  // lay it out
                        return [t1 - t0, performance.now() - t1];
                    }"""
                )
            )
        return min(r[0] for r in results), min(r[1] for r in results)

    def poll(self, url: str) -> None:
        self.page.goto(url)  # refreshes every second from now on

    def close(self) -> None:
        if self.page is not None:
            self._browser.close()
            self._pw.stop()


def calls(seconds: float) -> list[float]:
    """Round trips of ``gen_server.call`` to an idle server for ``seconds``, one after
    another from this thread: each one's time, in milliseconds."""
    pid = Idle.start()
    try:
        times = []
        end = time.perf_counter() + seconds
        while (start := time.perf_counter()) < end:
            gen_server.call(pid, None)
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        gen_server.stop(pid)


def cpu_share(seconds: float) -> float:
    """The CPU time this program used over ``seconds`` of idling, as a share of one core."""
    start_cpu, start = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return (time.process_time() - start_cpu) / (time.perf_counter() - start)


def quantiles(times: list[float]) -> str:
    cuts = statistics.quantiles(times, n=100)
    return f"median {cuts[49]:.3f} ms, p99 {cuts[98]:.2f} ms, max {max(times):.1f} ms"


def measure(what: str, scene: Callable[[], Any], browser: Browser) -> None:
    with scene(), observer.serve() as server:
        body = fetch(server.url)
        doc = json.loads(body)
        line = [
            f"{what:>36}:",
            f"tree() {best(observer.tree):7.1f} ms",
            f"format_tree() {best(observer.format_tree):7.1f} ms",
            f"/api/tree's body {best(_tree_json):7.1f} ms",
            f"GET /api/tree {best(lambda: fetch(server.url)):7.1f} ms",
            f"{len(body) / 1024:8.1f} KiB ({doc['processes']} processes)",
        ]
        if browser.page is not None:
            fetched, drawn = browser.refresh_ms(server.url)
            rows = browser.page.locator("#rows tr").count()
            line.append(f"page: fetch+parse {fetched:6.1f} ms, draw {drawn:6.1f} ms ({rows} rows)")
        print("  ".join(line), flush=True)


def main() -> None:
    browser = Browser()
    if browser.page is None:
        print("(no chromium or playwright: the page's own figures are left out)")
    try:
        measure("100 processes", lambda: processes(100), browser)
        measure("10,000 processes", lambda: processes(10_000), browser)
        measure("registry of 100,000 hibernated workers", lambda: registry(100_000), browser)
        if browser.page is not None:
            with processes(10_000), observer.serve() as server:
                browser.page.goto("about:blank")
                idle, quiet = cpu_share(10.0), calls(5.0)
                browser.poll(server.url)
                watched_cpu, watched = cpu_share(10.0), calls(5.0)
                browser.page.goto("about:blank")
            print(
                f"with 10,000 processes, CPU: {idle:.1%} of a core idle, "
                f"{watched_cpu:.1%} with the page open"
            )
            print(f"  calls, unobserved:    {quantiles(quiet)}")
            print(f"  calls, page open:     {quantiles(watched)}")
    finally:
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
