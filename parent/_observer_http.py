"""The observer's web page: `parent.observer.serve` (re-exported there).

One stdlib HTTP server (`http.server.ThreadingHTTPServer`) on a daemon thread of its
own, which is not a process: it never shows up in the tree it serves. It answers two
reads, and nothing else:

* ``GET /``: one HTML page, with inline CSS and a small inline script that fetches
  ``/api/tree`` every second and rebuilds the table from it (no reload, no build step);
* ``GET /api/tree``: ``{"tree": <root node>, "generated_at": <time.time()>,
  "processes": <live process count>}``, each node as `parent.observer.Node.to_dict`.

Each request runs on a short-lived thread of the server's. Building the tree reads the
runtime's tables (`parent.observer.tree`): no message is sent, no process waits for the
page. The server's threads are all joined by `Server.stop`.

Safety: the server binds to loopback unless told otherwise; it only reads (``GET`` and
``HEAD``; other methods get 405); the script builds the page with ``textContent`` and
the server escapes what it renders itself, so a process named ``<script>`` is shown as
text; a Content-Security-Policy lets only the page's own script run; and while bound
to loopback it refuses a ``Host`` header that is not a loopback name (so a web page
that rebinds its own domain to 127.0.0.1 cannot read the tree).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import selectors
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from parent._observer_page import _CSP, _page, _tree_json

__all__ = ["Server", "serve"]

logger = logging.getLogger("parent")

_REQUEST_TIMEOUT = 10.0  # seconds a client may take to send its request


class Server:
    """A running observer page, made by `serve`: ``url`` is where to open it.

    `stop` shuts it down and joins its threads; it can also be used as a context
    manager, which stops it on exit.

    Attributes:
        url: the page's address, e.g. ``"http://127.0.0.1:8123/"``; the tree's JSON is
            at ``url + "api/tree"``.
        host: the host it is bound to, as given to `serve`.
        port: the port it listens on (the one picked, when `serve` was given ``0``).

    Example:
        ```python
        with parent.observer.serve() as server:
            print("observer at", server.url)   # observer at http://127.0.0.1:40123/
            input("press Enter to stop")
        ```
    """

    __slots__ = ("_httpd", "_lock", "_stopped", "_thread", "host", "port", "url")

    def __init__(self, httpd: _HTTPServer, host: str) -> None:
        self._httpd = httpd
        self._lock = threading.Lock()
        self._stopped = False
        self.host = host
        self.port: int = httpd.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        self._thread = threading.Thread(
            target=httpd.serve_until_stopped, name=f"parent-observer {self.url}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: close the listening socket and every open connection, and join
        the server's threads. Calling it again does nothing.

        Example:
            ```python
            server = parent.observer.serve()
            server.stop()
            server.stop()   # harmless
            ```
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._httpd.wake()
            self._thread.join()
            self._httpd.close_all()

    @property
    def running(self) -> bool:
        """Whether it still serves (`stop` not called yet).

        Example:
            ```python
            server = parent.observer.serve()
            assert server.running
            server.stop()
            assert not server.running
            ```
        """
        return not self._stopped

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if not self._stopped else "stopped"
        return f"<observer.Server {self.url} {state}>"


def serve(host: str = "127.0.0.1", port: int = 0) -> Server:
    """Serve a read-only web page of the live supervision tree, which refreshes itself
    every second (less often for a tree that takes long to read), and its JSON at
    ``/api/tree``; return the running `Server`.

    The page shows each process's status, queued messages, the callback it runs,
    messages handled and restarts, and for a registry its worker count and a sample.
    It binds to loopback (``127.0.0.1``) unless another ``host`` is given (``"::1"``,
    or ``"0.0.0.0"`` to be reachable from other machines: anyone who can reach the
    port can then read the tree). Port ``0`` picks a free port (`Server.port`).

    Raises:
        TypeError: ``host`` is not a str, or ``port`` not an int.
        ValueError: ``host`` is empty, or ``port`` is not in 0..65535.
        OSError: the address cannot be bound (the port is taken, the host unknown).

    Example:
        ```python
        sup = parent.supervisor.start_link([Worker.child_spec()])
        server = parent.observer.serve()
        print("observer at", server.url)   # observer at http://127.0.0.1:40123/
        ...
        server.stop()
        ```
    """
    if not isinstance(host, str):
        raise TypeError(f"observer.serve: host must be a str such as '127.0.0.1', got {host!r}")
    if not host:
        raise ValueError(
            "observer.serve: host is empty; give '127.0.0.1' (the default) for this "
            "machine only, or '0.0.0.0' to listen on every interface"
        )
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"observer.serve: port must be an int in 0..65535, got {port!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"observer.serve: port must be in 0..65535 (0 picks one), got {port!r}")
    httpd = _HTTPServer(host, port)
    try:
        return Server(httpd, host)
    except BaseException:  # its thread could not start: close what is open
        httpd.close_all()
        raise


# -- the server ---------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    """A `ThreadingHTTPServer` that can be stopped at once and joined: its accept loop
    also waits on a wake-up socket, and it keeps its request threads and connections
    so that `close_all` can end and join them."""

    daemon_threads = True
    block_on_close = False  # we join our own threads (close_all)

    def __init__(self, host: str, port: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._lock = threading.Lock()
        self._request_threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._waker, self._wake_end = socket.socketpair()
        try:
            super().__init__((host, port), _Handler)
        except BaseException:
            self._waker.close()
            self._wake_end.close()
            raise
        bound = self.server_address[0]
        self.loopback = _is_loopback(bound if isinstance(bound, str) else host)
        self.program = _program()

    def serve_until_stopped(self) -> None:
        """Accept connections until `wake` (the server thread's body)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_end, selectors.EVENT_READ)
            while True:
                ready = selector.select()
                if any(key.fileobj is self._wake_end for key, _ in ready):
                    return
                try:
                    request, address = self.get_request()
                except OSError:
                    continue  # the client went away before we accepted it
                self.process_request(request, address)  # on a thread of its own

    def wake(self) -> None:
        """Make `serve_until_stopped` return (from any thread)."""
        self._waker.send(b"x")

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="parent-observer request",
            daemon=True,
        )
        with self._lock:
            self._request_threads = [t for t in self._request_threads if t.is_alive()]
            self._request_threads.append(thread)
            self._connections.add(request)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """After the accept loop ended: close the listening socket, end every open
        connection (a client that sent nothing yet would hold its thread until the
        request timeout) and join the request threads."""
        self.server_close()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._request_threads)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its thread
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join()
        self._waker.close()
        self._wake_end.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # the client went away, or stopped talking: nothing to report
        logger.exception("observer: error while answering %s", client_address)


