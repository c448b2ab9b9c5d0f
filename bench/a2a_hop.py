"""One A2A hop, measured several ways in the same run; and time to first token, distributed vs
monolith.

The hop is a trivial message, "hello", which the architect answers without analysis (one WORKING
status, the greeting's 8 lines in one artifact update, COMPLETED), sent with the official a2a-sdk
client (JSON-RPC, streaming) and read to the end of the task:

  (a) our agent service: `aether serve --service architect` in its own process, with its SQLite
      task store and the Bearer SERVICE_TOKEN; also through Aether's own A2AAgentClient (what
      the mesh uses: the same call, decoded back into AgentEvents);
  (b) the in-process client: InProcessAgentClient on the same agent, in this process;
  (c) a bare a2a-sdk echo agent (bench/echo_agent.py) in its own process, with the in-memory
      task store of the SDK's samples, with the SDK's database task store on SQLite, and, on
      SQLite, publishing the same events as the architect (`--shape aether`).

Every target is measured serially (latency) and with several calls in flight (throughput), in
rounds that alternate the targets so that drift on a shared machine hits them alike. Then the
time to the first content chunk of a streamed chat completion through the gateway, distributed
(the launcher's four processes) vs monolith (`aether serve`), same questions, alternating.

    .venv/bin/python bench/a2a_hop.py                      # ~3 minutes
    .venv/bin/python bench/a2a_hop.py --requests 100 --rounds 2 --ttft-samples 3   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.helpers.proto_helpers import new_text_message
from a2a.types.a2a_pb2 import Role as MessageRole
from a2a.types.a2a_pb2 import SendMessageRequest, StreamResponse, TaskState

from aether.agents.contract import AgentClient, AgentName, AgentRequest, FinalEvent, ServiceName
from aether.agents.planning import utc_now
from aether.config import Role, load_settings, without_settings
from aether.deploy.launcher import Deployment
from aether.deploy.loader import load_topology
from aether.deploy.logs import LogSink
from aether.deploy.plan import LaunchOptions, resolve
from aether.mesh.a2a_client import A2AAgentClient
from aether.mesh.inprocess import InProcessAgentClient
from aether.mesh.runtime import open_runtime
from harness import LoadResult, data_dir, free_port, median, python, server_process

TOKEN = "bench-service-token"
HELLO = "hello"
ENERGY = "How much energy did I use last week?"
ECHO_AGENT = Path(__file__).parent / "echo_agent.py"
SAME_EVENTS = "SDK echo, SQLite, our events"
ECHO_VARIANTS = {
    "SDK echo, in-memory store": ("memory", "echo"),
    "SDK echo, SQLite store": ("sqlite", "echo"),
    SAME_EVENTS: ("sqlite", "aether"),
}
OURS = "aether architect service"
OURS_CLIENT = "  same, via A2AAgentClient"
IN_PROCESS = "in-process client"
BASELINES = ("SDK echo, in-memory store", "SDK echo, SQLite store")

Call = Callable[[], Awaitable[None]]


class HopFailed(RuntimeError):
    """A call that did not end with a completed task (counted as an error, never timed)."""


# --- the callers ------------------------------------------------------------------------------


@asynccontextmanager
async def sdk_caller(base_url: str, token: str | None) -> AsyncIterator[Call]:
    """One hop with the a2a-sdk client, as any A2A caller would make it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        card = await A2ACardResolver(http, base_url).get_agent_card()
        client = ClientFactory(ClientConfig(streaming=True, httpx_client=http)).create(card)

        async def call() -> None:
            message = new_text_message(HELLO, role=MessageRole.ROLE_USER)
            last: StreamResponse | None = None
            async for response in client.send_message(SendMessageRequest(message=message)):
                last = response
            if last is None or last.status_update.status.state != TaskState.TASK_STATE_COMPLETED:
                raise HopFailed(f"the task did not complete: {last}")

        yield call


def agent_caller(client: AgentClient) -> Call:
    """One call through an Aether AgentClient (in process or A2A)."""

    async def call() -> None:
        request = AgentRequest(run_id=str(uuid.uuid4()), agent=AgentName.ARCHITECT, question=HELLO)
        last = None
        async for event in client.stream(request):
            last = event
        if not isinstance(last, FinalEvent):
            raise HopFailed(f"no final event: {last}")

    return call


# --- measuring --------------------------------------------------------------------------------


async def run_calls(label: str, call: Call, *, requests: int, concurrency: int) -> LoadResult:
    """`requests` calls with at most `concurrency` in flight; latencies of those that succeed."""
    latencies: list[float] = []
    errors = 0
    queue = iter(range(requests))

    async def worker() -> None:
        nonlocal errors
        for _ in queue:
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:  # a failed call is counted, and the first one shown
                if not errors:
                    print(f"  {label}: {type(exc).__name__}: {exc}")
                errors += 1
            else:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(label, requests, errors, time.perf_counter() - started, latencies)


