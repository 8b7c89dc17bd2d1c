"""Distributed ``/types`` and ``/attributes`` (GS CIM 009 5.7.5-5.7.10, 4.3.6).

The API handlers (hub/api/discovery.py) compute the local answer as before and hand it
here; with no registration concerned (or ``local=true``, or a ``Via`` naming this hub)
every function answers None after one cached look-up and the local answer stands.
Otherwise the registrations that allow the operation (``operations`` and its groups,
hub/federation/forward.py) and whose ``information`` can hold the type or attribute asked
for are asked concurrently, under the same per-source timeout, circuit breaker and
``NGSILD-Warning`` as query and retrieve (``Federation.guarded``), and merged:

* type and attribute lists: united;
* type details: ``attributeNames`` united per type; attribute details: ``typeNames``
  united per attribute;
* type information: ``entityCount`` summed, ``attributeTypes`` united per attribute;
  attribute information: ``attributeCount`` summed, ``attributeTypes`` and ``typeNames``
  united. The answers carry no entity ids, so an entity held both here and at an
  inclusive source (or at two sources) counts once per holder.

A source's names are kept only inside its registration's ``information`` (the types and
attributes it registered for), so these answers advertise what a query would follow.

**Whose data** (the trust boundary of reads.py ``admit``): what a source answers is data
of its registration's owner organisation. A remote entity is stamped with the owner's
dataset its id and types select, which a type name alone does not say; so a remote type
is shown only when the caller may read an entity of that type in *every* dataset of the
owner that could hold one (each dataset whose rule admits the type, and the owner's
default dataset), through the same per-entity decision as entity reads
(``access.visible`` on an entity of that type stamped with each dataset), and only the
attributes readable in all of them. Counts follow from that: a type's ``entityCount``
is added only under that rule, an attribute's ``attributeCount`` only when every type the
source names for it is shown with the attribute readable — a count is never summed over
data the caller could not read (aggregated-only grants read nothing raw, so they show
neither names nor counts). docs/access-control.md, "Context source registrations".

NGSI v2 sources contribute to the plain type and attribute lists only (the ``Source``
interface of hub/federation/sources.py answers names); the detail and information forms
ask NGSI-LD sources.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import web

from hub import keys
from hub.federation.forward import (
    Failure,
    Federation,
    Registration,
    federation_of,
    matching,
    warning_header,
)
from hub.federation.ld_source import LdSource, call
from hub.federation.reads import active_for, candidate_datasets, context_url_of, stamp
from hub.federation.sources import SourceError, SourceTarget
from hub.jsonld.process import core_active_context
from hub.service import access

__all__ = ["attribute_details", "attribute_info", "attribute_list", "type_details",
           "type_info", "type_list"]

T = TypeVar("T")
Headers = dict[str, str]
#: (attribute IRI, count or None, attribute types, entity type IRIs): one attribute
AttrRow = tuple[str, int | None, list[str], list[str]]


class View:
    """What the caller may learn of one registration owner's remote names (module
    docstring, "Whose data"), decided per request."""

    def __init__(self, fed: Federation, index: Any) -> None:
        self.fed = fed
        self.index = index

    def readable(self, reg: Registration, type_iri: str | None,
                 attrs: Iterable[str] = ()) -> frozenset[str] | None:
        """None when the caller may not learn of ``type_iri`` (None: of any entity) at
        ``reg``'s owner; else those of ``attrs`` it may read on every such entity."""
        wanted = frozenset(attrs)
        if reg.owner is None:  # followed in development mode only (Federation.registrations)
            return wanted if self.fed.dev else None
        seen = wanted
        for ds in candidate_datasets(self.index, reg.owner, type_iri):
            ent: dict[str, Any] = {"id": "", "types": [type_iri] if type_iri else [],
                                   "attrs": {a: [{"type": "Property"}] for a in wanted}}
            stamp(ent, ds)
            shown = access.visible(ent, audit=False)
            if shown is None:
                return None
            seen &= shown["attrs"].keys()
        return seen

    def attribute(self, reg: Registration, attr: str, type_names: list[str] | None,
                  ) -> tuple[list[str], bool] | None:
        """For a remote attribute: the entity types the caller may see it on, and whether
        the source's count of it may be added (every type it names shown with the
        attribute readable); None when the attribute is not to be shown at all. Without
        ``type_names`` it must be readable on every entity of the owner, whatever its type
        (then its count may be added too)."""
        if not type_names:
            seen = self.readable(reg, None, [attr])
            return ([], True) if seen is not None and attr in seen else None
        shown = []
        for t in type_names:
            seen = self.readable(reg, t, [attr])
            if seen is not None and attr in seen and reg.infos(None, [t], [attr]):
                shown.append(t)
        if not shown:
            return None
        return shown, len(shown) == len(type_names)


