"""The observer's page in a real headless Chromium (Debian's ``chromium``), driven by
Playwright: it shows the live tree and follows it without a reload (a child that
starts, one that dies, one restarted, a busy and a suspended server), renders hostile
names as text (no dialog ever opens), runs its own script under its
Content-Security-Policy without a violation, says so when the server goes away, and
draws a big tree within its row budget.

It takes the docs' screenshot on the way: to ``docs/images/observer.png`` when
``OBSERVER_SCREENSHOT=1`` is set (``OBSERVER_SCREENSHOT=1 pytest tests/browser``),
else to a temporary file, so that a test run does not rewrite a tracked file.

Without ``chromium`` on PATH or without Playwright, each test is skipped with a loud
reason (and a warning, which pytest prints in its summary). Playwright's own browser
download is never used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import threading
import warnings
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from probes import wait_for

import parent.sys
from parent import (
    Agent,
    From,
    GenServer,
    Pid,
    dynamic_supervisor,
    gen_server,
    observer,
    process,
    supervisor,
)
from parent._observer_page import MAX_CHILDREN_SHOWN, MAX_ROWS_SHOWN

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "images" / "observer.png"
DEADLINE_MS = 5_000  # each expectation on the page
EVIL = "<script>alert(1)</script>"
EVIL_IMG = "<img src=x onerror=alert(2)>"

pytestmark = pytest.mark.timeout(60)


class Courier(GenServer):
    """Delivers one parcel at a time: busy in handle_call until the test lets it go."""

    def handle_call(self, request: Any, from_: From) -> Any:
        request.wait(10.0)
        return "delivered"

    def handle_cast(self, request: Any) -> None:
        pass


def skip_loudly(reason: str) -> None:
    message = f"BROWSER TEST SKIPPED: {reason}"
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        skip_loudly("chromium not on PATH; apt-get install -y chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_loudly("playwright is not installed; pip install -e '.[dev]'")
    assert path is not None
    return path


def browser_processes() -> set[int]:
    """The pids of the running Chromium and Playwright driver processes."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        if b"chromium" in cmdline or b"playwright" in cmdline:
            found.add(int(entry.name))
    return found


