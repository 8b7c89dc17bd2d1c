"""``pick`` and ``omit`` projections (GS CIM 009 4.21), nested for linked entities (4.5.23).

``id,locatedAt{id,name,isInCountry{description}}`` selects members of the entity and, in
braces, of the entity a Relationship links to.
"""

from __future__ import annotations

import re

from hub.errors import BadRequestData

__all__ = ["Projection", "parse_projection"]

Projection = dict[str, "Projection | None"]
_NAME = re.compile(r"[^,{}\s;=<>\"'()]+")


#: deepest nesting of braces in pick/omit; longest projection accepted
MAX_PROJECTION_DEPTH = 16
MAX_PROJECTION_LENGTH = 8192


def parse_projection(text: str) -> Projection:
    if len(text) > MAX_PROJECTION_LENGTH:
        raise BadRequestData(f"a projection is longer than {MAX_PROJECTION_LENGTH} characters")
    pos = 0
    depth = 0  # open braces: bounded, so no input reaches the recursion limit

    def fail(msg: str) -> BadRequestData:
        return BadRequestData(f"invalid projection {text!r}: {msg} at position {pos}")

    def members() -> Projection:
        nonlocal pos, depth
        depth += 1
        if depth > MAX_PROJECTION_DEPTH:
            raise fail(f"braces nest deeper than {MAX_PROJECTION_DEPTH} levels")
        out: Projection = {}
        while True:
            m = _NAME.match(text, pos)
            if m is None:
                raise fail("attribute name expected")
            name = m.group(0)
            pos = m.end()
            nested: Projection | None = None
            if pos < len(text) and text[pos] == "{":
                pos += 1
                nested = members()
                if pos >= len(text) or text[pos] != "}":
                    raise fail("unclosed brace")
                pos += 1
                depth -= 1
            out[name] = nested
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            return out

    result = members()
    if pos != len(text):
        raise fail(f"unexpected {text[pos]!r}")
    return result
