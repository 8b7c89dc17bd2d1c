"""Which hub answers are the row's fault, and which the configuration's.

A bad row (a value the contract refuses) is quarantined with its reason: sending it again
changes nothing, so its outcome is final. Every other refusal would succeed after a fix
outside the file — a token without the write scope, a ``--hub`` URL that points nowhere,
an entity no registered dataset owns, an id another organisation holds, a hub that is
down — so the row must stay unacknowledged and the saved position must not pass it, or
the fixed configuration finds nothing left to send. This module only classifies and
words the fix; the sink raises, the runner stops (sdk.runner).
"""

from __future__ import annotations

from typing import Any

__all__ = ["FIXABLE_REASONS", "HubRefused", "HubUnavailable", "Refusal", "fix_for",
           "hub_base"]

#: problem ``reason``s of a 400 that a registry or request fix resolves (hub/service/ownership.py)
FIXABLE_REASONS = frozenset({"NoOwningDataset", "ContractsContextMissing"})


class HubUnavailable(Exception):
    """The run must stop here; nothing after the last acknowledged batch was settled.

    Raised for a hub that cannot be reached or keeps failing (connection errors, timeouts,
    5xx after retries) and, as :class:`HubRefused`, for refusals a configuration fix
    resolves."""


class HubRefused(HubUnavailable):
    """The hub refused for a reason outside the rows; the message names the fix."""


class Refusal(str):
    """A refused entity's reason (a ``str``, as every sink answers), marked fixable or not.

    A plain ``str`` from a sink is a final refusal (the row is quarantined); a
    ``Refusal`` with ``fixable`` set stops the run before the row (sdk.runner)."""

    fixable: bool

    def __new__(cls, text: str, *, fixable: bool) -> Refusal:
        obj = super().__new__(cls, text)
        obj.fixable = fixable
        return obj


def hub_base(url: str) -> str:
    """The hub's base URL whether given with or without ``/ngsi-ld/v1`` (or a slash)."""
    base = url.strip().rstrip("/")
    for suffix in ("/ngsi-ld/v1", "/ngsi-ld"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base.rstrip("/")


def fix_for(status: int, problem: dict[str, Any] | None, url: str) -> str | None:
    """The fix for a refusal with ``status`` and problem details, or None when the refusal
    is the row's own (a final quarantine). ``url`` is the address that answered."""
    p = problem or {}
    detail = str(p.get("detail") or p.get("title") or "").strip()
    said = f": {detail}" if detail else ""
    if status == 401:
        return (f"the hub refused the token (401){said}: give a valid --token, or "
                "--client-id with RENKEI_ADAPTER_CLIENT_SECRET set to its secret")
    if status == 403:
        if p.get("dataset"):
            return (f"the hub refused the write (403){said}: write with a client of the "
                    "organisation that owns that dataset, or have the registry give the "
                    "entity a dataset of yours; then run again")
        return (f"the hub refused the token (403){said}: give the client the write scope "
                "(a grant from the platform operator), then run again")
    if status == 404:
        if "Tenant" in str(p.get("type", "")):
            return f"the hub has no such tenant (404){said}: check --tenant"
        return (f"nothing answers at {url} (404): --hub must be the hub's base URL "
                "(e.g. http://hub.example:1026, with or without /ngsi-ld/v1)")
    if status == 405:
        return f"{url} does not accept POST (405): check --hub"
    if status == 409:
        return (f"the entity id is held by another organisation (409){said}: ask the "
                "registry operator which dataset should own it, or change the mapping's ids")
    if status == 429:
        return f"the hub is rate-limiting this client (429){said}: run again later"
    if status >= 500:
        return f"the hub failed ({status}){said}: run again once it is healthy"
    if status == 400 and p.get("reason") in FIXABLE_REASONS:
        return f"the hub refused the entity ({p['reason']}){said}"
    if status == 400 and p.get("dataset"):
        return (f"the hub refused the write (ownership){said}: the registry decides the "
                "owner; fix the rule, then run again")
    return None
