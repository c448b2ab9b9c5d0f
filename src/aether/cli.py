"""The `aether` command: serve the API, migrate the database."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import uvicorn

from aether import __version__
from aether.config import Settings, SettingsError, load_settings
from aether.gateway.app import create_app
from aether.observability.logging import configure_logging
from aether.store import upgrade_database


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    overrides = {
        key: value for key in ("host", "port") if (value := getattr(args, key, None)) is not None
    }
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"aether: invalid setting: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level.value)
    command: str = args.command
    if command == "serve":
        return _serve(settings)
    if command == "migrate":
        asyncio.run(upgrade_database(settings.effective_database_url))
        print(f"database at {settings.effective_database_url.split('@')[-1]} is up to date")
        return 0
    parser.print_help()
    return 2


def _serve(settings: Settings) -> int:
    settings.aether_data_dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aether", description=__doc__)
    parser.add_argument("--version", action="version", version=f"aether {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the gateway (monolith: every agent inside)")
    serve.add_argument("--host", help="bind address (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PORT or 8000)")
    commands.add_parser("migrate", help="apply the database migrations and exit")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
