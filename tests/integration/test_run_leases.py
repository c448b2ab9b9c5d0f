"""Run leases: a run whose gateway replica stopped ends `failed` with its partial answer, once,
whoever reaps it; a run whose replica is alive is left alone. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from aether.gateway.cancellation import RunRegistry
from aether.gateway.run_reaper import ENDING, REPLICA_STOPPED, RunLeases
from aether.store import (
    MessageRole,
    MessageStatus,
    RunStatus,
    Store,
    create_engine,
    upgrade_database,
)
from aether.store.models import run_table
from aether.store.run_leases import RunLeaseRepository
from aether.store.types import utcnow
from tests.gateway_harness import running_gateway
from tests.integration.conftest import DatabaseServer

LEASE = timedelta(seconds=30)


async def open_run(store: Store, question: str = "Why is my baseload high?") -> tuple[str, str]:
    """A new conversation with a running run; (conversation id, run id)."""
    conversation, run, _ = await store.turns.open_turn(
        None, title="Baseload", question=question, agent_requested="auto", model="aether"
    )
    return conversation.id, run.id


async def saved_text(store: Store, run_id: str) -> str | None:
    async with store.engine.connect() as connection:
        query = select(run_table.c.partial_text).where(run_table.c.id == run_id)
        return await connection.scalar(query)


async def assert_reaped(store: Store, conversation_id: str, run_id: str, answer: str) -> None:
    """Ended as its replica would have ended it with an error: run, reply and event log."""
    run = await store.runs.get(run_id)
    assert run is not None
    assert (run.status, run.error) == (RunStatus.FAILED, REPLICA_STOPPED.message)
    assert run.finished_at is not None
    messages = await store.conversations.messages(conversation_id)
    assert [(m.role, m.run_id) for m in messages] == [
        (MessageRole.USER, run_id),
        (MessageRole.ASSISTANT, run_id),
    ]
    reply = messages[-1]
    assert (reply.content, reply.status, reply.error) == (
        answer,
        MessageStatus.FAILED,
        REPLICA_STOPPED.message,
    )
    events = await store.runs.events(run_id)
    assert [(e.seq, e.type) for e in events] == [(1, "error")]
    assert events[0].payload["code"] == "replica_stopped"
    assert await saved_text(store, run_id) is None


async def test_an_expired_run_is_reaped_exactly_once_by_concurrent_reapers(
    store: Store, migrated_database_url: str
) -> None:
    long_ago = utcnow() - timedelta(minutes=10)
    expired: dict[str, tuple[str, str]] = {}
    for number in range(12):
        conversation_id, run_id = await open_run(store, f"question {number}")
        answer = f"half an answer {number}" if number % 3 else ""
        texts = {run_id: answer} if answer else {}
        await store.run_leases.heartbeat([run_id], texts, at=long_ago)
        expired[run_id] = (conversation_id, answer)
    live_conversation, live_run = await open_run(store, "still being answered")
    await store.run_leases.heartbeat([live_run], {live_run: "so far"})

    # Three replicas reap at once, in small batches so that their transactions interleave.
    replicas = [Store(create_engine(migrated_database_url)) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(replica.run_leases.reap_expired(LEASE, ENDING, batch=2) for replica in replicas)
        )
    finally:
        for replica in replicas:
            await replica.close()

    reaped = [run.run_id for result in results for run in result]
    assert sorted(reaped) == sorted(expired)  # every expired run, none twice
    for run_id, (conversation_id, answer) in expired.items():
        await assert_reaped(store, conversation_id, run_id, answer)
    live = await store.runs.get(live_run)
    assert live is not None
    assert live.status is RunStatus.RUNNING
    assert len(await store.conversations.messages(live_conversation)) == 1
    assert await saved_text(store, live_run) == "so far"
    assert await store.run_leases.reap_expired(LEASE, ENDING) == []


async def test_a_run_opened_before_its_first_heartbeat_is_leased_from_its_start(
    store: Store,
) -> None:
    _, run_id = await open_run(store)
    assert await store.run_leases.reap_expired(LEASE, ENDING) == []
    [reaped] = await store.run_leases.reap_expired(LEASE, ENDING, at=utcnow() + 2 * LEASE)
    assert reaped.run_id == run_id


async def test_a_reaped_run_keeps_its_outcome_when_its_replica_finishes_it_late(
    store: Store,
) -> None:
    conversation_id, run_id = await open_run(store)
    await store.run_leases.heartbeat([run_id], {run_id: "The base"}, at=utcnow() - 2 * LEASE)
    await store.run_leases.reap_expired(LEASE, ENDING)

    late = await store.turns.finish_turn(
        run_id, "completed", text="The baseload is 180 W.", message_status="complete"
    )
    assert late.message is None  # the first final status wins: no second reply
    await assert_reaped(store, conversation_id, run_id, "The base")


class Clock:
    """The time as one replica sees it; tests move it instead of waiting."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def test_a_live_run_is_renewed_and_reaped_only_once_its_replica_stops(
    store: Store, migrated_database_url: str
) -> None:
    conversation_id, run_id = await open_run(store)
    serving_clock, other_clock = Clock(), Clock()
    registry = RunRegistry()
    serving = RunLeases(store, registry, lease_seconds=30, heartbeat_seconds=5, clock=serving_clock)
    other_store = Store(create_engine(migrated_database_url))
    other = RunLeases(
        other_store, RunRegistry(), lease_seconds=30, heartbeat_seconds=5, clock=other_clock
    )
    try:
        text_parts: list[str] = []
        with registry.track(run_id, text_parts):
            text_parts += ["The baseload ", "is "]
            for _ in range(10):  # far longer than the lease, renewed all along
                serving_clock.now += timedelta(seconds=5)
                other_clock.now += timedelta(seconds=5)
                await serving.heartbeat()
                assert await other.reap() == []
            assert await saved_text(store, run_id) == "The baseload is "
            text_parts.append("180 W")  # written after the last heartbeat: lost with the replica

            # The serving replica dies: no more heartbeats, while the other keeps reaping.
            other_clock.now += timedelta(seconds=29)
            assert await other.reap() == []
            other_clock.now += timedelta(seconds=2)
            [reaped] = await other.reap()
        assert reaped.run_id == run_id
        await assert_reaped(store, conversation_id, run_id, "The baseload is ")
    finally:
        await other_store.close()


