"""The analysts' status events, so every sandbox job of a run reads the same: which isolation,
which policy and its limits, and (after the job) the artifacts it left."""

from __future__ import annotations

from aether.agents.contract import AgentName, Stage, StatusEvent
from aether.sandbox.policy import MIB, SandboxPolicy
from aether.store.artifacts import ArtifactRef


def status(agent: AgentName, stage: Stage, message: str, **data: object) -> StatusEvent:
    return StatusEvent(agent=agent, stage=stage, message=message, data=data)


def sandbox_job(
    agent: AgentName, runner: str, policy: SandboxPolicy, what: str, **data: object
) -> StatusEvent:
    """`Running <what> in the gvisor sandbox under the standard policy (60 s, 2048 MiB, ...)`,
    with the policy's name and limits in the data."""
    limits = (
        f"{policy.timeout_seconds:g} s, {policy.memory_mb} MiB, {policy.cpus:g} CPU, "
        f"{policy.processes} tasks, {policy.file_bytes // MIB} MiB per file"
    )
    return status(
        agent,
        Stage.SANDBOX_JOB,
        f"Running {what} in the {runner} sandbox under the {policy.depth} policy ({limits})",
        runner=runner,
        policy=policy.depth,
        limits=policy.limits(),
        **data,
    )


def artifact_links(refs: list[ArtifactRef]) -> list[dict[str, object]]:
    """The job's stored tables and charts, each with its download path."""
    return [
        {"id": r.id, "name": r.name, "media_type": r.media_type, "size": r.size, "url": r.url}
        for r in refs
    ]
