"""The gateway's own overhead on the offline path, next to a bare FastAPI endpoint, in one run.

A non-streaming chat request that needs no analysis ("hello") exercises everything the gateway
adds: validation, auth, routing, the conversation and run written to SQLite, the architect, the
OpenAI response. Both servers run as separate processes on loopback with one uvicorn worker.

    .venv/bin/python bench/gateway_overhead.py [--requests 500] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from harness import (
    LoadResult,
    data_dir,
    free_port,
    median,
    python,
    run_load,
    server_process,
    summary_ratio,
)

HELLO = {"model": "aether", "messages": [{"role": "user", "content": "hello"}]}
ANALYSIS = {
    "model": "aether",
    "messages": [{"role": "user", "content": "How much energy did I use last week?"}],
}


async def measure(args: argparse.Namespace, root: Path) -> None:
    bare_port, aether_port = free_port(), free_port()
    bare_argv = [python(), "-m", "uvicorn", "bare_app:app", "--port", str(bare_port)]
    bare_argv += ["--log-level", "warning", "--app-dir", str(Path(__file__).parent)]
    aether_env = {
        "PORT": str(aether_port),
        "AETHER_DATA_DIR": str(data_dir(root, "aether")),
        "LOG_LEVEL": "WARNING",
    }
    bare_url = f"http://127.0.0.1:{bare_port}"
    aether_url = f"http://127.0.0.1:{aether_port}"
    with (
        server_process(bare_argv, {}, f"{bare_url}/docs"),
        server_process([python(), "-m", "aether.cli", "serve"], aether_env, f"{aether_url}/ready"),
    ):
        results: dict[str, LoadResult] = {}
        for label, url in (("bare FastAPI", bare_url), ("aether gateway", aether_url)):
            endpoint = f"{url}/api/v1/chat/completions"
            await run_load("warm-up", endpoint, HELLO, requests=50, concurrency=args.concurrency)
            results[label] = await run_load(
                label, endpoint, HELLO, requests=args.requests, concurrency=args.concurrency
            )
        analysis = await run_load(
            "aether energy question",
            f"{aether_url}/api/v1/chat/completions",
            ANALYSIS,
            requests=args.analysis_requests,
            concurrency=1,
        )
    print(f"non-streaming chat, {args.requests} requests, {args.concurrency} in flight")
    for result in results.values():
        print(result.line())
    print(summary_ratio(results["aether gateway"], results["bare FastAPI"]))
    print(
        f"for scale: a question that runs the energy analysis (one sandboxed job), "
        f"median of {args.analysis_requests}: {median(analysis.latencies) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--analysis-requests", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aether-bench-") as root:
        asyncio.run(measure(args, Path(root)))


if __name__ == "__main__":
    main()
