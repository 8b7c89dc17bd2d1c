"""All SQL for subscriptions, the entity change log and the notification outbox.

Tables: ``hub/db/migrations/tenant/0010_subscriptions.sql``. Work is shared between hub
processes by row locks: ``FOR UPDATE SKIP LOCKED`` hands each change and each due
notification to exactly one process, and a lease (``leased_until``) returns a notification
to the queue if the process that claimed it dies before it is settled. Only the head of a
subscription's queue is ever claimed (``claim_notifications``), so that lease is also the
subscription's: one delivery in flight per subscription across every process, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

__all__ = [
    "ClaimedNotification",
    "DeadLetter",
    "SubscriptionRow",
    "candidate_subscriptions",
    "claim_changes",
    "claim_notifications",
    "claim_periodic",
    "count_subscriptions",
    "defer_notifications",
    "delete_subscription",
    "expire_subscriptions",
    "fetch_subscription",
    "insert_notifications",
    "insert_subscription",
    "list_dead_letters",
    "list_subscriptions",
    "replay_dead_letters",
    "settle_failures",
    "settle_successes",
    "settle_unsent",
    "trim_queues",
    "update_subscription",
]

_COLUMNS = (
    "s.id, s.body, s.active, s.times_sent, s.times_failed, s.last_notification,"
    " s.last_success, s.last_failure, s.last_status, s.created_at, s.modified_at,"
    " s.expires_at, s.times_dropped, s.last_dropped"
)


@dataclass(slots=True)
class SubscriptionRow:
    body: dict[str, Any]
    active: bool
    times_sent: int
    times_failed: int
    last_notification: datetime | None
    last_success: datetime | None
    last_failure: datetime | None
    last_status: str | None
    created_at: datetime
    modified_at: datetime
    expires_at: datetime | None
    times_dropped: int = 0  # dropped from a full queue (notification_queue_limit)
    last_dropped: datetime | None = None


def _row(r: asyncpg.Record) -> SubscriptionRow:
    return SubscriptionRow(
        body=r["body"], active=r["active"], times_sent=r["times_sent"],
        times_failed=r["times_failed"], last_notification=r["last_notification"],
        last_success=r["last_success"], last_failure=r["last_failure"],
        last_status=r["last_status"], created_at=r["created_at"],
        modified_at=r["modified_at"], expires_at=r["expires_at"],
        times_dropped=r["times_dropped"], last_dropped=r["last_dropped"],
    )


async def insert_subscription(
    con: asyncpg.Connection, schema: str, body: dict[str, Any], *, types: list[str] | None,
    ids: list[str] | None, active: bool, periodic: bool, expires_at: datetime | None,
    now: datetime,
) -> bool:
    """False when a subscription with this id exists (the caller answers AlreadyExists)."""
    status = await con.execute(
        f"INSERT INTO {schema}.subscriptions (id, body, types, ids, active, periodic,"
        " expires_at, next_run, created_at, modified_at) VALUES ($1, $2, $3, $8, $4, $5, $6,"
        " CASE WHEN $5 THEN $7::timestamptz + ($2::jsonb->>'timeInterval')::float8"
        " * interval '1 second' END, $7, $7) ON CONFLICT (id) DO NOTHING",
        body["id"], body, types, active, periodic, expires_at, now, ids,
    )
    return status.endswith(" 1")


async def update_subscription(
    con: asyncpg.Connection, schema: str, body: dict[str, Any], *, types: list[str] | None,
    ids: list[str] | None, active: bool, periodic: bool, expires_at: datetime | None,
    now: datetime,
) -> None:
    await con.execute(
        f"UPDATE {schema}.subscriptions SET body = $2, types = $3, active = $4, periodic = $5,"
        " expires_at = $6, modified_at = $7, ids = $8,"
        " next_run = CASE WHEN $5 THEN coalesce(next_run, $7) END WHERE id = $1",
        body["id"], body, types, active, periodic, expires_at, now, ids,
    )


async def fetch_subscription(
    con: asyncpg.Connection, schema: str, sub_id: str, *, for_update: bool = False
) -> SubscriptionRow | None:
    lock = " FOR UPDATE" if for_update else ""
    r = await con.fetchrow(
        f"SELECT {_COLUMNS} FROM {schema}.subscriptions s WHERE s.id = $1"
        f" AND s.kind = 'entity'{lock}", sub_id
    )
    return _row(r) if r is not None else None


# ``organisation``: only subscriptions made by that subscriber organisation; None: all.
# Entity subscriptions only: subscriptions to registrations (kind 'csource', migration
# 0060) share the table and the outbox but have their own API (hub/api/csources.py).
_OWNED = ("s.kind = 'entity' AND"
          " ($1::text IS NULL OR s.body->'subscriber'->>'organisation' = $1)")


async def list_subscriptions(
    con: asyncpg.Connection, schema: str, limit: int, offset: int, organisation: str | None
) -> list[SubscriptionRow]:
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.subscriptions s WHERE {_OWNED}"
        " ORDER BY s.created_at, s.id LIMIT $2 OFFSET $3", organisation, limit, offset,
    )
    return [_row(r) for r in rows]


async def count_subscriptions(
    con: asyncpg.Connection, schema: str, organisation: str | None
) -> int:
    return int(await con.fetchval(
        f"SELECT count(*) FROM {schema}.subscriptions s WHERE {_OWNED}", organisation))


async def delete_subscription(con: asyncpg.Connection, schema: str, sub_id: str) -> bool:
    """Delete it and its undelivered notifications: a deleted subscription notifies no more.

    Rows are locked in the order every statement here uses, notifications before their
    subscription, so deleting never deadlocks with a delivery being settled."""
    await con.execute(f"DELETE FROM {schema}.notifications WHERE sub_id = $1", sub_id)
    status = await con.execute(f"DELETE FROM {schema}.subscriptions WHERE id = $1", sub_id)
    return status.endswith(" 1")


async def expire_subscriptions(con: asyncpg.Connection, schema: str) -> int:
    status = await con.execute(
        f"UPDATE {schema}.subscriptions SET active = false"
        " WHERE active AND expires_at IS NOT NULL AND expires_at <= now()"
    )
    return int(status.split()[-1])


async def claim_changes(con: asyncpg.Connection, schema: str, limit: int) -> list[asyncpg.Record]:
    """Take the oldest unclaimed changes out of the log, in order; the caller's transaction
    holds them (a rollback puts them back), other processes skip them.

    Per-entity order across processes: a change is left in the log while an older change
    of the same entity is held by another matcher (a row below this batch's newest that
    this batch skipped as locked), so an entity's notifications are inserted, and
    therefore delivered, in the order of its changes. Such a change is taken by a later
    round, once the older one is matched and committed. The check reads only the front
    of the log up to this batch (primary key range), which other matchers are working on."""
    return await con.fetch(
        f"""WITH batch AS (
              SELECT seq, entity_id FROM {schema}.entity_changes ORDER BY seq
              LIMIT $1 FOR UPDATE SKIP LOCKED
            ), held AS (  -- older changes another matcher holds: their entities wait
              SELECT DISTINCT o.entity_id FROM {schema}.entity_changes o
              WHERE o.seq < (SELECT max(seq) FROM batch)
                AND o.seq NOT IN (SELECT seq FROM batch)
            ), gone AS (
              DELETE FROM {schema}.entity_changes c USING batch
              WHERE c.seq = batch.seq
                AND batch.entity_id NOT IN (SELECT entity_id FROM held)
              RETURNING c.seq, c.entity_id, c.op, c.old, c.new, c.at
            )
            SELECT * FROM gone ORDER BY seq""",
        limit,
    )


async def candidate_subscriptions(
    con: asyncpg.Connection, schema: str, types: list[str], ids: list[str]
) -> list[tuple[dict[str, Any], datetime]]:
    """Active change-driven subscriptions that can match an entity with one of ``types``
    and one of ``ids``, through the GIN indexes on both: the cost follows the subscriptions
    that can match, never the number of subscriptions stored."""
    rows = await con.fetch(
        f"SELECT body, created_at FROM {schema}.subscriptions"
        " WHERE active AND NOT periodic AND ids && $2::text[] AND types && $1::text[]"
        f" UNION ALL SELECT body, created_at FROM {schema}.subscriptions"
        " WHERE active AND NOT periodic AND ids IS NULL AND types && $1::text[]"
        f" UNION ALL SELECT body, created_at FROM {schema}.subscriptions"
        " WHERE active AND NOT periodic AND types IS NULL",
        types, ids,
    )
    return [(r["body"], r["created_at"]) for r in rows]


async def insert_notifications(
    con: asyncpg.Connection, schema: str, items: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """``(notification id, subscription id, payload)`` rows, in order."""
    if items:
        await con.executemany(
            f"INSERT INTO {schema}.notifications (id, sub_id, payload) VALUES ($1, $2, $3)",
            items,
        )


@dataclass(slots=True)
class ClaimedNotification:
    schema: str
    seq: int
    id: str
    sub_id: str
    payload: dict[str, Any]
    attempts: int
    sub: dict[str, Any]
    last_notification: datetime | None


async def claim_notifications(
    con: asyncpg.Connection, schema: str, limit: int, lease_s: float
) -> list[ClaimedNotification]:
    """Lease the heads of up to ``limit`` subscriptions' queues, oldest head first.

    Only a queue's *head* (its oldest notification that is not dead) is ever claimed, and
    only while it is due, not leased and its subscription is not backing off. So:

    - **fair by construction**: the heads are found by a skip scan over
      ``notifications_head`` (one index probe per subscription with a queue), so rows
      queued behind a blocked head are never read, and no number of them can delay another
      subscription;
    - **one delivery in flight per subscription, hub-wide**: a leased head is the
      subscription's lease; no process claims anything newer of it until the head is
      settled (delivered, dropped or dead) or its lease has expired, and then the head
      itself comes first, so a notification redelivered after a crash precedes anything
      newer of its subscription.

    Two processes claiming at once: the head row is locked ``FOR UPDATE SKIP LOCKED`` and
    its conditions are checked again on the row itself, so the loser skips it (and, the
    head being the only candidate of its subscription, takes nothing of that subscription).
    """
    rows = await con.fetch(
        f"""WITH RECURSIVE heads AS (
              (SELECT sub_id, seq FROM {schema}.notifications WHERE NOT dead
               ORDER BY sub_id, seq LIMIT 1)
              UNION ALL
              SELECT nx.sub_id, nx.seq FROM heads h CROSS JOIN LATERAL (
                SELECT sub_id, seq FROM {schema}.notifications
                WHERE NOT dead AND sub_id > h.sub_id ORDER BY sub_id, seq LIMIT 1) nx
            ), cand AS (
              SELECT n.seq FROM heads h
              JOIN {schema}.subscriptions s ON s.id = h.sub_id
              JOIN {schema}.notifications n ON n.seq = h.seq
              WHERE (s.blocked_until IS NULL OR s.blocked_until <= now())
                -- on n itself: when another process leased, settled or dropped the row
                -- meanwhile, FOR UPDATE re-evaluates these on its new version and skips it
                AND NOT n.dead AND n.due_at <= now()
                AND (n.leased_until IS NULL OR n.leased_until < now())
              ORDER BY n.seq LIMIT $1 FOR UPDATE OF n SKIP LOCKED
            ), claimed AS (
              UPDATE {schema}.notifications n
              SET leased_until = now() + $2 * interval '1 second', attempts = n.attempts + 1
              FROM cand, {schema}.subscriptions s
              WHERE n.seq = cand.seq AND s.id = n.sub_id
              RETURNING n.seq, n.id, n.sub_id, n.payload, n.attempts, s.body,
                        s.last_notification
            ), counted AS (  -- timesSent counts attempts, visible as soon as one starts
              UPDATE {schema}.subscriptions s
              SET times_sent = s.times_sent + c.n, last_notification = now()
              FROM (SELECT sub_id, count(*) AS n FROM claimed GROUP BY sub_id) c
              WHERE s.id = c.sub_id
            )
            SELECT * FROM claimed""",
        limit, lease_s,
    )
    return [ClaimedNotification(schema, r["seq"], r["id"], r["sub_id"], r["payload"],
                                r["attempts"], r["body"], r["last_notification"])
            for r in sorted(rows, key=lambda r: r["seq"])]


async def trim_queues(
    con: asyncpg.Connection, schema: str, queue_limit: int
) -> list[tuple[str, int]]:
    """Drop what is over ``queue_limit`` in any subscription's queue, oldest first.

    A subscription keeps at most ``queue_limit`` notifications (queued and dead letters
    together); older ones are deleted, except a head that is leased right now, and counted
    in ``times_dropped`` / ``last_dropped`` with the delivery status set to ``failed``.
    Returns ``(subscription, dropped)`` for each subscription that lost any. Cost: a skip
    scan over the subscriptions with rows, and per subscription at most ``queue_limit``
    index entries, whatever the number queued."""
    rows = await con.fetch(
        f"""WITH RECURSIVE subs AS (
              (SELECT sub_id FROM {schema}.notifications ORDER BY sub_id LIMIT 1)
              UNION ALL
              SELECT (SELECT n.sub_id FROM {schema}.notifications n
                      WHERE n.sub_id > subs.sub_id ORDER BY n.sub_id LIMIT 1)
              FROM subs WHERE subs.sub_id IS NOT NULL
            ), cut AS (  -- the queue_limit-th newest row: everything older is over
              SELECT subs.sub_id, c.seq FROM subs CROSS JOIN LATERAL (
                SELECT seq FROM {schema}.notifications
                WHERE sub_id = subs.sub_id ORDER BY seq DESC OFFSET $1 - 1 LIMIT 1) c
            ), gone AS (
              DELETE FROM {schema}.notifications n USING cut
              WHERE n.sub_id = cut.sub_id AND n.seq < cut.seq
                AND (n.leased_until IS NULL OR n.leased_until < now())
              RETURNING n.sub_id
            )
            UPDATE {schema}.subscriptions s
            SET times_dropped = s.times_dropped + g.n, last_dropped = now(),
                last_status = 'failed'
            FROM (SELECT sub_id, count(*) AS n FROM gone GROUP BY sub_id) g
            WHERE s.id = g.sub_id
            RETURNING s.id, g.n""",
        queue_limit,
    )
    return [(r["id"], int(r["n"])) for r in rows]


@dataclass(slots=True)
class DeadLetter:
    id: str
    created_at: datetime
    attempts: int
    last_error: str | None


async def list_dead_letters(
    con: asyncpg.Connection, schema: str, sub_id: str, limit: int, offset: int
) -> tuple[list[DeadLetter], int]:
    """A page of the subscription's dead letters (oldest first) and how many it has."""
    rows = await con.fetch(
        f"SELECT id, created_at, attempts, last_error FROM {schema}.notifications"
        " WHERE sub_id = $1 AND dead ORDER BY seq LIMIT $2 OFFSET $3", sub_id, limit, offset)
    total = await con.fetchval(
        f"SELECT count(*) FROM {schema}.notifications WHERE sub_id = $1 AND dead", sub_id)
    return ([DeadLetter(r["id"], r["created_at"], r["attempts"], r["last_error"])
             for r in rows], int(total))


