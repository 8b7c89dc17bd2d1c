"""``renkei-adapters`` (also ``renkei adapters``): list, check, describe, run, schedule,
worker, export.

``renkei adapters ...`` reaches this module through the ``renkei.commands`` entry-point
group: hub/cli.py may not import adapters (import-linter), so it dispatches by name to
whatever command an installed package declares there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import textwrap
import unicodedata
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import orjson

from adapters import cli_quarantine
from adapters.sdk import HubSink, RunReport, StateStore, run_adapter
from adapters.sdk.auth import client_credentials_token
from adapters.sdk.base import SourceError
from adapters.sdk.loader import discover, load
from adapters.sdk.progress import ProgressBar, SourcePosition, terminal_width
from adapters.sdk.records import Emit, Quarantine
from adapters.sdk.refusals import hub_base
from adapters.sdk.registry import RegistryClient, iso_schedule
from adapters.sdk.runner import BATCH_SIZE
from adapters.sources.fetch import DEFAULT_USER_AGENT
from adapters.worker import WorkerSettings, run_pass, serve, summary_rows
from contracts.schedule import CRON_TZ

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--mappings", type=Path, action="append", default=[],
                        help="directory of declarative mapping files (*.toml); repeatable")
    common.add_argument("--state-dir", type=Path, default=Path(".renkei/adapters"),
                        help="where state and quarantine files are kept "
                        "(default .renkei/adapters)")
    p = argparse.ArgumentParser(prog="renkei adapters", description="Renkei adapters")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="installed adapters (entry points and mapping files); "
                        "with --registrations the hub's registrations and how they run",
                        parents=[common])
    ls.add_argument("--registrations", action="store_true",
                    help="the registrations of the hub's registry with their operating "
                    "state: next run, consecutive failures, back-off, last run")
    ls.add_argument("--hub", default="http://127.0.0.1:1026", help="the hub's base URL")
    ls.add_argument("--token", help="OAuth 2 bearer token with the manage scope")
    for name, text in (("check", "can the source be read and recognised?"),
                       ("describe", "manifest and the attributes produced, as JSON")):
        c = sub.add_parser(name, help=text, parents=[common])
        c.add_argument("name")
        _source_args(c)
        if name == "describe":
            c.add_argument("--preview", type=int, default=0, metavar="N",
                           help="also the first N entities the mapping makes of the source, "
                           "and the reasons of rows it would quarantine")
    r = sub.add_parser("run", help="read the source and upsert into a hub", parents=[common])
    r.add_argument("name")
    _source_args(r)
    _hub_args(r)
    r.add_argument("--dry-run", action="store_true", help="map and count, write nothing")
    r.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="entities per upsert")
    r.add_argument("--in-flight", type=int, default=2,
                   help="upserts sent while the next batch is read (1 = one at a time)")
    s = sub.add_parser("schedule", help="each adapter's schedule, last run and next due",
                       parents=[common])
    s.add_argument("--run-due", action="store_true", help="one pass of the worker: run the "
                   "registrations that are due (call it from cron every few minutes)")
    _worker_args(s)
    w = sub.add_parser("worker", help="run every enabled registration on its schedule",
                       parents=[common])
    _worker_args(w)
    w.add_argument("--once", action="store_true", help="one pass, then exit")
    e = sub.add_parser("export", help="write the entities of a source to a JSON file",
                       parents=[common])
    e.add_argument("name")
    _source_args(e)
    e.add_argument("--output", type=Path, required=True)
    cli_quarantine.add_parser(sub, common, _hub_args)
    return p


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="file or URL (default: the adapter's fixture)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="adapter option (see `describe`); repeatable")


def _hub_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hub", default="http://127.0.0.1:1026", help="the hub's base URL")
    p.add_argument("--tenant", help="NGSILD-Tenant to write into")
    p.add_argument("--token", help="OAuth 2 bearer token of the organisation's client")
    p.add_argument("--client-id", help="the organisation's OAuth 2 client: a token is "
                   "obtained with the client-credentials grant (secret from "
                   "RENKEI_ADAPTER_CLIENT_SECRET)")
    p.add_argument("--registration", help="registry adapter registration id (default: "
                   "the adapter id); its run health is posted there")
    p.add_argument("--dataset", help="register the adapter for this dataset before the run")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"RENKEI_WORKER_{name}", default)


def _worker_args(p: argparse.ArgumentParser) -> None:
    """The worker's settings (docs/adapters.md "Running on a schedule")."""
    p.add_argument("--database-url", default=_env("DATABASE_URL", ""),
                   help="PostgreSQL URL of the hub's database (the registry's tables)")
    p.add_argument("--hub", default=_env("HUB", "http://127.0.0.1:1026"),
                   help="the hub's base URL")
    p.add_argument("--timeout", type=float, default=float(_env("TIMEOUT", "900")),
                   help="seconds a run may take")
    p.add_argument("--jitter", type=float, default=float(_env("JITTER", "30")),
                   help="at most this many seconds added to a scheduled time")
    p.add_argument("--poll", type=float, default=float(_env("POLL", "30")),
                   help="seconds between passes")
    p.add_argument("--backoff", type=float, default=float(_env("BACKOFF", "60")),
                   help="first back-off after a failed run (doubles, at most 1 h)")
    p.add_argument("--user-agent", default=_env("USER_AGENT", DEFAULT_USER_AGENT),
                   help="User-Agent sent to sources: name your deployment and a contact")
    p.add_argument("--source-allow", default=_env("SOURCE_ALLOW", ""),
                   help="comma-separated networks sources may be on besides the internet")
    p.add_argument("--secrets-dir", type=Path,
                   default=Path(_env("SECRETS_DIR", "/run/secrets")),
                   help="directory of secret files registrations refer to")


