"""``renkei-adapters`` (also ``renkei adapters``): list, check, describe, run, schedule, export.

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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from adapters.sdk import HubSink, RunReport, StateStore, run_adapter
from adapters.sdk.auth import client_credentials_token
from adapters.sdk.base import SourceError
from adapters.sdk.loader import discover, load
from adapters.sdk.records import Emit
from adapters.sdk.registry import RegistryClient, iso_schedule
from adapters.sdk.runner import BATCH_SIZE

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
    sub.add_parser("list", help="installed adapters (entry points and mapping files)",
                   parents=[common])
    for name, text in (("check", "can the source be read and recognised?"),
                       ("describe", "manifest and the attributes produced, as JSON")):
        c = sub.add_parser(name, help=text, parents=[common])
        c.add_argument("name")
        _source_args(c)
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
    s.add_argument("--run-due", action="store_true", help="run the adapters that are due")
    _hub_args(s)
    e = sub.add_parser("export", help="write the entities of a source to a JSON file",
                       parents=[common])
    e.add_argument("name")
    _source_args(e)
    e.add_argument("--output", type=Path, required=True)
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


def _options(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--option needs KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([line.format(*header), line.format(*("-" * w for w in widths)),
                      *(line.format(*map(str, r)) for r in rows)])


class _Progress:
    """A one-line progress bar on stderr (rows read, rate), redrawn at most 10 times/s."""

    def __init__(self, label: str) -> None:
        self.label, self.start, self.last = label, time.monotonic(), 0.0

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 or not sys.stderr.isatty():
            return
        self.last = now
        rate = rows / max(now - self.start, 1e-6)
        bar = "#" * min(30, int(now - self.start) % 31)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {rows:>9,} rows {rate:>9,.0f} rows/s")
        sys.stderr.flush()

    def done(self) -> None:
        if sys.stderr.isatty():
            sys.stderr.write("\n")


def _summary(report: RunReport, registry_note: str | None) -> str:
    rows = [[k, f"{getattr(report, k):,}"] for k in ("read", "written", "quarantined",
                                                      "skipped", "unacknowledged", "entities")]
    rows += [[f"skipped: {r}", f"{n:,}"] for r, n in report.skip_reasons.items()]
    rows.append(["status", report.status + (" (dry run)" if report.dry_run else "")
                 + (f" ({report.error})" if report.error else "")])
    if registry_note:
        rows.append(["registry", registry_note])
    return _table(rows, [f"{report.adapter} ← {report.source}", ""])


async def _run(args: argparse.Namespace, name: str, source: str | None,
               options: dict[str, str]) -> RunReport:
    adapter = load(name, source, mapping_dirs=args.mappings, options=options)
    store = StateStore(args.state_dir)
    progress = _Progress(name)
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
    failed = 0
    if args.run_due:
        for aid in due:
            report = asyncio.run(_run(args, aid, None, {}))
            failed += report.status == "failed"
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            rows = [[aid, t.manifest.source_format, ",".join(t.manifest.contract_types),
                     t.manifest.encoding, t.manifest.schedule,
                     "mapping file" if not isinstance(t, type) else "entry point"]
                    for aid, t in sorted(discover(args.mappings).items())]
            print(_table(rows, ["adapter", "format", "contracts", "encoding", "schedule",
                                "kind"]))
            return 0
        if args.command == "schedule":
            return _schedule(args)
        options = _options(args.option)
        if args.command in ("check", "describe", "export"):
            adapter = load(args.name, args.source, mapping_dirs=args.mappings, options=options)
            if args.command == "describe":
                print(json.dumps(adapter.describe(), ensure_ascii=False, indent=2))
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