async def replay_dead_letters(
    con: asyncpg.Connection, schema: str, sub_id: str, ids: list[str] | None
) -> int:
    """Queue the subscription's dead letters (all, or those in ``ids``) again as never
    attempted, due now, and end its backoff; returns how many. They keep their place
    (``seq``), so they go out before anything newer still queued for the subscription.
    Locks notifications before the subscription, as every statement here does."""
    status = await con.execute(
        f"UPDATE {schema}.notifications SET dead = false, attempts = 0, due_at = now(),"
        " leased_until = NULL WHERE sub_id = $1 AND dead"
        " AND ($2::text[] IS NULL OR id = ANY($2::text[]))", sub_id, ids)
    n = int(status.split()[-1])
    if n:
        await con.execute(
            f"UPDATE {schema}.subscriptions SET blocked_until = NULL WHERE id = $1", sub_id)
        await con.execute("SELECT pg_notify('renkei_notifications', $1)", schema)
    return n


#: The one order in which a transaction here locks rows: a subscription's notifications
#: (by seq) before the subscription, subscriptions in id order. Claiming, trimming,
#: deferring, replaying and deleting lock notifications and then their subscription; a
#: settlement that locked the subscription first deadlocked with a subscription being
#: deleted (PostgreSQL broke the tie by failing the DELETE with a 500, seen in the ETSI
#: suite). A data-modifying CTE that no other part of its statement reads runs after the
#: main statement, so the settlements make their subscription part read it.
LOCK_ORDER = "notifications, then subscriptions"


