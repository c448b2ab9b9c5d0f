"""The `aether` command: serve the gateway or one agent service, migrate the database."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from fastapi import FastAPI

from aether import __version__, proposals_cli
from aether.agents.contract import ServiceName
from aether.config import DEFAULT_PORTS, Role, Settings, SettingsError, load_settings
from aether.data import cli as data_cli
from aether.gateway.app import create_app
from aether.mesh.service_app import create_service_app
from aether.mesh.topology import hosted_services
from aether.observability.logging import configure_logging
from aether.sandbox import cli as sandbox_cli
from aether.serving import serve
from aether.store import upgrade_database


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    overrides = {
        key: value
        for key in ("host", "port", "aether_service")
        if (value := getattr(args, key, None)) is not None
    }
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"aether: invalid setting: {exc}", file=sys.stderr)
        return 2
    command: str = args.command
    # JSON lines are for the log collectors of a running service; commands log for a person.
    log_format = settings.log_format if command == "serve" else "text"
    configure_logging(settings.log_level.value, settings.aether_service.value, log_format)
    if command == "serve":
        if (problem := data_cli.serve_problem(settings)) is not None:
            print(f"aether: invalid setting: {problem}", file=sys.stderr)
            return 2
        hosted = hosted_services(settings.aether_service, settings.deployment_mode)
        if ServiceName.DS_ANALYSTS in hosted and (problem := sandbox_cli.preflight(settings)):
            print(f"aether: {problem}", file=sys.stderr)
            return 2
        return _serve(settings)
    if command == "migrate":
        asyncio.run(upgrade_database(settings.effective_database_url))
        print(f"database at {settings.effective_database_url.split('@')[-1]} is up to date")
        return 0
    if command in data_cli.COMMANDS:
        return data_cli.run_command(args, settings)
    if command == "sandbox":
        return sandbox_cli.main(args, settings)
    if command == proposals_cli.COMMAND:
        return proposals_cli.run_command(args, settings)
    parser.print_help()
    return 2


def _serve(settings: Settings) -> int:
    settings.aether_data_dir.mkdir(parents=True, exist_ok=True)
    serve(build_app(settings), settings)
    return 0


def build_app(settings: Settings) -> FastAPI:
    """The app of the role in `settings.aether_service`."""
    if settings.aether_service is Role.GATEWAY:
        return create_app(settings)
    return create_service_app(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aether", description=__doc__)
    parser.add_argument("--version", action="version", version=f"aether {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="start the gateway (monolith: every agent inside) or one agent service"
    )
    ports = ", ".join(f"{role.value} {port}" for role, port in DEFAULT_PORTS.items())
    serve.add_argument(
        "--service",
        dest="aether_service",
        choices=[role.value for role in Role],
        help="the role to serve (default AETHER_SERVICE or gateway)",
    )
    serve.add_argument("--host", help="bind address (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help=f"port (default PORT, else by role: {ports})")
    commands.add_parser("migrate", help="apply the database migrations and exit")
    data_cli.add_commands(commands)
    sandbox_cli.add_parser(commands)
    proposals_cli.add_commands(commands)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
