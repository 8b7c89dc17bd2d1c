"""The entity a notification carries for a change (GS CIM 009 5.2.14 ``showChanges``,
5.3 notification data, NGSI-LD Null for what was deleted).

Rules, as the ETSI suite checks them (docs/subscriptions.md):
- an entity after a create or update, rendered with the subscription's ``notification``
  parameters; an attribute (or instance) the change deleted appears with its value member
  set to NGSI-LD Null (``urn:ngsi-ld:null``; a LanguageProperty as ``{"@none": null}``);
- ``showChanges`` adds ``previousValue`` / ``previousObject`` / ``previousLanguageMap`` …
  to the attributes the change updated or deleted, never to created ones;
- a deleted entity is ``id``, ``type`` and ``deletedAt``, plus, for ``attributeDeleted`` or
  with ``showChanges``, its (watched) attributes nulled.
"""

from __future__ import annotations

from typing import Any

from hub.jsonld.active import ActiveContext
from hub.ngsild.render import VALUE_KEYS, RenderOptions, render_entity, render_instance
from hub.subscriptions.matching import Change, Fired, diff

__all__ = ["NULL_URI", "notification_entity"]

NULL_URI = "urn:ngsi-ld:null"


def _value_key(inst: dict[str, Any]) -> str:
    return VALUE_KEYS.get(inst.get("type", "Property"), "value")


def _previous(inst: dict[str, Any], ctx: ActiveContext) -> tuple[str, Any]:
    """``previousValue`` / ``previousObject`` / ... of a stored instance."""
    key = _value_key(inst)
    shown = render_instance(inst, ctx, RenderOptions(fmt="normalized"))
    value = shown.get(key) if isinstance(shown, dict) else shown
    return "previous" + key[0].upper() + key[1:], value


def _nulled(inst: dict[str, Any], ctx: ActiveContext, opts: RenderOptions, *,
            show_changes: bool, deleted_at: str, map_as_string: bool = False) -> Any:
    """A deleted instance as NGSI-LD Null, in the subscription's format."""
    if opts.fmt == "keyValues":
        return NULL_URI
    kind = inst.get("type", "Property")
    key = _value_key(inst)
    out: dict[str, Any] = {"type": kind}
    if key == "languageMap" and not map_as_string:
        out[key] = {"@none": NULL_URI}
    else:
        out[key] = NULL_URI
    if show_changes:
        prev_key, value = _previous(inst, ctx)
        out[prev_key] = value
    if "datasetId" in inst:
        out["datasetId"] = inst["datasetId"]
    if opts.sys_attrs:
        for k in ("createdAt", "modifiedAt"):
            if k in inst:
                out[k] = inst[k]
        out["deletedAt"] = deleted_at
    return out


def _attribute_value(shown: Any) -> list[Any]:
    return shown if isinstance(shown, list) else [shown]


