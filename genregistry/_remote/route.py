"""Routing: an id's shard, by a stable hash of a canonical encoding of the id.

Python's ``hash`` of a ``str`` or ``bytes`` changes from one process to the next
(``PYTHONHASHSEED``), so it cannot route across a cluster. The encoding below is the
same in every process and run; ids that are equal as dict keys (``1``, ``True``) encode
the same, so they reach the same shard and the same worker, as they would locally.
"""

from __future__ import annotations

import hashlib

__all__ = ["encode", "shard_of"]


def _encode(value: object, out: list[bytes], top: object) -> None:
    # a tag byte, then a length where the value's end would otherwise be ambiguous
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(data))
        out.append(data)
    elif isinstance(value, int):  # bool too: True and 1 are one dict key
        out.append(b"i%d;" % int(value))
    elif isinstance(value, bytes):
        out.append(b"b%d:" % len(value))
        out.append(bytes(value))
    elif isinstance(value, tuple):
        out.append(b"t%d:" % len(value))
        for item in value:
            _encode(item, out, top)
    else:
        raise TypeError(
            f"a remote registry id must be a str, int, bytes or a tuple of them, got {top!r} "
            f"(it holds {value!r}, a {type(value).__name__})"
        )


def encode(id: object) -> bytes:
    """The canonical encoding of ``id``.

    Raises:
        TypeError: ``id`` is not a ``str``, ``int``, ``bytes`` or a tuple of them.
    """
    out: list[bytes] = []
    _encode(id, out, id)
    return b"".join(out)


def shard_of(id: object, shards: int) -> int:
    """The index (``0 <= i < shards``) of ``id``'s shard."""
    digest = hashlib.blake2b(encode(id), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards
