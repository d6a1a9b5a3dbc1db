"""What the observer's web server serves (`parent._observer_http`): the page, with its
inline style and script and the Content-Security-Policy that allows only those, and
the JSON of ``/api/tree``, built so that observing a big tree never stalls the program
for long (the garbage collector paused, the JSON encoded node by node)."""

from __future__ import annotations

import base64
import contextlib
import gc
import hashlib
import html
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from parent import _info
from parent._runtime import _live

logger = logging.getLogger("parent")

REFRESH_SECONDS = 1.0  # how often the page fetches /api/tree, at most
BACK_OFF = 10  # ... and it waits at least BACK_OFF times as long as the last fetch took
MAX_CHILDREN_SHOWN = 100  # rows the page draws under one node (the JSON has them all)
MAX_ROWS_SHOWN = 1000  # rows it draws in all (10,000 rows take Chromium ~1 s to lay out)

# -- what it serves -------------------------------------------------------------------------


def _tree_json() -> bytes:
    """The body of ``/api/tree``, built with the cyclic garbage collector paused
    (`_collector_paused`) and encoded one node at a time (`_encode_node`), so that
    building it never stops the observed program for long."""
    with _collector_paused():
        return _encode_tree()  # everything it made is freed before the collector resumes


def _encode_tree() -> bytes:
    from parent.observer import tree  # parent.observer imports this module

    processes = _count_processes()
    out = ['{"tree":']
    _encode_node(tree().to_dict(), out)
    rest = _dumps({"generated_at": time.time(), "processes": processes})
    out.append("," + rest[1:])
    return "".join(out).encode()


_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _encode_node(node: dict[str, Any], out: list[str]) -> None:
    """Append ``node`` as JSON to ``out``: ``json.dumps`` of its own fields, then of
    each child in turn. (One ``json.dumps`` of a whole tree of 10,000 processes is one
    C call that holds the GIL for ~45 ms: every other thread waits.) A stack of what
    is left to write, not recursion: a chain of processes may be deeper than Python's
    recursion limit."""
    todo: list[dict[str, Any] | str] = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        children = item["children"]
        if not children:
            out.append(_dumps(item))
            continue
        fields = _dumps({key: value for key, value in item.items() if key != "children"})
        out.append(fields[:-1] + ',"children":[')
        todo.append("]}")
        for i in range(len(children) - 1, -1, -1):  # pushed last first: popped in order
            todo.append(children[i])
            if i:
                todo.append(",")


_collector_lock = threading.Lock()
_collector_pausers = 0  # requests building a tree now
_collector_was_enabled = False


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (`gc.disable`) while a tree is built.

    Building the tree of 10,000 processes makes some 100,000 objects at once, which
    set off a full collection of the whole program: ~150 ms during which no thread
    runs. With the collector paused, those objects (which form no cycles) are freed by
    their reference counts when the request drops them, and no collection sees them.
    The collector is enabled again only if it was enabled when the first of the
    concurrent requests paused it.
    """
    global _collector_pausers, _collector_was_enabled
    with _collector_lock:
        if _collector_pausers == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pausers += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pausers -= 1
            if _collector_pausers == 0 and _collector_was_enabled:
                gc.enable()


def _count_processes() -> int:
    """How many processes are alive (``len(process.list())``), without the runtime
    lock: one C-level copy of the table (`process.list` holds the lock while it
    filters, ~6 ms for 100,000 processes)."""
    try:
        pids = list(_live.values())
    except RuntimeError:  # a garbage collection ran code that changed it: rare
        pids = _info.processes()
    return sum(1 for p in pids if p._alive)


def _page(program: str) -> str:
    """The page: static but for the program's name and a text snapshot of the tree for
    a browser without JavaScript, both escaped."""
    from parent.observer import format_tree

    try:
        with _collector_paused():
            snapshot = format_tree()
    except Exception as exc:
        logger.exception("observer: building the tree failed")
        snapshot = f"the tree could not be built: {type(exc).__name__}"
    return _PAGE.format(
        title=html.escape(f"observer: {program} (pid {os.getpid()})"),
        style=_STYLE,
        script=_SCRIPT,
        snapshot=html.escape(snapshot),
    )


_STYLE = """
:root { color-scheme: light dark; --fg: #1d2430; --muted: #6b7380; --line: #e3e6eb;
  --bg: #ffffff; --head: #f5f6f8; --hot: #b3261e; --warm: #a15c00; --ok: #1e7b34;
  --wait: #5b6470; --hib: #2a5db0; --sus: #a15c00; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e4e7ec; --muted: #98a0ab; --line: #2c323b; --bg: #14171c; --head: #1c2027;
    --hot: #ff8a80; --warm: #ffb74d; --ok: #81c995; --wait: #aab2bd; --hib: #8ab4f8;
    --sus: #ffb74d; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { position: sticky; top: 0; display: flex; gap: 1em; align-items: baseline;
  padding: .6em 1em; background: var(--head); border-bottom: 1px solid var(--line); }
