"""Processes that die and a database that goes away, under a mesh with two replicas of the gateway
and of ds-analysts (one architect, one DS orchestrator), every role on one PostgreSQL database.

The invariants, checked in the database after every scenario (`tests.e2e.invariants`): no
accepted question is lost, every run ends in a final state (a dead gateway replica's runs are
reaped by the other once their lease expires: a short lease here), and the replicas left keep
serving. Analyses run in the process sandbox (speed); nothing is timed, every wait has a generous
deadline, so a loaded machine makes the tests slower, never wrong.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import URL

from aether.deploy.launcher import Deployment
from tests.deploy_harness import CapturedLog, wait_for
from tests.e2e.chat_streams import StreamedChat, answer_of, chat
from tests.e2e.distributed import ENERGY_QUESTION, launched_mesh
from tests.e2e.invariants import assert_invariants, replies, run_row
from tests.e2e.postgres import Inspector, fresh_database, postgres_admin_url, render, via
from tests.fakes.tcp_proxy import TcpProxy, running_tcp_proxy

pytestmark = pytest.mark.postgres

REPLICAS = {"gateway": 2, "ds-analysts": 2}
LEASE_SECONDS = 10
"""Short, so a killed gateway's runs are reaped within the test; a heartbeat every second keeps
the live runs well inside it even on a busy machine."""
MESH_ENV = {
    "SANDBOX": "process",
    "LOG_FORMAT": "text",  # each line names its run: which replica works on which run
    "RUN_LEASE_SECONDS": str(LEASE_SECONDS),
    "RUN_HEARTBEAT_SECONDS": "1",
}
GREETING = "hello"
BASELOAD_QUESTION = "What is my baseload?"
IN_SANDBOX = "analysis in the"
"""In the progress line of an analyst whose job is running ("Running the energy analysis in the
subprocess sandbox ...")."""
ANALYSIS_DONE = "analysis done"
REPLICA_STOPPED = "The gateway replica serving this run stopped."
"""The reason a run gets when another replica reaps it."""
ANSWER_DEADLINE = 240.0
RECOVERY_DEADLINE = 120.0

Accepted = list[tuple[str, str]]
"""(run id, question) of every request a gateway accepted."""


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database() -> Iterator[URL]:
    """One fresh database for the module; every mesh below shares it, as replicas do."""
    with fresh_database(postgres_admin_url()) as url:
        yield url


@pytest.fixture(scope="module")
def db(database: URL) -> Inspector:
    return Inspector(database)


@pytest.fixture(scope="module")
def proxy(database: URL) -> Iterator[TcpProxy]:
    """A cuttable TCP proxy in front of the PostgreSQL server."""
    with running_tcp_proxy(database.host or "127.0.0.1", database.port or 5432) as running:
        yield running


@pytest.fixture(scope="module")
def shared_mesh(
    database: URL, proxy: TcpProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Deployment, CapturedLog]]:
    """The mesh for the scenarios that kill nothing; it reaches the database through the proxy."""
    through_proxy = render(via(database, "127.0.0.1", proxy.port))
    with launched_mesh(
        tmp_path_factory.mktemp("shared-mesh"),
        replicas=REPLICAS,
        extra_env={**MESH_ENV, "DATABASE_URL": through_proxy},
    ) as launched:
        yield launched


@contextmanager
def own_mesh(work: Path, database: URL) -> Iterator[tuple[Deployment, CapturedLog]]:
    """A mesh of its own, for a scenario that kills one of its processes."""
    with launched_mesh(
        work, replicas=REPLICAS, extra_env={**MESH_ENV, "DATABASE_URL": render(database)}
    ) as launched:
        yield launched


# --- helpers ---------------------------------------------------------------------------------


def gateways(mesh: Deployment) -> tuple[str, str]:
    first, second = mesh.replica_urls["gateway"]
    return first, second


def accepted_of(*chats: StreamedChat) -> Accepted:
    return [(c.run_id, c.question) for c in chats if c.run_id is not None]


def accepted_response(response: httpx.Response, question: str) -> Accepted:
    run_id = response.headers.get("x-run-id")
    return [(run_id, question)] if run_id else []


