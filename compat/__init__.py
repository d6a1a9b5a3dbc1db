"""Child specifications in every accepted form, and the gen_module configuration.

``compat`` is the bottom layer: ``parent`` and ``genregistry`` build on it, and it
imports neither of them (except ``parent.gen_server``, lazily, as the default
gen_module).

Example:
    ```python
    import compat

    spec = compat.normalize(ExampleWorker)  # ExampleWorker.child_spec(), all keys filled
    legacy = compat.spec.worker(ExampleWorker, [1])  # DeprecationWarning with the dict
    assert compat.to_modern(legacy)["id"] is ExampleWorker
    ```
"""

from __future__ import annotations

from compat import spec
from compat._types import (
    ChildSpec,
    ChildSpecLike,
    ChildTimeout,
    ChildType,
    LegacySpec,
    Restart,
    Shutdown,
    StartFun,
    Strategy,
)
from compat.child_spec import normalize, to_modern
from compat.config import GenModule, configure, gen_module, override

__all__ = [
    "ChildSpec",
    "ChildSpecLike",
    "LegacySpec",
    "Strategy",
    "Restart",
    "ChildType",
    "Shutdown",
    "ChildTimeout",
    "StartFun",
    "normalize",
    "to_modern",
    "spec",
    "configure",
    "gen_module",
    "override",
    "GenModule",
]