def _worker_settings(args: argparse.Namespace) -> WorkerSettings:
    if not args.database_url:
        raise ValueError("the worker reads the registry from the hub's database: give "
                         "--database-url or RENKEI_WORKER_DATABASE_URL")
    return WorkerSettings(
        database_url=args.database_url, hub=args.hub, state_dir=args.state_dir,
        mapping_dirs=tuple(args.mappings), timeout=args.timeout, jitter=args.jitter,
        poll=args.poll, backoff=args.backoff, user_agent=args.user_agent,
        source_allow=tuple(a for a in args.source_allow.split(",") if a.strip()),
        secrets_dir=args.secrets_dir)


def _worker(args: argparse.Namespace) -> int:
    """``worker`` (pass after pass) and ``schedule --run-due`` (one pass): exit 1 when a run
    of the pass failed."""
    settings = _worker_settings(args)
    if args.command == "worker" and not args.once:
        asyncio.run(serve(settings))
        return 0
    results = asyncio.run(run_pass(settings))
    print(_table(summary_rows(results) or [["-", "nothing due", "-", "-"]],
                 ["registration", "outcome", "status", "result"]))
    return 1 if any(r.report and r.report.status == "failed" for r in results) else 0


def _options(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--option needs KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def _cells(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, with … where it was cut."""
    if _cells(text) <= width:
        return text
    out, used = [], 1
    for c in text:
        used += _cells(c)
        if used > width:
            break
        out.append(c)
    return "".join(out) + "…"


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` terminal columns, broken at spaces where it
    can be (textwrap counts characters; a Japanese character takes two columns)."""
    out = []
    for line in textwrap.wrap(text, width) or [""]:
        while _cells(line) > width:
            used, cut = 0, 0
            for cut, c in enumerate(line):  # noqa: B007 - the index is the result
                used += _cells(c)
                if used > width:
                    break
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def _table(rows: list[list[str]], header: list[str], width: int | None = None, *,
           shrink: tuple[int, ...] | None = None) -> str:
    """A plain table no wider than the terminal (``COLUMNS``, else 80) less one column.
    The widest of the ``shrink`` columns (default: all but the first, the id a user types
    next) give way first, their cells cut with …; then the others but the first, then the
    first, none below 6. Japanese text counts two columns a character."""
    limit = (width or terminal_width()) - 1
    table = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(_cells(r[i]) for r in table) for i in range(len(header))]
    gaps = 2 * (len(widths) - 1)
    first = shrink if shrink is not None else tuple(range(1, len(widths)))
    while sum(widths) + gaps > limit:
        wide = [i for i in first if widths[i] > 6] or \
            [i for i in range(1, len(widths)) if widths[i] > 6] or \
            [i for i in (0,) if widths[i] > 6]
        if not wide:
            break
        widths[max(wide, key=lambda i: widths[i])] -= 1

    def line(cells: list[str]) -> str:
        parts = [_clip(c, w) for c, w in zip(cells, widths, strict=True)]
        return "  ".join(p + " " * (w - _cells(p)) for p, w in
                         zip(parts, widths, strict=True)).rstrip()

    return "\n".join([line(table[0]), line(["-" * w for w in widths]),
                      *(line(r) for r in table[1:])])


def _summary(report: RunReport, registry_note: str | None) -> str:
    rows = [[k, f"{getattr(report, k):,}"] for k in ("read", "written", "quarantined",
                                                      "skipped", "unacknowledged", "entities")]
    rows += [[f"skipped: {r}", f"{n:,}"] for r, n in report.skip_reasons.items()]
    rows += [[f"flagged: {f}", f"{n:,}"] for f, n in report.flags.items()]
    reasons = Counter(q["reason"] for q in report.quarantine)
    rows += [[f"quarantined: {r}", f"{n:,}"] for r, n in reasons.most_common(5)]
    rows.append(["status", report.status + (" (dry run)" if report.dry_run else "")])
    width = terminal_width()
    below = [f"source: {report.source}"]  # a path is long: under the table, not in it
    if registry_note:
        # a refusal's detail is long: the table says recorded or not, the detail goes below
        short = registry_note.split(" (", 1)[0]
        rows.append(["registry", short])
        if short != registry_note:
            below.append(f"registry: {registry_note}")
    # the error names the fix; it goes under the table, wrapped, not into a column
    if report.error:
        below.append(f"error: {report.error}")
    fix = "".join("\n" + line for b in below for line in _wrap(b, width - 1))
    return _table(rows, [report.adapter, ""], width, shrink=(0, 1)) + fix


async def _run(args: argparse.Namespace, name: str, source: str | None,
               options: dict[str, str]) -> RunReport:
    adapter = load(name, source, mapping_dirs=args.mappings, options=options)
    store = StateStore(args.state_dir)
    args.hub = hub_base(args.hub)  # with or without /ngsi-ld/v1
    progress = ProgressBar(name, SourcePosition.of(adapter) if sys.stderr.isatty() else None)
    note = None
    if getattr(args, "dry_run", False):
        report = await run_adapter(adapter, None, store, progress=progress,
                                   state_key=args.registration)
    else:
        async with aiohttp.ClientSession() as session:
            if args.client_id and not args.token:
                args.token = await client_credentials_token(
                    session, args.hub, args.client_id,
                    os.environ.get("RENKEI_ADAPTER_CLIENT_SECRET", ""))
            registration = args.registration or adapter.manifest.id
            registry = RegistryClient(args.hub, session, token=args.token)
            if args.dataset:
                await registry.register(registration, args.dataset, adapter.manifest, options)
            async with HubSink(args.hub, tenant=args.tenant, token=args.token,
                               session=session) as sink:
                report = await run_adapter(adapter, sink, store, batch_size=args.batch_size,
                                           in_flight=args.in_flight, progress=progress,
                                           state_key=registration)
            note = await registry.record_run(registration, report)
    progress.done()
    print(_summary(report, note))
    return report


def _local(stamp: str | None, today: datetime | None = None) -> str:
    """An API time in the zone schedules are read in (JST): ``HH:MM`` on ``today``'s date
    there, else ``MM-DD HH:MM``."""
    if not stamp:
        return "-"
    tz = ZoneInfo(CRON_TZ)
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(tz)
    same_day = when.date() == (today or datetime.now(UTC)).astimezone(tz).date()
    return when.strftime("%H:%M" if same_day else "%m-%d %H:%M")


def _count(n: int) -> str:
    """A row count in at most 5 characters (999, 12.3k, 1.2M)."""
    if n < 1000:
        return str(n)
    if n < 999_500:
        return f"{n / 1000:.1f}k" if n < 9_950 else f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M" if n < 9_950_000 else f"{n / 1_000_000:.0f}M"


#: the operations view in 80 columns (the schedule itself is in the API's JSON): a state
#: in a word, the registry's run status as it is
REGISTRATION_HEADER = ["registration", "next JST", "state", "fails", "last run",
                       "wrote/read"]
_STATE = {"due": "due", "requested": "asked", "scheduled": "waiting",
          "backing-off": "backoff", "disabled": "off", "manual": "manual"}


def registration_rows(registrations: list[dict[str, Any]],
                      today: datetime | None = None) -> list[list[str]]:
    """One line per registration of ``GET /registry/v1/adapters``: its operating state."""
    rows = []
    for a in registrations:
        reason = a.get("nextRunReason", "-")
        nxt = "now" if reason in ("due", "requested") else _local(a.get("nextRunAt"), today)
        state = "backoff" if a.get("backoffUntil") else _STATE.get(reason, reason)
        last = a.get("lastRun") or {}
        counts = last.get("counts") or {}
        rows.append([a["id"], nxt, state, str(a.get("consecutiveFailures", 0)),
                     last.get("status", "never"),
                     f"{_count(counts.get('written', 0))}/{_count(counts.get('read', 0))}"
                     if last else "-"])
    return rows


async def _list_registrations(args: argparse.Namespace) -> int:
    """``list --registrations``: the registry's view of every registration the token may
    manage, as the worker runs them (docs/adapters.md "Running on a schedule")."""
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    url = hub_base(args.hub) + "/registry/v1/adapters"
    try:
        async with aiohttp.ClientSession() as session, \
                session.get(url, headers=headers) as resp:
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, ValueError) as exc:
        raise ValueError(f"cannot read {url}: {exc}") from exc
    if resp.status != 200:
        detail = body.get("detail") if isinstance(body, dict) else body
        raise PermissionError(f"{url} answered {resp.status}: {detail}")
    print(_table(registration_rows(body) or [["-"] * len(REGISTRATION_HEADER)],
                 REGISTRATION_HEADER))
    return 0


