"""The ``renkei`` command: ``renkei serve`` runs the hub."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.logs import configure_logging
from hub.settings import SETTINGS_HELP, Settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="renkei", description="Renkei NGSI-LD data hub")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the NGSI-LD hub")
    serve.add_argument("--database-url", help=SETTINGS_HELP["database_url"])
    serve.add_argument("--data-dir", type=Path, help=SETTINGS_HELP["data_dir"])
    serve.add_argument("--host", help=SETTINGS_HELP["host"])
    serve.add_argument("--port", type=int, help=SETTINGS_HELP["port"])
    serve.add_argument("--log-level", help=SETTINGS_HELP["log_level"])
    serve.add_argument("--log-format", choices=["json", "text"], help=SETTINGS_HELP["log_format"])
    serve.add_argument("--max-body-bytes", type=int, help=SETTINGS_HELP["max_body_bytes"])
    serve.add_argument("--max-limit", type=int, help=SETTINGS_HELP["max_limit"])
    serve.add_argument("--pool-max", type=int, help=SETTINGS_HELP["pool_max"])
    serve.add_argument("--sample-data", action="store_true", default=None,
                       help=SETTINGS_HELP["sample_data"])
    from hub.cli_authz import add_commands

    add_commands(sub)  # renkei client / grant / keys (access control)
    from hub.cli_registry import add_commands as add_registry_commands

    add_registry_commands(sub)  # renkei org / dataset (registry)
    return parser


def _plugin_command(argv: list[str]) -> int | None:
    """``renkei <name> ...`` for a command another package declares in the ``renkei.commands``
    entry-point group (``renkei adapters``: adapters/cli.py). The hub may not import those
    packages, so it dispatches by entry point; None when no such command is installed."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="renkei.commands") if argv[:1] == [ep.name]]
    return int(found[0].load()(argv[1:]) or 0) if found else None


def main(argv: list[str] | None = None) -> None:
    plugin = _plugin_command(sys.argv[1:] if argv is None else argv)
    if plugin is not None:
        raise SystemExit(plugin)
    args = _parser().parse_args(argv)
    if getattr(args, "authz_command", None):
        from hub.cli_authz import run

        return run(args)
    if getattr(args, "registry_command", None):
        from hub.cli_registry import run as run_registry

        return run_registry(args)
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if k != "command"}
    settings = Settings.from_env(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "serve":
        from hub.app import create_app

        logging.getLogger("renkei.hub").info(
            "starting", extra={"host": settings.host, "port": settings.port}
        )
        # handler_cancellation: a client that goes away cancels its handler, and asyncpg
        # then cancels the running statement in PostgreSQL, so abandoned requests stop
        # costing; keepalive_timeout also closes a connection that has not sent a whole
        # request by then (aiohttp arms it at connection start): slow headers are bounded
        web.run_app(create_app(settings), host=settings.host, port=settings.port,
                    print=None, shutdown_timeout=10, access_log=None,
                    handler_cancellation=True, keepalive_timeout=settings.keepalive_timeout,
                    loop=_event_loop())


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): measured ~25 % more requests/s."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


if __name__ == "__main__":
    main()
