"""What MLflow tracing costs the gateway: throughput with tracing off and on, in one run.

Two monolith gateways run side by side as separate processes on loopback, identical but for
MLFLOW_TRACKING_URI: one traces every request to a real MLflow server (started here, as in the
tracing test), the other has tracing off. Rounds alternate between the two, in the order off-on,
on-off, off-on, ..., so drift on a shared machine hits both alike; the median round of each is
compared, and each pair of rounds gives a ratio of its own, whose spread shows the noise. The CPU
time each process spent per request (from /proc) separates what tracing costs the gateway itself
from what the MLflow server, which shares this machine's two cores here, spends storing the
traces.

- "hello": no analysis; the spans of the request (chat, routing, architect) against the cheapest
  request the gateway serves: the worst case for tracing's share.
- the energy question: the architect, orchestrator, analyst and sandbox job spans too, against
  the real work of a request (a sandboxed analysis).

    .venv/bin/python bench/tracing_cost.py [--requests 300] [--concurrency 8] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from mlflow.tracking import MlflowClient

from harness import LoadResult, data_dir, free_port, python, run_load, server_process

HELLO = {"model": "aether", "messages": [{"role": "user", "content": "hello"}]}
ANALYSIS = {
    "model": "aether",
    "messages": [{"role": "user", "content": "How much energy did I use last week?"}],
}
# MLflow's usage telemetry stays off: nothing here leaves the machine.
QUIET_MLFLOW = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
SETTLE_SECONDS = 6.0
"""After a round: for the MLflow server to catch up with the spans of the round."""
WARM_UP = 20


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and all its descendants (Linux /proc): the
    MLflow server does its work in worker processes of its own."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    total, parents = 0.0, {pid}
    for child, (parent, ticks) in sorted(stats.items()):
        if child == pid or parent in parents:
            parents.add(child)
            total += ticks
    return total / os.sysconf("SC_CLK_TCK")


def gateway_pid(port: int) -> int:
    """The process listening on `port` (the gateway started by `server_process`)."""
    inode = next(
        line.split()[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
    )
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if f"socket:[{inode}]" in links:
            return int(pid)
    raise RuntimeError(f"no process listens on port {port}")


@contextmanager
def mlflow_server(root: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    command = [
        str(Path(python()).parent / "mlflow"),
        "server",
        "--workers=1",
        f"--backend-store-uri=sqlite:///{root / 'mlflow.db'}",
        f"--artifacts-destination={root / 'artifacts'}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    env = {**os.environ, **QUIET_MLFLOW, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        command, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the MLflow server did not start")
            time.sleep(0.2)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=15)


@dataclass
class Rounds:
    results: dict[str, list[LoadResult]]
    cpu_ms: dict[str, list[float]]
    """CPU milliseconds per request: each gateway's, and the MLflow server's in "tracing on"
    rounds (its backlog drained before the next round starts)."""


async def rounds(
    urls: dict[str, str],
    pids: dict[str, int],
    body: dict[str, Any],
    args: argparse.Namespace,
    requests: int,
) -> Rounds:
    measured = Rounds({label: [] for label in urls}, {label: [] for label in pids})
    for url in urls.values():  # warm-up: imports, first trace, connection pools
        await run_load("warm-up", url, body, requests=WARM_UP, concurrency=args.concurrency)
    for number in range(args.rounds):
        order = list(urls.items())
        for label, url in order if number % 2 == 0 else reversed(order):
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            result = await run_load(
                label, url, body, requests=requests, concurrency=args.concurrency
            )
            await asyncio.sleep(SETTLE_SECONDS)  # let the span export and the server catch up
            measured.results[label].append(result)
            for name in (label, "MLflow server") if label == "tracing on" else (label,):
                spent = cpu_seconds(pids[name]) - before[name]
                measured.cpu_ms[name].append(spent * 1000 / requests)
    return measured


def report(title: str, measured: Rounds) -> None:
    print(title)
    median_of: dict[str, float] = {}
    for label, runs in measured.results.items():
        median_of[label] = statistics.median(run.throughput for run in runs)
        errors = sum(run.errors for run in runs)
        p50 = statistics.median(run.percentile(0.5) for run in runs if run.latencies) * 1000
        per_round = ", ".join(f"{run.throughput:.1f}" for run in runs)
        cpu = statistics.median(measured.cpu_ms[label])
        print(
            f"  {label:<12} {median_of[label]:8.1f} req/s (rounds: {per_round})"
            f"   p50 {p50:7.1f} ms   gateway CPU {cpu:5.2f} ms/request   errors {errors}"
        )
    server = statistics.median(measured.cpu_ms["MLflow server"])
    print(f"  MLflow server CPU while tracing: {server:5.2f} ms/request")
    ratio = median_of["tracing off"] / median_of["tracing on"]
    off, on = (statistics.median(measured.cpu_ms[label]) for label in measured.results)
    pairs = sorted(
        untraced.throughput / traced.throughput
        for untraced, traced in zip(
            measured.results["tracing off"], measured.results["tracing on"], strict=True
        )
    )
    print(
        f"  tracing on is {ratio:.2f}x slower in throughput (target: at most 1.20x); "
        f"gateway CPU per request {on / off:.2f}x"
    )
    print(
        f"  round by round: {statistics.median(pairs):.2f}x median, "
        f"{pairs[0]:.2f}x to {pairs[-1]:.2f}x ({', '.join(f'{pair:.2f}' for pair in pairs)})"
    )


async def measure(args: argparse.Namespace, root: Path) -> None:
    with mlflow_server(data_dir(root, "mlflow")) as (tracking_uri, server_pid):
        ports = {"tracing off": free_port(), "tracing on": free_port()}
        env = {
            label: {
                "PORT": str(port),
                "AETHER_DATA_DIR": str(data_dir(root, label.replace(" ", "-"))),
                "LOG_LEVEL": "WARNING",
                **QUIET_MLFLOW,
                **({"MLFLOW_TRACKING_URI": tracking_uri} if label == "tracing on" else {}),
            }
            for label, port in ports.items()
        }
        urls = {label: f"http://127.0.0.1:{port}" for label, port in ports.items()}
        command = [python(), "-m", "aether.cli", "serve"]
        with (
            server_process(command, env["tracing off"], f"{urls['tracing off']}/ready"),
            server_process(command, env["tracing on"], f"{urls['tracing on']}/ready"),
        ):
            endpoints = {label: f"{url}/api/v1/chat/completions" for label, url in urls.items()}
            pids = {label: gateway_pid(port) for label, port in ports.items()}
            pids["MLflow server"] = server_pid
            hello = await rounds(endpoints, pids, HELLO, args, args.requests)
            analysis = await rounds(endpoints, pids, ANALYSIS, args, args.analysis_requests)
        report(f'"hello", {args.requests} requests per round, {args.concurrency} in flight', hello)
        report(
            f"energy question (sandboxed analysis), {args.analysis_requests} requests per round, "
            f"{args.concurrency} in flight",
            analysis,
        )
        # The gateways have stopped: the traced one flushed whatever it still had queued.
        sent = 2 * WARM_UP + args.rounds * (args.requests + args.analysis_requests)
        stored = stored_traces(tracking_uri)
        print(f"traces stored by the MLflow server: {stored} of {sent} traced requests")


def stored_traces(tracking_uri: str) -> int:
    """How many traces the server holds, waiting until the count stops growing."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("aether")
    if experiment is None:
        return 0
    count, previous = 0, -1
    while count != previous:
        previous, count, token = count, 0, None
        time.sleep(2)
        while True:
            page = client.search_traces(
                locations=[experiment.experiment_id],
                max_results=500,
                include_spans=False,
                page_token=token,
            )
            count += len(page)
            token = page.token
            if not token:
                break
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--analysis-requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aether-bench-tracing-") as root:
        asyncio.run(measure(args, Path(root)))


if __name__ == "__main__":
    main()