def _schedule(args: argparse.Namespace) -> int:
    store = StateStore(args.state_dir)
    rows, due = [], []
    now = datetime.now(UTC)
    for aid, target in sorted(discover(args.mappings).items()):
        manifest = target.manifest
        interval = manifest.interval()
        path = store.state_path(aid)
        last = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
        is_due = interval is not None and (last is None or last + interval <= now)
        if is_due:
            due.append(aid)
        rows.append([aid, manifest.schedule, iso_schedule(manifest) or "-",
                     last.isoformat(timespec="seconds") if last else "never",
                     "due" if is_due else ("manual" if interval is None else "later")])
    print(_table(rows, ["adapter", "schedule", "registry", "last run", "now"]))
    return _worker(args) if args.run_due else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list" and args.registrations:
            return asyncio.run(_list_registrations(args))
        if args.command == "list":
            rows = [[aid, t.manifest.source_format, ",".join(t.manifest.contract_types),
                     t.manifest.encoding, t.manifest.schedule,
                     "mapping file" if not isinstance(t, type) else "entry point"]
                    for aid, t in sorted(discover(args.mappings).items())]
            print(_table(rows, ["adapter", "format", "contracts", "encoding", "schedule",
                                "kind"], shrink=(1, 2)))
            return 0
        if args.command == "schedule":
            return _schedule(args)
        if args.command == "worker":
            return _worker(args)
        if args.command == "quarantine":
            return cli_quarantine.quarantine(args, _options(getattr(args, "option", [])),
                                             _table)
        options = _options(args.option)
        if args.command in ("check", "describe", "export"):
            adapter = load(args.name, args.source, mapping_dirs=args.mappings, options=options)
            if args.command == "describe":
                print(json.dumps(_describe(adapter, args.preview), ensure_ascii=False,
                                 indent=2))
                return 0
            if args.command == "export":
                return _export(adapter, args.output)
            result = adapter.check()
            print(("ok: " if result.ok else "FAILED: ") + "; ".join(result.messages))
            return 0 if result.ok else 1
        report = asyncio.run(_run(args, args.name, args.source, options))
        return 1 if report.status == "failed" else 0
    except (KeyError, SourceError, ValueError, PermissionError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


def _describe(adapter: Any, preview: int) -> dict[str, Any]:
    """``describe``, with ``--preview N`` the first N entities of the source and the first
    quarantine reasons: what a mapping makes, seen before anything is written."""
    out: dict[str, Any] = adapter.describe()
    if preview > 0:
        entities: list[dict[str, Any]] = []
        quarantined: list[dict[str, Any]] = []
        for o in adapter.rows(adapter.text()):
            if isinstance(o, Emit):
                entities.extend(o.entities[: preview - len(entities)])
            elif isinstance(o, Quarantine) and len(quarantined) < preview:
                quarantined.append(o.to_json())
            if len(entities) >= preview:
                break
        out["preview"] = {"entities": entities, "quarantined": quarantined}
    return out


def _export(adapter: Any, output: Path) -> int:
    """Entities of the source as a JSON array with the contracts' @context inline: the form
    the hub's sample loader (hub/sample_data/*.json) and any NGSI-LD client can post."""
    from contracts import CONTEXT_URL

    entities = [{**e, "@context": [CONTEXT_URL]} for o in adapter.read()
                if isinstance(o, Emit) for e in o.entities]
    output.write_bytes(orjson.dumps(entities, option=orjson.OPT_INDENT_2))
    print(f"{len(entities)} entities written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
