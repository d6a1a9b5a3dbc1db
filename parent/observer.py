"""See what is running: the live supervision tree, as data, as text and as a web page.

`tree` walks the live processes once and groups them under the process that started
them; every process without a live parent is under a synthetic root. A registry (a
`genregistry.GenRegistry`) shows how many workers it has and a few of them, never a
million lines. Nothing is sent to any process: the tree is read from the runtime's
tables and each parent's own records, with atomic copies (`parent.process.info`), so
observing never waits for a busy process and never changes what it observes.

Example:
    ```python
    sup = parent.supervisor.start_link([parent.Agent.child_spec(lambda: 0)])
    print(parent.observer.format_tree())
    # runtime: 2 processes
    # └─ Supervisor  <Pid 1 Supervisor>  waiting
    #    └─ Agent (Agent)  <Pid 2 Agent>  waiting
    ```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterator
from typing import Any

from parent import _info
from parent._info import Frames, ProcessInfo
from parent._observer_http import Server, serve
from parent._runtime import Pid, number
from parent.errors import NoProcess
from parent.process import Server as ServerRef
from parent.process import whereis

__all__ = ["Node", "Server", "format_tree", "serve", "tree"]


@dataclasses.dataclass(frozen=True)
class Node:
    """One process of the live tree (`tree`), or the synthetic root.

    Attributes:
        pid: the process; ``None`` for the synthetic root.
        label: what to call it: its child id or registered name, and its behaviour.
        info: its `parent.ProcessInfo` (``None`` for the root).
        children: the processes it started that are alive, in the order they started.
        count: for a registry, how many workers it has (its workers are not in
            ``children``); ``None`` otherwise.
        sample: for a registry, a few of its workers.
        restarts: how many times its supervisor has restarted it (its child id).
        child_id: its child id under its parent, if it has one.

    Example:
        ```python
        root = parent.observer.tree()
        for node in root.children:
            print(node.label, node.info.status, len(node.children))
        ```
    """

    pid: Pid | None
    label: str
    info: ProcessInfo | None
    children: tuple[Node, ...] = ()
    count: int | None = None
    sample: tuple[Node, ...] = ()
    restarts: int = 0
    child_id: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The node and its subtree as JSON-ready values (the observer page's
        ``/api/tree``): pids, names and ids as their ``repr``.

        Example:
            ```python
            import json
            print(json.dumps(parent.observer.tree().to_dict())[:60])
            # {"pid": null, "number": null, "label": "runtime: 2 processes", ...
            ```
        """
        top: dict[str, Any] = {}
        stack: list[tuple[Node, dict[str, Any]]] = [(self, top)]
        while stack:  # a stack, not recursion: a tree may be deeper than Python's limit
            node, out = stack.pop()
            out.update(node._fields())
            for key, nodes in (("sample", node.sample), ("children", node.children)):
                made: list[dict[str, Any]] = [{} for _ in nodes]
                out[key] = made
                stack.extend(reversed(list(zip(nodes, made, strict=True))))
        return top

    def _fields(self) -> dict[str, Any]:
        info = self.info
        return {
            "pid": None if self.pid is None else repr(self.pid),
            "number": None if self.pid is None else number(self.pid),
            "label": self.label,
            "behaviour": None if info is None or info.behaviour is None else _name(info.behaviour),
            "names": [] if info is None else [_name(n) for n in info.names],
            "status": None if info is None else info.status,
            "mailbox": None if info is None else info.mailbox,
            "handled": None if info is None else info.handled,
            "current": None if info is None else info.current,
            "restarts": self.restarts,
            "child_id": None if self.child_id is None else _name(self.child_id),
            "count": self.count,
        }


def tree(root: ServerRef | None = None) -> Node:
    """The live supervision tree: under a synthetic root, every process without a
    live parent, each with the processes it started; or only the subtree of ``root``
    (a pid or a registered name).

    Raises:
        NoProcess: ``root`` is dead or the name unknown.

    Example:
        ```python
        sup = parent.supervisor.start_link([Worker.child_spec()])
        (node,) = parent.observer.tree(sup).children
        assert node.info.behaviour is Worker
        ```
    """
    top: Pid | None = None
    if root is not None:
        top = root if type(root) is Pid else whereis(root)
        if top is None or not top.is_alive():
            what = f"no process is registered under {root!r}" if top is None else f"{top!r}"
            raise NoProcess(f"observer.tree: {what} is not alive")
    procs = _info.processes()
    kids: dict[Pid | None, list[Pid]] = {}
    for p in procs:
        parent = _info.parent_of(p)
        if parent is not None and not parent.is_alive():
            parent = None  # its parent is dying: shown at the top until it goes too
        group = kids.get(parent)
        if group is None:
            group = kids[parent] = []
        group.append(p)
    builder = _Builder(kids)
    if top is not None:
        return builder.node(top, None, None)
    children = tuple(builder.node(p, None, None) for p in kids.get(None, ()))
    return Node(None, f"runtime: {len(procs)} processes", None, children)


