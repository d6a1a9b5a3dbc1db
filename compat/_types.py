"""Types shared by every layer: child-spec shapes and the supervision literals.

They live in the bottom layer (``compat``) so that ``parent`` and ``genregistry`` can
import them without a cycle; ``parent`` re-exports ``Strategy``, ``Restart``,
``ChildType`` and ``Shutdown``.
"""

# No "from __future__ import annotations" here: TypedDict reads Required/NotRequired at
# runtime, and with postponed annotations ChildSpec.__required_keys__ would be empty.

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal, TypeAlias

from typing_extensions import NotRequired, Required, TypedDict

Strategy: TypeAlias = Literal["one_for_one", "one_for_all", "rest_for_one"]
"""A supervisor's restart strategy, as in Erlang."""

Restart: TypeAlias = Literal["permanent", "transient", "temporary"]
"""When a supervisor restarts a child: always, after an abnormal exit, or never."""

ChildType: TypeAlias = Literal["worker", "supervisor"]
"""Whether a child is a worker or a supervisor (changes its default ``shutdown``)."""

Shutdown: TypeAlias = float | Literal["infinity", "brutal_kill"]
"""Seconds to wait after the ``"shutdown"`` exit signal before killing a child, or
``"infinity"`` (wait forever) or ``"brutal_kill"`` (kill at once)."""

ChildTimeout: TypeAlias = float | Literal["infinity"]
"""Seconds after which a `parent.Parent` kills a child, or ``"infinity"``."""

StartFun: TypeAlias = (
    Callable[[], Any] | tuple[Callable[..., Any], Sequence[Any]] | tuple[Any, str, Sequence[Any]]
)
"""How a child is started: a zero-argument callable, ``(callable, args)`` or
``(obj, "function_name", args)``. It must start a process linked to the caller and
return its `parent.Pid`."""


class ChildSpec(TypedDict, total=False):
    """The modern child specification (a plain ``dict``).

    Only ``id`` and ``start`` are required; `compat.normalize` fills every other key.

    Example:
        ```python
        spec: ChildSpec = {"id": "cache", "start": (Cache.start_link, [])}
        ```
    """

    id: Required[Any]
    start: Required[StartFun]
    restart: NotRequired[Restart]
    shutdown: NotRequired[Shutdown]
    type: NotRequired[ChildType]
    modules: NotRequired[list[Any] | Literal["dynamic"]]
    meta: NotRequired[Any]
    timeout: NotRequired[ChildTimeout]


LegacySpec: TypeAlias = tuple[
    Hashable, tuple[Any, str, Sequence[Any]], Restart, Shutdown, ChildType, Any
]
"""The Erlang 6-tuple ``(id, (module, function, args), restart, shutdown, type, modules)``."""


ChildSpecLike: TypeAlias = ChildSpec | type[Any] | tuple[Any, ...]
"""Anything accepted where a child spec is expected: a `ChildSpec` dict, a class with
``child_spec``, a ``(class, arg)`` tuple or a legacy 6-tuple. A dict literal can only be
a `ChildSpec`, so mypy reports a spec without ``start`` or with a misspelt key."""
