"""Adapter schedules: what a registration's ``schedule`` may say and when it falls due.

Why here: the registry validates a schedule and shows when a registration runs next
(``GET /registry/v1/adapters``), and the adapter worker decides when to run it; the two may
not import each other (import-linter, docs/architecture.md), and both import ``contracts``.
One function each for "the next time after t" and "due when", so the operations view and
the worker can never disagree about a cron edge or a back-off.

A schedule is an ISO 8601 duration of days, hours, minutes and seconds (``PT10M``, the
interval from the end of the last run) or a 5-field cron expression read in the
deployment's local time zone (municipal schedules are local time: ``0 6 * * *`` is 06:00
JST). Pure: no I/O.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

__all__ = ["CRON_TZ", "Plan", "backoff_delay", "duration", "is_schedule", "next_run", "plan"]

#: the zone cron expressions are read in unless the worker is told otherwise
CRON_TZ = "Asia/Tokyo"
_ISO = re.compile(r"^P(?!$)(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_CRON_FIELD = re.compile(r"^[0-9*/,\-]+$")


def duration(text: str) -> timedelta | None:
    """The interval of an ISO 8601 duration schedule; None when it is not one."""
    m = _ISO.match(text)
    if not m:
        return None
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def is_schedule(text: str) -> bool:
    """A positive duration, or five numeric cron fields croniter accepts (names such as
    ``MON`` and 6-field cron are refused: one spelling per schedule)."""
    interval = duration(text)
    if interval is not None:
        return interval > timedelta(0)
    fields = text.split()
    return len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields) and \
        bool(croniter.is_valid(text))


def next_run(schedule: str, after: datetime, *, tz: str = CRON_TZ, jitter: float = 0.0,
             rng: random.Random | None = None) -> datetime:
    """The next time ``schedule`` falls due after ``after``, plus up to ``jitter`` seconds
    (at most a tenth of the interval, so a 1-minute schedule is not smeared over minutes).
    ValueError for a schedule that is neither form."""
    interval = duration(schedule)
    if interval is not None:
        base = after + interval
    else:
        if not is_schedule(schedule):
            raise ValueError(f"not a schedule: {schedule!r}")
        it = croniter(schedule, after.astimezone(ZoneInfo(tz)))
        base = it.get_next(datetime).astimezone(UTC)
        interval = it.get_next(datetime).astimezone(UTC) - base
    spread = min(jitter, interval.total_seconds() / 10)
    return base + timedelta(seconds=(rng or random).uniform(0, spread) if spread > 0 else 0)


def backoff_delay(failures: int, base: float, cap: float) -> timedelta:
    """The wait after ``failures`` consecutive failed runs: base × 2^(failures-1), capped."""
    return timedelta(seconds=min(base * 2 ** max(failures - 1, 0), cap))


@dataclass(frozen=True, slots=True)
class Plan:
    """When the worker runs a registration next, and why then."""

    #: None: never by itself (disabled, or no schedule and no run requested)
    next_run_at: datetime | None
    #: requested (run-now), due (never run, or its schedule changed: the next pass),
    #: scheduled, backing-off (after consecutive failures), disabled, manual
    reason: str
    #: while backing off: the worker does not retry before this time
    backoff_until: datetime | None = None


def plan(*, enabled: bool, schedule: str | None, next_run_at: datetime | None,
         run_requested_at: datetime | None, failures: int, now: datetime) -> Plan:
    """The registration's plan from its stored schedule state (migration
    ``global/0060_adapter_schedule.sql``): the worker runs what is due (``next_run_at <=
    now``); the registry API shows the same answer.

    ``next_run_at`` is what the worker stored at the end of its last run, computed by
    :func:`next_run` from the schedule and that run's end (with jitter), or, after a
    failure, the later of that and the back-off (:func:`backoff_delay`). It is NULL until
    the worker first runs the registration, and again after its schedule changes: then it
    is due at once.
    """
    if not enabled:
        return Plan(None, "disabled")
    if run_requested_at is not None:
        return Plan(min(run_requested_at, now), "requested")
    if not schedule:
        return Plan(None, "manual")
    if next_run_at is None:
        return Plan(now, "due")
    if failures > 0 and next_run_at > now:
        return Plan(next_run_at, "backing-off", next_run_at)
    return Plan(next_run_at, "scheduled")
