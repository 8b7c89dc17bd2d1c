"""The order an entity query's ``orderBy`` must give, computed in Python: the oracle the
walk and sort tests compare every plan against (``ORDER BY attrs -> name -> 0 -> 'value'``
per key, NULLS LAST both ways, ties by creation)."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

__all__ = ["oracle"]


def _rank(v: Any) -> tuple[Any, ...]:
    """jsonb's order: objects > arrays > booleans > numbers > strings (one-letter strings
    here, which every collation orders alike)."""
    if isinstance(v, bool):
        return (3, v)
    if isinstance(v, int | float):
        return (2, Decimal(str(v)))
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (4, len(v), [_rank(x) for x in v])
    assert isinstance(v, dict)
    return (5, len(v), sorted((k, _rank(x)) for k, x in v.items()))


def _key(ent: dict[str, Any], name: str) -> Any:
    """What ``attrs -> name -> 0 -> 'value'`` holds, None for SQL NULL."""
    v = ent.get(name)
    first = v[0] if isinstance(v, list) else v
    return None if first is None or "value" not in first else _rank(first["value"])


def oracle(ents: list[dict[str, Any]], pks: dict[str, int], order: str) -> list[str]:
    keys_ = [(k.partition(";")[0], k.partition(";")[2] == "desc") for k in order.split(",")]

    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for name, desc in keys_:
            ra, rb = _key(a, name), _key(b, name)
            if ra is None or rb is None:  # NULLS LAST both ways
                if (ra is None) != (rb is None):
                    return 1 if ra is None else -1
                continue
            if ra != rb:
                return (1 if ra > rb else -1) * (-1 if desc else 1)
        return pks[a["id"]] - pks[b["id"]]

    return [e["id"] for e in sorted(ents, key=functools.cmp_to_key(cmp))]
