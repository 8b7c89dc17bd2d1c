"""Who the running request acts for, and the audit record of each decision.

Shared by the enforcement point's two halves (``hub.service.access``: authentication and
the request-level checks; ``hub.service.access_reads``: what a caller may read), so
neither imports the other's internals.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from authz.model import Consumer, Resource
from authz.policies import Defaults, ReadScope, read_scope
from hub.service.access_state import AccessState, DatasetInfo
from hub.service.catalogue import entity_dataset

__all__ = ["CALLER", "Caller", "NoCaller", "acting_as", "audit_decision", "caller_organisation",
           "calling_organisation", "catch_all_of", "current", "enforced", "resource_of",
           "scope_of", "system_caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Whose rights a read or write uses. There is no default: a request's caller is set by
    the access middleware, a subscription's subscriber by the notification runtime
    (``subscriber_caller``), and a system task names itself (``system_caller``). A caller
    that is neither development mode nor backed by the access state cannot decide
    anything (``enforced`` raises), so forgetting to name one fails closed."""

    consumer: Consumer = field(default_factory=Consumer)
    dev: bool = False
    state: AccessState | None = None
    defaults: Defaults = field(default_factory=Defaults)
    operation: str = ""


class NoCaller(RuntimeError):
    """A read or write ran with nobody's rights named: a programming error, refused."""


CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("renkei_caller",
                                                                        default=None)


def current() -> Caller:
    """The caller whose rights the running code uses; ``NoCaller`` when none was named
    (background work must name one with ``acting_as``: it never inherits "allow")."""
    caller = CALLER.get()
    if caller is None:
        raise NoCaller("no caller named for this read or write")
    return caller


def enforced(caller: Caller) -> AccessState | None:
    """None in development mode (everything open); the access state to decide with
    otherwise. A caller without access state outside development mode is refused, never
    allowed."""
    if caller.dev:
        return None
    if caller.state is None:
        raise NoCaller(f"caller {caller.operation or '?'} has no access state")
    return caller.state


@contextmanager
def acting_as(caller: Caller) -> Iterator[Caller]:
    """Run a block (background work) with ``caller``'s rights."""
    token = CALLER.set(caller)
    try:
        yield caller
    finally:
        CALLER.reset(token)


#: the system tasks that may act without a consumer, and why (docs/access-control.md)
SYSTEM_TASKS = {
    "sample-data": "loads the bundled sample entities at start-up (writes, no reads)",
}


def system_caller(task: str) -> Caller:
    """A named system task: it acts in development mode's open rights, so only the tasks
    listed in ``SYSTEM_TASKS`` exist; an unknown name is a programming error."""
    if task not in SYSTEM_TASKS:
        raise NoCaller(f"unknown system task {task!r}")
    return Caller(dev=True, operation=f"system:{task}")


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
    return None if enforced(caller) is None else caller.consumer.organisation



def scope_of(caller: Caller, action: str) -> ReadScope:
    if caller.state is None:
        raise NoCaller("a read scope needs the access state")
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

