"""The legacy (pre-Elixir-1.5) child spec of a registry, for code being migrated."""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from typing import Any

from compat._types import LegacySpec
from genregistry.registry import GenRegistry

__all__ = ["Spec"]


def _name(value: Any) -> str:
    return getattr(value, "__qualname__", None) or repr(value)


class Spec:
    """``Spec.child_spec`` builds the legacy 6-tuple child spec of a registry.

    Example:
        ```python
        children = [genregistry.Spec.child_spec(Worker, name="reads")]   # deprecated
        children = [GenRegistry.child_spec(worker_module=Worker, name="reads")]  # modern
        ```
    """

    @staticmethod
    def child_spec(worker_module: Any, *, name: Hashable = None) -> LegacySpec:
        """``(name, (GenRegistry, "start_link", [worker_module, name]), "permanent",
        "infinity", "supervisor", [GenRegistry])`` with ``name`` defaulting to
        ``worker_module``. Emits a `DeprecationWarning` showing the modern spec.

        Example:
            ```python
            spec = genregistry.Spec.child_spec(Worker)
            assert spec[0] is Worker
            ```
        """
        if name is None:
            name = worker_module
        modern = f"GenRegistry.child_spec(worker_module={_name(worker_module)}"
        options = f"{{'worker_module': {_name(worker_module)}"
        if name is not worker_module:
            modern += f", name={_name(name)}"
            options += f", 'name': {_name(name)}"
        modern += ")"
        options += "}"
        warnings.warn(
            f"genregistry.Spec.child_spec is deprecated; use the modern child spec {modern} "
            f"or, in a children list, (GenRegistry, {options}) instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return (
            name,
            (GenRegistry, "start_link", [worker_module, name]),
            "permanent",
            "infinity",
            "supervisor",
            [GenRegistry],
        )
