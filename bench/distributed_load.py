"""Load through the distributed mesh on PostgreSQL, then a consistency check of the database.

The launcher starts the mesh as local processes, two replicas of the gateway and of ds-analysts
(one architect, one DS orchestrator), every role on one fresh PostgreSQL database. Then
`--requests` chat requests, `--concurrency` in flight, half of them streamed, alternate between
the two gateway replicas, offline (no LLM): greetings the architect answers alone and analysis
questions that run the analysts in the sandbox, mixed. It prints throughput, p50/p99 latency
(to the end of the answer), the errors by kind, and then checks in the database that every
accepted request (one that got an `X-Run-Id`) has its user message, its run, and a final state.

    .venv/bin/python bench/distributed_load.py      # a fresh database on TEST_DATABASE_URL's server
    .venv/bin/python bench/distributed_load.py --database-url postgresql+asyncpg://u@host/db
    .venv/bin/python bench/distributed_load.py --requests 100 --concurrency 20   # quicker

The sandbox is `process` by default, so the figures are the mesh's and the database's, not
gVisor's (`--sandbox gvisor` for the production sandbox; see the sandbox benchmark for its cost).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import URL, bindparam, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from aether.config import without_settings
from aether.deploy.launcher import Deployment
from aether.deploy.loader import load_topology
from aether.deploy.logs import LogSink
from aether.deploy.plan import LaunchOptions, resolve
from harness import LoadResult

TOKEN = "bench-service-token"
GREETINGS = ("hello", "hi there", "good morning")
ANALYSES = (
    "How much energy did I use last week?",
    "What is my baseload?",
    "Are my sensors healthy?",
)
FINAL_STATES = ("completed", "failed", "cancelled")
CLIENT_TIMEOUT = 600.0


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it."""

    question: str
    streamed: bool
    seconds: float
    # `ok`, `HTTP 503`, `error frame: agent_unavailable`, `no [DONE]`, `ReadError`, ...
    kind: str
    run_id: str | None


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def result(self, label: str, seconds: float, streamed: bool | None) -> LoadResult:
        chosen = [o for o in self.outcomes if streamed is None or o.streamed == streamed]
        return LoadResult(
            label,
            len(chosen),
            sum(1 for o in chosen if o.kind != "ok"),
            seconds,
            [o.seconds for o in chosen if o.kind == "ok"] or [0.0],
        )


# --- the client side -------------------------------------------------------------------------


