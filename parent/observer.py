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
from collections.abc import Hashable
from typing import Any

from parent import _info
from parent._info import Children, Frames, ProcessInfo
from parent._observer_http import Server, serve
from parent._runtime import Pid
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
        info = self.info
        return {
            "pid": None if self.pid is None else repr(self.pid),
            "number": None if self.pid is None else _info.number(self.pid),
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
            "sample": [n.to_dict() for n in self.sample],
            "children": [n.to_dict() for n in self.children],
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
        if top is None or not top._alive:
            what = f"no process is registered under {root!r}" if top is None else f"{top!r}"
            raise NoProcess(f"observer.tree: {what} is not alive")
    procs = _info.processes()
    kids: dict[Pid | None, list[Pid]] = {}
    for p in procs:
        parent = p._parent
        if parent is not None and not parent._alive:
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


class _Builder:
    __slots__ = ("frames", "kids")

    def __init__(self, kids: dict[Pid | None, list[Pid]]) -> None:
        self.kids = kids
        self.frames = Frames()  # one stack snapshot for the whole tree, if needed

    def node(self, pid: Pid, child_id: Any, restarts: int | None) -> Node:
        info = _info.info(pid, self.frames)
        server = pid._server
        observed: Children | None = None if server is None else server._observe()
        if observed is not None and observed.workers is not None:  # a registry
            sample = tuple(self.node(w, i, None) for i, w in observed.sample if w._alive)
            return Node(
                pid,
                _label(pid, child_id, info),
                info,
                (),
                observed.workers,
                sample,
                restarts or 0,
                child_id,
            )
        children = []
        for kid in self.kids.get(pid, ()):
            kid_id = None if observed is None else observed.ids.get(kid)
            kid_restarts = None if observed is None else observed.restarts.get(kid_id)
            children.append(self.node(kid, kid_id, kid_restarts))
        return Node(
            pid,
            _label(pid, child_id, info),
            info,
            tuple(children),
            restarts=restarts or 0,
            child_id=child_id,
        )


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
    _lines(top, "", lines)
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


def _lines(node: Node, prefix: str, out: list[str]) -> None:
    shown = [*node.children, *node.sample]
    more = 0 if node.count is None else node.count - len(node.sample)
    for i, child in enumerate(shown):
        last = i == len(shown) - 1 and more <= 0
        out.append(prefix + ("└─ " if last else "├─ ") + _line(child))
        _lines(child, prefix + ("   " if last else "│  "), out)
    if more > 0:
        out.append(prefix + f"└─ … {more} more workers")
