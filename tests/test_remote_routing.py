"""Routing of a sharded registry (genregistry._remote.route) and what the default install
imports (API.md, "genregistry.ray: one registry across a Ray cluster").

An id's shard must be the same in every process and run (Python's ``hash`` of a str is
not), ids equal as dict keys must reach the same worker, distinct ids must not collide
in their encoding, and an id that cannot be routed is refused before any remote work.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from remote_workers import Counter

from genregistry._remote.client import Registry, RemoteRegistry
from genregistry._remote.local import LocalEngine
from genregistry._remote.route import encode, shard_of
from genregistry._remote.shard import Answer

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent


class Small(int):
    """An int subclass: equal to, and the same dict key as, the int it holds."""


leaves = st.one_of(
    st.text(max_size=4), st.binary(max_size=4), st.integers(), st.booleans(), st.just("")
)
ids = st.recursive(leaves, lambda kids: st.lists(kids, max_size=3).map(tuple), max_leaves=8)


def twin(id: Any) -> Any:
    """An id equal to ``id`` as a dict key, made of other objects: bools for 0 and 1
    (and back), an int subclass for other ints, tuples rebuilt."""
    if type(id) is bool:
        return int(id)
    if type(id) is int:
        return bool(id) if id in (0, 1) else Small(id)
    if type(id) is tuple:
        return tuple(twin(item) for item in id)
    return id


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# -- the encoding ------------------------------------------------------------------------


@given(ids)
def test_ids_equal_as_dict_keys_encode_and_route_equally(id: Any) -> None:
    other = twin(id)
    assert other == id and hash(other) == hash(id)  # the premise: one dict key

    assert encode(other) == encode(id)
    assert shard_of(other, 7) == shard_of(id, 7)


@given(ids, ids)
@example("a", b"a")
@example("1", 1)
@example(b"1", 1)
@example(("a", "b"), ("ab",))
@example(("a", ("b",)), (("a", "b"),))
@example((("a",), "b"), ("a", ("b",)))
@example((), "")
@example((), b"")
@example((1,), 1)
@example(("",), "")
@example(("", ""), ("",))
@example(True, (1,))
@example(2**64, 0)
@example(-1, 1)
def test_encoding_is_equal_exactly_when_ids_are(a: Any, b: Any) -> None:
    assert (encode(a) == encode(b)) == (a == b)


@given(ids, st.integers(min_value=1, max_value=64))
def test_shard_of_is_in_range(id: Any, shards: int) -> None:
    assert 0 <= shard_of(id, shards) < shards


# Pinned: a change of hash function or of encoding moves every id of every running
# registry to another shard, so it must be a deliberate change of these numbers.
GOLDEN = [
    ("", b"s0:", 4, 52),
    ("a", b"s1:a", 1, 9),
    (b"a", b"b1:a", 3, 43),
    (0, b"i0;", 3, 43),
    (-1, b"i-1;", 4, 12),
    (2**70, b"i1180591620717411303424;", 7, 31),
    (("a", "b"), b"t2:s1:as1:b", 0, 40),
    (("ab",), b"t1:s2:ab", 7, 31),
    (((),), b"t1:t0:", 1, 49),
    ("phone:+15551234567", b"s18:phone:+15551234567", 0, 56),
]


@pytest.mark.parametrize(("id", "encoded", "of_8", "of_64"), GOLDEN)
def test_golden_encodings_and_shards(id: Any, encoded: bytes, of_8: int, of_64: int) -> None:
    assert (encode(id), shard_of(id, 8), shard_of(id, 64)) == (encoded, of_8, of_64)


SPREAD_IDS = [f"user-{i}" for i in range(40)] + [b"k\x00", ("order", 7, b"x"), "é", 10**30]


def test_shards_are_the_same_in_other_processes_with_other_hash_seeds() -> None:
    code = (
        "import json\n"
        "from genregistry._remote.route import shard_of\n"
        f"ids = {SPREAD_IDS!r}\n"
        "print(json.dumps([hash('user-0'), [shard_of(i, 16) for i in ids]]))\n"
    )
    answers = []
    for seed in ("1", "4242"):
        result = run_python(code, PYTHONHASHSEED=seed)
        assert result.returncode == 0, result.stderr
        answers.append(json.loads(result.stdout))
    (hash_1, shards_1), (hash_2, shards_2) = answers

    assert hash_1 != hash_2  # the premise: Python's own str hash differs between them
    assert shards_1 == shards_2 == [shard_of(i, 16) for i in SPREAD_IDS]
    assert len(set(shards_1)) > 8  # the ids do spread: not one constant shard


# -- ids that cannot be routed -----------------------------------------------------------

BAD_IDS: list[Any] = [
    1.0,
    None,
    [1],
    frozenset({1}),
    bytearray(b"a"),
    ("a", 1.5),
    ("a", (None,)),
    (b"x", frozenset()),
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_an_id_of_another_type_is_a_type_error_naming_it(bad: Any) -> None:
    for route in (encode, lambda id: shard_of(id, 4)):
        with pytest.raises(TypeError, match=re.escape(repr(bad))):
            route(bad)


class CountingEngine(LocalEngine):
    """A `LocalEngine` that counts every request it carries to a shard."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def run(
        self, reg: Registry, index: int, method: str, args: tuple[Any, ...], timeout: float | None
    ) -> Answer:
        self.requests += 1
        return super().run(reg, index, method, args, timeout)

    def run_all(
        self, reg: Registry, method: str, args: tuple[Any, ...], timeout: float | None
    ) -> list[Any]:
        self.requests += 1
        return super().run_all(reg, method, args, timeout)

    def send(self, reg: Registry, index: int, method: str, args: tuple[Any, ...]) -> None:
        self.requests += 1
        super().send(reg, index, method, args)


