"""``renkei adapters worker``: runs every enabled adapter registration on its schedule.

**How the worker reaches the registry.** Adapters may not import ``registry`` or ``hub``
(import-linter), and single-flight across workers needs PostgreSQL advisory locks anyway,
so the worker reads the registry's tables directly with asyncpg, given a database URL
(``--database-url`` / ``RENKEI_WORKER_DATABASE_URL``): ``registry.adapters`` (id, dataset,
adapter, config, schedule, enabled, and the schedule state of migration
``global/0060_adapter_schedule.sql``: ``next_run_at``, ``run_requested_at``, ``failures``)
and ``registry.adapter_runs`` (one health row per run). The SQL is in this module only.
Entities still reach the hub over HTTP, with the registration's own credentials, so the
hub's ownership and access checks apply to scheduled runs exactly as to manual ones.

**One pass** (``run_pass``; ``renkei adapters schedule --run-due`` is exactly one pass):

1. list the enabled registrations that are due: asked to run now (``POST
   /registry/v1/adapters/{id}/run-now``), never run, or ``next_run_at`` passed — decided by
   ``contracts.schedule.plan``, the function the registry API shows ``nextRunAt`` by;
2. for each, take a session-level advisory lock on its id with ``pg_try_advisory_lock``;
   a registration another worker holds is left to it. Under the lock the row is read again
   — a worker that just finished it has moved ``next_run_at`` — so each due run happens
   once however many workers race;
3. fetch its live source (adapters/sources/), resolve its secret references, run it into the
   hub with a timeout, record the run's health, and set the next run: the schedule's next
   time plus jitter after success, exponential back-off after a failure;
4. unlock. A worker killed mid-run loses its connection, PostgreSQL drops the lock, and
   ``next_run_at`` was never moved: the next pass of any worker runs it again (the adapter's
   saved state makes that resume, not repeat).

**Secrets are references.** A secret-looking key of the config (``token``,
``client_secret``, ``password`` …) holds ``{"env": "NAGANO_TOKEN"}`` or ``{"file":
"nagano_token"}``, resolved at run time: environment variable names must end in ``_TOKEN``,
``_SECRET``, ``_PASSWORD`` or ``_KEY`` (so a registration cannot make the worker send its
database URL as a bearer token), files are plain names inside ``--secrets-dir``. A literal
value is refused: the run fails with a message saying how to write the reference.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from adapters.sdk import HubSink, RunReport, StateStore, run_adapter
from adapters.sdk.auth import client_credentials_token
from adapters.sdk.base import SourceError
from adapters.sdk.loader import discover, load
from adapters.sdk.registry import run_record
from adapters.sources.fetch import DEFAULT_USER_AGENT, Fetcher, SourceMemo, source_session
from adapters.sources.live import live_source
from contracts.schedule import CRON_TZ, backoff_delay, next_run, plan

__all__ = ["PassResult", "WorkerSettings", "next_run", "resolve_secrets", "run_pass",
           "serve"]

log = logging.getLogger("renkei.adapters.worker")

#: the first key of the two-key advisory lock: this worker's lock space
_LOCK_SPACE = "renkei.adapter-worker"
#: mirrors registry/secrets.py (which adapters may not import): keys whose values are secret
_SECRET_KEY = re.compile(
    r"passw(?:or)?d|secret|token|api[-_]?key|credential|authori[sz]ation|private[-_]?key",
    re.IGNORECASE)
_SECRET_ENV = re.compile(r"[A-Z][A-Z0-9_]*_(?:TOKEN|SECRET|PASSWORD|KEY)")
_SECRET_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PATHLIKE = re.compile(r"[/\\]|^[a-z][a-z0-9+.-]*:|^\.|^~", re.IGNORECASE)


class SecretError(SourceError):
    """A secret in the registration is not a usable reference."""


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs; every field has a flag and a ``RENKEI_WORKER_*`` variable
    (docs/adapters.md "Running on a schedule")."""

    database_url: str
    hub: str = "http://127.0.0.1:1026"
    state_dir: Path = Path(".renkei/adapters")
    mapping_dirs: tuple[Path, ...] = ()
    #: a run longer than this is cancelled and recorded failed
    timeout: float = 900.0
    #: at most this many seconds (and at most a tenth of the interval) added at random to a
    #: scheduled time, so registrations with one schedule do not all hit a source at :00
    jitter: float = 30.0
    #: seconds between passes of ``serve``
    poll: float = 30.0
    #: back-off after a failed run: backoff × 2^(failures-1), at most backoff_max
    backoff: float = 60.0
    backoff_max: float = 3600.0
    #: the time zone cron expressions are read in (municipal schedules are local time)
    cron_tz: str = CRON_TZ
    user_agent: str = DEFAULT_USER_AGENT
    #: networks sources may be fetched from besides the public internet (CIDRs)
    source_allow: tuple[str, ...] = ()
    #: seconds between two requests to one source host
    source_interval: float = 1.0
    secrets_dir: Path = Path("/run/secrets")
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


