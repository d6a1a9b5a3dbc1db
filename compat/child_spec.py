"""Child specifications: every accepted form, turned into one full modern spec.

A supervisor, a `parent.Parent` and a GenRegistry all start children from a *child
spec*. Users may write one in several forms; `normalize` turns each of them into the
same full `ChildSpec` dict, so the runtime only ever sees one shape:

- a modern spec, a ``dict`` with at least ``id`` and ``start``;
- a class with a ``child_spec()`` method (``cls.child_spec()`` is used);
- a ``(cls, arg)`` tuple (``cls.child_spec(arg)`` is used);
- a legacy Erlang 6-tuple ``(id, (module, function, args), restart, shutdown, type,
  modules)``, as built by `compat.spec.worker` (see `to_modern`).

Errors name the bad key and value and follow one rule:

- ``KeyError``: ``id`` or ``start`` is missing.
- ``TypeError``: the spec is none of the accepted forms, ``id`` is unhashable, or
  ``start`` (or its argument list) is malformed or not callable.
- ``ValueError``: ``id`` is ``None``, a key is unknown (a typo), or the value of
  ``restart``, ``shutdown``, ``type``, ``timeout`` or ``modules`` is not one that key
  accepts, whatever its type (``"shutdown": True`` is a ``ValueError`` too).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import sys
from collections.abc import Callable, Hashable, Mapping
from typing import Any, get_args

from compat._types import ChildSpec, ChildTimeout, ChildType, Restart, Shutdown

__all__ = ["normalize", "to_modern", "default_modules"]

_REQUIRED_KEYS = ("id", "start")
_OPTIONAL_KEYS = ("restart", "shutdown", "type", "modules", "meta", "timeout")
_KEYS = _REQUIRED_KEYS + _OPTIONAL_KEYS
_RESTARTS: tuple[Restart, ...] = get_args(Restart)
_TYPES: tuple[ChildType, ...] = get_args(ChildType)
_SUPPORTED_FORMS = (
    "a dict with 'id' and 'start', a class with child_spec(), a (class, arg) tuple "
    "or a legacy 6-tuple (id, (module, function, args), restart, shutdown, type, modules)"
)
_START_FORMS = "a callable, (callable, args) or (obj, 'function_name', args)"


def normalize(spec: object) -> ChildSpec:
    """Turn any accepted child spec into a new, full modern spec.

    Every key is filled: ``restart`` defaults to ``"permanent"``, ``type`` to
    ``"worker"``, ``shutdown`` to ``5.0`` for a worker and ``"infinity"`` for a
    supervisor, ``timeout`` to ``"infinity"``, ``meta`` to ``None``, and ``modules`` to a
    one-element list: the class a bound start method belongs to, else the module in which
    the start function is defined. ``start`` always comes out as ``(callable, args)`` with
    ``args`` a new ``list``; an integer ``shutdown`` or ``timeout`` becomes a ``float``
    and ``math.inf`` becomes ``"infinity"``. The caller's spec is never modified.

    Args:
        spec: a modern spec dict, a class with ``child_spec()``, a ``(class, arg)`` tuple
            or a legacy 6-tuple. ``child_spec()`` may return a dict or a legacy 6-tuple;
            an exception it raises passes through unchanged.

    Returns:
        A new `ChildSpec` with every key present.

    Raises:
        KeyError: ``id`` or ``start`` is missing.
        TypeError: ``spec`` is none of the accepted forms, ``id`` is unhashable, or
            ``start`` is malformed.
        ValueError: ``id`` is ``None``, a key is unknown, or a value is out of range.

    Example:
        ```python
        from compat import normalize

        def start_cache(size): ...

        spec = normalize({"id": "cache", "start": (start_cache, (100,))})
        assert spec["start"] == (start_cache, [100])
        assert spec["restart"] == "permanent" and spec["shutdown"] == 5.0
        ```
    """
    if isinstance(spec, Mapping):
        return _normalize_mapping(spec, "child spec")
    if isinstance(spec, type):
        return _from_class(spec, ())
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], type):
        return _from_class(spec[0], (spec[1],))
    if isinstance(spec, tuple) and len(spec) == 6:
        return to_modern(spec)
    raise TypeError(f"cannot use {spec!r} as a child spec: expected {_SUPPORTED_FORMS}")


def to_modern(legacy: object) -> ChildSpec:
    """Turn a legacy Erlang 6-tuple into a full modern spec.

    The tuple is ``(id, (module, function, args), restart, shutdown, type, modules)``;
    ``modules`` is a list or ``"dynamic"``. The result is what `normalize` returns for
    the same tuple: ``start`` becomes ``(getattr(module, function), list(args))``.

    Args:
        legacy: the 6-tuple, e.g. from `compat.spec.worker`.

    Returns:
        A new `ChildSpec` with every key present.

    Raises:
        TypeError: ``legacy`` is not a 6-tuple, or its start element is not
            ``(module, "function", args)``.
        ValueError: ``restart``, ``shutdown``, ``type`` or ``modules`` is invalid.

    Example:
        ```python
        from compat import to_modern

        spec = to_modern(
            ("cache", (Cache, "start_link", [100]), "transient", 1.0, "worker", [Cache])
        )
        assert spec["start"] == (Cache.start_link, [100])
        assert spec["restart"] == "transient" and spec["shutdown"] == 1.0
        ```
    """
    if not isinstance(legacy, tuple) or len(legacy) != 6:
        raise TypeError(
            f"a legacy child spec must be a 6-tuple (id, (module, function, args), "
            f"restart, shutdown, type, modules), got {legacy!r}"
        )
    id_, mfa, restart, shutdown, type_, modules = legacy
    if not (isinstance(mfa, tuple) and len(mfa) == 3 and isinstance(mfa[1], str)):
        raise TypeError(
            f"legacy child spec {id_!r}: the start element must be "
            f"(module, 'function_name', args), got {mfa!r}"
        )
    modern = {
        "id": id_,
        "start": mfa,
        "restart": restart,
        "shutdown": shutdown,
        "type": type_,
        "modules": modules,
    }
    return _normalize_mapping(modern, "legacy child spec")


def _from_class(cls: type, args: tuple[Any, ...]) -> ChildSpec:
    """Build the spec of a class through its ``child_spec()``."""
    child_spec = getattr(cls, "child_spec", None)
    if not callable(child_spec):
        raise TypeError(
            f"cannot use class {cls.__qualname__} as a child spec: it has no child_spec() "
            f"method; pass a dict spec such as {{'id': ..., 'start': ...}} instead"
        )
    result = child_spec(*args)
    if isinstance(result, Mapping):
        return _normalize_mapping(result, "child spec")
    if isinstance(result, tuple) and len(result) == 6:
        return to_modern(result)
    raise TypeError(
        f"{cls.__qualname__}.child_spec() returned {result!r}; expected a dict child spec"
    )


def _normalize_mapping(spec: Mapping[Any, Any], kind: str) -> ChildSpec:
    """Validate a dict spec and return a new one with every default filled."""
    for key in _REQUIRED_KEYS:
        if key not in spec:
            raise KeyError(f"{kind} is missing the required key {key!r}: {dict(spec)!r}")
    id_ = _check_id(spec["id"], kind)
    where = f"{kind} {id_!r}"
    _check_known_keys(spec, where)
    fn, args = _resolve_start(spec["start"], where)
    type_ = _check_choice(spec.get("type", "worker"), _TYPES, "type", where)
    default_shutdown: Shutdown = 5.0 if type_ == "worker" else "infinity"
    modules = spec.get("modules")
    return {
        "id": id_,
        "start": (fn, args),
        "restart": _check_choice(spec.get("restart", "permanent"), _RESTARTS, "restart", where),
        "shutdown": _check_shutdown(spec.get("shutdown", default_shutdown), where),
        "type": type_,
        "modules": default_modules(fn) if modules is None else _check_modules(modules, where),
        "meta": spec.get("meta"),
        "timeout": _check_timeout(spec.get("timeout", "infinity"), where),
    }


def _check_id(id_: object, kind: str) -> Hashable:
    if id_ is None:
        raise ValueError(f"{kind}: 'id' must not be None; use any other hashable value")
    try:
        hash(id_)
    except TypeError:
        raise TypeError(
            f"{kind}: 'id' must be hashable, got {id_!r} of type {type(id_).__qualname__}"
        ) from None
    return id_


def _check_known_keys(spec: Mapping[Any, Any], where: str) -> None:
    for key in spec:
        if key in _KEYS:
            continue
        guesses = difflib.get_close_matches(str(key), _KEYS, n=1)
        hint = f" (did you mean {guesses[0]!r}?)" if guesses else ""
        valid = ", ".join(repr(k) for k in _KEYS)
        raise ValueError(f"{where} has an unknown key {key!r}{hint}; valid keys: {valid}")


def _resolve_start(start: object, where: str) -> tuple[Callable[..., Any], list[Any]]:
    """Return ``start`` as ``(callable, list_of_args)``."""
    if not isinstance(start, tuple):
        if callable(start):
            return start, []
        raise TypeError(f"{where}: 'start' must be {_START_FORMS}, got {start!r}")
    if len(start) == 2:
        fn, args = start
        if not callable(fn):
            raise TypeError(f"{where}: 'start' {start!r} does not begin with a callable")
    elif len(start) == 3:
        obj, name, args = start
        fn = _lookup_function(obj, name, where)
    else:
        raise TypeError(f"{where}: 'start' must be {_START_FORMS}, got {start!r}")
    if not isinstance(args, (list, tuple)):
        raise TypeError(
            f"{where}: the args of 'start' must be a list or tuple, got {args!r}; "
            f"write [arg] for a single argument"
        )
    return fn, list(args)


def _lookup_function(obj: object, name: object, where: str) -> Callable[..., Any]:
    if not isinstance(name, str):
        raise TypeError(
            f"{where}: in 'start' (obj, function_name, args) the function name must be "
            f"a str, got {name!r}"
        )
    try:
        fn: object = getattr(obj, name)
    except AttributeError:
        raise TypeError(
            f"{where}: 'start' names {name!r}, but {obj!r} has no attribute {name!r}"
        ) from None
    if not callable(fn):
        raise TypeError(f"{where}: 'start' names {name!r}, but {obj!r}.{name} is not callable")
    return fn


def default_modules(fn: Callable[..., Any]) -> list[Any]:
    """The class a bound start method belongs to, else the module defining ``fn``.

    This is what `normalize` fills in for ``modules``. Not exported from ``compat``;
    `compat.spec` uses it to render the modern equivalent of a legacy spec.

    Example:
        ```python
        import json
        from compat.child_spec import default_modules

        assert default_modules(Cache.start_link) == [Cache]  # a classmethod
        assert default_modules(json.dumps) == [json]
        ```
    """
    if isinstance(fn, functools.partial):
        return default_modules(fn.func)
    if inspect.ismethod(fn):
        owner = fn.__self__
        return [owner if isinstance(owner, type) else type(owner)]
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    return [module if module is not None else fn]


def _check_choice(value: Any, choices: tuple[str, ...], key: str, where: str) -> Any:
    if isinstance(value, str) and value in choices:
        return value
    expected = ", ".join(repr(choice) for choice in choices)
    raise ValueError(f"{where}: {key!r} must be one of {expected}, got {value!r}")


def _check_shutdown(value: object, where: str) -> Shutdown:
    if value == "infinity" or value == "brutal_kill":
        return value
    seconds = _seconds(value)
    if seconds is not None and seconds >= 0:
        return "infinity" if math.isinf(seconds) else seconds
    raise ValueError(
        f"{where}: 'shutdown' must be a number of seconds >= 0, 'infinity' or "
        f"'brutal_kill', got {value!r}"
    )


def _check_timeout(value: object, where: str) -> ChildTimeout:
    if value == "infinity":
        return value
    seconds = _seconds(value)
    if seconds is not None and seconds > 0:
        return "infinity" if math.isinf(seconds) else seconds
    raise ValueError(
        f"{where}: 'timeout' must be a number of seconds > 0 or 'infinity', got {value!r}"
    )


def _check_modules(value: object, where: str) -> Any:
    if value == "dynamic":
        return "dynamic"
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ValueError(f"{where}: 'modules' must be a list or 'dynamic', got {value!r}")


def _seconds(value: object) -> float | None:
    """``value`` as a float if it is an int or float (not a bool, not NaN), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)
