"""Deprecated helpers that build legacy child specs, as Elixir's ``Supervisor.Spec`` did.

`worker` and `supervisor` return the Erlang 6-tuple
``(id, (module, function, args), restart, shutdown, type, modules)`` and `supervise`
returns ``((strategy, max_restarts, max_seconds), children)``. Supervisors still accept
these values, but each helper emits a ``DeprecationWarning`` whose message holds the
modern equivalent as Python source, ready to paste. See ``docs/migration.md``.

Example:
    ```python
    from compat import spec

    children = [spec.worker(Cache, [100]), spec.supervisor(Jobs, restart="transient")]
    # DeprecationWarning: ... {"id": Cache, "start": (Cache.start_link, [100])}
    ```
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias, TypeGuard, get_args

from compat._intensity import check_intensity
from compat._types import ChildType, LegacySpec, Restart, Shutdown, Strategy
from compat.child_spec import default_modules, to_modern

__all__ = ["worker", "supervisor", "supervise"]

_STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)

_Modules: TypeAlias = list[Any] | Literal["dynamic"]


def worker(
    module: Any,
    args: Sequence[Any] = (),
    *,
    id: Any = None,
    function: str = "start_link",
    restart: Restart = "permanent",
    shutdown: Shutdown = 5.0,
    modules: _Modules | None = None,
) -> LegacySpec:
    """Build the legacy spec of a worker child (deprecated: write a dict instead).

    Args:
        module: the class (or module) whose ``function`` starts the child.
        args: the arguments passed to ``module.function``.
        id: the child's id; defaults to ``module``.
        function: the name of the start function on ``module``.
        restart: ``"permanent"``, ``"transient"`` or ``"temporary"``.
        shutdown: seconds to wait for a clean stop, ``"infinity"`` or ``"brutal_kill"``.
        modules: defaults to ``[module]``; may be ``"dynamic"``.

    Returns:
        ``(id, (module, function, list(args)), restart, shutdown, "worker", modules)``.

    Example:
        ```python
        from compat import spec

        spec.worker(ExampleWorker, [1, 2])
        # -> (ExampleWorker, (ExampleWorker, "start_link", [1, 2]), "permanent", 5.0,
        #     "worker", [ExampleWorker])
        # The modern equivalent, shown by the DeprecationWarning:
        {"id": ExampleWorker, "start": (ExampleWorker.start_link, [1, 2])}
        ```
    """
    legacy = _child(module, args, id, function, restart, shutdown, "worker", modules)
    warnings.warn(_deprecated("worker", _render_child(legacy)), DeprecationWarning, stacklevel=2)
    return legacy


def supervisor(
    module: Any,
    args: Sequence[Any] = (),
    *,
    id: Any = None,
    function: str = "start_link",
    restart: Restart = "permanent",
    shutdown: Shutdown = "infinity",
    modules: _Modules | None = None,
) -> LegacySpec:
    """Build the legacy spec of a supervisor child (deprecated: write a dict instead).

    The same as `worker`, except that ``shutdown`` defaults to ``"infinity"`` and the
    type is ``"supervisor"``.

    Returns:
        ``(id, (module, function, list(args)), restart, shutdown, "supervisor", modules)``.

    Example:
        ```python
        from compat import spec

        spec.supervisor(Jobs, restart="transient")
        # The modern equivalent, shown by the DeprecationWarning:
        {"id": Jobs, "start": (Jobs.start_link, []), "restart": "transient",
         "type": "supervisor"}
        ```
    """
    legacy = _child(module, args, id, function, restart, shutdown, "supervisor", modules)
    message = _deprecated("supervisor", _render_child(legacy))
    warnings.warn(message, DeprecationWarning, stacklevel=2)
    return legacy


def supervise(
    children: Sequence[Any],
    *,
    strategy: Strategy,
    max_restarts: int = 3,
    max_seconds: float = 5.0,
) -> tuple[tuple[Strategy, int, float], list[Any]]:
    """Build a legacy supervisor configuration (deprecated: use ``supervisor.init``).

    Return it from ``init`` of a `parent.Supervisor` subclass.

    Args:
        children: the child specs, in any accepted form.
        strategy: ``"one_for_one"``, ``"one_for_all"`` or ``"rest_for_one"``.
        max_restarts: restarts allowed within ``max_seconds``.
        max_seconds: the length of the restart intensity window.

    Returns:
        ``((strategy, max_restarts, max_seconds), list(children))``.

    Raises:
        ValueError: ``strategy`` is unknown, ``max_restarts`` is negative or
            ``max_seconds`` is not positive.

    Example:
        ```python
        from compat import spec

        class Tree(parent.Supervisor):
            def init(self):
                return spec.supervise([spec.worker(Cache)], strategy="one_for_one")
        # The modern equivalent, shown by the DeprecationWarning:
        # supervisor.init([{"id": Cache, "start": (Cache.start_link, [])}],
        #                 strategy="one_for_one", max_restarts=3, max_seconds=5.0)
        ```
    """
    _check_intensity(strategy, max_restarts, max_seconds)
    rendered_children = ", ".join(_render_child_or_value(child) for child in children)
    modern = (
        f"supervisor.init([{rendered_children}], strategy={_render(strategy)}, "
        f"max_restarts={max_restarts!r}, max_seconds={max_seconds!r})"
    )
    warnings.warn(_deprecated("supervise", modern), DeprecationWarning, stacklevel=2)
    return (strategy, max_restarts, max_seconds), list(children)


def _child(
    module: Any,
    args: Sequence[Any],
    id: Any,
    function: str,
    restart: Restart,
    shutdown: Shutdown,
    type_: ChildType,
    modules: _Modules | None,
) -> LegacySpec:
    """Build the 6-tuple and check it the way a supervisor will, so errors show here."""
    legacy: LegacySpec = (
        module if id is None else id,
        (module, function, list(args)),
        restart,
        shutdown,
        type_,
        [module] if modules is None else modules,
    )
    to_modern(legacy)
    return legacy


def _check_intensity(strategy: object, max_restarts: object, max_seconds: object) -> None:
    if strategy not in _STRATEGIES:
        expected = ", ".join(repr(s) for s in _STRATEGIES)
        raise ValueError(f"supervise: 'strategy' must be one of {expected}, got {strategy!r}")
    check_intensity(max_restarts, max_seconds, "supervise")


def _deprecated(helper: str, modern: str) -> str:
    return f"compat.spec.{helper}() is deprecated; write the modern equivalent instead: {modern}"


def _render_child(legacy: LegacySpec) -> str:
    """The modern dict literal for a legacy tuple, with only its non-default keys."""
    id_, (module, function, args), restart, shutdown, type_, modules = legacy
    items = [("id", _render(id_)), ("start", _render_start(module, function, args))]
    if restart != "permanent":
        items.append(("restart", _render(restart)))
    if shutdown != (5.0 if type_ == "worker" else "infinity"):
        items.append(("shutdown", _render(shutdown)))
    if type_ != "worker":
        items.append(("type", _render(type_)))
    if modules != _modern_default_modules(module, function):
        items.append(("modules", _render(modules)))
    return "{" + ", ".join(f'"{key}": {value}' for key, value in items) + "}"


def _modern_default_modules(module: Any, function: str) -> list[Any]:
    """What `compat.normalize` fills in for ``modules`` when the spec leaves it out."""
    fn = getattr(module, function, None)
    return default_modules(fn) if callable(fn) else [module]


def _render_child_or_value(child: object) -> str:
    return _render_child(child) if _is_legacy(child) else _render(child)


def _is_legacy(child: object) -> TypeGuard[LegacySpec]:
    return (
        isinstance(child, tuple)
        and len(child) == 6
        and isinstance(child[1], tuple)
        and len(child[1]) == 3
        and isinstance(child[1][1], str)
    )


def _render_start(module: Any, function: str, args: Sequence[Any]) -> str:
    if function.isidentifier():
        return f"({_render(module)}.{function}, {_render(list(args))})"
    return f"({_render(module)}, {_render(function)}, {_render(list(args))})"


def _render(value: object) -> str:
    """Python source for ``value``: classes and functions by name, the rest by repr."""
    if isinstance(value, str):
        return _render_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_render(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        pairs = (f"{_render(k)}: {_render(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, types.ModuleType):
        return value.__name__
    name = getattr(value, "__qualname__", None)
    if callable(value) and isinstance(name, str):
        return name
    return repr(value)


def _render_str(text: str) -> str:
    """``repr(text)``, but in double quotes when that needs no escaping."""
    source = repr(text)
    if source.startswith("'") and '"' not in text:
        return '"' + source[1:-1] + '"'
    return source