class _Open:
    """A node being built: its own fields, and the children (or, for a registry, the
    sampled workers) still to build, as ``(pid, child id, restarts)``."""

    __slots__ = ("built", "child_id", "info", "pending", "pid", "restarts", "workers")

    def __init__(self, builder: _Builder, pid: Pid, child_id: Any, restarts: int | None) -> None:
        self.pid = pid
        self.child_id = child_id
        self.restarts = restarts or 0
        self.info = _info.info(pid, builder.frames)
        observed = _info.observed(pid)
        self.workers = None if observed is None else observed.workers
        self.built: list[Node] = []
        self.pending: Iterator[tuple[Pid, Any, int | None]]
        if observed is not None and observed.workers is not None:  # a registry: a sample
            self.pending = iter([(w, i, None) for i, w in observed.sample if w.is_alive()])
        elif observed is None:
            self.pending = iter([(kid, None, None) for kid in builder.kids.get(pid, ())])
        else:
            ids, restarted = observed.ids, observed.restarts
            self.pending = iter(
                [
                    (kid, cid, restarted.get(cid))
                    for kid in builder.kids.get(pid, ())
                    for cid in (ids.get(kid),)
                ]
            )

    def close(self) -> Node:
        label = _label(self.pid, self.child_id, self.info)
        built = tuple(self.built)
        if self.workers is not None:
            children: tuple[Node, ...] = ()
            sample = built
        else:
            children, sample = built, ()
        return Node(
            self.pid,
            label,
            self.info,
            children,
            self.workers,
            sample,
            self.restarts,
            self.child_id,
        )


class _Builder:
    __slots__ = ("frames", "kids")

    def __init__(self, kids: dict[Pid | None, list[Pid]]) -> None:
        self.kids = kids
        self.frames = Frames()  # one stack snapshot for the whole tree, if needed

    def node(self, pid: Pid, child_id: Any, restarts: int | None) -> Node:
        """The node of ``pid`` and its subtree, built with a stack of its own rather
        than recursion (a chain of processes may be deeper than Python's limit)."""
        stack = [_Open(self, pid, child_id, restarts)]
        while True:
            top = stack[-1]
            following = next(top.pending, None)
            if following is not None:
                stack.append(_Open(self, *following))
                continue
            stack.pop()
            done = top.close()
            if not stack:
                return done
            stack[-1].built.append(done)


def _name(value: Any) -> str:
    """How a name or id is shown: a str as itself, a class by its name, else repr."""
    if isinstance(value, str):
        return value
    if isinstance(value, type):
        return value.__qualname__
    return repr(value)


def _label(pid: Pid, child_id: Any, info: ProcessInfo | None) -> str:
    kind = _info.label(pid)
    key: Hashable = child_id
    if key is None and info is not None and info.names:
        key = info.names[0]
    if key is None or isinstance(key, Pid) or _name(key) == kind:  # a dynamic child's id is its pid
        return kind
    return f"{_name(key)} ({kind})"


# -- text ---------------------------------------------------------------------------------


def format_tree(root: ServerRef | None = None) -> str:
    """The live tree (`tree`) as text, one process per line, like ``pstree``: its
    label, pid, status, and when there is something to say, its queued messages, the
    callback it runs, its restarts, and a registry's worker count.

    Example:
        ```python
        print(parent.observer.format_tree())
        # runtime: 3 processes
        # └─ app (Supervisor)  <Pid 1 Supervisor>  waiting
        #    ├─ cache (Agent)  <Pid 2 Agent>  waiting  handled 12
        #    └─ jobs (Worker)  <Pid 3 Worker>  running handle_call  mailbox 4  restarts 1
        ```
    """
    top = tree(root)
    lines = [top.label if top.pid is None else _line(top)]
    _lines(top, lines)
    return "\n".join(lines)


def _line(node: Node) -> str:
    parts = [node.label, repr(node.pid)]
    info = node.info
    if info is not None:
        parts.append(info.status if info.current is None else f"{info.status} {info.current}")
        if info.mailbox:
            parts.append(f"mailbox {info.mailbox}")
        if info.handled:
            parts.append(f"handled {info.handled}")
    if node.restarts:
        parts.append(f"restarts {node.restarts}")
    if node.count is not None:
        parts.append(f"{node.count} workers")
    return "  ".join(parts)


def _lines(top: Node, out: list[str]) -> None:
    """The lines under ``top``, drawn with a stack (no recursion limit to reach): each
    entry is a node with its prefix and whether it is its parent's last line, or the
    "more workers" line that ends a registry's sample."""
    stack: list[tuple[Node | int, str, bool]] = []

    def push_under(node: Node, prefix: str) -> None:
        shown = [*node.children, *node.sample]
        more = 0 if node.count is None else node.count - len(node.sample)
        entries: list[tuple[Node | int, str, bool]] = [
            (child, prefix, i == len(shown) - 1 and more <= 0) for i, child in enumerate(shown)
        ]
        if more > 0:
            entries.append((more, prefix, True))
        stack.extend(reversed(entries))

    push_under(top, "")
    while stack:
        entry, prefix, last = stack.pop()
        if isinstance(entry, int):
            out.append(prefix + f"└─ … {entry} more workers")
            continue
        out.append(prefix + ("└─ " if last else "├─ ") + _line(entry))
        push_under(entry, prefix + ("   " if last else "│  "))
