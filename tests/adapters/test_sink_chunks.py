"""The sink's request bodies: a batch that fits is one body, a larger one is cut between
entities, and either way the bodies hold exactly the batch, in order."""

from __future__ import annotations

import orjson
import pytest

from adapters.sdk.sink import _chunks


def _entities(n: int) -> list[dict[str, object]]:
    return [{"id": f"urn:ngsi-ld:Thing:{i}", "type": "Thing",
             "name": {"type": "Property", "value": "長野" * (i % 5)}} for i in range(n)]


@pytest.mark.parametrize("max_bytes", [1 << 20, 2000, 300, 10])
def test_bodies_hold_the_batch_in_order_within_the_limit(max_bytes: int) -> None:
    entities = _entities(50)
    bodies = _chunks(entities, max_bytes)
    assert [e for b in bodies for e in orjson.loads(b)] == entities
    for b in bodies:
        assert len(b) <= max_bytes or len(orjson.loads(b)) == 1  # one entity may exceed it
    if max_bytes == 1 << 20:
        assert bodies == [orjson.dumps(entities)]
    else:
        assert len(bodies) > 1


def test_an_empty_batch_sends_nothing() -> None:
    assert _chunks([], 100) == []
