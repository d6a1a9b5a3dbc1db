"""parent.run: the application entry (being written: issue 12)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from compat._types import Strategy


def run(
    children: Sequence[Any],
    *,
    strategy: Strategy = "one_for_one",
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    name: Hashable = None,
) -> object:
    """Run ``children`` under a top supervisor until SIGINT or SIGTERM."""
    raise NotImplementedError
