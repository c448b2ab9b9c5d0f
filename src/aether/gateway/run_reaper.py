"""Runs that outlive their gateway replica.

A replica killed outright (SIGKILL, a lost host) cannot end the runs it was serving. So each
replica renews a lease on its runs in flight, every `RUN_HEARTBEAT_SECONDS` in one write that
also saves the answers written since the last one; and every replica, at start and then as
often, ends the runs whose lease is older than `RUN_LEASE_SECONDS`: `failed`, with the partial
answer saved last stored as the reply and an error event closing the run's log, as if the
replica had ended it with an error (`aether.store.run_leases` makes that safe when several reap
at once).

What a reaped run loses is at most one heartbeat interval of text.

When the database fails this replica, it may have failed the others too, who then could not
renew their leases: this replica reaps again only once they had a full lease to catch up, so an
outage of the database alone never ends runs whose replicas are alive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Final

from aether.agents.contract import AgentName, ErrorEvent
from aether.config import Settings
from aether.gateway.cancellation import RunControl, RunRegistry
from aether.observability import metrics
from aether.store import DatabaseUnavailableError, RunStatus, Store
from aether.store.run_leases import ReapedRun, RunEnding
from aether.store.types import utcnow

log = logging.getLogger(__name__)

REPLICA_STOPPED: Final = ErrorEvent(
    agent=AgentName.ARCHITECT,  # as the gateway's own events: on behalf of the architect's front
    code="replica_stopped",
    message="The gateway replica serving this run stopped.",
)
"""How a reaped run ends, for its event log and its stored reply."""
ENDING: Final = RunEnding(
    reason=REPLICA_STOPPED.message,
    event_type=REPLICA_STOPPED.type,
    event_payload=REPLICA_STOPPED.model_dump(mode="json", exclude={"type"}),
)


class RunLeases:
    """Keeps this replica's runs leased and reaps the runs of replicas that stopped."""

    def __init__(
        self,
        store: Store,
        registry: RunRegistry,
        *,
        lease_seconds: float,
        heartbeat_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._registry = registry
        self._lease = timedelta(seconds=lease_seconds)
        self._interval = heartbeat_seconds
        self._clock = clock
        self._leased: set[str] = set()
        self._in_doubt_until: datetime | None = None
        """Until when expired leases may be the database's fault rather than a replica's."""
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, store: Store, registry: RunRegistry, settings: Settings) -> RunLeases:
        return cls(
            store,
            registry,
            lease_seconds=settings.run_lease_seconds,
            heartbeat_seconds=settings.run_heartbeat_seconds,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep(), name="aether-run-leases")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def heartbeat(self) -> None:
        """Renew the leases of the runs in flight here, saving the text they wrote since; and
        drop the saved text of the runs that ended since the last heartbeat."""
        controls = self._registry.controls()
        live = [control.run_id for control in controls]
        finished = sorted(self._leased - set(live))
        texts: dict[str, str] = {}
        saving: list[tuple[RunControl, int]] = []
        for control in controls:
            parts = len(control.text_parts)
            if parts > control.saved_parts:
                texts[control.run_id] = "".join(control.text_parts[:parts])
                saving.append((control, parts))
        await self._store.run_leases.heartbeat(live, texts, finished, at=self._clock())
        self._leased = set(live)
        for control, parts in saving:
            control.saved_parts = parts

    async def reap(self) -> list[ReapedRun]:
        """End the runs whose lease expired (whichever replica served them)."""
        reaped = await self._store.run_leases.reap_expired(self._lease, ENDING, at=self._clock())
        for run in reaped:
            log.warning(
                "run %s ended failed: its gateway replica stopped renewing its lease "
                "(%d characters of its answer kept)",
                run.run_id,
                len(run.partial_text),
            )
        if reaped:
            metrics.RUNS.labels(metrics.service.name, RunStatus.FAILED.value).inc(len(reaped))
        return reaped

    async def tick(self) -> None:
        """One round: renew, then reap unless the database failed within the last lease. First
        renewing means a late heartbeat never lets this replica reap its own runs; at start
        nothing runs here yet, and the runs of a replica that died end at once."""
        try:
            await self.heartbeat()
            if self._in_doubt_until is None or self._clock() >= self._in_doubt_until:
                await self.reap()
        except DatabaseUnavailableError as exc:
            log.warning("run leases: %s; reaping waits for one lease", exc)
            self._in_doubt_until = self._clock() + self._lease
        except Exception:  # any other failure must not end the leases either
            log.exception("run leases: the database failed; reaping waits for one lease")
            self._in_doubt_until = self._clock() + self._lease

    async def _keep(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self._interval)
