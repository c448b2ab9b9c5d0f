"""What MLflow tracing costs the gateway: throughput with tracing off and on, in one run.

Two monolith gateways run side by side as separate processes on loopback, identical but for
MLFLOW_TRACKING_URI: one traces every request to a real MLflow server (started here, as in the
tracing test), the other has tracing off. Rounds alternate between the two, so drift on a shared
machine hits both alike; the median round of each is compared.

- "hello": no analysis; the spans of the request (chat, routing, architect) against the cheapest
  request the gateway serves: the worst case for tracing's share.
- the energy question: the architect, orchestrator, analyst and sandbox job spans too, against
  the real work of a request (a sandboxed analysis).

    .venv/bin/python bench/tracing_cost.py [--requests 300] [--concurrency 8] [--rounds 3]
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
from pathlib import Path
from typing import Any

import httpx

from harness import LoadResult, data_dir, free_port, python, run_load, server_process

HELLO = {"model": "aether", "messages": [{"role": "user", "content": "hello"}]}
ANALYSIS = {
    "model": "aether",
    "messages": [{"role": "user", "content": "How much energy did I use last week?"}],
}
# MLflow's usage telemetry stays off: nothing here leaves the machine.
QUIET_MLFLOW = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


@contextmanager
def mlflow_server(root: Path) -> Iterator[str]:
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
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)


async def rounds(
    urls: dict[str, str], body: dict[str, Any], args: argparse.Namespace, requests: int
) -> dict[str, list[LoadResult]]:
    results: dict[str, list[LoadResult]] = {label: [] for label in urls}
    for url in urls.values():  # warm-up: imports, first trace, connection pools
        await run_load("warm-up", url, body, requests=20, concurrency=args.concurrency)
    for _ in range(args.rounds):
        for label, url in urls.items():
            results[label].append(
                await run_load(label, url, body, requests=requests, concurrency=args.concurrency)
            )
    return results


def report(title: str, results: dict[str, list[LoadResult]]) -> None:
    print(title)
    median_of: dict[str, float] = {}
    for label, runs in results.items():
        median_of[label] = statistics.median(run.throughput for run in runs)
        errors = sum(run.errors for run in runs)
        p50 = statistics.median(run.percentile(0.5) for run in runs) * 1000
        per_round = ", ".join(f"{run.throughput:.1f}" for run in runs)
        print(
            f"  {label:<12} {median_of[label]:8.1f} req/s (rounds: {per_round})"
            f"   p50 {p50:7.1f} ms   errors {errors}"
        )
    ratio = median_of["tracing off"] / median_of["tracing on"]
    print(f"  tracing on is {ratio:.2f}x slower (target: at most 1.20x)")


async def measure(args: argparse.Namespace, root: Path) -> None:
    with mlflow_server(data_dir(root, "mlflow")) as tracking_uri:
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
            hello = await rounds(endpoints, HELLO, args, args.requests)
            analysis = await rounds(endpoints, ANALYSIS, args, args.analysis_requests)
    report(f'"hello", {args.requests} requests per round, {args.concurrency} in flight', hello)
    report(
        f"energy question (sandboxed analysis), {args.analysis_requests} requests per round, "
        f"{args.concurrency} in flight",
        analysis,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--analysis-requests", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aether-bench-tracing-") as root:
        asyncio.run(measure(args, Path(root)))


if __name__ == "__main__":
    main()