def works_on(log: CapturedLog, process: str, run_id: str) -> bool:
    """`process` (e.g. `ds-analysts#1`) has logged lines of this run (each carries `run=<id>`),
    none of them yet saying that its task ended: it is working on it."""
    lines = [
        line
        for line in log.lines()
        if line.split(" | ", 1)[0].strip() == process and f"run={run_id}" in line
    ]
    return bool(lines) and not any(") ended" in line for line in lines)


def analysing(chat_: StreamedChat) -> bool:
    """Its analyst's job is running: started, not yet done."""
    return chat_.progressed(IN_SANDBOX) and not chat_.progressed(ANALYSIS_DONE)


def completed(response: httpx.Response) -> bool:
    return response.status_code == 200 and bool(answer_of(response))


def assert_served_completely(gateway: str, accepted: Accepted) -> None:
    """A greeting and an analysis, streamed and not: all answered in full."""
    for question in (GREETING, BASELOAD_QUESTION):
        response = chat(gateway, question)
        assert completed(response), (gateway, response.status_code, response.text)
        accepted += accepted_response(response, question)
        streamed = StreamedChat(gateway, question).start().wait_ended(ANSWER_DEADLINE)
        accepted += accepted_of(streamed)
        assert streamed.done, (gateway, streamed)
        assert streamed.text, (gateway, streamed)


# --- scenarios that kill nothing ---------------------------------------------------------------


def test_a_conversation_started_on_one_gateway_replica_continues_on_the_other(
    shared_mesh: tuple[Deployment, CapturedLog], db: Inspector
) -> None:
    mesh, _ = shared_mesh
    first, second = gateways(mesh)
    accepted: Accepted = []

    opened = chat(first, GREETING)
    assert completed(opened), opened.text
    conversation = opened.headers["x-conversation-id"]
    accepted += accepted_response(opened, GREETING)
    continued = chat(second, ENERGY_QUESTION, conversation_id=conversation)
    assert completed(continued), continued.text
    assert continued.headers["x-conversation-id"] == conversation
    accepted += accepted_response(continued, ENERGY_QUESTION)
    streamed = StreamedChat(first, BASELOAD_QUESTION, conversation_id=conversation).start()
    streamed.wait_ended(ANSWER_DEADLINE)
    assert streamed.done, streamed
    assert streamed.text, streamed
    accepted += accepted_of(streamed)

    questions = [GREETING, ENERGY_QUESTION, BASELOAD_QUESTION]
    answers = [answer_of(opened), answer_of(continued), streamed.text]
    for gateway in (first, second):
        stored = httpx.get(
            f"{gateway}/api/v1/conversations/{conversation}", timeout=30, trust_env=False
        )
        assert stored.status_code == 200, stored.text
        messages = [(m["role"], m["content"]) for m in stored.json()["messages"]]
        assert messages == [
            turn
            for question, answer in zip(questions, answers, strict=True)
            for turn in (("user", question), ("assistant", answer))
        ]
    assert_invariants(db, accepted)


def test_the_database_cut_gives_503s_and_service_resumes_once_it_is_back_without_a_restart(
    shared_mesh: tuple[Deployment, CapturedLog], proxy: TcpProxy, db: Inspector
) -> None:
    mesh, _ = shared_mesh
    first, second = gateways(mesh)
    accepted: Accepted = []
    assert completed(chat(first, GREETING))  # the pool holds live connections before the cut

    in_flight = StreamedChat(first, ENERGY_QUESTION).start()
    wait_for(
        lambda: in_flight.progressed(IN_SANDBOX) or in_flight.ended,
        ANSWER_DEADLINE,
        "an analysis under way",
    )
    proxy.cut()
    try:
        for gateway in (first, second):
            refused = chat(gateway, GREETING, timeout=120)
            assert refused.status_code == 503, refused.text
            assert "Retry-After" in refused.headers
            error = refused.json()["error"]
            assert error["code"] == "database_unavailable", error
            assert "database" in error["message"].lower()
            assert "x-run-id" not in refused.headers  # nothing was accepted, nothing to lose
            streamed = StreamedChat(gateway, GREETING).start().wait_ended(ANSWER_DEADLINE)
            assert streamed.status == 503, streamed
            assert "database" in streamed.body.lower()
            ready = httpx.get(f"{gateway}/ready", timeout=60, trust_env=False)
            assert ready.status_code == 503, ready.text
        in_flight.wait_ended(ANSWER_DEADLINE)
    finally:
        proxy.restore()
    accepted += accepted_of(in_flight)

    # Nobody is restarted: the pools reconnect on their own.
    for gateway in (first, second):

        def answers_again(gateway: str = gateway) -> bool:
            response = chat(gateway, GREETING)
            accepted.extend(accepted_response(response, GREETING))
            return completed(response)

        wait_for(answers_again, RECOVERY_DEADLINE, f"{gateway} to answer once the database is back")
    for process in mesh.processes.values():
        assert process.returncode is None, process.name
    for gateway in (first, second):
        assert_served_completely(gateway, accepted)
    assert_invariants(db, accepted)
    # The answer under way when the database went away ended, in full or with an error frame,
    # and its run too, with the reason if it failed.
    assert in_flight.broken is None, in_flight
    assert in_flight.done or in_flight.error is not None, in_flight
    assert in_flight.run_id is not None
    run = run_row(db, in_flight.run_id)
    assert run is not None
    if in_flight.error is not None:
        assert run["status"] == "failed", run
        assert run["error"], run
    else:
        assert run["status"] == "completed", run


