"""Render stored entities for a response: normalized, concise, keyValues, GeoJSON (4.5, 4.5.17).

Compaction happens here, against the request's active context, so the store never sees short
names and every response uses the terms the client itself sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from hub.query.projection import Projection

__all__ = [
    "VALUE_KEYS",
    "Compactor",
    "RenderOptions",
    "render_entity",
    "render_geojson",
    "render_instance",
]

_VALUE_MEMBERS = ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList")
VALUE_KEYS = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}


class Compactor(Protocol):
    def compact(self, iri: str) -> str: ...


@dataclass(slots=True)
class RenderOptions:
    fmt: str = "normalized"  # normalized | concise | keyValues
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None  # expanded attribute IRIs to keep
    omit: frozenset[str] = frozenset()  # expanded attribute IRIs (or "id"/"type") to drop
    pick_core: frozenset[str] | None = None  # of {"id", "type", "scope", ...} when pick used
    lang: str | None = None
    dataset_ids: frozenset[str | None] | None = None
    geometry_property: str = "https://uri.etsi.org/ngsi-ld/location"
    # linked entities (4.5.23): join mode, depth, nested projections by relationship IRI
    join: str | None = None
    join_level: int = 1
    link_pick: dict[str, Projection] = field(default_factory=dict)
    link_omit: dict[str, Projection] = field(default_factory=dict)

    def with_projection(self, pick: Projection | None, omit: Projection | None) -> RenderOptions:
        """Options for one level: ``pick``/``omit`` keys are expanded IRIs or core names.

        Without either (most requests) and nothing nested to drop, the options are these."""
        if pick is None and omit is None and not self.link_pick and not self.link_omit:
            return self
        attrs = self.attrs
        pick_core = self.pick_core
        link_pick: dict[str, Projection] = {}
        if pick is not None:
            pick_core = frozenset(k for k in pick if k in CORE_MEMBERS)
            attrs = frozenset(k for k in pick if k not in CORE_MEMBERS)
            link_pick = {k: v for k, v in pick.items() if v is not None}
        omit_set = self.omit
        link_omit: dict[str, Projection] = {}
        if omit is not None:
            omit_set = frozenset(k for k, v in omit.items() if v is None)
            link_omit = {k: v for k, v in omit.items() if v is not None}
        return replace(self, attrs=attrs, pick_core=pick_core, omit=omit_set,
                       link_pick=link_pick, link_omit=link_omit)

    def for_link(self, iri: str) -> RenderOptions:
        """Options for an entity reached through relationship ``iri``, one level down."""
        base = replace(self, attrs=None, pick_core=None, omit=frozenset(),
                       join_level=self.join_level - 1)
        return base.with_projection(self.link_pick.get(iri), self.link_omit.get(iri))


CORE_MEMBERS = frozenset({"id", "type", "scope", "createdAt", "modifiedAt"})


def _choose_lang(lmap: dict[str, Any], lang: str) -> tuple[str, Any]:
    """Best language for ``lang`` (a tag, a comma list with q-values, or ``*``)."""
    wanted = [part.split(";")[0].strip() for part in lang.split(",") if part.strip()]
    for tag in wanted:
        if tag == "*":
            break
        if tag in lmap:
            return tag, lmap[tag]
        for key in lmap:  # 'en' matches 'en-GB' and vice versa
            if key.split("-")[0] == tag.split("-")[0]:
                return key, lmap[key]
    if "@none" in lmap:
        return "@none", lmap["@none"]
    first = next(iter(lmap))
    return first, lmap[first]


def _compact_vocab(value: Any, ctx: Compactor) -> Any:
    if isinstance(value, list):
        return [ctx.compact(v) for v in value]
    return ctx.compact(value)


#: instance members that are not copied as they are (``_instance``): one set lookup per
#: member instead of a chain of comparisons, on the hottest loop of every read
_SPECIAL_MEMBERS = frozenset({"type", "createdAt", "modifiedAt", "vocab"})


def _instance(inst: dict[str, Any], ctx: Compactor, opts: RenderOptions) -> Any:
    typ = inst.get("type", "Property")
    out: dict[str, Any] = {"type": typ}
    for key, val in inst.items():
        if key in _SPECIAL_MEMBERS:
            if key == "vocab":
                out[key] = _compact_vocab(val, ctx)
            elif key != "type" and opts.sys_attrs:
                out[key] = val
        elif ":" in key:
            out[ctx.compact(key)] = _instance(val, ctx, opts)
        else:
            out[key] = val
    if typ == "LanguageProperty" and opts.lang is not None and "languageMap" in out:
        tag, text = _choose_lang(out.pop("languageMap"), opts.lang)
        out["type"] = "Property"
        out["value"] = text
        if tag != "@none":
            out["lang"] = tag
    if opts.fmt == "concise":
        return _concise(out)
    return out


def render_instance(inst: dict[str, Any], ctx: Compactor, opts: RenderOptions) -> Any:
    """One attribute instance, compacted (used by the temporal representation)."""
    return _instance(inst, ctx, opts)


def _concise(out: dict[str, Any]) -> Any:
    """4.5.?: drop ``type``; a lone simple value stands for itself."""
    typ = out.pop("type")
    if typ in ("Property", "GeoProperty") and len(out) == 1 and "value" in out:
        value = out["value"]
        if typ == "GeoProperty" or not isinstance(value, dict):
            return value
    return out


def _key_value(instances: list[dict[str, Any]], ctx: Compactor, opts: RenderOptions) -> Any:
    inst = instances[0]
    for candidate in instances:
        if "datasetId" not in candidate:
            inst = candidate
            break
    typ = inst.get("type", "Property")
    val = inst.get(VALUE_KEYS.get(typ, "value"))
    if typ == "VocabProperty":
        return _compact_vocab(val, ctx)
    if typ == "ListRelationship":
        return [item.get("object") if isinstance(item, dict) else item for item in val or []]
    if typ == "LanguageProperty" and opts.lang is not None and isinstance(val, dict):
        return _choose_lang(val, opts.lang)[1]
    return val


def _selected(iri: str, opts: RenderOptions) -> bool:
    if opts.attrs is not None and iri not in opts.attrs:
        return False
    return iri not in opts.omit


def _inline(
    iri: str, inst: dict[str, Any], ctx: Compactor, opts: RenderOptions,
    linked: dict[str, dict[str, Any]], path: frozenset[str],
) -> Any:
    """The rendered entity a Relationship instance points to, for ``join=inline``; None
    for one already embedded on the way here (``path``): a cycle would otherwise nest
    as deep as ``joinLevel`` says, which a client may set to a billion."""
    target = inst.get("object")
    if isinstance(target, str) and target in linked and target not in path:
        return render_entity(linked[target], ctx, opts.for_link(iri), linked, path)
    return None


def render_entity(
    ent: dict[str, Any], ctx: Compactor, opts: RenderOptions,
    linked: dict[str, dict[str, Any]] | None = None, path: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """``ent`` is the stored dict: id, types, scopes, attrs, createdAt, modifiedAt.

    ``linked`` holds the entities relationships point to, for ``join=inline``. Runs once
    per entity of every page: the options are read into locals once, not per attribute.
    """
    inline = linked is not None and opts.join == "inline" and opts.join_level > 0
    if inline:
        path = path | {ent["id"]}
    out: dict[str, Any] = {}
    core = opts.pick_core
    omit = opts.omit
    compact = ctx.compact
    if (core is None or "id" in core) and "id" not in omit:
        out["id"] = ent["id"]
    if (core is None or "type" in core) and "type" not in omit:
        types = ent["types"]
        out["type"] = compact(types[0]) if len(types) == 1 else [compact(t) for t in types]
    if ent.get("scopes") and (core is None or "scope" in core) and "scope" not in omit:
        scopes = ent["scopes"]
        out["scope"] = scopes[0] if len(scopes) == 1 else scopes
    key_values = opts.fmt == "keyValues"
    if opts.sys_attrs and not key_values:
        out["createdAt"] = ent["createdAt"]
        out["modifiedAt"] = ent["modifiedAt"]
    keep = opts.attrs
    dataset_ids = opts.dataset_ids
    for iri, instances in ent["attrs"].items():
        if (keep is not None and iri not in keep) or iri in omit:  # _selected
            continue
        if dataset_ids is not None:
            instances = [i for i in instances if i.get("datasetId") in dataset_ids]
        if not instances:
            continue
        name = compact(iri)
        if key_values:
            out[name] = _key_value(instances, ctx, opts)
            if inline and instances[0].get("type") == "Relationship":
                entity = _inline(iri, instances[0], ctx, opts, linked or {}, path)
                if entity is not None:
                    out[name] = entity
        elif len(instances) == 1 and not inline:
            out[name] = _instance(instances[0], ctx, opts)
        else:
            rendered = [_instance(i, ctx, opts) for i in instances]
            if inline:
                for raw, shown in zip(instances, rendered, strict=True):
                    if raw.get("type") == "Relationship" and isinstance(shown, dict):
                        entity = _inline(iri, raw, ctx, opts, linked or {}, path)
                        if entity is not None:
                            shown["entity"] = entity
            out[name] = rendered[0] if len(rendered) == 1 else rendered
    return out


def relationship_targets(ent: dict[str, Any], opts: RenderOptions) -> list[tuple[str, str]]:
    """(relationship IRI, target id) for every relationship the projection keeps."""
    found: list[tuple[str, str]] = []
    for iri, instances in ent["attrs"].items():
        if not _selected(iri, opts):
            continue
        for inst in instances:
            if inst.get("type") == "Relationship":
                obj = inst.get("object")
                for target in obj if isinstance(obj, list) else [obj]:
                    if isinstance(target, str):
                        found.append((iri, target))
            elif inst.get("type") == "ListRelationship":
                for item in inst.get("objectList") or []:
                    if isinstance(item, dict) and isinstance(item.get("object"), str):
                        found.append((iri, item["object"]))
    return found


def render_flat(
    roots: list[dict[str, Any]], ctx: Compactor, opts: RenderOptions,
    linked: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """``join=flat``: the roots, then every linked entity once, each with its own projection."""
    out = [render_entity(r, ctx, opts) for r in roots]
    seen = {r["id"] for r in roots}
    frontier = [(r, opts) for r in roots]
    for _ in range(opts.join_level):
        if not frontier:  # joinLevel may be a billion; the links end long before
            break
        following: list[tuple[dict[str, Any], RenderOptions]] = []
        for ent, level_opts in frontier:
            for iri, target in relationship_targets(ent, level_opts):
                if target in seen or target not in linked:
                    continue
                seen.add(target)
                sub = level_opts.for_link(iri)
                out.append(render_entity(linked[target], ctx, sub))
                following.append((linked[target], sub))
        frontier = following
    return out


def render_geojson(
    ent: dict[str, Any], ctx: Compactor, opts: RenderOptions
) -> dict[str, Any]:
    """One GeoJSON Feature (4.5.17): geometry from ``geometryProperty``, the rest as properties."""
    props = render_entity(ent, ctx, opts)
    ent_id = props.pop("id", ent["id"])
    geometry = None
    instances = ent["attrs"].get(opts.geometry_property)
    if instances:
        geometry = instances[0].get("value")
    return {"id": ent_id, "type": "Feature", "geometry": geometry, "properties": props}