async def _lock_subscriptions(con: asyncpg.Connection, schema: str, subs: list[str]) -> None:
    """Lock subscription rows in id order, so concurrent settlements never deadlock; after
    their notifications (``LOCK_ORDER``)."""
    await con.execute(
        f"SELECT 1 FROM {schema}.subscriptions WHERE id = ANY($1::text[])"
        " ORDER BY id FOR UPDATE", sorted(set(subs)))


async def settle_successes(
    con: asyncpg.Connection, schema: str, done: list[tuple[int, str, datetime]]
) -> None:
    """Delivered: remove the notifications, record the success on their subscriptions.

    One statement, so the success is visible one round trip after the receiver answered
    (clients read ``status`` and ``lastSuccess`` right after their receiver replied)."""
    await con.execute(
        f"""WITH gone AS (
              DELETE FROM {schema}.notifications WHERE seq = ANY($1::bigint[]) RETURNING 1
            ), locked AS (
              -- reads gone, so the notifications are locked before their subscriptions
              -- (``LOCK_ORDER``); unread, gone ran last and deadlocked with a delete
              SELECT id FROM {schema}.subscriptions WHERE id = ANY($2::text[])
                AND (SELECT count(*) FROM gone) >= 0
              ORDER BY id FOR UPDATE
            )
            UPDATE {schema}.subscriptions s
            SET last_success = greatest(s.last_success, d.at), last_status = 'ok',
              blocked_until = NULL
            FROM (SELECT sub, max(at) AS at
                  FROM unnest($2::text[], $3::timestamptz[]) AS u(sub, at) GROUP BY sub) d,
                 locked
            WHERE s.id = d.sub AND locked.id = d.sub""",
        [seq for seq, _, _ in done], [sub for _, sub, _ in done], [at for _, _, at in done],
    )


