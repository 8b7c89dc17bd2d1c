"""``orderBy`` (GS CIM 009 V1.9 query parameter): sort keys for entity queries.

``type;asc,name.subProperty;desc,name`` sorts by type, then a sub-attribute's value
descending, then an attribute's value; entities lacking a key sort last.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hub.errors import BadRequestData

__all__ = ["compile_order_by", "walk_attribute"]

_KEY = re.compile(r"^[^\s;,=<>\"'()]+$")
_SYSTEM = {"id": "e.id", "type": "e.types[1]", "createdAt": "e.created_at",
           "modifiedAt": "e.modified_at"}
_META = {"createdAt", "modifiedAt", "observedAt", "unitCode", "datasetId"}


def compile_order_by(
    text: str, expand: Callable[[str], str], first_param: int
) -> tuple[list[str], list[str]]:
    """(ORDER BY expressions, their text parameters) numbered from ``first_param``."""
    exprs: list[str] = []
    params: list[str] = []

    def param(value: str) -> str:
        params.append(value)
        return f"${first_param + len(params) - 1}::text"

    for item in text.split(","):
        path, _, direction = item.partition(";")
        direction = direction or "asc"
        if direction not in ("asc", "desc") or not _KEY.match(path):
            raise BadRequestData(f"invalid orderBy item {item!r}")
        order = "DESC NULLS LAST" if direction == "desc" else "ASC NULLS LAST"
        if path in _SYSTEM:
            exprs.append(f"{_SYSTEM[path]} {order}")
            continue
        parts = path.split(".")
        sql = f"(e.attrs -> {param(expand(parts[0]))} -> 0"
        for sub in parts[1:]:
            sql += f" -> {param(sub if sub in _META else expand(sub))}"
        last = parts[-1] if len(parts) > 1 else None
        sql += ")" if last in _META else " -> 'value')"
        exprs.append(f"{sql} {order}")
    return exprs, params


def walk_attribute(text: str, expand: Callable[[str], str]) -> str | None:
    """The expanded attribute a query may walk in value order (``store.entities``
    ``fetch_entities``): the first key, when it is ascending on a top-level attribute's
    ``value``, the one order the ``entity_values`` index ``(attr, num, eid)`` holds
    (further keys only break the ties of the page's boundary group). None otherwise.

    Not descending: jsonb sorts booleans, arrays and objects above every number, and
    the value index holds none of them, so a backward walk could not know that no such
    entity comes first without reading every match."""
    path, _, direction = text.split(",", 1)[0].partition(";")
    if direction not in ("", "asc") or "." in path or path in _SYSTEM:
        return None
    return expand(path) if _KEY.match(path) else None
