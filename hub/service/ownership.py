"""Ownership at write time: every entity belongs to exactly one registered dataset.

The one place the hub applies the registry to entity writes (docs/registry.md). Every write
path (create, replace, upsert, merge, append, attribute writes, batch) obtains a
:class:`WriteGuard` for its request and

1. refuses payloads that name a provenance attribute (:meth:`WriteGuard.check_payload`,
   :meth:`WriteGuard.check_attribute`): those are the hub's, never a client's;
2. settles the final state of each entity just before it is stored
   (:meth:`WriteGuard.settle`): the dataset whose rule the entity's id and types match
   owns it; a new entity no rule covers goes to the writer's default dataset (the
   playground's, for a caller-less write in development mode), and only with no such
   dataset is it a 400; a different dataset than the stored owner is a 400 (ownership
   never changes by a write; an entity in a default dataset stays there), a caller that is
   not the owner is a 403, a contract type named in the default vocabulary (no contracts
   @context) where a dataset declares that contract is a 400 saying so, a contract violation
   is a 400 naming attribute and rule — and the provenance attributes are stamped.

The dataset rules are cached per process (:class:`RulesCache`) and invalidated through
PostgreSQL ``LISTEN``/``NOTIFY`` on the channel a trigger on ``registry.datasets`` notifies,
so a change made by any hub process or by the CLI reaches every process on commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

import contracts
from hub import keys
from hub.db.listen import listen_forever
from hub.errors import AlreadyExists, BadRequestData, Forbidden, InternalError, NgsiLdError
from hub.jsonld.core import DEFAULT_VOCAB
from hub.ngsild.entity import EntityDoc
from hub.query.values import NOT_INDEXED
from registry import Dataset, OwnershipIndex, RegistryError, RegistryRepository

__all__ = [
    "CHANNEL",
    "CLIENT_PROVENANCE",
    "PROTECTED",
    "PROVENANCE",
    "CallerResolver",
    "RulesCache",
    "WriteGuard",
    "contract_violations",
    "guard",
    "keep_provenance",
    "no_identity",
    "owner_of",
]

log = logging.getLogger("renkei.ownership")

CHANNEL = "renkei_registry"
PROVIDER = DEFAULT_VOCAB + "dataProvider"
DATASET = DEFAULT_VOCAB + "refDataset"
SOURCE = DEFAULT_VOCAB + "source"
#: The provenance attributes the hub stamps (names under the core @context's vocabulary,
#: so ``dataProvider``, ``refDataset`` and ``source`` read and query without a Link header).
PROVENANCE = (PROVIDER, DATASET, SOURCE)
assert {PROVIDER, SOURCE} == NOT_INDEXED  # refDataset alone carries the value index rows
#: Attributes no client may write: the hub's provenance. Smart Data Models' own
#: ``dataProvider`` and ``source`` (SDM IRIs, the short names under the contracts'
#: @context) are the client's: an SDM payload keeps them as sent, beside the hub's
#: provenance under its own IRIs (docs/registry.md, "Provenance").
PROTECTED = frozenset(PROVENANCE)
#: The SDM provenance attributes a client may send; closed contracts accept them too.
CLIENT_PROVENANCE = frozenset({contracts.SDM + "dataProvider", contracts.SDM + "source"})
#: contract type name -> contract info, to recognise a contract type sent without the
#: contracts' @context (its default-vocabulary IRI)
_CONTRACT_NAMES = {info.name: info for info in contracts.CONTRACTS.values()}

Entity = dict[str, Any]
CallerResolver = Callable[[web.Request], Awaitable[str | None]]
Fail = Callable[[str, NgsiLdError], None]


async def no_identity(request: web.Request) -> str | None:
    """The default identity plug-in: no caller identity is known, so no owner check applies.

    Access control replaces it (``app[keys.CALLER_ORGANISATION]``) with a resolver that
    returns the calling organisation's registry id from the validated token.
    """
    return None


# -- the rules cache ----------------------------------------------------------------------

class RulesCache:
    """The dataset rules of the registry, per process, kept fresh by LISTEN/NOTIFY.

    While the listener connection is up a notification invalidates the cache and the next
    write reloads it (one query). While it is down (database restart, network) the cache is
    trusted for at most ``fallback_ttl`` seconds, so a lost notification costs at most that.
    """

    def __init__(self, pool: asyncpg.Pool, database_url: str,
                 fallback_ttl: float = 1.0) -> None:
        self._repo = RegistryRepository(pool)
        self._url = database_url
        self._ttl = fallback_ttl
        self._index: OwnershipIndex | None = None
        self._loaded_at = 0.0
        self._listening = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        #: the organisation whose default dataset takes caller-less writes (development
        #: mode's playground, set by the sample data); None: such writes need a rule
        self.playground: str | None = None

    async def current(self) -> OwnershipIndex:
        index = self._index
        if index is not None and (self._listening
                                  or time.monotonic() - self._loaded_at < self._ttl):
            return index
        async with self._lock:
            if self._index is None or self._index is index:
                version, datasets = await self._repo.snapshot()
                self._index = OwnershipIndex(datasets, version)
                self._loaded_at = time.monotonic()
            return self._index

    def invalidate(self) -> None:
        self._index = None

    def _notified(self, con: Any, pid: int, channel: str, payload: str) -> None:
        index = self._index
        if index is None or not payload.isdigit() or int(payload) != index.version:
            self.invalidate()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        await listen_forever(self._url, CHANNEL, self._notified,
                             name="renkei-registry-listener", resync=self.invalidate,
                             listening=self._set_listening)

    def _set_listening(self, value: bool) -> None:
        self._listening = value


# -- provenance -----------------------------------------------------------------------------

def owner_of(attrs: dict[str, Any]) -> str | None:
    """The dataset id an entity's stored provenance names, None when it carries none."""
    instances = attrs.get(DATASET)
    if not instances:
        return None
    obj = instances[0].get("object")
    prefix = "urn:ngsi-ld:Dataset:"
    return obj[len(prefix):] if isinstance(obj, str) and obj.startswith(prefix) else None