@dataclass
class PassResult:
    registration: str
    #: ran, busy (another worker holds it), not-due (served meanwhile)
    outcome: str
    report: RunReport | None = None


# -- schedules ---------------------------------------------------------------------------
# contracts/schedule.py: one reading of a schedule for the worker and the registry API

def _backoff(failures: int, settings: WorkerSettings) -> timedelta:
    return backoff_delay(failures, settings.backoff, settings.backoff_max)


# -- secrets -----------------------------------------------------------------------------

def _reference(value: Any, where: str, secrets_dir: Path) -> str:
    if isinstance(value, Mapping) and len(value) == 1 and "env" in value:
        name = str(value["env"])
        if not _SECRET_ENV.fullmatch(name):
            raise SecretError(f"{where}: environment variable {name!r} is not allowed as a "
                              "secret (names end in _TOKEN, _SECRET, _PASSWORD or _KEY)")
        if name not in os.environ:
            raise SecretError(f"{where}: environment variable {name} is not set on the worker")
        return os.environ[name]
    if isinstance(value, Mapping) and len(value) == 1 and "file" in value:
        name = str(value["file"])
        if not _SECRET_FILE.fullmatch(name):
            raise SecretError(f"{where}: secret file must be a plain name in the secrets "
                              f"directory, got {name!r}")
        try:
            return (secrets_dir / name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"{where}: secret file {name} unreadable: {exc}") from exc
    raise SecretError(f'{where}: a secret must be a reference such as {{"env": '
                      f'"NAGANO_TOKEN"}} or {{"file": "nagano_token"}}, not a value')


def resolve_secrets(config: Any, secrets_dir: Path, where: str = "config") -> Any:
    """A copy of ``config`` with every secret key's reference replaced by its value."""
    if isinstance(config, Mapping):
        return {k: (_reference(v, f"{where}.{k}", secrets_dir) if _SECRET_KEY.search(str(k))
                    else resolve_secrets(v, secrets_dir, f"{where}.{k}"))
                for k, v in config.items()}
    if isinstance(config, list):
        return [resolve_secrets(v, secrets_dir, f"{where}[{i}]") for i, v in enumerate(config)]
    return config


# -- the registry's tables ---------------------------------------------------------------

#: registrations that can fall due at all; which of them are due is :func:`_is_due`'s
_CANDIDATES = "enabled AND (run_requested_at IS NOT NULL OR schedule IS NOT NULL)"


def _is_due(row: Mapping[str, Any], now: datetime) -> bool:
    """Due by the one plan the registry API shows too (contracts.schedule.plan)."""
    when = plan(enabled=row["enabled"], schedule=row["schedule"],
                next_run_at=row["next_run_at"], run_requested_at=row["run_requested_at"],
                failures=row["failures"], now=now).next_run_at
    return when is not None and when <= now


