"""The rows of `run.py`, one module each; importing a module registers its rows with
`harness.benchmark`. ``ROWS`` is the order of the table (and of ``--only``'s names)."""

from __future__ import annotations

import importlib

ROWS = (
    "call",
    "cast",
    "spawn",
    "lookup",
    "lookup_or_start",
    "lookup_or_start_running",
    "rss",
    "shutdown",
)


def load() -> None:
    """Import every row module, in ``ROWS`` order."""
    for name in ROWS:
        importlib.import_module(f"{__name__}.{name}")