class Fanout:
    """One distributed discovery request: the registrations concerned and how to ask."""

    def __init__(self, request: web.Request, rc: Any, fed: Federation,
                 regs: list[Registration], view: View) -> None:
        self.request, self.rc, self.fed, self.regs, self.view = request, rc, fed, regs, view

    def target(self, reg: Registration) -> SourceTarget:
        return self.fed.target(self.request, reg, context_url_of(self.rc), active_for(self.rc))

    @staticmethod
    def active(target: SourceTarget) -> Any:
        """The context the source's compact names are expanded with (the one it was
        asked under, as ``LdSource`` does)."""
        return target.active if target.active is not None else core_active_context()

    async def get(self, target: SourceTarget, path: str,
                  params: dict[str, str] | None = None) -> Any:
        """GET ``path`` of an NGSI-LD source: its body, None for a 404 (it holds none)."""
        status, body, _ = await call(self.request.app[keys.HTTP], target, "GET", path,
                                     params=params)
        if status == 404:
            return None
        if status != 200:
            raise SourceError(f"{path} answered {status}", status)
        return body

    async def ask(self, each: Callable[[Registration], Awaitable[T]],
                  ) -> tuple[list[tuple[Registration, T]], Headers]:
        """``each`` for every registration, concurrently, failures left out and named in
        the headers to add."""
        answers = await asyncio.gather(
            *(self.fed.guarded(r, functools.partial(each, r)) for r in self.regs))
        failures = [a for a in answers if isinstance(a, Failure)]
        done = [(r, a) for r, a in zip(self.regs, answers, strict=True)
                if not isinstance(a, Failure)]
        return done, warning_header(failures)


async def _fanout(request: web.Request, rc: Any, schema: str, op: str,
                  types: Iterable[str] = (), attrs: Iterable[str] = (), *,
                  ld_only: bool = False) -> Fanout | None:
    """The fan-out of ``op``, or None: answer locally."""
    fed = federation_of(request.app)
    if not fed.enabled or request.query.get("local") == "true" or fed.via_names_me(request):
        return None
    regs = matching(await fed.registrations(request, schema), op, None, types, attrs)
    if ld_only:
        regs = [r for r in regs if isinstance(fed.source_for(r), LdSource)]
    if not regs:
        return None
    index = await request.app[keys.REGISTRY_RULES].current()
    return Fanout(request, rc, fed, regs, View(fed, index))


def _names(values: Any, active: Any, what: str) -> list[str]:
    if not isinstance(values, list):
        raise SourceError(f"{what} is not an array", invalid=True)
    return [active.expand(v) for v in values if isinstance(v, str)]


def _iri(item: dict[str, Any], key: str, active: Any) -> str:
    """The full IRI of a detail entry: its ``typeName``/``attributeName`` expanded under
    the context the source was asked with, else its ``id``."""
    name = item.get(key)
    if isinstance(name, str):
        return str(active.expand(name))
    if isinstance(item.get("id"), str):
        return str(item["id"])
    raise SourceError(f"an entry without {key}", invalid=True)