async def _due(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch(f"SELECT *, now() AS claimed FROM registry.adapters"
                            f" WHERE {_CANDIDATES}"
                            " ORDER BY run_requested_at NULLS LAST, next_run_at NULLS FIRST")
    return [r["id"] for r in rows if _is_due(r, r["claimed"])]


async def _record(con: asyncpg.Connection, reg_id: str, report: RunReport) -> None:
    rec = run_record(report)
    await con.execute(
        """INSERT INTO registry.adapter_runs (adapter_id, started_at, finished_at, status,
               counts, errors)
           VALUES ($1, $2::text::timestamptz, $3::text::timestamptz, $4, $5::jsonb, $6::jsonb)""",
        reg_id, rec["startedAt"], rec["finishedAt"], rec["status"], json.dumps(rec["counts"]),
        json.dumps(rec["errors"], ensure_ascii=False))


async def _reschedule(con: asyncpg.Connection, row: asyncpg.Record, report: RunReport,
                      claimed: datetime, settings: WorkerSettings) -> None:
    failed = report.status == "failed"
    failures = row["failures"] + 1 if failed else 0
    now = datetime.now(UTC)
    when: datetime | None = None
    if row["schedule"]:
        try:
            when = next_run(row["schedule"], now, tz=settings.cron_tz, jitter=settings.jitter)
        except (ValueError, KeyError) as exc:
            log.error("registration %s: schedule %r unusable: %s", row["id"],
                      row["schedule"], exc)
            when = now + timedelta(days=1)
    if failed:
        retry = now + _backoff(failures, settings)
        when = retry if when is None else max(when, retry)
    # a run-now request made while this run was going is kept for the next pass
    await con.execute(
        """UPDATE registry.adapters SET next_run_at = $2, failures = $3,
               run_requested_at = CASE WHEN run_requested_at <= $4 THEN NULL
                                       ELSE run_requested_at END
           WHERE id = $1""", row["id"], when, failures, claimed)


# -- one registration ------------------------------------------------------------------

def _stamp() -> str:
    """Now, to the second like the runner's reports (sdk/runner.py): the registry orders
    runs by start time, then by id, so a failed run recorded within the same second as the
    run after it must not sort after it for its microseconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _failed(adapter: str, source: str, started: str, error: str) -> RunReport:
    return RunReport(adapter=adapter, source=source, started=started,
                     finished=_stamp(), status="failed", error=error)


async def _token(config: Mapping[str, Any], settings: WorkerSettings,
                 session: aiohttp.ClientSession) -> str | None:
    if config.get("token"):
        return str(config["token"])
    if config.get("client_id"):
        return await client_credentials_token(session, settings.hub, str(config["client_id"]),
                                              str(config.get("client_secret", "")))
    return None


def _adapter_options(adapter_id: str, config: Mapping[str, Any],
                     settings: WorkerSettings) -> dict[str, Any]:
    """The adapter's options from the config: its ``options`` object, and top-level keys
    the adapter's manifest declares as options (``{"library": "minami"}``)."""
    target = discover(settings.mapping_dirs).get(adapter_id)
    declared = target.manifest.options if target is not None else {}
    top = {k: v for k, v in config.items()
           if k in declared and isinstance(v, str | int | float)}
    options = {**top, **dict(config.get("options") or {})}
    for key, value in options.items():
        # an option naming a file or URL would be read by the adapter on the worker's
        # machine, past the source policy (the worker's own files, internal services)
        reads = any(w in str(declared.get(key, "")).lower() for w in ("path", "url"))
        if reads or (isinstance(value, str) and _PATHLIKE.search(value)):
            raise SourceError(f"config option {key}: a registration may not name files or "
                              "URLs in options; the worker fetches sources (source, base_url)")
    return options


async def run_registration(row: Mapping[str, Any], settings: WorkerSettings) -> RunReport:
    """Fetch, run and report one registration (no scheduling, no locks)."""
    started = _stamp()
    raw = row["config"]
    config: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    memo = SourceMemo(settings.state_dir, row["id"])
    try:
        config = resolve_secrets(config, settings.secrets_dir)
        config_options = _adapter_options(row["adapter"], config, settings)
        async with source_session(settings.source_allow) as src_session:
            fetcher = Fetcher(src_session, memo, user_agent=settings.user_agent,
                              min_interval=settings.source_interval,
                              allow=settings.source_allow)
            live = await live_source(row["adapter"], config, fetcher, datetime.now(UTC))
        if live.path is None:
            return RunReport(adapter=row["adapter"], source=live.note or "unchanged",
                             started=started, finished=_stamp())
        options = {**config_options, **live.options}
        adapter = load(row["adapter"], str(live.path), mapping_dirs=settings.mapping_dirs,
                       options=options)
        async with aiohttp.ClientSession() as session:
            token = await _token(config, settings, session)
            async with HubSink(settings.hub, tenant=config.get("tenant"), token=token,
                               session=session) as sink:
                report = await run_adapter(adapter, sink, StateStore(settings.state_dir),
                                           state_key=row["id"])
    except (SourceError, KeyError, ValueError, aiohttp.ClientError, RuntimeError) as exc:
        return _failed(row["adapter"], str(config.get("source", row["adapter"])), started,
                       str(exc.args[0] if exc.args else exc))
    if report.status != "failed":
        memo.commit()
    return report


async def _serve_one(pool: asyncpg.Pool, reg_id: str, settings: WorkerSettings) -> PassResult:
    async with pool.acquire() as con:
        locked = await con.fetchval("SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))",
                                    _LOCK_SPACE, reg_id)
        if not locked:
            return PassResult(reg_id, "busy")
        try:
            row = await con.fetchrow(
                "SELECT *, now() AS claimed FROM registry.adapters WHERE id = $1", reg_id)
            if row is None or not _is_due(row, row["claimed"]):
                return PassResult(reg_id, "not-due")
            log.info("worker %s runs %s (%s)", settings.worker_id, reg_id, row["adapter"])
            try:
                report = await asyncio.wait_for(run_registration(row, settings),
                                                settings.timeout)
            except TimeoutError:
                report = _failed(row["adapter"], row["adapter"],
                                 row["claimed"].isoformat(timespec="seconds"),
                                 f"timed out after {settings.timeout:.0f} s")
            await _record(con, reg_id, report)
            await _reschedule(con, row, report, row["claimed"], settings)
            return PassResult(reg_id, "ran", report)
        finally:
            await con.execute("SELECT pg_advisory_unlock(hashtext($1), hashtext($2))",
                              _LOCK_SPACE, reg_id)


async def run_pass(settings: WorkerSettings, pool: asyncpg.Pool | None = None
                   ) -> list[PassResult]:
    """One pass over the due registrations (see the module docstring)."""
    own = pool is None
    pool = pool or await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        return [await _serve_one(pool, reg_id, settings) for reg_id in await _due(pool)]
    finally:
        if own:
            await pool.close()


async def serve(settings: WorkerSettings, *, passes: int | None = None) -> None:
    """Pass after pass, ``poll`` seconds apart (``passes`` bounds it, for tests)."""
    async with asyncpg.create_pool(settings.database_url, min_size=1, max_size=2) as pool:
        done = 0
        while passes is None or done < passes:
            try:
                for r in await run_pass(settings, pool):
                    if r.report is not None:
                        log.info("%s: %s (%s)", r.registration, r.report.status,
                                 r.report.error or f"{r.report.written} written")
            except (OSError, asyncpg.PostgresError) as exc:
                log.error("worker pass failed: %s", exc)
            done += 1
            if passes is None or done < passes:
                await asyncio.sleep(settings.poll)


def summary_rows(results: Sequence[PassResult]) -> list[list[str]]:
    """One line per registration looked at, for the CLI's table."""
    def result(r: PassResult) -> str:
        if r.report is None:
            return "-"
        text = r.report.error or f"{r.report.written} written"
        return text if len(text) <= 50 else text[:49] + "…"

    return [[r.registration, r.outcome, r.report.status if r.report else "-", result(r)]
            for r in results]
