"""`aether proposals list|show|approve|reject|deploy|rollback`: the proposals from a terminal.

It works on the gateway's database (DATABASE_URL, else SQLite in AETHER_DATA_DIR) and deploys to
the Home Assistant of HA_URL and HA_TOKEN, through the same lifecycle as the API, so the same
rules hold; every decision is recorded with `cli` as who.

    aether proposals list --status proposed
    aether proposals show 3f2a9c1b7d4e            the automation, why, the saving, the audit trail
    aether proposals show 3f2a9c1b7d4e --yaml     an approved automation for automations.yaml
    aether proposals approve 3f2a9c1b7d4e --reason "looks right"
    aether proposals reject 3f2a9c1b7d4e --reason "I get up later on Fridays"
    aether proposals deploy 3f2a9c1b7d4e
    aether proposals rollback 3f2a9c1b7d4e

Exit status: 0 done, 1 refused (unknown proposal, a move the lifecycle does not allow, Home
Assistant missing or refusing), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Final

from aether.agents.proposals.automation import to_yaml
from aether.agents.proposals.lifecycle import (
    DeploymentFailedError,
    DeploymentUnavailableError,
    ProposalService,
    open_proposal_service,
)
from aether.agents.proposals.model import ProposalStatus
from aether.config import Settings
from aether.store import Store
from aether.store.proposals import (
    InvalidTransitionError,
    ProposalFilter,
    ProposalNotFoundError,
    StoredProposal,
)

COMMAND: Final = "proposals"
ACTOR: Final = "cli"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `proposals` and its actions on the `aether` parser's subcommands."""
    parser = commands.add_parser(
        COMMAND, help="review, approve, reject, deploy or roll back the automations Aether proposed"
    )
    actions = parser.add_subparsers(dest="proposals_command", required=True)
    listing = actions.add_parser("list", help="proposals, newest first")
    listing.add_argument("--status", choices=[status.value for status in ProposalStatus])
    listing.add_argument("--entity", help="only those touching this entity id")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per proposal")
    show = actions.add_parser("show", help="one proposal: automation, reasons, audit trail")
    show.add_argument("id")
    show.add_argument(
        "--yaml", action="store_true", help="only the approved automation, for automations.yaml"
    )
    show.add_argument("--json", action="store_true")
    approve = actions.add_parser("approve", help="proposed -> approved")
    approve.add_argument("id")
    approve.add_argument("--reason")
    reject = actions.add_parser("reject", help="proposed or approved -> rejected")
    reject.add_argument("id")
    reject.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    deploy = actions.add_parser("deploy", help="approved -> deployed to Home Assistant")
    deploy.add_argument("id")
    rollback = actions.add_parser("rollback", help="deployed -> rolled back in Home Assistant")
    rollback.add_argument("id")
    rollback.add_argument("--reason")


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    store = await Store.open(settings.effective_database_url)
    try:
        async with open_proposal_service(settings, store) as service:
            try:
                return await _dispatch(args, service)
            except ProposalNotFoundError as exc:
                return _fail(f"no proposal {exc.record_id!r}", 1)
            except (InvalidTransitionError, DeploymentUnavailableError) as exc:
                return _fail(str(exc), 1)
            except DeploymentFailedError as exc:
                return _fail(exc.message, 1)
            except ValueError as exc:
                return _fail(str(exc), 2)
    finally:
        await store.close()


async def _dispatch(args: argparse.Namespace, service: ProposalService) -> int:
    command: str = args.proposals_command
    if command == "list":
        where = ProposalFilter(
            status=ProposalStatus(args.status) if args.status else None, entity_id=args.entity
        )
        proposals, total = await service.list(where, limit=max(args.limit, 1))
        print(_listing(proposals, total, as_json=args.json))
        return 0
    if command == "show":
        if args.yaml:
            print(await service.export_yaml(args.id), end="")
            return 0
        proposal = await service.get(args.id)
        print(proposal.model_dump_json(indent=2) if args.json else _details(proposal))
        return 0
    if command == "approve":
        proposal = await service.approve(args.id, actor=ACTOR, reason=args.reason)
    elif command == "reject":
        proposal = await service.reject(args.id, actor=ACTOR, reason=args.reason)
    elif command == "deploy":
        proposal = await service.deploy(args.id, actor=ACTOR)
    else:
        proposal = await service.rollback(args.id, actor=ACTOR, reason=args.reason)
    print(f"proposal {proposal.id} is {proposal.status.value}: {proposal.title}")
    return 0


def _listing(proposals: list[StoredProposal], total: int, *, as_json: bool) -> str:
    if as_json:
        return "\n".join(
            json.dumps(p.model_dump(mode="json", exclude={"audit"})) for p in proposals
        )
    if not proposals:
        return "no proposals"
    rows = [
        f"{p.id}  {p.status.value:<11}  {p.kind.value:<10}  {p.title}  [{', '.join(p.entities)}]"
        for p in proposals
    ]
    more = f"\n({total - len(proposals)} more)" if total > len(proposals) else ""
    return "\n".join(rows) + more


def _details(p: StoredProposal) -> str:
    lines = [
        f"{p.id}: {p.title}",
        f"status      {p.status.value}",
        f"kind        {p.kind.value} (confidence {p.confidence:.2f})",
        f"entities    {', '.join(p.entities)}",
        f"why         {p.justification.summary}",
        f"saving      {p.saving.summary}",
    ]
    lines += [f"  assumes   {assumption}" for assumption in p.saving.assumptions]
    if p.rejection_reason:
        lines.append(f"rejected    {p.rejection_reason}")
    if p.deployed_to:
        lines.append(f"deployed to {p.deployed_to} as automation {p.automation_id}")
    lines += ["", "automation (Home Assistant YAML):", to_yaml(p.automation), "audit trail:"]
    lines += [
        f"  {entry.created_at:%Y-%m-%d %H:%M:%S} {entry.action:<15} "
        f"{entry.from_status.value if entry.from_status else '-':>11} -> "
        f"{entry.to_status.value:<11} by {entry.actor}"
        + (f": {entry.reason}" if entry.reason else "")
        for entry in p.audit
    ]
    return "\n".join(lines)


def _fail(message: str, status: int) -> int:
    print(f"aether proposals: {message}", file=sys.stderr)
    return status