h1 { font-size: 15px; margin: 0; }
#summary { color: var(--muted); }
#summary.error { color: var(--hot); font-weight: 600; }
button { font: inherit; padding: .1em .8em; }
header button { margin-left: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: .15em .8em; border-bottom: 1px solid var(--line); text-align: left;
  white-space: nowrap; }
th { font-weight: 600; color: var(--muted); background: var(--bg); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { width: 100%; }
.pid, .cb { font-family: ui-monospace, monospace; font-size: 12px; }
.pid { color: var(--muted); }
.toggle { display: inline-block; width: 1.2em; padding: 0; border: 0; background: none;
  color: var(--muted); cursor: pointer; }
.toggle.leaf { cursor: default; }
.kind { color: var(--muted); }
.st { font-weight: 600; }
.st-running { color: var(--ok); } .st-waiting { color: var(--wait); }
.st-hibernating { color: var(--hib); } .st-suspended { color: var(--sus); }
.hot { color: var(--hot); font-weight: 600; }
.warm { color: var(--warm); font-weight: 600; }
tr.sample td.name { font-style: italic; }
tr.more td { color: var(--muted); font-style: italic; }
tr:hover td { background: var(--head); }
"""

_SCRIPT = """
"use strict";
const REFRESH_MS = @REFRESH_MS@;
const BACK_OFF = @BACK_OFF@;
const MAX_CHILDREN = @MAX_CHILDREN@;
const MAX_ROWS = @MAX_ROWS@;
const rows = document.getElementById("rows");
const summary = document.getElementById("summary");
const pause = document.getElementById("pause");
const collapsed = new Set();
let paused = false;
let timer = 0;
let last = null;
let drawn = 0;
let undrawn = 0;

const number = n => n.toLocaleString("en-US");

// every value from the tree reaches the page through textContent: never as HTML
function cell(tr, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text !== null && text !== undefined) td.textContent = String(text);
  tr.appendChild(td);
  return td;
}

function level(n, hot, warm) {
  return n === null ? "num" : n >= hot ? "num hot" : n >= warm ? "num warm" : "num";
}

function size(node) {
  return node.children.reduce((total, c) => total + size(c), 1 + node.sample.length);
}

function row(out, node, depth, kind) {
  if (drawn >= MAX_ROWS) { undrawn += size(node); return; }
  drawn += 1;
  const tr = document.createElement("tr");
  tr.className = kind;
  if (node.pid !== null) tr.dataset.pid = node.pid;
  const kids = node.children.length + node.sample.length;
  const name = cell(tr, null, "name");
  name.style.paddingLeft = (0.8 + depth * 1.4) + "em";
  const toggle = document.createElement("button");
  toggle.className = kids ? "toggle" : "toggle leaf";
  toggle.textContent = kids ? (collapsed.has(node.pid) ? "\\u25b8" : "\\u25be") : "\\u00b7";
  if (kids) toggle.dataset.toggle = node.pid;
  name.appendChild(toggle);
  const label = document.createElement("span");
  label.textContent = node.label;
  name.appendChild(label);
  const about = [];
  if (node.names.length) about.push("names: " + node.names.join(", "));
  if (node.child_id !== null) about.push("child id: " + node.child_id);
  if (about.length) name.title = about.join("\\n");
  cell(tr, node.pid, "pid");
  cell(tr, node.status, "st st-" + node.status);
  cell(tr, node.current, "cb");
  cell(tr, node.mailbox, level(node.mailbox, 100, 1));
  cell(tr, node.handled, "num");
  cell(tr, node.restarts || "", level(node.restarts, 1, 1));
  cell(tr, node.count === null ? "" : number(node.count), "num");
  out.appendChild(tr);
  if (collapsed.has(node.pid)) return;
  node.children.slice(0, MAX_CHILDREN).forEach(c => row(out, c, depth + 1, "child"));
  if (node.children.length > MAX_CHILDREN) {
    const rest = node.children.slice(MAX_CHILDREN).reduce((total, c) => total + size(c), 0);
    if (drawn >= MAX_ROWS) undrawn += rest;
    else more(out, depth + 1, "\\u2026 " + number(node.children.length - MAX_CHILDREN) +
      " more children (" + number(rest) + " processes), not drawn");
  }
  node.sample.forEach(w => row(out, w, depth + 1, "sample"));
  if (node.count !== null && node.count > node.sample.length && drawn < MAX_ROWS) {
    more(out, depth + 1, "\\u2026 " + number(node.count - node.sample.length) +
      " more workers (a sample of " + node.sample.length + " is shown)");
  }
}

