"""``renkei adapters quarantine list | show | replay``: the rows still missing from the hub.

The quarantine file (sdk.state) lists each row a run could not write: its source, row
number, raw content and reason. ``list`` shows them in a table that fits 80 columns,
``show`` one row whole, ``replay`` sends them again through the current mapping after a
mapping or registry fix (sdk.replay), resolving each entry the hub acknowledges.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import aiohttp

from adapters.sdk import HubSink, StateStore
from adapters.sdk.auth import client_credentials_token
from adapters.sdk.loader import load
from adapters.sdk.refusals import hub_base
from adapters.sdk.replay import ReplayReport, replay_quarantine

__all__ = ["add_parser", "quarantine"]


def add_parser(sub: Any, common: argparse.ArgumentParser,
               hub_args: Callable[[argparse.ArgumentParser], None]) -> None:
    q = sub.add_parser("quarantine", help="rows not written: list, show, replay",
                       parents=[common])
    qs = q.add_subparsers(dest="action", required=True)
    for action, text in (("list", "the quarantined rows of a registration"),
                         ("show", "one quarantined row whole, as JSON"),
                         ("replay", "send the rows again through the current mapping")):
        a = qs.add_parser(action, help=text, parents=[common])
        a.add_argument("name", help="the adapter")
        if action == "show":
            a.add_argument("row", type=int, help="the row number (see list)")
        if action == "replay":
            a.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                           help="adapter option (see `describe`); repeatable")
            a.add_argument("--dry-run", action="store_true",
                           help="map the rows again and count, write nothing")
            hub_args(a)
        else:
            a.add_argument("--registration", help="registration id (default: the adapter id)")


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def quarantine(args: argparse.Namespace, options: dict[str, str],
               table: Callable[[list[list[str]], list[str]], str]) -> int:
    store = StateStore(args.state_dir)
    key = args.registration or args.name
    entries = store.quarantined(key)
    if args.action == "list":
        if not entries:
            print(f"{key}: nothing quarantined")
            return 0
        rows = [[_cut(os.path.basename(q["source"]), 20), str(q["row"]), _cut(q["reason"], 48)]
                for q in entries]
        print(table(rows, ["source", "row", "reason"]))
        print(f"{len(entries)} row(s); `quarantine show {args.name} ROW` for one whole")
        return 0
    if args.action == "show":
        found = [q for q in entries if q["row"] == args.row]
        if not found:
            print(f"{key}: row {args.row} is not quarantined")
            return 1
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0
    report = asyncio.run(_replay(args, key, options, store))
    print(table([[k, str(v)] for k, v in report.to_json().items() if k != "errors"],
                [f"replay of {key}", ""]))
    for err in report.errors[:10]:
        print(f"error: {err}")
    return 1 if report.pending or report.still_quarantined else 0


async def _replay(args: argparse.Namespace, key: str, options: dict[str, str],
                  store: StateStore) -> ReplayReport:
    def make(source: str) -> Any:
        return load(args.name, source, mapping_dirs=args.mappings, options=options)

    if args.dry_run:
        return await replay_quarantine(make, None, store, key)
    hub = hub_base(args.hub)
    async with aiohttp.ClientSession() as session:
        if args.client_id and not args.token:
            args.token = await client_credentials_token(
                session, hub, args.client_id, os.environ.get("RENKEI_ADAPTER_CLIENT_SECRET", ""))
        async with HubSink(hub, tenant=args.tenant, token=args.token, session=session) as sink:
            return await replay_quarantine(make, sink, store, key)
