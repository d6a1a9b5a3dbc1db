"""The *gen_module*: the object through which GenRegistry sends its server-side calls.

GenRegistry does not call ``parent.gen_server.call`` directly; it calls
``compat.gen_module().call(registry, request, timeout)``. Any object with such a ``call``
method may stand in (a test double, a tracing wrapper): see `GenModule`.

Where the gen_module comes from, first match wins:

1. `configure` (or an active `override`);
2. the environment variable ``GENREGISTRY_GEN_MODULE``, ``"package.module"`` or
   ``"package.module:attr"``. Its form is checked when ``compat`` is imported (a
   ``ValueError`` naming the variable and value); the module is imported on the first
   `gen_module` call, so that it may itself import ``compat``. An empty value counts as
   unset;
3. the module ``parent.gen_server``, imported on the first `gen_module` call.

Thread safety: `configure` is a single attribute write and `gen_module` a single
attribute read, so both may be called from any thread; a change is seen by every call
that starts after it. `override` changes the same process-wide value (it is not
per-thread): use it in tests, not while other threads reconfigure.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, cast

__all__ = ["GenModule", "configure", "gen_module", "override"]

_ENV_VAR = "GENREGISTRY_GEN_MODULE"
_DEFAULT_MODULE = "parent.gen_server"


class GenModule(Protocol):
    """Anything with ``call(server, request, timeout)``; the module ``parent.gen_server``
    is one.

    ``call`` sends ``request`` to ``server`` and returns the reply, waiting at most
    ``timeout`` seconds (``None``: forever).

    Example:
        ```python
        import compat
        from parent import gen_server

        class Tracing:
            def call(self, server, request, timeout):
                print("->", server, request)
                return gen_server.call(server, request, timeout)

        compat.configure(gen_module=Tracing())
        ```
    """

    def call(self, server: Any, request: Any, timeout: float | None) -> Any:
        """Send ``request`` to ``server`` and return the reply."""
        ...


_configured: GenModule | None = None
"""Set by `configure` and `override`; ``None`` means "use the default"."""

_default: GenModule | None = None
"""The default (from the environment, else ``parent.gen_server``) once imported."""


def configure(*, gen_module: GenModule) -> None:
    """Make ``gen_module`` the gen_module of every later registry call.

    Args:
        gen_module: an object with a callable ``call(server, request, timeout)``.

    Raises:
        TypeError: ``gen_module`` has no callable ``call``.

    Example:
        ```python
        import compat
        from parent import gen_server

        compat.configure(gen_module=gen_server)
        assert compat.gen_module() is gen_server
        ```
    """
    global _configured
    _configured = _checked(gen_module, "configure(gen_module=...)")


def gen_module() -> GenModule:
    """Return the gen_module in effect.

    That is the one given to `configure` or `override`, else the one named by
    ``GENREGISTRY_GEN_MODULE``, else the module ``parent.gen_server``.

    Raises:
        ImportError: the module or attribute named by ``GENREGISTRY_GEN_MODULE``
            cannot be imported.
        TypeError: the object named by ``GENREGISTRY_GEN_MODULE`` has no callable
            ``call``.

    Example:
        ```python
        import compat

        reply = compat.gen_module().call(registry, ("count",), 5.0)
        ```
    """
    configured = _configured
    if configured is not None:
        return configured
    return _default if _default is not None else _load_default()


@contextmanager
def override(*, gen_module: GenModule) -> Iterator[GenModule]:
    """Use ``gen_module`` inside a ``with`` block, then restore the previous one.

    The previous gen_module comes back even when the block raises. Overrides nest.

    Args:
        gen_module: an object with a callable ``call(server, request, timeout)``.

    Raises:
        TypeError: ``gen_module`` has no callable ``call``.

    Example:
        ```python
        import compat

        class Refuse:
            def call(self, server, request, timeout):
                raise TimeoutError

        with compat.override(gen_module=Refuse()) as fake:
            assert compat.gen_module() is fake
        ```
    """
    global _configured
    checked = _checked(gen_module, "override(gen_module=...)")
    previous = _configured
    _configured = checked
    try:
        yield checked
    finally:
        _configured = previous


def _checked(obj: object, where: str) -> GenModule:
    if not callable(getattr(obj, "call", None)):
        raise TypeError(
            f"{where}: {obj!r} is not a gen_module: it needs a callable "
            f"call(server, request, timeout)"
        )
    return cast(GenModule, obj)


def _load_default() -> GenModule:
    global _default
    if _env_value is None:
        _default = cast(GenModule, importlib.import_module(_DEFAULT_MODULE))
    else:
        _default = _resolve(_env_value)
    return _default


def _read_environment() -> str | None:
    """The checked value of ``GENREGISTRY_GEN_MODULE``, ``None`` when unset or empty."""
    value = os.environ.get(_ENV_VAR, "").strip()
    if not value:
        return None
    module, colon, attr = value.partition(":")
    if not _is_dotted_name(module) or (colon and not _is_dotted_name(attr)):
        raise ValueError(
            f"{_ENV_VAR}={value!r} is not a valid gen_module: expected 'package.module' "
            f"or 'package.module:attr', e.g. 'parent.gen_server'"
        )
    return value


def _resolve(value: str) -> GenModule:
    """Import the object named by an ``GENREGISTRY_GEN_MODULE`` value."""
    module_name, _, attr = value.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"{_ENV_VAR}={value!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    for part in attr.split(".") if attr else []:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(
                f"{_ENV_VAR}={value!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    return _checked(obj, f"{_ENV_VAR}={value!r}")


def _is_dotted_name(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


_env_value: str | None = _read_environment()
"""``GENREGISTRY_GEN_MODULE``, read once when ``compat`` is imported."""