@pytest.fixture
def counting() -> Iterator[CountingEngine]:
    engine = CountingEngine()
    yield engine
    engine.close()


REQUESTS: dict[str, Callable[[Registry, Any], Any]] = {
    "lookup": lambda reg, id: RemoteRegistry.lookup(reg, id),
    "lookup_or_start": lambda reg, id: RemoteRegistry.lookup_or_start(reg, id, [id]),
    "start": lambda reg, id: RemoteRegistry.start(reg, id, [id]),
    "stop": lambda reg, id: RemoteRegistry.stop(reg, id),
    "call": lambda reg, id: RemoteRegistry.call(reg, id, "get", [id]),
    "cast": lambda reg, id: RemoteRegistry.cast(reg, id, "hello", [id]),
}


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_a_bad_id_is_refused_before_any_remote_work(counting: CountingEngine, method: str) -> None:
    reg = counting.create(Counter, name=f"routing-{method}", shards=4)
    # frozenset and a list would both pickle, and frozenset would even be a valid key
    # in a shard's thread registry: only routing can refuse them
    for bad in (frozenset({"a"}), ("a", [1]), 2.5):
        before = counting.requests
        with pytest.raises(TypeError, match=re.escape(repr(bad))):
            REQUESTS[method](reg, bad)
        assert counting.requests == before, f"{method}({bad!r}) reached a shard"
    assert RemoteRegistry.count(reg) == 0
    REQUESTS["lookup_or_start"](reg, "good")  # the premise: the counter does count
    assert counting.requests > before


# -- what the default install imports ----------------------------------------------------

NO_RAY = """
import sys
sys.modules["ray"] = None  # any `import ray` now raises ImportError
import compat, genregistry, parent
import genregistry._remote.client, genregistry._remote.local
from genregistry._remote.local import LocalEngine
assert sys.modules["ray"] is None, "something replaced the blocked ray module"
assert not [m for m in sys.modules if m.startswith("ray.")]
try:
    import genregistry.ray
except ImportError as e:
    print("ImportError:", e)
else:
    print("imported genregistry.ray without Ray")
"""


def test_the_default_install_never_imports_ray() -> None:
    result = run_python(NO_RAY)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ImportError:"), result.stdout
    assert "genregistry[ray]" in result.stdout
