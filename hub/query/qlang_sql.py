"""Compile a ``q`` AST to SQL over the stored form (GS CIM 009 4.9; docs/architecture.md).

Each comparison becomes one SQL/JSON path predicate on ``e.attrs`` (``@?``), passed as a
bound ``$n::jsonpath`` parameter whose text is built here with every key and string
JSON-escaped. The path tries every value member an instance can have (``qlang_plan``), so
the compiler needs no knowledge of an attribute's type; ``qlang_eval`` applies the same
rules in Python.

For a plain comparison on a top-level attribute (``==``, ``>``, ``>=``, ``<``, ``<=``,
ranges and lists of numbers or strings) an ``EXISTS`` on the btree-indexed
``entity_values`` table (``values.index_rows``) is put in front as a necessary condition,
so selective queries do not scan. When the index holds exactly the compared values (see
``_exact``) the ``EXISTS`` alone is the answer and ``attrs`` is not read again.

The same index conditions of the comparisons that every match must pass (the top-level
``;`` terms) are also returned as *drivers*: ``SELECT v.eid FROM entity_values ...`` with
the fragment's own parameter numbers, from which the store builds a bounded candidate set
(``hub/store/entities.py``, docs/architecture.md "Query plans"); an attribute bounded on
both sides (``a>=X;a<Y``) gets one range driver first (``_range_drivers``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from hub.query.estimates import even_odds
from hub.query.qlang import And, Comparison, Exists, Literal, Match, Or, Path, QExpr
from hub.query.qlang_eval import instant
from hub.query.qlang_plan import Member, Step, literal_forms, members
from hub.query.regex_literal import required_literal
from hub.query.values import NOT_INDEXED, TXT_PREFIX, index_float, index_text

__all__ = ["EITHER", "PROBE", "Bound", "SqlFragment", "compile_q", "compile_q_shared"]

#: marks the end of an index ``EXISTS``; the store turns it into ``OFFSET 0`` where the
#: check must stay a per-row probe instead of becoming a join (a comment otherwise)
PROBE = "/*probe*/"
#: follows ``PROBE`` in an index ``EXISTS`` inside a disjunction, which no join can
#: replace: PostgreSQL's alternative to a probe per row is a hash of every row of the
#: term, which it chooses for a walk (it plans the subquery for every entity, not for a
#: page's worth), and the store keeps such a walk's checks per row (``Filter.walked``):
#: ``q=a>=X|b>=Y`` matching 90 % of 40,000 entities hashed ~54,000 index rows for a page
#: (929 buffers, 14.6 ms of PostgreSQL CPU) where ~130 probes cost 205 buffers, 1.3 ms
EITHER = "/*either*/"

# Switches for tests and diagnosis: the value index as a pre-filter, and as the only
# condition where it is exact. Answers never depend on them, only plans do.
USE_VALUE_INDEX = True
INDEX_ONLY_WHEN_EXACT = True

_SQL_OPS = {"==": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_NON_STRICT = {">": ">=", ">=": ">=", "<": "<=", "<=": "<=", "==": "="}
_EXACT_FLOAT = Decimal(2**53)
# the indexed text column in the collation of its index (migration 0040): byte order
_TXT = '(v.txt COLLATE "C")'
# an attribute's marker row (``values.index_rows``): among others, every attribute with a
# ``vocab`` member and a string carries one
_MARKER = "v.num IS NULL AND v.txt IS NULL"


class Bound(NamedTuple):
    """A non-strict bound of a top-level ``q`` term on one attribute's index values of one
    kind: every match has a value of that kind within it (rounding and cutting are
    monotonic, so the index image of a matching value is within the bound's image)."""

    attr: str  # the attribute's IRI
    side: str  # "low" (from ``>``, ``>=``, a range's start) or "high"
    column: str  # the ``entity_values`` column it bounds: ``v.num`` or ``v.txt``
    param: str  # the numbered parameter holding the bound's index image


@dataclass(frozen=True, slots=True)
class SqlFragment:
    """A SQL boolean expression and its parameters, numbered from the ``first_param``
    the compiler was given."""

    sql: str
    params: list[Any]
    # candidate-set subqueries (``SELECT v.eid ...``), each a necessary condition
    drivers: list[str] = field(default_factory=list)
    # the same, worth reading only after a bounded walk (``store.entities.Filter.lazy``):
    # each with placeholders ``{}`` and its own parameters, numbered when it is read
    lazy: list[tuple[str, list[Any]]] = field(default_factory=list)
    # q's bounds on index values every match has one within (top-level terms): an
    # ordered walk may start there (``store.entities._walk_sql``)
    bounds: list[Bound] = field(default_factory=list)
    # driver -> the IRI of the one attribute whose index rows it reads
    driver_attrs: dict[str, str] = field(default_factory=dict)
    # driver -> its index probe as written in ``sql``: a condition every member of the
    # driver's complete set passes (``store.entities.Filter.where_among``)
    probes: dict[str, str] = field(default_factory=dict)
    # a disjunction's driver with a probe -> the IRIs of the attributes its items read
    # (``store.entities._shaped_count``)
    either_attrs: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _string(s: str) -> str:
    """A jsonpath string literal or quoted key: JSON escaping is a subset of jsonpath's."""
    return json.dumps(s, ensure_ascii=False)


@lru_cache(maxsize=1024)
def _key(name: str) -> str:
    """``_string`` of an attribute IRI or member name: the same few on every query, so
    kept (bounded); literals, which vary per request, are not."""
    return _string(name)


@lru_cache(maxsize=256)
def _accessor(steps: tuple[Step, ...]) -> str:
    """Kept: the steps come from ``members``, a handful of fixed value-member paths."""
    return "@" + "".join(".*" if s is None else "." + _string(s) for s in steps)


def _literal(lit: Literal, form: Any) -> str:
    if lit.kind == "number":
        return lit.text
    if lit.kind == "bool":
        return "true" if form else "false"
    return _string(str(form))


def _exists_any(mems: tuple[Member, ...]) -> str:
    return " || ".join(f"exists({_accessor(m.steps)})" for m in mems)


class _Compiler:
    def __init__(self, expand: Callable[[str], str], alias: str, first: int, schema: str):
        self.expand = expand
        self.alias = alias
        self.first = first
        self.schema = schema
        self.params: list[Any] = []
        self.drivers: dict[int, str] = {}  # id(comparison) -> its candidate subquery
        self.probes: dict[int, str] = {}  # id(comparison) -> the EXISTS that subquery answers
        self.disjunctions = 0  # how many disjunctions the term being compiled is inside
        # id(term) -> its SQL, so a disjunction whose items are their probes is known
        self.compiled: dict[int, str] = {}
        # id(match) -> its candidate subquery and parameters, read lazily
        self.lazy: dict[int, tuple[str, list[Any]]] = {}
        # id(comparison) -> (attr, bound) parameters of a one-number ``>``/``>=``/``<``/``<=``
        self.bounds: dict[int, tuple[str, str]] = {}
        # id(comparison) -> where an ordered walk on its attribute may start: the bounds
        # of ``>``/``>=``/``<``/``<=`` and ranges, numbers and strings (as written, ``_plain``)
        self.starts: dict[int, list[Bound]] = {}

    def param(self, value: Any, cast: str = "") -> str:
        self.params.append(value)
        return f"${self.first + len(self.params) - 1}{cast}"

    def walk(self, e: QExpr) -> str:
        self.compiled[id(e)] = sql = self._walk(e)
        return sql

    def _walk(self, e: QExpr) -> str:
        if isinstance(e, And):
            return "(" + " AND ".join(self.walk(i) for i in e.items) + ")"
        if isinstance(e, Or):
            self.disjunctions += 1
            try:
                return "(" + " OR ".join(self.walk(i) for i in e.items) + ")"
            finally:
                self.disjunctions -= 1
        if isinstance(e, Exists):
            sql = "TRUE" if e.path.system else self.exists(e.path)
            return f"NOT ({sql})" if e.negated else sql
        if isinstance(e, Match):
            return self.match(e)
        if e.path.system:
            return self.system(e)
        return self.comparison(e)

    # -- jsonpath ------------------------------------------------------------------------

    def head(self, path: Path) -> str:
        """``$."attr"[*]."sub"...``: the instances (or sub-attributes) a term tests."""
        jp = "$." + _key(self.expand(path.attr)) + "[*]"
        return jp + "".join("." + _key(self.expand(s)) for s in path.subs)

    def jsonpath(self, text: str) -> str:
        # estimated at even odds, as every test on whole ``attrs`` documents: the
        # operator's own guess made pages of a mixed tenant read and sort every
        # candidate (``estimates``)
        return even_odds(f"{self.alias}.attrs @? {self.param(text, '::jsonpath')}")

    def exists(self, path: Path) -> str:
        if path.simple:
            return even_odds(f"{self.alias}.attrs ? {self.param(self.expand(path.attr))}")
        if path.meta is None and not path.compound:
            return self.jsonpath(self.head(path))
        return self.jsonpath(f"{self.head(path)} ? ({_exists_any(members(path, '=='))})")

    def equal_any(self, e: Comparison, mems: tuple[Member, ...]) -> str:
        """One instance has a compared value satisfying ``e`` (``==`` for ``!=``)."""
        preds = []
        for m in mems:
            if e.range:
                low, high = (_literal(v, literal_forms(v, m, self.expand)) for v in e.values)
                test = f"@ >= {low} && @ <= {high}"
            else:
                op = "==" if e.op == "!=" else e.op
                test = " || ".join(
                    f"@ {op} {_literal(v, literal_forms(v, m, self.expand))}" for v in e.values
                )
            preds.append(f"exists({_accessor(m.steps)} ? ({test}))")
        return " || ".join(preds)

    def comparison(self, e: Comparison) -> str:
        mems = members(e.path, e.op)
        equal = self.equal_any(e, mems)
        if e.op == "!=":
            has_target = e.path.meta is not None or bool(e.path.compound)
            test = f"({_exists_any(mems)}) && !({equal})" if has_target else f"!({equal})"
            return self.jsonpath(f"{self.head(e.path)} ? ({test})")
        index = self.index(e) if USE_VALUE_INDEX else None
        if index is not None and index[1] and INDEX_ONLY_WHEN_EXACT:
            return index[0]
        matched = self.jsonpath(f"{self.head(e.path)} ? ({equal})")
        return f"({index[0]} AND {matched})" if index is not None else matched

    def match(self, e: Match) -> str:
        mems = members(e.path, "~=")
        flag = ' flag "i"' if e.regex.ignore_case else ""
        rx = _string(e.regex.source)
        hit = " || ".join(
            f"exists({_accessor(m.steps)} ? (@ like_regex {rx}{flag}))" for m in mems
        )
        if not e.negated:
            self.pattern_driver(e)
            return self.jsonpath(f"{self.head(e.path)} ? ({hit})")
        strings = " || ".join(
            f'exists({_accessor(m.steps)} ? (@ like_regex ""))' for m in mems
        )
        return self.jsonpath(f"{self.head(e.path)} ? (({strings}) && !({hit}))")

    def pattern_driver(self, e: Match) -> None:
        """A candidate set for ``attr~=pattern`` when the pattern has a literal every
        match contains (``regex_literal.required_literal``): the attribute's string rows
        holding it, and every row cut at ``TXT_PREFIX`` (the literal may lie past the
        cut). The rows are the strings the ``like_regex`` members test (the value index
        and the comparison drivers rest on the same members), so the set is a superset;
        the jsonpath still decides. Walking the entities tested the pattern on every
        ``attrs`` read from the heap: ~550 ms at 200,000 entities for a rare match.
        Lazy (``Filter.lazy``): reading every string row of ``a`` costs ~36 ms at
        200,000 entities, more than the walk for a pattern matching 1 % (~11 ms).
        Case-insensitive patterns have none: ``strpos`` compares exactly."""
        if not (USE_VALUE_INDEX and e.path.simple) or e.regex.ignore_case:
            return
        literal = required_literal(e.regex.source)
        if literal is None or self.expand(e.path.attr) in NOT_INDEXED:
            return
        self.lazy[id(e)] = (
            f"SELECT v.eid FROM {self.schema}.entity_values v WHERE v.attr = {{}}"
            f" AND v.txt IS NOT NULL AND (length(v.txt) >= {TXT_PREFIX}"
            " OR strpos(v.txt, {}) > 0)", [self.expand(e.path.attr), literal])

    # -- entity createdAt / modifiedAt ---------------------------------------------------

    def system(self, e: Comparison) -> str:
        column = f"{self.alias}.{'created_at' if e.path.attr == 'createdAt' else 'modified_at'}"
        bounds: list[datetime] = [instant(str(v.value)) for v in e.values]
        if e.range:
            low, high = (self.param(b, "::timestamptz") for b in bounds)
            neg = "" if e.op == "==" else "NOT "
            return f"{column} {neg}BETWEEN {low} AND {high}"
        if len(bounds) > 1:
            values = self.param(bounds, "::timestamptz[]")
            return f"{column} = ANY({values})" if e.op == "==" else f"{column} <> ALL({values})"
        return f"{column} {_SQL_OPS[e.op]} {self.param(bounds[0], '::timestamptz')}"

    # -- the value index -----------------------------------------------------------------

    def text_forms(self, lit: Literal) -> list[str]:
        """Every string a member may compare ``lit`` with, cut as the index cuts them."""
        forms = {str(lit.value)}
        if lit.kind in ("string", "uri"):
            forms.add(self.expand(str(lit.value)))  # vocab members compare it expanded
        return sorted(index_text(f) for f in forms)

    def index(self, e: Comparison) -> tuple[str, bool] | None:
        """``(EXISTS on entity_values, exact)`` for an indexable comparison, else None."""
        if not e.path.simple or e.op not in _NON_STRICT:
            return None
        if self.expand(e.path.attr) in NOT_INDEXED:  # no rows: attrs alone decide
            return None
        if any(v.kind == "bool" for v in e.values):
            return None
        numbers = [v for v in e.values if v.kind == "number"]
        strings = [v for v in e.values if v.is_string]
        exact = _exact(e, self.text_forms)
        iri = self.expand(e.path.attr)
        attr = self.param(iri)
        side = "low" if e.op in (">", ">=") else "high"
        marked = False  # a string bound as written, and the attribute's marker rows
        if e.range:
            low, high = e.values
            if low.kind == "number":
                span = (self.param(index_float(_dec(low))), self.param(index_float(_dec(high))))
                cond = f"v.num BETWEEN {span[0]} AND {span[1]}"
            else:
                span = (self.param(_plain(low)), self.param(_plain(high)))
                cond = f"{_TXT} BETWEEN {span[0]}::text AND {span[1]}::text"
                marked = len(self.text_forms(low)) > 1 or len(self.text_forms(high)) > 1
            column = "v.num" if low.kind == "number" else "v.txt"
            self.starts[id(e)] = [Bound(iri, "low", column, span[0]),
                                  Bound(iri, "high", column, span[1])]
        elif len(e.values) > 1:
            parts = []
            if numbers:
                nums = sorted({index_float(_dec(v)) for v in numbers})
                parts.append(f"v.num = ANY({self.param(nums, '::float8[]')})")
            if strings:
                texts = sorted({f for v in strings for f in self.text_forms(v)})
                parts.append(f"{_TXT} = ANY({self.param(texts, '::text[]')})")
            cond = parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
        elif numbers:
            op = _SQL_OPS[e.op] if exact else _NON_STRICT[e.op]
            bound = self.param(index_float(_dec(numbers[0])))
            cond = f"v.num {op} {bound}"
            if e.op != "==":
                self.bounds[id(e)] = (attr, bound)
                self.starts[id(e)] = [Bound(iri, side, "v.num", bound)]
        else:
            forms = self.text_forms(strings[0])
            if e.op == "==":
                cond = (f"{_TXT} = {self.param(forms[0])}" if len(forms) == 1
                        else f"{_TXT} = ANY({self.param(forms, '::text[]')})")
            else:
                plain = self.param(_plain(strings[0]))
                self.starts[id(e)] = [Bound(iri, side, "v.txt", plain)]
                cond = f"{_TXT} {_NON_STRICT[e.op]} {plain}::text"
                marked = len(forms) > 1
        rows = f"FROM {self.schema}.entity_values v WHERE v.attr = {attr} AND"
        if marked:
            # the plain bound, and the attributes a vocab member compares expanded
            self.drivers[id(e)] = (f"SELECT v.eid {rows} {cond}"
                                   f" UNION ALL SELECT v.eid {rows} {_MARKER}")
            cond = f"({cond} OR {_MARKER})"
        else:
            self.drivers[id(e)] = f"SELECT v.eid {rows} {cond}"
        self.probes[id(e)] = (f"EXISTS (SELECT 1 {rows} {cond} AND v.eid = {self.alias}.pk{PROBE}"
                              f"{EITHER if self.disjunctions else ''})")
        return self.probes[id(e)], exact


def _plain(lit: Literal) -> str:
    """A string literal as the index holds the strings q compares it with as written:
    every member but ``vocab``, whose attributes carry a marker row when they have a
    string (``values.index_rows``), so a walk's string bound is taken only without one,
    and an ordering comparison's index condition is this bound or the marker row. It
    was the bound on either form (``least``/``greatest`` of the plain and the expanded
    one), which for a literal below ``https://...`` and an upper bound, or above it and a
    lower one, admitted almost every string: ``q=laneId<"L00010"`` read every entity of
    a 200,000-entity tenant (48,520 buffers, ~350 ms) where ``laneId>="L99990"`` read 26."""
    return index_text(str(lit.value))


def _dec(lit: Literal) -> Decimal:
    assert isinstance(lit.value, Decimal)
    return lit.value


def _exact(e: Comparison, text_forms: Callable[[Literal], list[str]]) -> bool:
    """Whether the index rows answer ``e`` exactly, not just as a necessary condition.

    Numbers: a literal that is a float8 exactly (its shortest round-trip decimal) with
    magnitude under 2**53 compares with every float8 image of a stored number as with the
    number itself (a stored integer beyond 2**53 rounds to at least 2**53). Stored
    relationship targets are URIs (validated on input), so ordering comparisons, which skip
    them, still read exactly the index's numbers.
    Strings: equality only (ordering skips relationship targets, which the index holds),
    with a literal that every member compares unexpanded and that the index holds uncut.
    """
    if e.op not in _NON_STRICT:
        return False
    for v in e.values:
        if v.kind == "number":
            d = _dec(v)
            if abs(d) >= _EXACT_FLOAT or Decimal(repr(float(d))) != d:
                return False
        elif v.kind == "bool" or e.op != "==" or e.range:
            return False
        else:
            forms = text_forms(v)
            if len(forms) != 1 or forms[0] != v.value or len(forms[0]) >= TXT_PREFIX:
                return False
    return True


def compile_q(
    expr: QExpr,
    expand: Callable[[str], str],
    alias: str = "e",
    first_param: int = 1,
    schema: str = "ngsild",
) -> SqlFragment:
    """SQL over the row alias ``alias`` of ``{schema}.entities``, parameters numbered from
    ``first_param``. ``expand`` maps attribute names as written in ``q`` to IRIs (meta
    names such as ``observedAt`` and JSON member names are never expanded); ``schema`` is
    an already quoted, safe identifier."""
    compiler = _Compiler(expand, alias, first_param, schema)
    sql = compiler.walk(expr)
    terms = _conjuncts(expr)
    ranges, bounded = _range_drivers(compiler, terms)
    drivers = [d for c in terms if (d := compiler.drivers.get(id(c))) and id(c) not in bounded]
    bound_drivers = [compiler.drivers[i] for i in bounded]
    driver_attrs = {d: compiler.expand(c.path.attr) for c in terms
                    if isinstance(c, Comparison) and (d := compiler.drivers.get(id(c)))}
    driver_attrs.update((sql, iri) for iri, sql in ranges)
    probes = {compiler.drivers[id(c)]: compiler.probes[id(c)] for c in terms
              if id(c) in compiler.drivers}
    either_attrs: dict[str, tuple[str, ...]] = {}
    for c in terms:
        if isinstance(c, Or) and (either := _either(compiler, c)) is not None:
            drivers.append(either[0])
            if either[1] is not None:
                probes[either[0]] = either[1]
                either_attrs[either[0]] = tuple(sorted(_attrs_read(compiler, c)))
    lazy = [lz for c in terms if (lz := compiler.lazy.get(id(c)))]
    bounds = [b for c in terms for b in compiler.starts.get(id(c), ())]
    return SqlFragment(sql, compiler.params, [*(r for _, r in ranges), *drivers, *bound_drivers],
                       lazy, bounds, driver_attrs, probes, either_attrs)


def _attrs_read(compiler: _Compiler, e: QExpr) -> set[str]:
    """The IRIs of the attributes whose index rows ``e``'s comparisons read."""
    if isinstance(e, Comparison):
        return {compiler.expand(e.path.attr)}
    return set().union(*(_attrs_read(compiler, i) for i in e.items)) if isinstance(
        e, (And, Or)) else set()


def _range_drivers(compiler: _Compiler,
                   terms: list[QExpr]) -> tuple[list[tuple[str, str]], list[int]]:
    """One candidate subquery (with its attribute's IRI) per attribute that the top-level
    terms bound from below (``>``, ``>=``) and above (``<``, ``<=``) by single numbers,
    and the ids of those terms (docs/architecture.md, "Query plans").

    ``a>=X;a<Y`` holds when *some* number of ``a`` is at least X and *some*, possibly
    another, is below Y: an entity with one numeric index row has it in [X, Y] (rounding
    is monotonic, and the bounds are non-strict), and one with two or more distinct ones
    has a marker row (``values.index_rows``), so the rows in the range and the markers
    (partial index ``entity_values_marker``) are a superset of the matches, usually far
    smaller than either term's. The tightest bounds of each side are used, through the
    terms' own parameters. The terms' own drivers go last (still useful when markers are
    many): the store reads only the first few (``store.entities._driven``)."""
    sides: dict[str, tuple[list[Comparison], list[Comparison]]] = {}
    for c in terms:
        if isinstance(c, Comparison) and id(c) in compiler.bounds:
            low, high = sides.setdefault(compiler.expand(c.path.attr), ([], []))
            (low if c.op in (">", ">=") else high).append(c)
    ranges: list[tuple[str, str]] = []
    bounded: list[int] = []
    for iri, (low, high) in sides.items():
        if not low or not high:
            continue
        lo = max(low, key=lambda c: _dec(c.values[0]))
        hi = min(high, key=lambda c: _dec(c.values[0]))
        attr, lo_param = compiler.bounds[id(lo)]
        source = f"SELECT v.eid FROM {compiler.schema}.entity_values v WHERE v.attr = {attr}"
        ranges.append((iri, f"{source} AND v.num BETWEEN {lo_param}"
                            f" AND {compiler.bounds[id(hi)][1]}"
                            f" UNION ALL {source} AND {_MARKER}"))
        bounded.extend(id(c) for c in (*low, *high))
    return ranges, bounded


def _either(compiler: _Compiler, e: QExpr) -> tuple[str, str | None] | None:
    """A candidate subquery for ``e`` and, when every member of its set passes ``e``
    itself, ``e``'s SQL (its probe, ``SqlFragment.probes``); None when some way of
    matching ``e`` has no index condition.

    A disjunction's set is the union of its items' (each a superset of what matches
    that item), a conjunction's that of its first item with one. Without it ``q=a>X|b>Y``
    walked every entity of the tenant in pk order, probing both terms' rows for each:
    ~141 ms and 43,000 buffers at 200,000 entities for a dozen matches. ``UNION ALL``,
    not ``UNION``: the set is read up to the candidate bound and stops there
    (``store.entities._driven``), and a pk repeated in ``= ANY`` reads its entity once.
    """
    if isinstance(e, Comparison):
        driver = compiler.drivers.get(id(e))
        return None if driver is None else (driver, compiler.probes[id(e)])
    if isinstance(e, And):
        for item in e.items:
            if (first := _either(compiler, item)) is not None:
                return first[0], None
        return None
    if not isinstance(e, Or):
        return None
    parts = [_either(compiler, item) for item in e.items]
    if any(p is None for p in parts):
        return None
    sets = [p for p in parts if p is not None]
    # every member passes ``e`` when each item's SQL is the probe its own set passes
    exact = all(p[1] is not None and compiler.compiled[id(i)] == p[1]
                for i, p in zip(e.items, sets, strict=True))
    return (" UNION ALL ".join(f"({d})" for d, _ in sets),
            compiler.compiled[id(e)] if exact else None)


class Expander(Hashable, Protocol):
    """An active context: hashed by identity (``hub.jsonld.active.ActiveContext``)."""

    def expand(self, term: str) -> str: ...


def compile_q_shared(
    expr: QExpr, ctx: Expander, *, alias: str = "e", first_param: int = 1,
    schema: str = "ngsild",
) -> SqlFragment:
    """``compile_q`` with ``ctx.expand``, compiled once per (expression, context object,
    alias, numbering, schema) and kept (bounded LRU): the same query text from the same
    client compiles to the same SQL. A context is immutable once built (its memo tables
    are deterministic), and the key holds the object itself, never its ``id``; nothing
    of the caller (access conditions are added after, per request) is in the fragment.
    Each call gets its own lists, so no caller can change what another one reads."""
    frag = _compiled(expr, ctx, alias, first_param, schema, USE_VALUE_INDEX,
                     INDEX_ONLY_WHEN_EXACT)
    params = [list(p) if isinstance(p, list) else p for p in frag.params]
    return SqlFragment(frag.sql, params, list(frag.drivers),
                       [(sql, list(values)) for sql, values in frag.lazy], list(frag.bounds),
                       dict(frag.driver_attrs), dict(frag.probes), dict(frag.either_attrs))


@lru_cache(maxsize=256)
def _compiled(expr: QExpr, ctx: Expander, alias: str, first: int, schema: str,
              use_index: bool, exact_only: bool) -> SqlFragment:
    """The switches are in the key so that a test flipping them never reads a fragment
    compiled under the other setting."""
    return compile_q(expr, ctx.expand, alias, first, schema)


def _conjuncts(expr: QExpr) -> list[QExpr]:
    """The terms every match satisfies: ``expr`` itself, or its ``;`` items, flattened."""
    if isinstance(expr, And):
        return [c for item in expr.items for c in _conjuncts(item)]
    return [expr]