def _program() -> str:
    """What the page's title calls this program: its script, or its package for
    ``python -m package``."""
    path = sys.argv[0] if sys.argv and sys.argv[0] else ""
    name = os.path.basename(path)
    if name == "__main__.py":
        name = os.path.basename(os.path.dirname(path))
    return name or "python"


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "parent-observer"
    timeout = _REQUEST_TIMEOUT

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _not_allowed(self) -> None:
        self._reply(
            HTTPStatus.METHOD_NOT_ALLOWED,
            b"405 the observer is read-only: GET and HEAD only\n",
            "text/plain; charset=utf-8",
            send_body=True,
            headers={"Allow": "GET, HEAD"},
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def _answer(self, send_body: bool) -> None:
        if self.server.loopback and not self._host_is_loopback():
            self._reply(
                HTTPStatus.FORBIDDEN,
                b"403 this observer answers only to loopback names (127.0.0.1, localhost)\n",
                "text/plain; charset=utf-8",
                send_body,
            )
            return
        path = urlsplit(self.path).path
        if path not in ("/", "/api/tree"):
            self._reply(
                HTTPStatus.NOT_FOUND,
                b"404 not found: the observer serves / and /api/tree\n",
                "text/plain; charset=utf-8",
                send_body,
            )
            return
        try:
            if path == "/":
                body = _page(self.server.program).encode()
                ctype = "text/html; charset=utf-8"
            else:
                body = _tree_json()
                ctype = "application/json"
        except Exception as exc:
            logger.exception("observer: building the tree failed")
            text = f"500 the observer could not build the tree: {type(exc).__name__}\n"
            self._reply(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                text.encode(),
                "text/plain; charset=utf-8",
                send_body,
            )
            return
        self._reply(HTTPStatus.OK, body, ctype, send_body)

    def _host_is_loopback(self) -> bool:
        host = self.headers.get("Host")
        if host is None:
            return True  # no Host header: not a browser, so no rebinding to fear
        try:
            name = urlsplit("//" + host).hostname
        except ValueError:
            return False
        return name is not None and _is_loopback(name)

    def _reply(
        self,
        status: HTTPStatus,
        body: bytes,
        ctype: str,
        send_body: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def end_headers(self) -> None:
        # on every answer, errors from http.server's own parsing included
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("observer: %s " + format, self.address_string(), *args)
