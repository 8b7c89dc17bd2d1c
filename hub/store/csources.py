"""All SQL for context source registrations (GS CIM 009 5.9, 5.10) and subscriptions to
them (5.11).

Tables: ``hub/db/migrations/tenant/0060_csource_registrations.sql``. Registrations are one
row each (stored form in ``body``, hub/federation/registration.py). Registration
subscriptions are rows of the ``subscriptions`` table with ``kind = 'csource'`` so that
their notifications use the one durable queue and deliverer of entity subscriptions
(``notifications``, hub/subscriptions/delivery.py); such a row is never ``active`` for the
entity matcher, its own activity being ``isActive`` and ``expiresAt`` of its body.

``schema`` is a quoted schema name (``tenant_schema`` / ``quote_ident``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from hub.db.migrations import quote_ident
from hub.db.tenants import DEFAULT_SCHEMA
from hub.store import subscriptions as subs_store
from hub.store.subscriptions import SubscriptionRow

__all__ = [
    "RegistrationRow",
    "active_registrations",
    "claim_periodic_csource_subscriptions",
    "count_csource_subscriptions",
    "delete_csource_subscription",
    "delete_registration",
    "fetch_csource_subscription",
    "fetch_registration",
    "hub_identity",
    "insert_csource_subscription",
    "insert_registration",
    "list_csource_subscriptions",
    "list_registrations",
    "live_csource_subscriptions",
    "notify_registrations_changed",
    "queue_notifications",
    "tenant_schemas",
    "update_csource_subscription",
    "update_registration",
]


@dataclass(slots=True)
class RegistrationRow:
    id: str
    owner: str | None
    body: dict[str, Any]
    created_at: datetime
    modified_at: datetime
    expires_at: datetime | None


_REG = "id, owner, body, created_at, modified_at, expires_at"


def _reg(r: asyncpg.Record) -> RegistrationRow:
    return RegistrationRow(r["id"], r["owner"], r["body"], r["created_at"],
                           r["modified_at"], r["expires_at"])


# -- registrations ---------------------------------------------------------------------

async def insert_registration(con: asyncpg.Connection, schema: str, body: dict[str, Any], *,
                              owner: str | None, expires_at: datetime | None,
                              now: datetime) -> bool:
    """False when a registration with this id exists (the caller answers AlreadyExists)."""
    status = await con.execute(
        f"INSERT INTO {schema}.csource_registrations (id, owner, body, endpoint, mode,"
        " created_at, modified_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)"
        " ON CONFLICT (id) DO NOTHING",
        body["id"], owner, body, body["endpoint"], body.get("mode", "inclusive"), now,
        expires_at)
    return status.endswith(" 1")


async def fetch_registration(con: asyncpg.Connection, schema: str, reg_id: str, *,
                             for_update: bool = False) -> RegistrationRow | None:
    lock = " FOR UPDATE" if for_update else ""
    r = await con.fetchrow(
        f"SELECT {_REG} FROM {schema}.csource_registrations WHERE id = $1{lock}", reg_id)
    return _reg(r) if r is not None else None


async def update_registration(con: asyncpg.Connection, schema: str, body: dict[str, Any], *,
                              expires_at: datetime | None, now: datetime) -> None:
    await con.execute(
        f"UPDATE {schema}.csource_registrations SET body = $2, endpoint = $3, mode = $4,"
        " modified_at = $5, expires_at = $6 WHERE id = $1",
        body["id"], body, body["endpoint"], body.get("mode", "inclusive"), now, expires_at)


async def delete_registration(con: asyncpg.Connection, schema: str, reg_id: str
                              ) -> RegistrationRow | None:
    """Delete it; the deleted row (for noLongerMatching notifications), None if absent."""
    r = await con.fetchrow(
        f"DELETE FROM {schema}.csource_registrations WHERE id = $1 RETURNING {_REG}", reg_id)
    return _reg(r) if r is not None else None


async def list_registrations(con: asyncpg.Connection, schema: str) -> list[RegistrationRow]:
    """Every registration not expired, oldest first. Discovery filters them in Python
    (the same matcher registration subscriptions use); a hub holds registrations in the
    tens or hundreds, one per federated source and data set, not millions."""
    rows = await con.fetch(
        f"SELECT {_REG} FROM {schema}.csource_registrations"
        " WHERE expires_at IS NULL OR expires_at > now() ORDER BY created_at, id")
    return [_reg(r) for r in rows]


async def active_registrations(con: asyncpg.Connection, schema: str = quote_ident(
        DEFAULT_SCHEMA)) -> list[dict[str, Any]]:
    """The registrations the distributed operations consult (hub/federation/forward*.py):
    not expired, oldest first, as ``{"id", "owner", "body", "endpoint", "mode"}``. The
    body is the stored form, secrets included (they are sent to the source as headers)."""
    rows = await con.fetch(
        f"SELECT id, owner, body, endpoint, mode FROM {schema}.csource_registrations"
        " WHERE expires_at IS NULL OR expires_at > now() ORDER BY created_at, id")
    return [{"id": r["id"], "owner": r["owner"], "body": r["body"], "endpoint": r["endpoint"],
             "mode": r["mode"]} for r in rows]


#: NOTIFY channel (payload: the schema) sent with every registration write, so caches of
#: the registrations in any hub process (the distributed operations') can drop theirs
CHANNEL = "renkei_csources"


async def notify_registrations_changed(con: asyncpg.Connection, schema: str) -> None:
    """Announce, when the writing transaction commits, that ``schema``'s registrations
    changed."""
    await con.execute("SELECT pg_notify($1, $2)", CHANNEL, schema)


# -- subscriptions to registrations ------------------------------------------------------

_SUB = (
    "s.id, s.body, s.active, s.times_sent, s.times_failed, s.last_notification,"
    " s.last_success, s.last_failure, s.last_status, s.created_at, s.modified_at,"
    " s.expires_at, s.times_dropped, s.last_dropped"
)
# ``organisation``: only subscriptions made by that subscriber organisation; None: all
_OWNED = "($1::text IS NULL OR s.body->'subscriber'->>'organisation' = $1)"


def _sub(r: asyncpg.Record) -> SubscriptionRow:
    return SubscriptionRow(
        body=r["body"], active=r["active"], times_sent=r["times_sent"],
        times_failed=r["times_failed"], last_notification=r["last_notification"],
        last_success=r["last_success"], last_failure=r["last_failure"],
        last_status=r["last_status"], created_at=r["created_at"],
        modified_at=r["modified_at"], expires_at=r["expires_at"],
        times_dropped=r["times_dropped"], last_dropped=r["last_dropped"])


async def insert_csource_subscription(con: asyncpg.Connection, schema: str,
                                      body: dict[str, Any], *, expires_at: datetime | None,
                                      now: datetime) -> bool:
    """False when any subscription (entity or registration) has this id."""
    status = await con.execute(
        f"INSERT INTO {schema}.subscriptions (id, body, types, ids, active, periodic,"
        " expires_at, created_at, modified_at, kind, next_run) VALUES ($1, $2, NULL, NULL,"
        " false, false, $3, $4, $4, 'csource', $4::timestamptz"
        " + ($2::jsonb->>'timeInterval')::float8 * interval '1 second')"
        " ON CONFLICT (id) DO NOTHING",
        body["id"], body, expires_at, now)
    return status.endswith(" 1")


async def fetch_csource_subscription(con: asyncpg.Connection, schema: str, sub_id: str, *,
                                     for_update: bool = False) -> SubscriptionRow | None:
    lock = " FOR UPDATE" if for_update else ""
    r = await con.fetchrow(
        f"SELECT {_SUB} FROM {schema}.subscriptions s WHERE s.id = $1"
        f" AND s.kind = 'csource'{lock}", sub_id)
    return _sub(r) if r is not None else None


async def list_csource_subscriptions(con: asyncpg.Connection, schema: str, limit: int,
                                     offset: int, organisation: str | None
                                     ) -> list[SubscriptionRow]:
    rows = await con.fetch(
        f"SELECT {_SUB} FROM {schema}.subscriptions s WHERE s.kind = 'csource' AND {_OWNED}"
        " ORDER BY s.created_at, s.id LIMIT $2 OFFSET $3", organisation, limit, offset)
    return [_sub(r) for r in rows]


async def count_csource_subscriptions(con: asyncpg.Connection, schema: str,
                                      organisation: str | None) -> int:
    return int(await con.fetchval(
        f"SELECT count(*) FROM {schema}.subscriptions s WHERE s.kind = 'csource'"
        f" AND {_OWNED}", organisation))


async def update_csource_subscription(con: asyncpg.Connection, schema: str,
                                      body: dict[str, Any], *, expires_at: datetime | None,
                                      now: datetime) -> None:
    await con.execute(
        f"UPDATE {schema}.subscriptions SET body = $2, expires_at = $3, modified_at = $4,"
        " next_run = CASE WHEN $2::jsonb ? 'timeInterval' THEN coalesce(next_run, $4::timestamptz"
        " + ($2::jsonb->>'timeInterval')::float8 * interval '1 second') END"
        " WHERE id = $1 AND kind = 'csource'", body["id"], body, expires_at, now)


async def delete_csource_subscription(con: asyncpg.Connection, schema: str, sub_id: str
                                      ) -> bool:
    """Delete it and its undelivered notifications (notifications locked first, as every
    statement of hub/store/subscriptions.py does)."""
    await con.execute(f"DELETE FROM {schema}.notifications WHERE sub_id = $1 AND EXISTS"
                      f" (SELECT 1 FROM {schema}.subscriptions WHERE id = $1"
                      " AND kind = 'csource')", sub_id)
    status = await con.execute(
        f"DELETE FROM {schema}.subscriptions WHERE id = $1 AND kind = 'csource'", sub_id)
    return status.endswith(" 1")


async def live_csource_subscriptions(con: asyncpg.Connection, schema: str
                                     ) -> list[dict[str, Any]]:
    """Registration subscriptions that may notify now (active, not expired): the
    candidates a registration write is matched against, in the writer's transaction."""
    rows = await con.fetch(
        f"SELECT body FROM {schema}.subscriptions WHERE kind = 'csource'"
        " AND coalesce((body->>'isActive')::boolean, true)"
        " AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at, id")
    return [r["body"] for r in rows]


