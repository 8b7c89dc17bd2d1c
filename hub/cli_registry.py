"""``renkei org …`` and ``renkei dataset …``: the registry from the command line.

Straight on the database (``--database-url`` or ``RENKEI_DATABASE_URL``; the embedded
PostgreSQL in ``data_dir`` otherwise), through the same service layer as the management API.
A running hub picks a change up at once: the registry's trigger notifies every process.
Output is JSON (one record, or a list), so it scripts; a refused change exits with status 2
and the reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from hub.db.migrations import apply_all
from hub.db.pool import create_pool
from hub.jsonld.process import core_active_context
from hub.settings import Settings
from hub.store.ownership import count_owned
from registry import LICENCES, RegistryError, RegistryRepository
from registry import service as svc
from registry.model import FREQUENCIES, HISTORY_MODES

__all__ = ["add_commands", "run"]


def add_commands(sub: Any) -> None:
    org = sub.add_parser("org", help="organisations of the registry")
    osub = org.add_subparsers(dest="registry_command", required=True)
    create = osub.add_parser("create", help="register an organisation")
    create.add_argument("id", help="全国地方公共団体コード (6 digits) or 法人番号 (13 digits)")
    create.add_argument("--name-ja", required=True)
    create.add_argument("--name-en")
    create.add_argument("--contact")
    create.add_argument("--url")
    lst = osub.add_parser("list", help="list organisations")
    lst.add_argument("--kind", choices=["prefecture", "municipality", "private"])
    for verb in ("show", "delete"):
        osub.add_parser(verb, help=f"{verb} an organisation").add_argument("id")

    ds = sub.add_parser("dataset", help="datasets and the rule of which entities they own")
    dsub = ds.add_subparsers(dest="registry_command", required=True)
    dcreate = dsub.add_parser("create", help="register a dataset (or --file with its JSON)")
    dcreate.add_argument("id")
    dcreate.add_argument("--file", type=Path, help="the dataset as the API's JSON")
    dcreate.add_argument("--owner", help="owning organisation's id")
    dcreate.add_argument("--name-ja")
    dcreate.add_argument("--name-en")
    dcreate.add_argument("--description-ja")
    dcreate.add_argument("--description-en")
    dcreate.add_argument("--type", dest="types", action="append", default=[],
                         help="entity type name or IRI the dataset owns (repeat)")
    dcreate.add_argument("--id-prefix", dest="prefixes", action="append", default=[],
                         help="entity id prefix the dataset owns (repeat)")
    dcreate.add_argument("--catch-all", action="store_true",
                         help="own every entity (local experiments, conformance suite)")
    dcreate.add_argument("--contract", dest="contracts", action="append", default=[])
    dcreate.add_argument("--licence", choices=list(LICENCES))
    dcreate.add_argument("--open-data", action="store_true")
    dcreate.add_argument("--personal-data", action="store_true")
    dcreate.add_argument("--frequency", choices=list(FREQUENCIES))
    dcreate.add_argument("--history-mode", choices=list(HISTORY_MODES),
                         help="which changes become history: those with observedAt "
                         "(observed, the default) or every change (every)")
    dcreate.add_argument("--contact")
    dcreate.add_argument("--source")
    dcreate.add_argument("--keyword", dest="keywords", action="append", default=[])
    dlist = dsub.add_parser("list", help="list datasets")
    dlist.add_argument("--owner")
    for verb in ("show", "delete"):
        dsub.add_parser(verb, help=f"{verb} a dataset").add_argument("id")
    for group in (osub, dsub):
        for p in group.choices.values():
            p.add_argument("--database-url", help="PostgreSQL URL (else RENKEI_DATABASE_URL)")


def _names(ja: str | None, en: str | None) -> dict[str, str] | None:
    if ja is None:
        return None
    return {"ja": ja, **({"en": en} if en else {})}


def dataset_body(a: argparse.Namespace) -> dict[str, Any]:
    """The API's JSON for ``dataset create``: from --file, else from the flags."""
    if a.file is not None:
        body: dict[str, Any] = orjson.loads(a.file.read_bytes())
        body.setdefault("id", a.id)
        return body
    rule: dict[str, Any] = ({"catchAll": True} if a.catch_all
                            else {"entityTypes": a.types, "idPrefixes": a.prefixes})
    body = {
        "id": a.id, "owner": a.owner, "rule": rule, "contracts": a.contracts,
        "name": _names(a.name_ja or ("すべてのエンティティ（実験用）" if a.catch_all else None),
                       a.name_en or ("Every entity (experiments)" if a.catch_all else None)),
        "description": _names(a.description_ja, a.description_en),
        "licence": a.licence or ("proprietary" if a.catch_all else None),
        "updateFrequency": a.frequency or ("irregular" if a.catch_all else None),
        "openData": a.open_data, "personalData": a.personal_data, "contact": a.contact,
        "source": a.source, "keywords": a.keywords, "historyMode": a.history_mode,
    }
    return {k: v for k, v in body.items() if v is not None}


async def _org(repo: RegistryRepository, a: argparse.Namespace, pool: Any) -> Any:
    cmd = a.registry_command
    if cmd == "create":
        body = {"id": a.id, "name": _names(a.name_ja, a.name_en), "contact": a.contact,
                "url": a.url}
        return (await svc.create_organisation(
            repo, {k: v for k, v in body.items() if v is not None})).to_json()
    if cmd == "list":
        return [o.to_json() for o in await repo.list_organisations(a.kind)]
    if cmd == "show":
        return (await svc.get_organisation(repo, a.id)).to_json()

    async def owned(dataset_id: str) -> int:  # entities in its default dataset
        return await count_owned(pool, f"urn:ngsi-ld:Dataset:{dataset_id}")

    await svc.delete_organisation(repo, a.id, owned=owned)
    return {"deleted": a.id}


async def _dataset(repo: RegistryRepository, a: argparse.Namespace, pool: Any) -> Any:
    cmd = a.registry_command
    if cmd == "create":
        expand = core_active_context().expand
        return (await svc.create_dataset(repo, dataset_body(a), expand)).to_json()
    if cmd == "list":
        return [d.to_json() for d in await repo.list_datasets(owner=a.owner)]
    if cmd == "show":
        return (await svc.get_dataset(repo, a.id)).to_json()

    async def owned(dataset_id: str) -> int:
        return await count_owned(pool, f"urn:ngsi-ld:Dataset:{dataset_id}")

    await svc.delete_dataset(repo, a.id, owned)
    return {"deleted": a.id}


async def _main(a: argparse.Namespace, settings: Settings) -> Any:
    url, embedded = settings.database_url, None
    if not url:
        from hub.db.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(settings.data_dir)
        url = await asyncio.get_running_loop().run_in_executor(None, embedded.start)
    try:
        pool = await create_pool(url, 1, 2)
        try:
            async with pool.acquire() as con:
                await apply_all(con)
            repo = RegistryRepository(pool)
            if a.command == "org":
                return await _org(repo, a, pool)
            return await _dataset(repo, a, pool)
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            embedded.stop()


def run(a: argparse.Namespace) -> None:
    settings = Settings.from_env(database_url=getattr(a, "database_url", None))
    try:
        out = asyncio.run(_main(a, settings))
    except RegistryError as err:
        sys.stderr.write(f"renkei {a.command} {a.registry_command}: {err.detail}\n")
        raise SystemExit(2) from None
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