async def test_a_heartbeat_saves_changed_text_only_and_forgets_finished_runs(
    store: Store,
) -> None:
    _, first = await open_run(store)
    _, second = await open_run(store)
    registry = RunRegistry()
    leases = RunLeases(store, registry, lease_seconds=30, heartbeat_seconds=5)
    first_text: list[str] = []
    with registry.track(first, first_text), registry.track(second):
        first_text.append("Hello")
        await leases.heartbeat()
        assert (await saved_text(store, first), await saved_text(store, second)) == ("Hello", None)
        assert registry.get(first).saved_parts == 1  # type: ignore[union-attr]
        await store.turns.finish_turn(first, "completed", text="Hello", message_status="complete")
    await leases.heartbeat()  # both left this replica; the finished one's copy goes
    assert await saved_text(store, first) is None


def wait_for_status(http: httpx.Client, run_id: str, status: str) -> dict[str, object]:
    """Polls the runs API until the run has `status` (the reaper works in the background)."""
    deadline = time.monotonic() + 30
    while True:
        run: dict[str, object] = http.get(f"/api/v1/runs/{run_id}").json()
        if run.get("status") == status or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


async def test_a_gateway_ends_the_runs_of_a_replica_that_died_and_keeps_serving(
    database_server: DatabaseServer, tmp_path: Path
) -> None:
    url = await database_server.create_database()
    await upgrade_database(url)
    dead_replica = Store(create_engine(url))
    conversation_id, run_id = await open_run(dead_replica)
    # What a replica killed mid-run leaves behind: a running run, its last heartbeat and text.
    long_ago = utcnow() - timedelta(minutes=5)
    await dead_replica.run_leases.heartbeat([run_id], {run_id: "Your baseload"}, at=long_ago)
    await dead_replica.close()

    def use_the_surviving_replica() -> tuple[dict[str, object], dict[str, object], str | None]:
        with (
            running_gateway(
                tmp_path, database_url=url, run_lease_seconds=2, run_heartbeat_seconds=0.2
            ) as gateway,
            gateway.http() as http,
        ):
            run = wait_for_status(http, run_id, "failed")
            conversation = http.get(f"/api/v1/conversations/{conversation_id}").json()
            answer = gateway.openai().chat.completions.create(
                model="aether", messages=[{"role": "user", "content": "What is my baseload?"}]
            )
            return run, conversation, answer.choices[0].message.content

    run, conversation, answer = await asyncio.to_thread(use_the_surviving_replica)
    assert (run["status"], run["error"]) == ("failed", REPLICA_STOPPED.message)
    reply = conversation["messages"][-1]  # type: ignore[index]
    assert (reply["role"], reply["content"], reply["status"]) == (
        "assistant",
        "Your baseload",
        "failed",
    )
    assert answer  # the surviving replica answers new questions


class FlakyLeases(RunLeaseRepository):
    """The lease statements of a replica whose database connection fails once."""

    failures = 1

    async def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database went away")
        await super().heartbeat(*args, **kwargs)


async def test_after_a_database_failure_reaping_waits_one_lease(
    store: Store, migrated_database_url: str
) -> None:
    """Other replicas may have been cut off too, unable to renew: they get a lease to catch up."""
    clock = Clock()
    _, abandoned = await open_run(store, "its replica is gone")
    _, recovering = await open_run(store, "its replica is back")
    for run_id in (abandoned, recovering):
        await store.run_leases.heartbeat([run_id], at=clock.now - 2 * LEASE)
    reaper_store = Store(create_engine(migrated_database_url))
    reaper_store.run_leases = FlakyLeases(reaper_store.database)
    reaper = RunLeases(
        reaper_store, RunRegistry(), lease_seconds=30, heartbeat_seconds=5, clock=clock
    )
    try:
        await reaper.tick()  # the database fails this replica
        clock.now += timedelta(seconds=10)
        await reaper.tick()
        assert await running(store, abandoned, recovering) == [abandoned, recovering]

        # The other replica renews its run once the database is back; the dead one does not.
        await store.run_leases.heartbeat([recovering], at=clock.now)
        clock.now += timedelta(seconds=21)
        await reaper.tick()
        assert await running(store, abandoned, recovering) == [recovering]
    finally:
        await reaper_store.close()


async def running(store: Store, *run_ids: str) -> list[str]:
    runs = [await store.runs.get(run_id) for run_id in run_ids]
    return [run.id for run in runs if run is not None and run.status is RunStatus.RUNNING]
