"""Registry operations: validate with the model, decide with the pure rules, persist with the
repository passed in (so tests and the CLI use the same code as the management API).

``caller`` is who calls: an :class:`Actor` (an organisation, and whether it is the
platform operator the hub is configured with), or a bare organisation id (never the
operator), or ``None`` — no identity is known (development mode, the operator's CLI) and
the owner rule is not applied. :func:`may_change` is the one decision about who may
change a record; :func:`may_manage` the same for reading adapter registrations and runs.
The operator is a configured role, never inferred from the shape of an organisation's
code: a prefecture is not the operator unless configured so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from registry.errors import Conflict, Duplicate, Invalid, NotFound, RegistryError
from registry.model import (
    AdapterRegistration,
    AdapterRun,
    Dataset,
    Expand,
    Organisation,
    adapter_from_json,
    dataset_from_json,
    default_dataset,
    organisation_from_json,
    run_from_json,
)
from registry.ownership import check_no_overlap
from registry.repository import RegistryRepository
from registry.secrets import keep_secrets

__all__ = [
    "Actor",
    "NotPermitted",
    "create_adapter",
    "create_dataset",
    "create_organisation",
    "delete_adapter",
    "delete_dataset",
    "delete_organisation",
    "ensure_catch_all",
    "get_adapter",
    "get_dataset",
    "get_organisation",
    "list_adapters",
    "list_runs",
    "may_change",
    "may_manage",
    "put_adapter",
    "put_dataset",
    "put_organisation",
    "record_run",
    "request_run",
]

OwnedEntities = Callable[[str], Awaitable[int]]
"""How many stored entities a dataset owns (the hub counts them over every tenant)."""


class NotPermitted(RegistryError):
    """The calling organisation may not change this record."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who calls the registry: an organisation, and whether the hub is configured to treat
    it as the platform operator (``operator_organisations``)."""

    organisation: str
    operator: bool = False


Who = Actor | str | None
"""A caller: an Actor, a bare organisation id (not the operator), or None (no identity)."""


def _actor(caller: Who) -> Actor | None:
    return caller if isinstance(caller, Actor) or caller is None else Actor(caller)


def may_change(caller: str | None, owner: str | None, operator: bool) -> bool:
    """The configured operator manages everything; an organisation its own records; None:
    no identity (nothing to check)."""
    if caller is None:
        return True
    return operator or (owner is not None and caller == owner)


def may_manage(caller: Who, owner: str | None) -> bool:
    """Whether ``caller`` may read a record's management view (an adapter registration
    and its runs): the same rule as changing it."""
    actor = _actor(caller)
    return actor is None or may_change(actor.organisation, owner, actor.operator)


async def _allow(repo: RegistryRepository, caller: Who, owner: str | None) -> None:
    actor = _actor(caller)
    if actor is None:
        return
    if not may_change(actor.organisation, owner, actor.operator):
        whose = f"organisation {owner}" if owner else "the registry"
        raise NotPermitted(f"organisation {actor.organisation} may not change records of"
                           f" {whose}")


def _same(stored: Any, new: Any) -> bool:
    """Equal but for the timestamps the database keeps."""
    return bool(replace(stored, created_at=None, modified_at=None) == new)


# -- organisations ------------------------------------------------------------------------

async def get_organisation(repo: RegistryRepository, org_id: str) -> Organisation:
    org = await repo.get_organisation(org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} is not registered")
    return org


async def create_organisation(repo: RegistryRepository, data: Any,
                              caller: Who = None) -> Organisation:
    org = organisation_from_json(data)
    async with repo.atomic() as tx:
        await _allow(tx, caller, None)
        if await tx.get_organisation(org.id) is not None:
            raise Duplicate(f"organisation {org.id} is already registered")
        saved, _ = await tx.save_organisation(org)
        await _ensure_default(tx, saved)
    return saved


async def _ensure_default(tx: RegistryRepository, org: Organisation) -> None:
    """Give ``org`` its default dataset if it has none (in the caller's transaction, so an
    organisation never exists without one; migration 0050 made those of older ones)."""
    if not any(d.rule.owner_default for d in await tx.list_datasets(owner=org.id)):
        await tx.save_dataset(default_dataset(org))


async def put_organisation(repo: RegistryRepository, org_id: str, data: Any,
                           caller: Who = None) -> tuple[Organisation, bool]:
    """Create or replace (idempotent, for scripts and the sample data)."""
    org = organisation_from_json(data, org_id=org_id)
    async with repo.atomic() as tx:
        old = await tx.get_organisation(org.id)
        await _allow(tx, caller, org.id if old else None)
        if old is not None and _same(old, org):
            await _ensure_default(tx, old)
            return old, False  # nothing to change: no write, no new modifiedAt
        saved = await tx.save_organisation(org)
        await _ensure_default(tx, saved[0])
        return saved


async def delete_organisation(repo: RegistryRepository, org_id: str,
                              caller: Who = None, owned: OwnedEntities | None = None) -> None:
    """Delete an organisation with its default dataset; refused while it owns other
    datasets, or entities in its default one (``owned`` counts them; None: not counted,
    for callers that know there are none)."""
    async with repo.atomic() as tx:
        await get_organisation(tx, org_id)
        await _allow(tx, caller, None)
        datasets = await tx.list_datasets(owner=org_id)
        others = [d for d in datasets if not d.rule.owner_default]
        if others:
            raise Conflict(f"organisation {org_id} still owns datasets "
                           f"{', '.join(d.id for d in others)}; delete them first")
        for d in datasets:
            n = await owned(d.id) if owned is not None else 0
            if n:
                raise Conflict(f"organisation {org_id} still owns {n} entities in its "
                               f"default dataset {d.id}; delete them first")
            await tx.delete_dataset(d.id)
        await tx.delete_organisation(org_id)


# -- datasets -----------------------------------------------------------------------------

async def get_dataset(repo: RegistryRepository, dataset_id: str) -> Dataset:
    ds = await repo.get_dataset(dataset_id)
    if ds is None:
        raise NotFound(f"dataset {dataset_id} is not registered")
    return ds


async def _save_dataset(tx: RegistryRepository, ds: Dataset, caller: Who,
                        *, create_only: bool) -> tuple[Dataset, bool]:
    if await tx.get_organisation(ds.owner) is None:
        raise Invalid(f"owner {ds.owner} is not a registered organisation")
    old = await tx.get_dataset(ds.id)
    if old is not None and create_only:
        raise Duplicate(f"dataset {ds.id} is already registered")
    if old is not None and old.owner != ds.owner:
        raise Invalid(f"dataset {ds.id} belongs to {old.owner}; the owner of a dataset cannot "
                      "change (its entities carry it): register a new dataset")
    await _allow(tx, caller, ds.owner)
    if old is not None and _same(old, ds):
        return old, False  # no write: every hub process keeps its cached rules
    check_no_overlap(await tx.list_datasets(), ds)
    return await tx.save_dataset(ds)


async def create_dataset(repo: RegistryRepository, data: Any, expand: Expand,
                         caller: Who = None) -> Dataset:
    ds = dataset_from_json(data, expand)
    async with repo.atomic() as tx:
        saved, _ = await _save_dataset(tx, ds, caller, create_only=True)
    return saved


async def put_dataset(repo: RegistryRepository, dataset_id: str, data: Any, expand: Expand,
                      caller: Who = None) -> tuple[Dataset, bool]:
    ds = dataset_from_json(data, expand, dataset_id=dataset_id)
    async with repo.atomic() as tx:
        return await _save_dataset(tx, ds, caller, create_only=False)


async def delete_dataset(repo: RegistryRepository, dataset_id: str, owned: OwnedEntities,
                         caller: Who = None) -> None:
    async with repo.atomic() as tx:
        ds = await get_dataset(tx, dataset_id)
        await _allow(tx, caller, ds.owner)
        if ds.rule.owner_default:
            raise Conflict(f"dataset {dataset_id} is the default dataset of organisation "
                           f"{ds.owner}; it goes with the organisation")
        feeds = await tx.list_adapters(dataset=dataset_id)
        if feeds:
            raise Conflict(f"adapters {', '.join(a.id for a in feeds)} feed dataset "
                           f"{dataset_id}; delete them first")
        n = await owned(dataset_id)
        if n:
            raise Conflict(f"dataset {dataset_id} still owns {n} entities; delete them first")
        await tx.delete_dataset(dataset_id)


# -- adapters and their runs ----------------------------------------------------------------

async def get_adapter(repo: RegistryRepository, adapter_id: str,
                      caller: Who = None) -> AdapterRegistration:
    """The registration, for its owner or the operator (None: no identity); another
    organisation learns as much as from an id that does not exist."""
    reg = await repo.get_adapter(adapter_id)
    if reg is None or not may_manage(caller, await _owner_of(repo, reg)):
        raise NotFound(f"adapter registration {adapter_id} does not exist")
    return reg


async def _owner_of(repo: RegistryRepository, reg: AdapterRegistration) -> str | None:
    ds = await repo.get_dataset(reg.dataset)
    return ds.owner if ds else None


async def list_adapters(repo: RegistryRepository, caller: Who = None,
                        dataset: str | None = None) -> list[AdapterRegistration]:
    """The registrations ``caller`` may manage (all for the operator or no identity)."""
    regs = await repo.list_adapters(dataset=dataset)
    actor = _actor(caller)
    if actor is None or actor.operator:
        return regs
    owners = {d.id: d.owner for d in await repo.list_datasets(owner=actor.organisation)}
    return [r for r in regs if owners.get(r.dataset) == actor.organisation]


async def _save_adapter(tx: RegistryRepository, reg: AdapterRegistration, caller: Who,
                        *, create_only: bool) -> tuple[AdapterRegistration, bool]:
    ds = await tx.get_dataset(reg.dataset)
    if ds is None:
        raise Invalid(f"dataset {reg.dataset} is not registered")
    old = await tx.get_adapter(reg.id)
    if old is not None and create_only:
        raise Duplicate(f"adapter registration {reg.id} already exists")
    await _allow(tx, caller, ds.owner)
    # "***" sent back for a secret keeps the stored value ("***" itself is never stored)
    reg = replace(reg, config=keep_secrets(reg.config, old.config if old else {}))
    return await tx.save_adapter(reg)


async def create_adapter(repo: RegistryRepository, data: Any,
                         caller: Who = None) -> AdapterRegistration:
    reg = adapter_from_json(data)
    async with repo.atomic() as tx:
        saved, _ = await _save_adapter(tx, reg, caller, create_only=True)
    return saved


async def put_adapter(repo: RegistryRepository, adapter_id: str, data: Any,
                      caller: Who = None) -> tuple[AdapterRegistration, bool]:
    reg = adapter_from_json(data, adapter_id=adapter_id)
    async with repo.atomic() as tx:
        return await _save_adapter(tx, reg, caller, create_only=False)


async def delete_adapter(repo: RegistryRepository, adapter_id: str,
                         caller: Who = None) -> None:
    async with repo.atomic() as tx:
        reg = await get_adapter(tx, adapter_id)
        ds = await tx.get_dataset(reg.dataset)
        await _allow(tx, caller, ds.owner if ds else None)
        await tx.delete_adapter(adapter_id)


async def record_run(repo: RegistryRepository, adapter_id: str, data: Any,
                     caller: Who = None) -> AdapterRun:
    run = run_from_json(data, adapter_id)
    reg = await get_adapter(repo, adapter_id)
    ds = await repo.get_dataset(reg.dataset)
    await _allow(repo, caller, ds.owner if ds else None)
    return await repo.add_run(run)


async def request_run(repo: RegistryRepository, adapter_id: str,
                      caller: Who = None) -> datetime:
    """Mark a registration due now, for whoever may change it (its owner or the operator);
    the adapter worker runs it on its next pass (adapters/worker.py). A disabled
    registration is refused: the worker would never serve the request."""
    reg = await get_adapter(repo, adapter_id, caller)
    ds = await repo.get_dataset(reg.dataset)
    await _allow(repo, caller, ds.owner if ds else None)
    if not reg.enabled:
        raise Conflict(f"adapter registration {adapter_id} is disabled; enable it first")
    when = await repo.request_run(adapter_id)
    if when is None:
        raise NotFound(f"adapter registration {adapter_id} does not exist")
    return when


async def list_runs(repo: RegistryRepository, adapter_id: str, limit: int = 20,
                    caller: Who = None) -> list[AdapterRun]:
    """A registration's runs, for its owner or the operator only: run errors may quote
    the rows that failed."""
    await get_adapter(repo, adapter_id, caller)
    return await repo.list_runs(adapter_id, limit)


async def ensure_catch_all(repo: RegistryRepository, org_id: str, dataset_id: str,
                           org_name: str | None = None) -> Dataset:
    """Register (idempotently) ``org_id`` and a catch-all dataset it owns.

    For local experiments and the conformance suite, which write arbitrary entities: the
    catch-all owns every entity, so no other dataset can be registered beside it.
    """
    if await repo.get_organisation(org_id) is None:
        await put_organisation(repo, org_id, {"id": org_id,
                                              "name": {"ja": org_name or org_id}})
    ds, _ = await put_dataset(repo, dataset_id, {
        "id": dataset_id, "owner": org_id,
        "name": {"ja": "すべてのエンティティ（実験用）", "en": "Every entity (experiments)"},
        "rule": {"catchAll": True}, "licence": "proprietary", "updateFrequency": "irregular",
    }, expand=lambda name: name)
    return ds