function more(out, depth, text) {
  const tr = document.createElement("tr");
  tr.className = "more";
  const td = cell(tr, text, "name");
  td.colSpan = 8;
  td.style.paddingLeft = (0.8 + depth * 1.4 + 1.2) + "em";
  out.appendChild(tr);
}

function draw(doc) {
  const out = document.createDocumentFragment();
  drawn = undrawn = 0;
  doc.tree.children.forEach(c => row(out, c, 0, "top"));
  if (!doc.tree.children.length) more(out, 0, "no process is running");
  if (undrawn) {
    more(out, 0, "\\u2026 " + number(undrawn) + " more processes not drawn: the page draws " +
      number(MAX_ROWS) + " rows at most; collapse a node to see what follows it");
  }
  rows.replaceChildren(out);
  const at = new Date(doc.generated_at * 1000).toLocaleTimeString("en-GB");
  summary.className = "";
  summary.textContent = number(doc.processes) + " processes \\u00b7 updated " + at +
    (paused ? " \\u00b7 paused" : "");
}

async function refresh() {
  timer = 0;
  const started = performance.now();
  try {
    const answer = await fetch("api/tree", {cache: "no-store"});
    if (!answer.ok) throw new Error("HTTP " + answer.status + ": " + (await answer.text()).trim());
    last = await answer.json();
    draw(last);
  } catch (err) {
    summary.className = "error";
    summary.textContent = "cannot read the tree (" + err.message + "); retrying";
  }
  // a big tree takes the server a while to build: wait longer, so that the page
  // never costs the observed program more than 1 / BACK_OFF of its time
  const took = performance.now() - started;
  if (!paused) timer = setTimeout(refresh, Math.max(REFRESH_MS, BACK_OFF * took));
}

rows.addEventListener("click", event => {
  const id = event.target.dataset && event.target.dataset.toggle;
  if (!id) return;
  if (collapsed.has(id)) collapsed.delete(id); else collapsed.add(id);
  if (last) draw(last);
});

pause.addEventListener("click", () => {
  paused = !paused;
  pause.textContent = paused ? "Resume" : "Pause";
  if (paused) { clearTimeout(timer); timer = 0; if (last) draw(last); }
  else if (!timer) refresh();
});

document.getElementById("snapshot").remove();
refresh();
"""
for _key, _value in {
    "REFRESH_MS": int(REFRESH_SECONDS * 1000),
    "BACK_OFF": BACK_OFF,
    "MAX_CHILDREN": MAX_CHILDREN_SHOWN,
    "MAX_ROWS": MAX_ROWS_SHOWN,
}.items():
    _SCRIPT = _SCRIPT.replace(f"@{_key}@", str(_value))

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<span id="summary">loading\u2026</span>
<button id="pause" type="button">Pause</button>
</header>
<table>
<thead><tr>
<th title="child id or registered name, and what it runs">process</th>
<th title="the process's pid">pid</th>
<th title="running, waiting (for a message), hibernating (no thread), suspended">status</th>
<th title="the callback it is running now">callback</th>
<th class="num" title="messages queued in its mailbox">mailbox</th>
<th class="num" title="messages it has handled">handled</th>
<th class="num" title="times its supervisor restarted it">restarts</th>
<th class="num" title="a registry's worker count">workers</th>
</tr></thead>
<tbody id="rows"></tbody>
</table>
<pre id="snapshot">{snapshot}</pre>
<script>{script}</script>
</body>
</html>
"""


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# Only the page's own script and style (by hash) may run: no inline handler, no other
# script, no style attribute in markup; fetches only to this server.
_CSP = (
    "default-src 'none'; "
    f"script-src {_sha256(_SCRIPT)}; "
    f"style-src {_sha256(_STYLE)}; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