def _entries(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise SourceError("the details answer is not an array", invalid=True)
    return [i for i in body if isinstance(i, dict)]


# -- /types -----------------------------------------------------------------------------

async def type_list(request: web.Request, rc: Any, schema: str, local: list[str],
                    ) -> tuple[list[str], Headers]:
    """5.7.5: the local type IRIs united with the sources', and the headers to add."""
    fan = await _fanout(request, rc, schema, "retrieveEntityTypes")
    if fan is None:
        return local, {}

    async def each(reg: Registration) -> list[str]:
        return await fan.fed.source_for(reg).types(request.app[keys.HTTP], fan.target(reg))

    done, headers = await fan.ask(each)
    found = set(local)
    for reg, names in done:
        found.update(t for t in names
                     if reg.infos(None, [t]) and fan.view.readable(reg, t) is not None)
    return sorted(found), headers


async def type_details(request: web.Request, rc: Any, schema: str,
                       local: list[tuple[str, list[str]]],
                       ) -> tuple[list[tuple[str, list[str]]], Headers]:
    """5.7.6: every type with its attribute names, local and remote united."""
    fan = await _fanout(request, rc, schema, "retrieveEntityTypeDetails", ld_only=True)
    if fan is None:
        return local, {}

    async def each(reg: Registration) -> list[tuple[str, list[str]]]:
        target = fan.target(reg)
        body = await fan.get(target, "/types", {"details": "true"})
        active = fan.active(target)
        return [(_iri(e, "typeName", active),
                 _names(e.get("attributeNames", []), active, "attributeNames"))
                for e in _entries(body or [])]

    done, headers = await fan.ask(each)
    merged: dict[str, set[str]] = {t: set(a) for t, a in local}
    for reg, rows in done:
        for t, names in rows:
            if not reg.infos(None, [t]):
                continue
            seen = fan.view.readable(reg, t, names)
            if seen is not None:
                merged.setdefault(t, set()).update(a for a in seen
                                                   if reg.infos(None, [t], [a]))
    return [(t, sorted(a)) for t, a in sorted(merged.items())], headers


async def type_info(request: web.Request, rc: Any, schema: str, type_iri: str,
                    count: int, attrs: list[tuple[str, list[str]]],
                    ) -> tuple[int, list[tuple[str, list[str]]], Headers]:
    """5.7.7: the entity count summed and the attribute types united over the hub and
    the sources that hold ``type_iri`` (count 0: found nowhere)."""
    fan = await _fanout(request, rc, schema, "retrieveEntityTypeInfo", [type_iri],
                        ld_only=True)
    if fan is None:
        return count, attrs, {}

    async def each(reg: Registration) -> tuple[int, dict[str, list[str]]] | None:
        target = fan.target(reg)
        active = fan.active(target)
        body = await fan.get(target, "/types/" + quote(active.compact(type_iri), safe=":"))
        if body is None:
            return None
        n = body.get("entityCount") if isinstance(body, dict) else None
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise SourceError("the type information has no entityCount", invalid=True)
        details: dict[str, list[str]] = {}
        for e in _entries(body.get("attributeDetails", [])):
            kinds = e.get("attributeTypes", [])
            details[_iri(e, "attributeName", active)] = [
                k for k in (kinds if isinstance(kinds, list) else []) if isinstance(k, str)]
        return n, details

    done, headers = await fan.ask(each)
    merged: dict[str, set[str]] = {a: set(k) for a, k in attrs}
    total = count
    for reg, answer in done:
        if answer is None:
            continue
        n, details = answer
        seen = fan.view.readable(reg, type_iri, details)
        if seen is None:
            continue
        total += n
        for a in seen:
            if reg.infos(None, [type_iri], [a]):
                merged.setdefault(a, set()).update(details[a])
    return total, [(a, sorted(k)) for a, k in sorted(merged.items())], headers


# -- /attributes ------------------------------------------------------------------------

async def _remote_attrs(fan: Fanout, reg: Registration, details: bool,
                        ) -> list[tuple[str, list[str] | None]]:
    """A source's attributes with the entity types it names for each (None: not given),
    from the details form where the registration offers it, else the plain list."""
    if details and isinstance(fan.fed.source_for(reg), LdSource):
        target = fan.target(reg)
        body = await fan.get(target, "/attributes", {"details": "true"})
        active = fan.active(target)
        out: list[tuple[str, list[str] | None]] = []
        for e in _entries(body or []):
            types = e.get("typeNames")
            out.append((_iri(e, "attributeName", active),
                        _names(types, active, "typeNames") if types is not None else None))
        return out
    names = await fan.fed.source_for(reg).attributes(fan.request.app[keys.HTTP],
                                                    fan.target(reg))
    return [(a, None) for a in names]


def _merge_attrs(fan: Fanout, reg: Registration, rows: list[tuple[str, list[str] | None]],
                 merged: dict[str, set[str]]) -> None:
    for a, types in rows:
        if not reg.infos(None, [], [a]):
            continue
        shown = fan.view.attribute(reg, a, types)
        if shown is not None:
            merged.setdefault(a, set()).update(shown[0])


async def attribute_list(request: web.Request, rc: Any, schema: str, local: list[str],
                         ) -> tuple[list[str], Headers]:
    """5.7.8: the local attribute IRIs united with the sources'. A source is asked for
    its details when its registration allows them, so each name is decided by the types
    it occurs on (and kept to the registered ones); otherwise a name must be readable on
    every entity of its owner."""
    fan = await _fanout(request, rc, schema, "retrieveAttrTypes")
    if fan is None:
        return local, {}

    async def each(reg: Registration) -> list[tuple[str, list[str] | None]]:
        return await _remote_attrs(fan, reg, reg.allows("retrieveAttrTypeDetails"))

    done, headers = await fan.ask(each)
    merged: dict[str, set[str]] = {a: set() for a in local}
    for reg, rows in done:
        _merge_attrs(fan, reg, rows, merged)
    return sorted(merged), headers


async def attribute_details(request: web.Request, rc: Any, schema: str,
                            local: list[AttrRow]) -> tuple[list[AttrRow], Headers]:
    """5.7.9: every attribute with the entity types it occurs on, local and remote
    united (the count and attribute types of these rows are not part of this form)."""
    fan = await _fanout(request, rc, schema, "retrieveAttrTypeDetails", ld_only=True)
    if fan is None:
        return local, {}

    async def each(reg: Registration) -> list[tuple[str, list[str] | None]]:
        return await _remote_attrs(fan, reg, True)

    done, headers = await fan.ask(each)
    merged: dict[str, set[str]] = {a: set(types) for a, _n, _k, types in local}
    for reg, rows in done:
        _merge_attrs(fan, reg, rows, merged)
    return [(a, None, [], sorted(t)) for a, t in sorted(merged.items())], headers


async def attribute_info(request: web.Request, rc: Any, schema: str, attr: str,
                         local: AttrRow | None) -> tuple[AttrRow | None, Headers]:
    """5.7.10: ``attributeCount`` summed, ``attributeTypes`` and ``typeNames`` united
    (None in the row: found nowhere)."""
    fan = await _fanout(request, rc, schema, "retrieveAttrTypeInfo", (), [attr],
                        ld_only=True)
    if fan is None:
        return local, {}

    async def each(reg: Registration) -> tuple[int | None, list[str], list[str] | None] | None:
        target = fan.target(reg)
        active = fan.active(target)
        body = await fan.get(target, "/attributes/" + quote(active.compact(attr), safe=":"))
        if body is None:
            return None
        if not isinstance(body, dict):
            raise SourceError("the attribute information is not an object", invalid=True)
        n = body.get("attributeCount")
        kinds = body.get("attributeTypes", [])
        types = body.get("typeNames")
        return (n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None,
                [k for k in (kinds if isinstance(kinds, list) else []) if isinstance(k, str)],
                _names(types, active, "typeNames") if types is not None else None)

    done, headers = await fan.ask(each)
    found = local is not None
    count = (local[1] or 0) if local is not None else 0
    kinds = set(local[2]) if local is not None else set()
    types = set(local[3]) if local is not None else set()
    for reg, answer in done:
        if answer is None:
            continue
        n, remote_kinds, remote_types = answer
        shown = fan.view.attribute(reg, attr, remote_types)
        if shown is None:
            continue
        found = True
        shown_types, countable = shown
        if countable and n is not None:
            count += n
        kinds.update(remote_kinds)
        types.update(shown_types)
    row = (attr, count, sorted(kinds), sorted(types)) if found else None
    return row, headers
