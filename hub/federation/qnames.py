"""Rename the attribute names of an NGSI-LD ``q`` (4.9) without parsing its values.

The engine expands the caller's ``q`` to full IRIs for ``SourceQuery.q`` (a source may
not share the caller's @context); an NGSI-LD source gets them compacted again under the
@context the hub sends it. Only the attribute path heading each term is renamed (the
name before ``.``, ``[`` or the operator), and only outside quoted values, so a value
that looks like a name is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["map_q_names"]

# a term starts the text or follows ; | ( and runs up to an operator or a separator
_TERM = re.compile(r'"(?:[^"\\]|\\.)*"|(?:(?<=^)|(?<=[;|(]))(\s*!?)([^\s=!<>~;|()"\[]+)')


def map_q_names(q: str, rename: Callable[[str], str]) -> str:
    """``q`` with ``rename`` applied to the attribute name of every term."""

    def sub(m: re.Match[str]) -> str:
        if m.group(2) is None:  # a quoted value
            return m.group(0)
        name = m.group(2)
        if "://" in name:  # a full IRI: no sub-attribute path can be told from its dots
            return m.group(1) + rename(name)
        head, dot, rest = name.partition(".")
        return m.group(1) + rename(head) + dot + rest

    return _TERM.sub(sub, q)
