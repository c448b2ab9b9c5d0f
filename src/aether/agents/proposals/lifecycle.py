"""The lifecycle of a stored proposal, the one place that changes proposals and Home Assistant.

    proposed -> approved -> deployed -> rolled_back
    proposed | approved -> rejected

Every transition is recorded with who, when and why (`aether.store.proposals`); any other move
is an InvalidTransitionError (409 on the API). Nothing reaches Home Assistant before approval:
only `deploy` (approved proposals) and `rollback` (deployed ones) talk to it. A deployment
re-checks the automation against the entities Home Assistant has now, keeps what the
automation's id held before, and a rollback puts exactly that back. Without Home Assistant
configured, an approved proposal is exported as YAML instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from aether.agents.proposals.automation import export_yaml
from aether.agents.proposals.model import ProposalDraft, ProposalStatus
from aether.agents.proposals.validation import automation_problems
from aether.config import Settings
from aether.data.homeassistant.automations import AutomationError, HomeAssistantAutomations
from aether.store import Store
from aether.store.proposals import (
    InvalidTransitionError,
    ProposalFilter,
    ProposalNotFoundError,
    ProposalRepository,
    StoredProposal,
    Transition,
)

log = logging.getLogger(__name__)

APPROVABLE: Final = frozenset({ProposalStatus.PROPOSED})
REJECTABLE: Final = frozenset({ProposalStatus.PROPOSED, ProposalStatus.APPROVED})
DEPLOYABLE: Final = frozenset({ProposalStatus.APPROVED})
ROLLBACKABLE: Final = frozenset({ProposalStatus.DEPLOYED})
EXPORTABLE: Final = frozenset(
    {ProposalStatus.APPROVED, ProposalStatus.DEPLOYED, ProposalStatus.ROLLED_BACK}
)
DEPLOY_FAILED: Final = "deploy_failed"
ROLLBACK_FAILED: Final = "rollback_failed"


class DeploymentUnavailableError(Exception):
    """No Home Assistant is configured (HA_URL and HA_TOKEN); export the YAML instead."""


class DeploymentFailedError(Exception):
    """Home Assistant refused or could not be reached; the proposal's status did not change."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ProposalService:
    """Proposals for the API, the CLI and the chat; `automations` is None without HA."""

    def __init__(
        self, repository: ProposalRepository, automations: HomeAssistantAutomations | None
    ) -> None:
        self.repository = repository
        self._automations = automations
        self._home_assistant = asyncio.Lock()
        """Deployments and rollbacks one at a time: each reads, writes and reloads HA."""

    @property
    def can_deploy(self) -> bool:
        return self._automations is not None

    async def record(
        self,
        draft: ProposalDraft,
        *,
        actor: str,
        conversation_id: str | None = None,
        run_id: str | None = None,
    ) -> StoredProposal:
        return await self.repository.add(
            draft, actor=actor, conversation_id=conversation_id, run_id=run_id
        )

    async def get(self, proposal_id: str) -> StoredProposal:
        proposal = await self.repository.get(proposal_id)
        if proposal is None:
            raise ProposalNotFoundError(proposal_id)
        return proposal

    async def list(
        self, where: ProposalFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[StoredProposal], int]:
        return await self.repository.list(where, limit=limit, offset=offset)

    async def approve(
        self, proposal_id: str, *, actor: str, reason: str | None = None
    ) -> StoredProposal:
        change = Transition("approve", APPROVABLE, ProposalStatus.APPROVED, actor, reason)
        return await self.repository.transition(proposal_id, change)

    async def reject(self, proposal_id: str, *, actor: str, reason: str) -> StoredProposal:
        if not reason.strip():
            raise ValueError("a rejection needs a reason")
        change = Transition(
            "reject",
            REJECTABLE,
            ProposalStatus.REJECTED,
            actor,
            reason.strip(),
            values={"rejection_reason": reason.strip()},
        )
        return await self.repository.transition(proposal_id, change)

    async def deploy(self, proposal_id: str, *, actor: str) -> StoredProposal:
        """Create (or replace) the automation in Home Assistant and reload it."""
        async with self._home_assistant:
            proposal = await self._expect(proposal_id, "deploy", DEPLOYABLE)
            automations = self._require_home_assistant()
            try:
                problems = automation_problems(proposal.automation, await automations.entity_ids())
                if problems:
                    raise AutomationError("invalid_automation", "; ".join(problems))
                deployment = await automations.deploy(proposal.automation)
            except AutomationError as exc:
                await self._failed(proposal, DEPLOY_FAILED, actor, exc)
                raise DeploymentFailedError(exc.code, exc.message) from exc
            change = Transition(
                "deploy",
                DEPLOYABLE,
                ProposalStatus.DEPLOYED,
                actor,
                None,
                values={"previous_config": deployment.previous, "deployed_to": deployment.url},
                detail={
                    "automation_id": deployment.config_id,
                    "home_assistant": deployment.url,
                    "replaced_existing": deployment.previous is not None,
                },
            )
            try:
                return await self.repository.transition(proposal_id, change)
            except InvalidTransitionError:
                # Decided elsewhere meanwhile: leave Home Assistant as it was.
                await automations.restore(deployment.config_id, deployment.previous)
                raise

    async def rollback(
        self, proposal_id: str, *, actor: str, reason: str | None = None
    ) -> StoredProposal:
        """Put back what the automation's id held before the deployment, and reload."""
        async with self._home_assistant:
            proposal = await self._expect(proposal_id, "rollback", ROLLBACKABLE)
            automations = self._require_home_assistant()
            if proposal.deployed_to and proposal.deployed_to != automations.base_url:
                raise DeploymentFailedError(
                    "other_home_assistant",
                    f"Proposal {proposal_id} was deployed to {proposal.deployed_to}, not to "
                    f"{automations.base_url} (HA_URL): roll it back there.",
                )
            try:
                await automations.restore(proposal.automation_id, proposal.previous_config)
            except AutomationError as exc:
                await self._failed(proposal, ROLLBACK_FAILED, actor, exc)
                raise DeploymentFailedError(exc.code, exc.message) from exc
            restored = proposal.previous_config is not None
            change = Transition(
                "rollback",
                ROLLBACKABLE,
                ProposalStatus.ROLLED_BACK,
                actor,
                reason,
                detail={
                    "automation_id": proposal.automation_id,
                    "restored": "the previous automation" if restored else "nothing (deleted)",
                },
            )
            return await self.repository.transition(proposal_id, change)

    async def export_yaml(self, proposal_id: str) -> str:
        """The approved automation as YAML for `automations.yaml` (no Home Assistant needed)."""
        proposal = await self._expect(proposal_id, "export", EXPORTABLE)
        return export_yaml([proposal.automation])

    async def _expect(
        self, proposal_id: str, action: str, allowed: frozenset[ProposalStatus]
    ) -> StoredProposal:
        proposal = await self.get(proposal_id)
        if proposal.status not in allowed:
            raise InvalidTransitionError(
                proposal_id, action, proposal.status, [s.value for s in allowed]
            )
        return proposal

    def _require_home_assistant(self) -> HomeAssistantAutomations:
        if self._automations is None:
            raise DeploymentUnavailableError(
                "Home Assistant is not configured (HA_URL, HA_TOKEN): export the approved "
                "automation as YAML and add it to automations.yaml yourself."
            )
        return self._automations

    async def _failed(
        self, proposal: StoredProposal, action: str, actor: str, exc: AutomationError
    ) -> None:
        log.warning("%s of proposal %s failed: %s", action, proposal.id, exc.message)
        await self.repository.note(
            proposal.id, action, actor=actor, reason=exc.message, detail={"code": exc.code}
        )


@asynccontextmanager
async def open_proposal_service(settings: Settings, store: Store) -> AsyncIterator[ProposalService]:
    """The service on `store`, deploying to the Home Assistant of HA_URL and HA_TOKEN if set."""
    automations: HomeAssistantAutomations | None = None
    if settings.ha_url is not None and settings.ha_token is not None:
        automations = HomeAssistantAutomations(
            str(settings.ha_url), settings.ha_token.get_secret_value(), settings.ha_timeout_seconds
        )
    try:
        yield ProposalService(ProposalRepository(store.database), automations)
    finally:
        if automations is not None:
            await automations.aclose()