class Page:
    """A Chromium page that records dialogs, script and console errors, and loads."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.problems: list[str] = []  # a CSP violation is a console error too
        self.loads: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("console", self._on_console)
        page.on("load", lambda p: self.loads.append(p.url))
        page.set_default_timeout(DEADLINE_MS)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(message.text)

    def row(self, pid_or_label: Pid | str) -> Any:
        if isinstance(pid_or_label, str):
            return self.page.locator("#rows tr", has_text=pid_or_label)
        return self.page.locator(f'#rows tr[data-pid="{pid_or_label!r}"]')

    @staticmethod
    def cell(row: Any, column: int) -> Any:
        return row.locator("td").nth(column)


@contextlib.contextmanager
def chromium_page(width: int = 1000, height: int = 200, scale: float = 1) -> Iterator[Page]:
    """A page in a new headless Chromium; the browser and its processes are gone after."""
    executable = chromium()
    from playwright.sync_api import sync_playwright

    before = browser_processes()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            viewport = {"width": width, "height": height}
            page = Page(browser.new_page(viewport=viewport, device_scale_factor=scale))
            yield page
        finally:
            browser.close()
    assert page.dialogs == []
    assert wait_for(lambda: browser_processes() <= before, timeout=10.0), (
        f"browser processes left: {browser_processes() - before}"
    )


def guide() -> ModuleType:
    """examples/guide_observer.py, whose shop the guide's screenshot shows."""
    path = ROOT / "examples" / "guide_observer.py"
    spec = importlib.util.spec_from_file_location("guide_observer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def shop() -> Iterator[ModuleType]:
    chromium()  # skip before building the shop
    example = guide()
    sup = example.open_shop()
    yield example
    supervisor.stop(sup)


def whereis(name: str) -> Pid:
    pid = process.whereis(name)
    assert pid is not None
    return pid


def test_the_page_follows_the_live_tree_and_renders_names_as_text(
    shop: ModuleType, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    release = threading.Event()
    caller: threading.Thread | None = None
    server = observer.serve()
    try:
        with chromium_page(scale=2) as p:  # a sharp screenshot for the docs
            row, cell, page = p.row, p.cell, p.page
            page.goto(server.url)
            # the tree, drawn by the script from /api/tree
            carts = row("carts (Registry)")
            expect(carts).to_have_count(1)
            expect(cell(carts, 7)).to_have_text("300")
            expect(page.locator("#rows tr.sample")).to_have_count(5)
            expect(page.locator("#rows tr.more")).to_contain_text("295 more workers")
            expect(page.locator("#summary")).to_contain_text("processes")
            expect(page.locator("#snapshot")).to_have_count(0)  # the no-script text is gone
            page.evaluate("window.sameDocument = true")

            # all at once, then watched on the page: a child that starts, one that dies
            # (a dynamic supervisor's child is not restarted), one that crashes and is
            # restarted (a new pid, a restart count), a suspended server that keeps what
            # it is sent, and a busy one (the callback it runs, what waits behind it)
            mailer = dynamic_supervisor.start_child(
                "mailers", {"id": 3, "start": (shop.Mailer.start_link, [3])}
            )
            first = supervisor.which_children("mailers")[0][1]
            assert first is not None and first != mailer
            dynamic_supervisor.terminate_child("mailers", first)
            prices = whereis("prices")
            process.exit(prices, "kill")
            orders = whereis("orders")
            parent.sys.suspend(orders)
            gen_server.cast(orders, ("shipped", 1))
            gen_server.cast(orders, ("shipped", 2))
            courier = supervisor.start_child(
                whereis("shop"), {"id": "courier", "start": (Courier.start_link, [])}
            )
            caller = threading.Thread(target=gen_server.call, args=(courier, release, 10.0))
            caller.start()
            gen_server.cast(courier, "next parcel")

            expect(row(mailer)).to_have_count(1)
            expect(cell(row(mailer), 2)).to_have_text("waiting")
            expect(row(first)).to_have_count(0)
            expect(row(prices)).to_have_count(0)
            expect(cell(row("prices (Agent)"), 6)).to_have_text("1")
            expect(cell(row(orders), 2)).to_have_text("suspended")
            expect(cell(row(orders), 4)).to_have_text("2")
            expect(cell(row(courier), 3)).to_have_text("handle_call")
            expect(cell(row(courier), 4)).to_have_text("1")

            # collapsing a node hides its rows until it is opened again
            page.locator("#rows button[data-toggle]").first.click()
            expect(page.locator("#rows tr")).to_have_count(1)
            page.locator("#rows button[data-toggle]").first.click()
            expect(page.locator("#rows tr.sample")).to_have_count(5)

            shot = (
                SCREENSHOT if os.environ.get("OBSERVER_SCREENSHOT") == "1" else tmp_path / "o.png"
            )
            page.mouse.move(0, 0)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            release.set()
            caller.join()
            parent.sys.resume(orders)
            expect(cell(row(orders), 2)).to_have_text("waiting")
            expect(cell(row(courier), 2)).to_have_text("waiting")

            # pausing stops the refresh; resuming starts it again
            page.locator("#pause").click()
            expect(page.locator("#pause")).to_have_text("Resume")
            expect(page.locator("#summary")).to_contain_text("paused")
            page.locator("#pause").click()
            expect(page.locator("#pause")).to_have_text("Pause")

            # hostile names are text: no element is made from them, no dialog opens
            supervisor.start_child(
                whereis("shop"),
                {"id": EVIL_IMG, "start": partial(Agent.start_link, lambda: 0, EVIL)},
            )
            evil = row(f"{EVIL_IMG} (Agent)")
            expect(evil).to_have_count(1)
            assert evil.locator("td.name").get_attribute("title") == (
                f"names: {EVIL}\nchild id: {EVIL_IMG}"
            )
            assert page.locator("#rows script, #rows img").count() == 0

            # without a reload all along
            assert page.evaluate("window.sameDocument") is True
            assert p.loads == [server.url]

            # the server goes away: the page says so, and keeps trying
            server.stop()
            expect(page.locator("#summary.error")).to_contain_text("cannot read the tree")
            problems = [m for m in p.problems if "ERR_CONNECTION_REFUSED" not in m]
            assert problems == []
    finally:
        release.set()
        if caller is not None:
            caller.join()
        server.stop()


def test_a_big_tree_is_drawn_within_the_row_budget() -> None:
    from playwright.sync_api import expect

    groups = MAX_ROWS_SHOWN // 100 + 1
    top = supervisor.start_link(
        [
            {"id": "wide", "start": (dynamic_supervisor.start_link, []), "type": "supervisor"},
            *(
                {"id": g, "start": (dynamic_supervisor.start_link, []), "type": "supervisor"}
                for g in range(groups)
            ),
        ]
    )
    try:
        children = {i: pid for i, pid, _, _ in supervisor.which_children(top)}
        for _ in range(MAX_CHILDREN_SHOWN + 50):
            dynamic_supervisor.start_child(children["wide"], Courier)
        for g in range(groups):
            for _ in range(100):
                dynamic_supervisor.start_child(children[g], Courier)
        total = 1 + 1 + MAX_CHILDREN_SHOWN + 50 + groups * 101
        with observer.serve() as server, chromium_page() as p:
            p.page.goto(server.url)
            drawn = p.page.locator("#rows tr:not(.more)")
            expect(drawn).to_have_count(MAX_ROWS_SHOWN)
            expect(p.row("wide (DynamicSupervisor)").locator("~ tr.more").first).to_have_text(
                "… 50 more children (50 processes), not drawn"
            )
            undrawn = total - MAX_ROWS_SHOWN - 50
            expect(p.page.locator("#rows tr.more").last).to_contain_text(
                f"… {undrawn:,} more processes not drawn"
            )
            # collapsing "wide" makes room for the rest
            p.row("wide (DynamicSupervisor)").locator("button").click()
            expect(p.page.locator("#rows tr.more").last).to_contain_text(
                f"… {undrawn - MAX_CHILDREN_SHOWN:,} more processes not drawn"
            )
            assert p.problems == []
    finally:
        supervisor.stop(top)