def merged(label: str, results: list[LoadResult]) -> LoadResult:
    return LoadResult(
        label,
        sum(r.requests for r in results),
        sum(r.errors for r in results),
        sum(r.seconds for r in results),
        [latency for r in results for latency in r.latencies],
    )


async def measure_hops(
    targets: dict[str, Call], *, requests: int, rounds: int, concurrency: int
) -> dict[str, LoadResult]:
    """Each target `requests` times in all, split over `rounds` that alternate the targets."""
    per_round = max(1, requests // rounds)
    results: dict[str, list[LoadResult]] = {label: [] for label in targets}
    for _ in range(rounds):
        for label, call in targets.items():
            results[label].append(
                await run_calls(label, call, requests=per_round, concurrency=concurrency)
            )
    return {label: merged(label, parts) for label, parts in results.items()}


def ratio_line(ours: LoadResult, baseline: LoadResult) -> str:
    return (
        f"  {ours.label} / {baseline.label}: p50 {ratio(ours, baseline, 0.5):.2f}x, "
        f"p99 {ratio(ours, baseline, 0.99):.2f}x, "
        f"throughput {baseline.throughput / ours.throughput:.2f}x lower"
    )


def ratio(ours: LoadResult, baseline: LoadResult, fraction: float) -> float:
    return ours.percentile(fraction) / baseline.percentile(fraction)


def report(title: str, results: dict[str, LoadResult]) -> None:
    print(title)
    for result in results.values():
        print("  " + result.line())
    ours = results[OURS]
    for baseline in (*BASELINES, SAME_EVENTS):
        print(ratio_line(ours, results[baseline]))
    extra = (ours.percentile(0.5) - results[IN_PROCESS].percentile(0.5)) * 1000
    print(f"  the A2A hop adds {extra:.1f} ms (p50) to the in-process call")


# --- the servers ------------------------------------------------------------------------------


@contextmanager
def architect_service(root: Path) -> Iterator[str]:
    """`aether serve --service architect`, distributed, alone: "hello" needs no downstream, so
    readiness is its liveness probe (`/ready` would check the DS orchestrator)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "DEPLOYMENT_MODE": "distributed",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SERVICE_TOKEN": TOKEN,
        "ARCHITECT_SERVICE_URL": url,
        "DS_ORCHESTRATOR_URL": f"http://127.0.0.1:{free_port()}",
        "AETHER_DATA_DIR": str(data_dir(root, "architect")),
        "LOG_LEVEL": "WARNING",
    }
    argv = [python(), "-m", "aether.cli", "serve", "--service", "architect"]
    with server_process(argv, env, f"{url}/health"):
        yield url


@contextmanager
def echo_agent(root: Path, name: str, store: str, shape: str) -> Iterator[str]:
    port = free_port()
    argv = [python(), str(ECHO_AGENT), "--port", str(port), "--store", store, "--shape", shape]
    argv += ["--database", str(data_dir(root, f"echo-{store}-{shape}") / "tasks.db")]
    url = f"http://127.0.0.1:{port}"
    with server_process(argv, {}, f"{url}/.well-known/agent-card.json"):
        yield url


@asynccontextmanager
async def in_process_architect(root: Path) -> AsyncIterator[AgentClient]:
    settings = load_settings(
        aether_service=Role.ARCHITECT,
        deployment_mode="distributed",
        aether_data_dir=data_dir(root, "in-process"),
        ds_orchestrator_url=f"http://127.0.0.1:{free_port()}",
    )
    async with open_runtime(settings, utc_now, Role.ARCHITECT) as runtime:
        yield InProcessAgentClient(runtime.mesh.agents[ServiceName.ARCHITECT])


# --- time to first token ----------------------------------------------------------------------


@dataclass(frozen=True)
class FirstToken:
    first: float
    total: float


async def first_token(http: httpx.AsyncClient, base_url: str, question: str) -> FirstToken:
    """Seconds to the first content chunk of a streamed chat completion, and to its end."""
    body = {"model": "aether", "stream": True, "messages": [{"role": "user", "content": question}]}
    started = time.perf_counter()
    first: float | None = None
    url = f"{base_url}/api/v1/chat/completions"
    async with http.stream("POST", url, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if first is None and line.startswith("data: {"):
                choices = json.loads(line[len("data: ") :]).get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    first = time.perf_counter() - started
    if first is None:
        raise HopFailed(f"{base_url}: no content in the answer to {question!r}")
    return FirstToken(first, time.perf_counter() - started)


@contextmanager
def distributed_mesh(root: Path) -> Iterator[str]:
    topology = load_topology()
    options = LaunchOptions(
        free_ports=True,
        data_dir=data_dir(root, "mesh"),
        service_token=TOKEN,
        environment=without_settings(os.environ),
        extra_env={"LOG_LEVEL": "WARNING"},
        cwd=root,
    )
    plan = resolve(topology, options)
    log = io.StringIO()
    try:
        with Deployment(plan, sink=LogSink(plan.roles, stream=log)) as mesh:
            yield mesh.urls["gateway"]
    except Exception:
        print(log.getvalue()[-4000:])
        raise


@contextmanager
def monolith(root: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **without_settings(os.environ),
        "PORT": str(port),
        "AETHER_DATA_DIR": str(data_dir(root, "monolith")),
        "LOG_LEVEL": "WARNING",
    }
    url = f"http://127.0.0.1:{port}"
    with server_process([python(), "-m", "aether.cli", "serve"], env, f"{url}/ready"):
        yield url


async def measure_first_tokens(root: Path, samples: int) -> None:
    with distributed_mesh(root) as distributed, monolith(root) as single:
        topologies = {"distributed": distributed, "monolith": single}
        async with httpx.AsyncClient(timeout=120, trust_env=False) as http:
            for url in topologies.values():  # warm-up: cards resolved, data cached, imports done
                for question in (HELLO, ENERGY):
                    await first_token(http, url, question)
            print(f"\ntime to first token through the gateway (streamed chat, {samples} each)")
            for question in (HELLO, ENERGY):
                timings: dict[str, list[FirstToken]] = {name: [] for name in topologies}
                for _ in range(samples):
                    for name, url in topologies.items():
                        timings[name].append(await first_token(http, url, question))
                for name, values in timings.items():
                    firsts = [v.first * 1000 for v in values]
                    totals = [v.total * 1000 for v in values]
                    print(
                        f"  {question!r:<40} {name:<12} first token: median {median(firsts):6.0f}"
                        f" ms (min {min(firsts):.0f}, max {max(firsts):.0f})"
                        f"   whole answer: median {median(totals):6.0f} ms"
                    )
                dist = median([v.first for v in timings["distributed"]])
                mono = median([v.first for v in timings["monolith"]])
                extra = (dist - mono) * 1000
                print(f"  {'':<40} distributed / monolith: {dist / mono:.2f}x (+{extra:.0f} ms)")


# --- main -------------------------------------------------------------------------------------


def load_average() -> str:
    """The machine's 1/5/15-minute load: the figures mean little on a busy machine."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


async def measure(args: argparse.Namespace, root: Path) -> None:
    started_load = load_average()
    async with AsyncExitStack() as stack:
        ours_url = stack.enter_context(architect_service(root))
        echo_urls = {
            label: stack.enter_context(echo_agent(root, label, store, shape))
            for label, (store, shape) in ECHO_VARIANTS.items()
        }
        targets: dict[str, Call] = {
            OURS: await stack.enter_async_context(sdk_caller(ours_url, TOKEN)),
        }
        mesh_client = A2AAgentClient(ours_url, TOKEN, timeout=60)
        stack.push_async_callback(mesh_client.aclose)
        targets[OURS_CLIENT] = agent_caller(mesh_client)
        in_process = await stack.enter_async_context(in_process_architect(root))
        targets[IN_PROCESS] = agent_caller(in_process)
        for label, url in echo_urls.items():
            targets[label] = await stack.enter_async_context(sdk_caller(url, None))

        for label, call in targets.items():  # warm-up: connections, caches, first-call imports
            await run_calls(label, call, requests=args.warmup, concurrency=args.concurrency)
        serial = await measure_hops(
            targets, requests=args.requests, rounds=args.rounds, concurrency=1
        )
        loaded = await measure_hops(
            targets, requests=args.requests, rounds=args.rounds, concurrency=args.concurrency
        )
    print(f"one A2A hop ('{HELLO}' to the architect), a2a-sdk client, streaming, read to the end")
    print(f"load average at the start: {started_load}, after the hops: {load_average()}")
    report(f"serial, {args.requests} calls each in {args.rounds} rounds", serial)
    report(f"\n{args.concurrency} in flight, {args.requests} calls each", loaded)
    if args.ttft_samples:
        await measure_first_tokens(root, args.ttft_samples)
        print(f"load average at the end: {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="calls per target and pass")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--ttft-samples", type=int, default=10, help="0 skips time to first token")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aether-bench-") as root:
        asyncio.run(measure(args, Path(root)))


if __name__ == "__main__":
    main()