async def settle_failures(
    con: asyncpg.Connection, schema: str,
    failed: list[tuple[int, str, datetime, str, float | None]],
) -> None:
    """Not delivered: ``(seq, sub, at, error, retry_in_s)``; no retry (None) marks it dead.
    The subscription backs off as a whole, so its other notifications wait too."""
    for seq, _, at, error, retry in failed:  # notifications first (``LOCK_ORDER``)
        if retry is None:
            await con.execute(
                f"UPDATE {schema}.notifications SET dead = true, leased_until = NULL,"
                " last_error = $2 WHERE seq = $1", seq, error[:2000])
        else:
            await con.execute(
                f"UPDATE {schema}.notifications SET leased_until = NULL, last_error = $2,"
                " due_at = $3::timestamptz + $4::float8 * interval '1 second' WHERE seq = $1",
                seq, error[:2000], at, retry)
    await _lock_subscriptions(con, schema, [sub for _, sub, _, _, _ in failed])
    for _, sub, at, _, retry in failed:
        await con.execute(
            f"UPDATE {schema}.subscriptions SET times_failed = times_failed + 1,"
            " last_failure = greatest(last_failure, $2), last_status = 'failed',"
            " blocked_until = CASE WHEN $3::float8 IS NULL THEN blocked_until"
            " ELSE $2 + $3::float8 * interval '1 second' END WHERE id = $1",
            sub, at, retry)


