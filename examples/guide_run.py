"""The "Running an application" guide, as one runnable program: a small web service
under ``parent.run``, which Ctrl-C (or SIGTERM) stops in order.

``Hits`` counts the requests for each path and saves its counts when it stops (here it
prints them); ``Web`` serves HTTP on a thread of its own and asks ``Hits`` about every
request. The application is ``[Hits, Web]``: ``Web`` starts last and stops first, so no
request reaches a stopped ``Hits``.

    python examples/guide_run.py            # http://127.0.0.1:8000/ until Ctrl-C
    python examples/guide_run.py --port 0   # any free port (the first line says which)
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import parent
from compat import ChildSpec
from parent import From, GenServer, gen_server, process


# --8<-- [start:hits]
class Hits(GenServer):
    """How many times each path was asked for, saved when the application stops."""

    def init(self) -> None:
        process.trap_exits(True)  # so that terminate runs when the application stops
        self.counts: dict[str, int] = {}  # path -> requests

    def handle_call(self, request: Any, from_: From) -> int:
        self.counts[request] = self.counts.get(request, 0) + 1
        return self.counts[request]

    def terminate(self, reason: Any) -> None:
        total = sum(self.counts.values())
        print(f"hits: saving {total} hits on {len(self.counts)} paths ({reason})", flush=True)

    @classmethod
    def child_spec(cls, arg: Any = None) -> ChildSpec:
        return {"id": cls, "start": partial(cls.start_link, name="hits")}


# --8<-- [end:hits]


# --8<-- [start:web]
class Web(GenServer):
    """An HTTP server on a thread of its own; each request is a call to ``Hits``."""

    def init(self, port: int) -> None:
        process.trap_exits(True)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Page)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="web")
        self.thread.start()
        host, bound = self.httpd.server_address[:2]
        print(f"listening on http://{host!s}:{bound}/ (Ctrl-C to stop)", flush=True)

    def terminate(self, reason: Any) -> None:
        print(f"web: stopping ({reason})", flush=True)
        self.httpd.shutdown()  # serve_forever returns once the request it serves is done
        self.thread.join()
        self.httpd.server_close()
        print("web: stopped", flush=True)

    @classmethod
    def child_spec(cls, arg: Any = None) -> ChildSpec:
        # up to 10 s to finish the requests in progress, then it is killed
        return {"id": cls, "start": (cls.start_link, [arg]), "shutdown": 10.0}


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        count = gen_server.call("hits", self.path)
        body = f"{self.path}: {count}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request


# --8<-- [end:web]


# --8<-- [start:main]
def main() -> int:
    parser = argparse.ArgumentParser(description="A small web service under parent.run.")
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    # blocks until Ctrl-C or SIGTERM (or until the supervisor gives up)
    reason = parent.run([Hits, Web.child_spec(port)])
    print(f"stopped: {reason}")
    return 0 if reason == "shutdown" else 1  # "killed" after a second Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
# --8<-- [end:main]