# --- scenarios that kill a replica ------------------------------------------------------------


def test_killing_a_ds_analysts_replica_fails_only_the_answers_it_was_computing(
    tmp_path: Path, database: URL, db: Inspector
) -> None:
    with own_mesh(tmp_path, database) as (mesh, log):
        first, second = gateways(mesh)
        doomed, survivor = mesh.replicas("ds-analysts")
        chats = [
            StreamedChat((first, second)[index % 2], ENERGY_QUESTION).start() for index in range(6)
        ]

        def on_the_doomed_replica() -> StreamedChat | None:
            return next(
                (
                    c
                    for c in chats
                    if c.run_id and analysing(c) and works_on(log, doomed.name, c.run_id)
                ),
                None,
            )

        wait_for(
            lambda: on_the_doomed_replica() is not None or all(c.ended for c in chats),
            ANSWER_DEADLINE,
            f"an analysis running on {doomed.name}",
        )
        victim = on_the_doomed_replica()
        assert victim is not None, "every answer ended before one ran on the first replica"
        os.kill(doomed.pid, signal.SIGKILL)
        for c in chats:
            c.wait_ended(ANSWER_DEADLINE)

        affected = [c for c in chats if c.error is not None]
        assert victim in affected
        for c in chats:
            assert c.broken is None, c  # the gateways stayed up
            assert c.status == 200, c
            assert (c.error is None) == c.done, c  # each ended one way or the other
        for c in affected:
            assert c.run_id is not None
            assert c.error is not None
            assert c.error["code"] == "agent_unavailable", c.error
            assert "energy-analyst" in c.error["message"]
            run = run_row(db, c.run_id)
            assert run is not None
            assert (run["status"], run["error"]) == ("failed", c.error["message"])
            (reply,) = replies(db, c.run_id)
            assert (reply["status"], reply["content"]) == ("failed", c.text)  # the partial answer
        for c in chats:
            if c not in affected:
                assert c.text, c
                assert c.run_id is not None
                assert (run_row(db, c.run_id) or {}).get("status") == "completed", c

        died = mesh.wait(timeout=60)
        assert died is not None, log.text
        assert died.role == doomed.name, log.text
        assert survivor.returncode is None
        accepted = accepted_of(*chats)
        # New questions go to the replica left (the dead one refuses connections: passed over).
        for gateway in (first, second):
            assert_served_completely(gateway, accepted)
        assert_invariants(db, accepted)

        # With no replica left, an analysis is refused as unavailable (worth retrying later),
        # and what needs no analyst is still answered.
        os.kill(survivor.pid, signal.SIGKILL)
        assert mesh.wait(timeout=60, seen=1) is not None
        refused = chat(first, ENERGY_QUESTION)
        accepted += accepted_response(refused, ENERGY_QUESTION)
        assert refused.status_code == 503, refused.text
        assert "Retry-After" in refused.headers
        assert refused.json()["error"]["code"] == "agent_unavailable", refused.text
        assert "energy-analyst is unreachable" in refused.json()["error"]["message"]
        streamed = StreamedChat(second, ENERGY_QUESTION).start().wait_ended(ANSWER_DEADLINE)
        accepted += accepted_of(streamed)
        if streamed.status == 503:  # refused before the stream started
            assert "agent_unavailable" in streamed.body, streamed
        else:  # the stream had started (routing, hand-offs): it ends with the error frame
            assert streamed.error is not None, streamed
            assert streamed.error["code"] == "agent_unavailable", streamed
        greeting = chat(second, GREETING)
        assert completed(greeting), greeting.text
        accepted += accepted_response(greeting, GREETING)
        assert_invariants(db, accepted)