async def settle_unsent(
    con: asyncpg.Connection, schema: str, items: list[tuple[int, str, datetime | None]]
) -> None:
    """Leased notifications ``(seq, sub, last_notification before the claim)`` that access
    control dropped at send time: removed, and the claim's counting undone (``timesSent``
    back down, ``lastNotification`` back to what it was), so the subscription's status
    shows nothing of a notification its subscriber was not allowed to receive."""
    await con.execute(
        f"""WITH gone AS (
              DELETE FROM {schema}.notifications WHERE seq = ANY($1::bigint[]) RETURNING 1
            )
            UPDATE {schema}.subscriptions s
            SET times_sent = greatest(s.times_sent - d.n, 0), last_notification = d.prev
            FROM (SELECT sub, count(*) AS n, max(prev) AS prev
                  FROM unnest($2::text[], $3::timestamptz[]) AS u(sub, prev)
                  -- reads gone: notifications before subscriptions (``LOCK_ORDER``)
                  WHERE (SELECT count(*) FROM gone) >= 0
                  GROUP BY sub) d
            WHERE s.id = d.sub""",
        [seq for seq, _, _ in items], [sub for _, sub, _ in items],
        [prev for _, _, prev in items],
    )


async def defer_notifications(
    con: asyncpg.Connection, schema: str, items: list[tuple[int, str, float]]
) -> None:
    """Put leased notifications ``(seq, sub, wait)`` back, due ``wait`` seconds from now,
    as not yet attempted."""
    await con.execute(
        f"""UPDATE {schema}.notifications n SET leased_until = NULL,
              attempts = greatest(n.attempts - 1, 0),
              due_at = now() + d.wait * interval '1 second'
            FROM unnest($1::bigint[], $2::float8[]) AS d(seq, wait) WHERE n.seq = d.seq""",
        [seq for seq, _, _ in items], [wait for _, _, wait in items],
    )
    await con.execute(  # not attempted after all
        f"""UPDATE {schema}.subscriptions s SET times_sent = greatest(s.times_sent - d.n, 0)
            FROM (SELECT sub, count(*) AS n FROM unnest($1::text[]) AS u(sub) GROUP BY sub) d
            WHERE s.id = d.sub""",
        [sub for _, sub, _ in items],
    )


async def claim_periodic(
    con: asyncpg.Connection, schema: str, limit: int
) -> list[dict[str, Any]]:
    """Periodic subscriptions that are due, with their next run moved on (timeInterval)."""
    rows = await con.fetch(
        f"""UPDATE {schema}.subscriptions s
            SET next_run = greatest(s.next_run + (s.body->>'timeInterval')::float8
                                    * interval '1 second', now())
            WHERE s.id IN (SELECT id FROM {schema}.subscriptions
                           WHERE active AND periodic AND next_run <= now()
                           ORDER BY next_run LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING s.body""",
        limit,
    )
    return [r["body"] for r in rows]