def keep_provenance(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` attributes plus the provenance of ``old``: a replace keeps who owns it."""
    return {**{k: old[k] for k in PROVENANCE if k in old}, **new}


def _stamp(attrs: dict[str, Any], ds: Dataset, now: str) -> None:
    wanted = {
        PROVIDER: {"type": "Property", "value": ds.owner},
        DATASET: {"type": "Relationship", "object": ds.iri},
        SOURCE: {"type": "Property", "value": ds.provenance_source},
    }
    for iri, inst in wanted.items():
        current = attrs.get(iri)
        if (current and len(current) == 1
                and all(current[0].get(k) == v for k, v in inst.items())):
            continue  # unchanged: keep its createdAt/modifiedAt
        attrs[iri] = [{**inst, "createdAt": now, "modifiedAt": now}]


def contract_violations(ent: Entity) -> list[contracts.Violation]:
    """The contract-validation-at-write step: the stored form against its contract types."""
    return contracts.validate_stored(ent["types"], ent["attrs"],
                                     allow=PROTECTED | CLIENT_PROVENANCE)


def _default_vocabulary_twins(types: list[str]) -> dict[str, contracts.ContractInfo]:
    """The entity's types that are a contract type's name in NGSI-LD's default vocabulary
    (sent without the contracts' @context), by that IRI."""
    out = {}
    for t in types:
        if t.startswith(DEFAULT_VOCAB):
            info = _CONTRACT_NAMES.get(t[len(DEFAULT_VOCAB):])
            if info is not None:
                out[t] = info
    return out


# -- the guard ------------------------------------------------------------------------------

@dataclass(slots=True)
class WriteGuard:
    """One request's view of the rules and of who is calling."""

    index: OwnershipIndex
    caller: str | None
    #: whose default dataset a caller-less write falls back to (the playground's owner)
    playground: str | None = None

    def check_payload(self, attrs: Iterable[str]) -> None:
        """Refuse a payload that sets or deletes a provenance attribute."""
        named = sorted(set(attrs) & PROTECTED)
        if named:
            raise BadRequestData(
                f"{', '.join(n.rsplit('/', 1)[-1] for n in named)}: provenance attributes are "
                "set by the hub from the registry and cannot be written; leave them out",
                attributes=named)

    def check_attribute(self, iri: str) -> None:
        self.check_payload((iri,))

    def owner(self, entity_id: str, types: list[str]) -> Dataset:
        """The dataset that owns an entity of this id and these types, for a write by the
        caller; the checks of :meth:`settle` without stamping (the temporal representation
        keeps instances, not provenance)."""
        return self._decide({"id": entity_id, "types": types, "attrs": {}}, None)

    def settle(self, ent: Entity, now: str, *, stored_owner: str | None = None) -> None:
        """Decide and enforce the owner of ``ent`` (its final state), then stamp provenance.

        ``stored_owner`` is the dataset the stored entity belongs to when ``ent`` does not
        carry its old provenance (a blind upsert); otherwise its attributes say.
        """
        ds = self._decide(ent, stored_owner or owner_of(ent["attrs"]))
        violations = contract_violations(ent)
        if violations:
            raise BadRequestData(
                "; ".join(str(v) for v in violations),
                violations=[{"attribute": v.attribute, "iri": v.iri, "rule": v.rule,
                             "message": v.message} for v in violations])
        # which changes become history is the owner's setting (hub/store/entities.py)
        if ds.history_mode == "every":
            ent["historyMode"] = "every"
        else:
            ent.pop("historyMode", None)
        if not ds.rule.catch_all:
            # a catch-all (experiments, the conformance suite) owns everything and stamps
            # nothing, so what a client wrote is exactly what it reads back
            _stamp(ent["attrs"], ds, now)

    def _decide(self, ent: Entity, was: str | None) -> Dataset:
        try:
            ds = self.index.owning_dataset(ent["id"], ent["types"])
        except RegistryError as exc:
            raise InternalError(exc.detail) from exc
        if ds is None:
            if was is None:  # a new entity: its writer's default dataset
                ds = self.index.defaults.get(self.caller or self.playground or "")
            elif (stored := self.index.by_id.get(was)) is not None and stored.rule.owner_default:
                ds = stored  # stays where its writer put it; the owner check below applies
        self._one_vocabulary(ent, ds)
        if was is not None and (ds is None or ds.id != was):
            stored = self.index.by_id.get(was)
            if self.caller is not None and (stored is None or stored.owner != self.caller):
                # someone else's entity: the id is taken, and that is all a writer who
                # does not own it learns (not whose it is, nor which dataset holds it)
                raise AlreadyExists(f"entity id {ent['id']} is already taken")
            now_in = f"dataset {ds.id}" if ds else "no dataset"
            raise BadRequestData(
                f"entity {ent['id']} belongs to dataset {was}; after this write it would match "
                f"{now_in}: the owner of an entity cannot change (keep its types)",
                dataset=was)
        if ds is None:
            raise BadRequestData(
                f"entity {ent['id']} matches no registered dataset: every entity belongs to "
                "one; register a dataset whose rule covers its id and types (docs/registry.md)",
                reason="NoOwningDataset")
        if self.caller is not None and self.caller != ds.owner:
            raise Forbidden(f"entity {ent['id']} belongs to dataset {ds.id} of organisation "
                            f"{ds.owner}; organisation {self.caller} may not write it",
                            dataset=ds.id)
        return ds

    def _one_vocabulary(self, ent: Entity, ds: Dataset | None) -> None:
        """Refuse a contract type sent in the default vocabulary (no contracts @context)
        where a dataset declares that contract: the one it was written to, or the one that
        would own it under the contract's IRI. A contract type has one IRI, so every
        consumer sees the entity as the adapters' entities of the same type."""
        twins = _default_vocabulary_twins(ent["types"])
        if not twins:
            return
        fixed = [twins[t].type_iri if t in twins else t for t in ent["types"]]
        meant = self.index.owning_dataset(ent["id"], fixed)
        for t, info in twins.items():
            declaring = next((d for d in (ds, meant) if d is not None
                              and info.name in d.contracts), None)
            if declaring is None and (meant is None or meant is ds):
                continue
            where = declaring or meant
            assert where is not None
            raise BadRequestData(
                f"entity {ent['id']}: type {info.name} was read as {t} because the request "
                f"did not send the contracts @context; dataset {where.id} holds the contract "
                f"type {info.type_iri}: send the contracts @context (Link: <"
                f"{info.context_url}>; rel=\"http://www.w3.org/ns/json-ld#context\"; "
                f"type=\"application/ld+json\") or use the full type IRI",
                reason="ContractsContextMissing", entityType=t,
                expected=info.type_iri)

    def admit(self, docs: list[EntityDoc], fail: Fail) -> list[EntityDoc]:
        """Batch form of :meth:`check_payload`: refused entities are reported, not raised."""
        kept = []
        for d in docs:
            try:
                self.check_payload(d.attrs)
            except NgsiLdError as err:
                fail(d.id, err)
                continue
            kept.append(d)
        return kept

    def settle_many(self, ents: Iterable[Entity], now: str, fail: Fail,
                    stored_owners: dict[str, str | None] | None = None) -> list[Entity]:
        """Batch form of :meth:`settle`: the entities that may be written."""
        kept = []
        for ent in ents:
            try:
                self.settle(ent, now, stored_owner=(stored_owners or {}).get(ent["id"]))
            except NgsiLdError as err:
                fail(ent["id"], err)
                continue
            kept.append(ent)
        return kept


async def guard(request: web.Request) -> WriteGuard:
    """The write guard of a request: the cached rules and the caller's organisation."""
    app = request.app
    rules = app[keys.REGISTRY_RULES]
    caller = await app[keys.CALLER_ORGANISATION](request)
    return WriteGuard(await rules.current(), caller,
                      rules.playground if caller is None else None)