def question_for(index: int, mix: str = "mixed") -> tuple[str, bool]:
    """Every other request streams; in the mix, greetings and analyses alternate in pairs, so
    both kinds are streamed and not."""
    pools = {"greetings": GREETINGS, "analyses": ANALYSES}
    pool = pools.get(mix) or (GREETINGS if (index // 2) % 2 == 0 else ANALYSES)
    return pool[index % len(pool)], index % 2 == 1


async def one_request(
    http: httpx.AsyncClient, gateway: str, question: str, stream: bool
) -> Outcome:
    body = {
        "model": "aether",
        "stream": stream,
        "messages": [{"role": "user", "content": question}],
    }
    url = f"{gateway}/api/v1/chat/completions"
    started = time.perf_counter()
    run_id: str | None = None
    try:
        if not stream:
            response = await http.post(url, json=body)
            run_id = response.headers.get("x-run-id")
            kind = "ok" if response.status_code == 200 else f"HTTP {response.status_code}"
        else:
            async with http.stream("POST", url, json=body) as response:
                run_id = response.headers.get("x-run-id")
                if response.status_code != 200:
                    await response.aread()
                    kind = f"HTTP {response.status_code}"
                else:
                    kind = await read_stream(response)
    except httpx.HTTPError as exc:
        kind = type(exc).__name__
    return Outcome(question, stream, time.perf_counter() - started, kind, run_id)


async def read_stream(response: httpx.Response) -> str:
    """`ok` for a stream that ends with [DONE], else what ended it."""
    async for line in response.aiter_lines():
        if not line.startswith("data: "):
            continue
        data = line.removeprefix("data: ")
        if data == "[DONE]":
            return "ok"
        frame = json.loads(data)
        if "error" in frame:
            return f"error frame: {frame['error'].get('code')}"
    return "no [DONE]"


async def run_load(
    gateways: Sequence[str], requests: int, concurrency: int, mix: str = "mixed"
) -> tuple[Tally, float]:
    tally = Tally()
    queue = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=limits, trust_env=False) as http:

        async def worker() -> None:
            for index in queue:
                question, stream = question_for(index, mix)
                gateway = gateways[index % len(gateways)]
                tally.outcomes.append(await one_request(http, gateway, question, stream))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return tally, time.perf_counter() - started


# --- the database side -----------------------------------------------------------------------


@dataclass(frozen=True)
class Consistency:
    accepted: int
    missing_run: int
    missing_user_message: int
    not_final: int
    final_states: dict[str, int]

    @property
    def lost(self) -> int:
        return self.missing_run + self.missing_user_message


async def check_database(url: URL, tally: Tally) -> Consistency:
    accepted = [o for o in tally.outcomes if o.run_id is not None]
    questions = {o.run_id: o.question for o in accepted}
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            runs = {
                row.id: row.status
                for row in await connection.execute(
                    text("SELECT id, status FROM runs WHERE id IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": list(questions)},
                )
            }
            stored = {
                row.run_id: row.content
                for row in await connection.execute(
                    text(
                        "SELECT run_id, content FROM messages WHERE role = 'user' "
                        "AND run_id IN :ids"
                    ).bindparams(bindparam("ids", expanding=True)),
                    {"ids": list(questions)},
                )
            }
    finally:
        await engine.dispose()
    states = Counter(runs.values())
    return Consistency(
        accepted=len(accepted),
        missing_run=sum(1 for run_id in questions if run_id not in runs),
        missing_user_message=sum(
            1 for run_id, question in questions.items() if stored.get(run_id) != question
        ),
        not_final=sum(1 for status in runs.values() if status not in FINAL_STATES),
        final_states=dict(sorted(states.items())),
    )


@contextmanager
def bench_database(database_url: str | None) -> Iterator[URL]:
    """The given database, or a fresh one on TEST_DATABASE_URL's server (dropped afterwards)."""
    if database_url:
        yield make_url(database_url)
        return
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        sys.exit(
            "set TEST_DATABASE_URL (a PostgreSQL server to create a database on) or pass "
            "--database-url"
        )
    server = make_url(admin)
    name = f"aether_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name)
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: URL, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


# --- the mesh --------------------------------------------------------------------------------


@contextmanager
def mesh(root: Path, database: URL, args: argparse.Namespace) -> Iterator[Deployment]:
    topology = load_topology()
    options = LaunchOptions(
        replicas={"gateway": args.gateways, "ds-analysts": args.analysts},
        free_ports=True,
        data_dir=root / "mesh",
        service_token=TOKEN,
        environment=without_settings(os.environ),
        extra_env={
            "DATABASE_URL": database.render_as_string(hide_password=False),
            "SANDBOX": args.sandbox,
            "LOG_LEVEL": "WARNING",
        },
        cwd=root,
    )
    plan = resolve(topology, options)
    log = io.StringIO()
    try:
        with Deployment(plan, sink=LogSink([p.name for p in plan.processes], stream=log)) as mesh:
            yield mesh
    finally:
        (root / "mesh.log").write_text(log.getvalue(), encoding="utf-8")
        if args.keep_log:
            Path(args.keep_log).write_text(log.getvalue(), encoding="utf-8")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its waited-for children (sandboxed jobs), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def cpu_by_process(deployment: Deployment) -> dict[str, float]:
    return {name: cpu_seconds(process.pid) for name, process in deployment.processes.items()}


# --- main -------------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def report(tally: Tally, seconds: float, args: argparse.Namespace) -> None:
    print(
        f"{args.requests} chat requests ({args.questions}), {args.concurrency} in flight, "
        "half streamed, over "
        f"{args.gateways} gateway replicas ({args.analysts} ds-analysts replicas, sandbox "
        f"{args.sandbox}), PostgreSQL"
    )
    for label, streamed in (("all", None), ("  streamed", True), ("  not streamed", False)):
        print("  " + tally.result(label, seconds, streamed).line())
    for label, pool in (("  greetings", GREETINGS), ("  analyses", ANALYSES)):
        chosen = Tally([o for o in tally.outcomes if o.question in pool])
        if chosen.outcomes and len(chosen.outcomes) < len(tally.outcomes):
            print("  " + chosen.result(label, seconds, None).line())
    kinds = Counter(o.kind for o in tally.outcomes)
    server_errors = sum(n for kind, n in kinds.items() if kind.startswith("HTTP 5"))
    print(f"  outcomes: {dict(sorted(kinds.items()))}; 5xx: {server_errors}")


def check(consistency: Consistency) -> None:
    print(
        f"database: {consistency.accepted} accepted requests; runs by state "
        f"{consistency.final_states}"
    )
    print(
        f"  missing run: {consistency.missing_run}, missing user message: "
        f"{consistency.missing_user_message}, not in a final state: {consistency.not_final}"
    )
    print(f"  lost: {consistency.lost}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--gateways", type=int, default=2, help="gateway replicas")
    parser.add_argument("--analysts", type=int, default=2, help="ds-analysts replicas")
    parser.add_argument("--sandbox", choices=["process", "gvisor", "auto"], default="process")
    parser.add_argument(
        "--questions",
        choices=["mixed", "greetings", "analyses"],
        default="mixed",
        help="greetings alone show what the mesh and the database cost without analyses",
    )
    parser.add_argument("--database-url", help="default: a fresh database on TEST_DATABASE_URL")
    parser.add_argument("--keep-log", help="write the mesh's log to this file")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="aether-bench-") as root,
        bench_database(args.database_url) as database,
    ):
        print(f"load average at the start: {load_average()}")
        started = time.perf_counter()
        with mesh(Path(root), database, args) as deployment:
            print(f"mesh ready in {time.perf_counter() - started:.1f}s")
            gateways = deployment.replica_urls["gateway"]
            warmup, _ = asyncio.run(run_load(gateways, 4 * len(gateways), len(gateways)))
            cpu_before = cpu_by_process(deployment)
            tally, seconds = asyncio.run(
                run_load(gateways, args.requests, args.concurrency, args.questions)
            )
            cpu_after = cpu_by_process(deployment)
            print(f"load average after the load: {load_average()}")
            report(tally, seconds, args)
            spent = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
            print(
                f"  CPU seconds during the load ({sum(spent.values()):.0f} in {seconds:.0f} s "
                "wall): " + ", ".join(f"{name} {value:.0f}" for name, value in spent.items())
            )
            consistency = asyncio.run(
                check_database(database, Tally([*warmup.outcomes, *tally.outcomes]))
            )
        check(consistency)
    failed = consistency.lost or consistency.not_final
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