async def queue_notifications(con: asyncpg.Connection, schema: str,
                              items: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Queue ``(notification id, subscription id, payload)`` in the shared outbox within
    the caller's transaction, and wake the deliverers when it commits."""
    if items:
        await subs_store.insert_notifications(con, schema, items)
        await con.execute("SELECT pg_notify('renkei_notifications', $1)", schema)


async def hub_identity(con: asyncpg.Connection) -> str:
    """This hub's ContextSourceIdentity id: derived from the database cluster's identifier
    and the database's name, so every process on one database has it, and it survives
    restarts (no state to keep)."""
    try:
        cluster = str(await con.fetchval("SELECT system_identifier FROM pg_control_system()"))
    except asyncpg.PostgresError:  # not readable for this role: the database name alone
        cluster = ""
    name = await con.fetchval("SELECT current_database()")
    ident = uuid.uuid5(uuid.NAMESPACE_URL, f"renkei:{cluster}:{name}")
    return f"urn:ngsi-ld:ContextSourceIdentity:{ident}"


async def claim_periodic_csource_subscriptions(con: asyncpg.Connection, schema: str,
                                               limit: int) -> list[dict[str, Any]]:
    """Periodic registration subscriptions (``timeInterval``) that are due, live, with their
    next run moved on; rows another process is handling are skipped (the caller's
    transaction holds them)."""
    rows = await con.fetch(
        f"""UPDATE {schema}.subscriptions s
            SET next_run = now() + (s.body->>'timeInterval')::float8 * interval '1 second'
            FROM (SELECT id FROM {schema}.subscriptions
                  WHERE kind = 'csource' AND next_run <= now()
                    AND coalesce((body->>'isActive')::boolean, true)
                    AND (expires_at IS NULL OR expires_at > now())
                  ORDER BY next_run LIMIT $1 FOR UPDATE SKIP LOCKED) due
            WHERE s.id = due.id RETURNING s.body""", limit)
    return [r["body"] for r in rows]


async def tenant_schemas(con: asyncpg.Connection) -> list[str]:
    """Every tenant schema, quoted."""
    rows = await con.fetch("SELECT schema_name FROM renkei.tenants ORDER BY schema_name")
    return [quote_ident(r["schema_name"]) for r in rows]