def notification_entity(
    sub: dict[str, Any], change: Change, fired: Fired, ctx: ActiveContext,
    opts: RenderOptions, linked: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The entity as the subscription's ``notification`` parameters render it; ``linked``
    holds the entities its relationships point to, for ``join=inline``."""
    show_changes = bool(sub["notification"].get("showChanges", False))
    if change.op == "d":
        return _deleted_entity(change, fired, ctx, opts, show_changes)
    after = change.after
    assert after is not None
    out = render_entity(after, ctx, opts, linked)
    if change.before is None:
        if opts.fmt == "keyValues":
            _key_values_extras(out, after, ctx, opts, skip=set())
        return out
    before = change.before["attrs"]
    _, updated, deleted = diff(change.before, after)
    for iri in sorted(fired.attributes & deleted):
        if opts.attrs is not None and iri not in opts.attrs:
            continue
        name = ctx.compact(iri)
        gone = [i for i in before[iri]
                if i.get("datasetId") not in {j.get("datasetId") for j in
                                              after["attrs"].get(iri, [])}]
        nulls = [_nulled(i, ctx, opts, show_changes=show_changes, deleted_at=change.at)
                 for i in gone]
        if iri not in after["attrs"] or name not in out:
            # the whole attribute went: one Null, as the default instance (or the first)
            main = next((i for i in gone if "datasetId" not in i), gone[0])
            out[name] = _nulled({k: v for k, v in main.items() if k != "datasetId"}, ctx,
                                opts, show_changes=show_changes, deleted_at=change.at)
        elif opts.fmt == "keyValues":
            out[name] = _dataset_map(after["attrs"][iri], gone, ctx, opts)
        else:
            out[name] = _attribute_value(out[name]) + nulls
    if opts.fmt == "keyValues":
        _key_values_extras(out, after, ctx, opts, skip=deleted)
    if show_changes and opts.fmt == "normalized":
        for iri in fired.attributes & updated:
            name = ctx.compact(iri)
            if name not in out:
                continue
            old = {i.get("datasetId"): i for i in before[iri]}
            for shown, inst in zip(_attribute_value(out[name]), after["attrs"][iri],
                                   strict=False):
                prior = old.get(inst.get("datasetId"))
                if isinstance(shown, dict) and prior is not None and prior != inst:
                    key, value = _previous(prior, ctx)
                    shown[key] = value
    return out


def _key_values_extras(out: dict[str, Any], after: dict[str, Any], ctx: ActiveContext,
                       opts: RenderOptions, *, skip: set[str]) -> None:
    """Notifications in keyValues keep every instance of a multi-instance attribute (as a
    ``dataset`` map) and, with ``sysAttrs``, the entity's system attributes."""
    for iri, instances in after["attrs"].items():
        name = ctx.compact(iri)
        if iri not in skip and len(instances) > 1 and name in out:
            out[name] = _dataset_map(instances, [], ctx, opts)
    if opts.sys_attrs:
        out.setdefault("createdAt", after["createdAt"])
        out.setdefault("modifiedAt", after["modifiedAt"])


def _dataset_map(instances: list[dict[str, Any]], gone: list[dict[str, Any]],
                 ctx: ActiveContext, opts: RenderOptions) -> dict[str, Any]:
    """keyValues of a multi-instance attribute: ``{"dataset": {datasetId|@none: value}}``."""
    values: dict[str, Any] = {}
    for inst in instances:
        shown = render_instance(inst, ctx, RenderOptions(fmt="normalized", lang=opts.lang))
        values[inst.get("datasetId", "@none")] = (
            shown.get(_value_key(inst)) if isinstance(shown, dict) else shown)
    for inst in gone:
        values[inst.get("datasetId", "@none")] = NULL_URI
    return {"dataset": values}


def _deleted_entity(change: Change, fired: Fired, ctx: ActiveContext, opts: RenderOptions,
                    show_changes: bool) -> dict[str, Any]:
    before = change.before
    assert before is not None
    out: dict[str, Any] = {"id": before["id"]}
    if "type" not in opts.omit and (opts.pick_core is None or "type" in opts.pick_core):
        types = [ctx.compact(t) for t in before["types"]]
        out["type"] = types[0] if len(types) == 1 else types
    if opts.sys_attrs:
        out["createdAt"] = before["createdAt"]
        out["modifiedAt"] = before["modifiedAt"]
    out["deletedAt"] = change.at
    if fired.trigger == "entityDeleted" and not show_changes:
        return out
    names = set(fired.attributes) if fired.trigger == "attributeDeleted" else set(before["attrs"])
    if opts.attrs is not None:
        names &= opts.attrs
    for iri in sorted(names - set(opts.omit)):
        nulls = [_nulled(i, ctx, opts, show_changes=show_changes, deleted_at=change.at,
                         map_as_string=fired.trigger == "entityDeleted")
                 for i in before["attrs"][iri]]
        out[ctx.compact(iri)] = nulls[0] if len(nulls) == 1 else nulls
    return out