def assert_reaped(db: Inspector, cut_short: StreamedChat) -> dict[str, object]:
    """The run of an answer whose gateway died: ended `failed` by the other replica, with the
    reason and the partial answer saved at the last heartbeat as its reply."""
    assert cut_short.run_id is not None
    run = run_row(db, cut_short.run_id)
    assert run is not None
    assert run["status"] == "failed", run
    assert run["error"] == REPLICA_STOPPED, run
    (reply,) = replies(db, cut_short.run_id)
    assert reply["status"] == "failed", reply
    stored, sent = reply["content"], cut_short.text  # up to one heartbeat apart, either way
    assert sent.startswith(stored) or stored.startswith(sent), (stored, sent)
    return run


def test_killing_a_gateway_replica_mid_answer_reaps_its_runs_and_a_retry_gets_the_stored_result(
    tmp_path: Path, database: URL, db: Inspector
) -> None:
    with own_mesh(tmp_path, database) as (mesh, log):
        first, second = gateways(mesh)
        doomed, survivor = mesh.replicas("gateway")
        accepted: Accepted = []

        # A request answered in full before the kill: a retry anywhere replays it.
        finished_key = f"finished-{uuid.uuid4().hex}"
        answered = chat(first, GREETING, idempotency_key=finished_key)
        assert completed(answered), answered.text
        accepted += accepted_response(answered, GREETING)

        key = f"killed-{uuid.uuid4().hex}"
        cut_short = StreamedChat(first, ENERGY_QUESTION, idempotency_key=key).start()
        also_on_doomed = [StreamedChat(first, q).start() for q in (BASELOAD_QUESTION, GREETING)]
        on_survivor = [StreamedChat(second, q).start() for q in (ENERGY_QUESTION, GREETING)]
        wait_for(
            lambda: analysing(cut_short) or cut_short.ended,
            ANSWER_DEADLINE,
            "the analysis to start",
        )
        assert not cut_short.ended, cut_short
        os.kill(doomed.pid, signal.SIGKILL)
        everyone = [cut_short, *also_on_doomed, *on_survivor]
        for c in everyone:
            c.wait_ended(ANSWER_DEADLINE)
        accepted += accepted_of(*everyone)
        assert cut_short.broken is not None, cut_short
        assert not cut_short.done, cut_short
        for c in also_on_doomed:  # finished before the kill, or cut short like the first
            assert c.done or c.broken is not None, c
        for c in on_survivor:  # the other replica's answers never noticed
            assert c.done, c
            assert c.text, c
            assert c.run_id is not None
            assert (run_row(db, c.run_id) or {}).get("status") == "completed", c
        died = mesh.wait(timeout=60)
        assert died is not None, log.text
        assert died.role == doomed.name, log.text

        # The other replica kept serving meanwhile.
        assert_served_completely(second, accepted)

        runs_before = db.scalar("SELECT count(*) FROM runs")
        # The retry on the other replica waits until the dead replica's run is reaped (its
        # lease expires), then answers from what was stored: no second run.
        retried = chat(second, ENERGY_QUESTION, idempotency_key=key)
        assert retried.headers.get("x-run-id") == cut_short.run_id, retried.headers
        assert retried.headers.get("idempotent-replayed") == "true", retried.headers
        run = assert_reaped(db, cut_short)
        assert retried.status_code == 502, retried.text
        assert retried.json()["error"]["message"] == run["error"], retried.text
        for c in also_on_doomed:
            if not c.done:
                assert_reaped(db, c)

        replayed = chat(second, GREETING, idempotency_key=finished_key)
        assert replayed.status_code == 200, replayed.text
        assert replayed.headers["x-run-id"] == answered.headers["x-run-id"]
        assert answer_of(replayed) == answer_of(answered)
        assert db.scalar("SELECT count(*) FROM runs") == runs_before
        assert survivor.returncode is None
        assert_invariants(db, accepted)
