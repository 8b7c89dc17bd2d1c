"""Who the running request acts for, and the audit record of each decision.

Shared by the enforcement point's two halves (``hub.service.access``: authentication and
the request-level checks; ``hub.service.access_reads``: what a caller may read), so
neither imports the other's internals.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from authz.model import Consumer, Resource
from authz.policies import Defaults, ReadScope, read_scope
from hub.service.access_state import AccessState, DatasetInfo
from hub.service.catalogue import entity_dataset

__all__ = ["CALLER", "Caller", "audit_decision", "caller_organisation", "calling_organisation",
           "catch_all_of", "current", "resource_of", "scope_of"]


@dataclass(frozen=True, slots=True)
class Caller:
    consumer: Consumer = field(default_factory=Consumer)
    dev: bool = False
    state: AccessState | None = None
    defaults: Defaults = field(default_factory=Defaults)
    operation: str = ""


CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("renkei_caller",
                                                                        default=None)
_INTERNAL = Caller()


def current() -> Caller:
    """The caller of the running request; outside a request (background work such as
    notification matching) a caller without state, which the checks let through: that
    code decides with ``may_see`` explicitly."""
    return CALLER.get() or _INTERNAL


def calling_organisation() -> str | None:
    """The organisation the running request acts for (None: anonymous or dev without a
    token)."""
    return current().consumer.organisation


async def caller_organisation(request: web.Request) -> str | None:
    """The registry's identity plug-in (``app[keys.CALLER_ORGANISATION]``): who writes.

    In dev mode None, so the registry applies no owner check; otherwise the organisation
    of the validated token (the middleware refused anonymous writes already).
    """
    caller = current()
    return None if caller.dev else caller.consumer.organisation



def scope_of(caller: Caller, action: str) -> ReadScope:
    assert caller.state is not None
    grants = caller.state.grants_by_org.get(caller.consumer.organisation or "", [])
    return read_scope(caller.consumer, action, grants=grants, defaults=caller.defaults,
                      now=datetime.now(UTC))



def catch_all_of(datasets: dict[str, DatasetInfo]) -> str | None:
    return next((d.id for d in datasets.values() if d.catch_all), None)



def resource_of(ent: dict[str, Any], datasets: dict[str, DatasetInfo]) -> Resource:
    ds = entity_dataset(ent, catch_all_of(datasets))
    info = datasets.get(ds) if ds else None
    return Resource(owner=info.owner if info else None, dataset=ds,
                    types=tuple(ent.get("types", ())),
                    open_data=bool(info and info.open_data),
                    personal_data=bool(info and info.personal_data))



# -- audit --------------------------------------------------------------------------

def audit_decision(caller: Caller, ent: dict[str, Any] | None, allowed: bool, rule: str, *,
           target: str | None = None, owner: str | None = None, dataset: str | None = None,
           grant_id: str | None = None) -> None:
    state = caller.state
    if state is None or caller.dev:
        return
    if ent is not None:
        res = resource_of(ent, state.datasets)
        owner, dataset, target = res.owner, res.dataset, ent.get("id")
    c = caller.consumer
    state.record((datetime.now(UTC), c.subject, c.client_id, c.organisation, caller.operation,
                  target, owner, dataset, allowed, rule, grant_id, c.purpose))

