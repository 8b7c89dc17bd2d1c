"""Compile a ``q`` AST to SQL over the stored form (docs/architecture.md).

Each comparison becomes a jsonpath predicate on ``e.attrs`` (``@?``; GIN-indexable for
equality) that tries every value member an attribute type can have, so the compiler needs
no knowledge of the stored attribute's type. For a plain comparison on a top-level attribute
an ``EXISTS`` on the ``entity_values`` btree index is added in front as a necessary
condition, so selective range queries do not scan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from hub.query.qlang import And, Comparison, Exists, Literal, Or, Path, QExpr

__all__ = ["SqlFragment", "compile_q", "value_members"]

_JP_OPS = {"==": "==", "!=": "==", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_INDEX_OPS = {"==": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


@dataclass(frozen=True, slots=True)
class SqlFragment:
    sql: str
    params: list[Any]


def _key(name: str) -> str:
    return orjson.dumps(name).decode()


def _lit(lit: Literal) -> str:
    if lit.kind == "bool":
        return "true" if lit.value else "false"
    if lit.kind == "number":
        return repr(lit.value) if isinstance(lit.value, float) else str(lit.value)
    return orjson.dumps(lit.value).decode()


def value_members(path: Path) -> list[str]:
    """jsonpath accessors (relative to an instance ``@``) for the compared values."""
    if path.meta is not None:
        return ["@." + _key(path.meta)]
    compound = "".join("." + _key(c) for c in path.compound)
    if path.compound:
        return ["@.value" + compound, "@.json" + compound]
    # exactly the members hub.query.values.compared_values indexes (JsonProperty values are
    # opaque JSON, reached only through a compound path), so the index can stand alone
    return ["@.value", '@.value."@value"', "@.object", "@.vocab", "@.languageMap.*",
            "@.valueList", "@.objectList.object"]


def _instances(path: Path, expand: Callable[[str], str]) -> str:
    jp = "$." + _key(expand(path.attr)) + "[*]"
    for sub in path.subs:
        if sub in ("observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt"):
            break
        jp += "." + _key(expand(sub))
    return jp


class _Compiler:
    def __init__(self, expand: Callable[[str], str], alias: str, first: int, schema: str):
        self.expand = expand
        self.alias = alias
        self.first = first
        self.schema = schema
        self.params: list[Any] = []

    def param(self, value: Any, cast: str = "") -> str:
        self.params.append(value)
        return f"${self.first + len(self.params) - 1}{cast}"

    def walk(self, e: QExpr) -> str:
        if isinstance(e, And):
            return "(" + " AND ".join(self.walk(i) for i in e.items) + ")"
        if isinstance(e, Or):
            return "(" + " OR ".join(self.walk(i) for i in e.items) + ")"
        if isinstance(e, Exists):
            sql = self.exists(e.path)
            return f"NOT ({sql})" if e.negated else sql
        return self.comparison(e)

    def exists(self, path: Path) -> str:
        if path.simple:
            return f"{self.alias}.attrs ? {self.param(self.expand(path.attr))}"
        jp = _instances(path, self.expand)
        if path.meta is not None:
            jp += "." + _key(path.meta)
        elif path.compound:
            jp += ".value" + "".join("." + _key(c) for c in path.compound)
        return f"{self.alias}.attrs @? {self.param(jp, '::jsonpath')}"

    def _system(self, e: Comparison) -> str | None:
        if e.path.simple and e.path.attr in ("createdAt", "modifiedAt") and not e.range:
            column = "created_at" if e.path.attr == "createdAt" else "modified_at"
            op = {"==": "="}.get(e.op, e.op)
            if op in ("=", "!=", ">", ">=", "<", "<="):
                values = [str(v.value) for v in e.values]
                if len(values) == 1:
                    return f"{self.alias}.{column} {op} {self.param(values[0], '::timestamptz')}"
        return None

    def predicate(self, path: Path, e: Comparison) -> str:
        members = value_members(path)
        if e.op in ("~=", "!~="):
            pattern = str(e.values[0].value)
            flag = ""
            if pattern.startswith("(?i)"):
                pattern, flag = pattern[4:], ' flag "i"'
            rx = orjson.dumps(pattern).decode()
            return " || ".join(f"{m} like_regex {rx}{flag}" for m in members)
        if e.range:
            low, high = (_lit(v) for v in e.values)
            return " || ".join(f"({m} >= {low} && {m} <= {high})" for m in members)
        op = _JP_OPS[e.op]
        literals = []
        for v in e.values:
            literals.append(_lit(v))
            if v.kind in ("string", "uri") and not path.meta:
                expanded = self.expand(str(v.value))  # vocab values are stored expanded
                if expanded != v.value:
                    literals.append(orjson.dumps(expanded).decode())
        return " || ".join(f"{m} {op} {lit}" for m in members for lit in literals)

    def comparison(self, e: Comparison) -> str:
        system = self._system(e)
        if system is not None:
            return system
        if _index_is_exact(e):
            # the value index holds exactly the values this comparison reads (values.py):
            # answering from it alone saves re-reading every candidate's attrs
            exact = self.index_condition(e)
            if exact is not None:
                return exact
        jp = f"{_instances(e.path, self.expand)} ? ({self.predicate(e.path, e)})"
        matched = f"{self.alias}.attrs @? {self.param(jp, '::jsonpath')}"
        if e.op in ("!=", "!~="):
            return f"({self.exists(e.path)} AND NOT ({matched}))"
        index = self.index_condition(e)
        return f"({index} AND {matched})" if index else matched

    def index_condition(self, e: Comparison) -> str | None:
        if not e.path.simple or e.op not in _INDEX_OPS:
            return None
        kinds = {v.kind for v in e.values}
        if kinds == {"number"}:
            column = "num"
            values: list[Any] = [float(v.value) for v in e.values]
        elif kinds <= {"string", "uri", "datetime"} and e.op == "==" and not e.range:
            column = "txt"
            values = []
            for v in e.values:
                values.extend({str(v.value), self.expand(str(v.value))})
            if any(len(x) > 256 for x in values):
                return None
        else:
            return None
        attr = self.param(self.expand(e.path.attr))
        if e.range:
            cond = f"v.num BETWEEN {self.param(values[0])} AND {self.param(values[1])}"
        elif len(values) > 1 or column == "txt":
            cast = "::float8[]" if column == "num" else "::text[]"
            cond = f"v.{column} = ANY({self.param(values, cast)})"
        else:
            cond = f"v.{column} {_INDEX_OPS[e.op]} {self.param(values[0])}"
        return (f"EXISTS (SELECT 1 FROM {self.schema}.entity_values v"
                f" WHERE v.eid = {self.alias}.pk AND v.attr = {attr} AND {cond})")


def _index_is_exact(e: Comparison) -> bool:
    """Numbers within float8's exact range, or string equality the index can hold."""
    if not e.path.simple or e.op not in _INDEX_OPS or not e.values:
        return False
    kinds = {v.kind for v in e.values}
    if kinds == {"number"}:
        return all(abs(v.value) < 2**53 for v in e.values)
    return (kinds <= {"string", "uri", "datetime"} and e.op == "==" and not e.range
            and all(len(str(v.value)) <= 200 for v in e.values))


def compile_q(
    expr: QExpr, expand: Callable[[str], str], alias: str = "e", first_param: int = 1,
    schema: str = "ngsild",
) -> SqlFragment:
    """SQL over row alias ``alias`` with parameters numbered from ``first_param``."""
    compiler = _Compiler(expand, alias, first_param, schema)
    sql = compiler.walk(expr)
    return SqlFragment(sql, compiler.params)
