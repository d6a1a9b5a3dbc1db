"""The observer's web page (being written: issue 12)."""

from __future__ import annotations


class Server:
    """A running observer page."""

    url: str

    def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError


def serve(host: str = "127.0.0.1", port: int = 0) -> Server:
    """Serve the live tree."""
    raise NotImplementedError
