"""Shared by the benchmarks: start a server process, fire a bounded load, summarise latencies."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class LoadResult:
    label: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def line(self) -> str:
        p50, p99 = self.percentile(0.5) * 1000, self.percentile(0.99) * 1000
        return (
            f"{self.label:<28} {self.throughput:8.1f} req/s   p50 {p50:7.2f} ms"
            f"   p99 {p99:7.2f} ms   errors {self.errors}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server_process(argv: Sequence[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    """Runs a server in its own process (so the load generator does not share its GIL)."""
    process = subprocess.Popen(
        list(argv), env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"server exited: {stderr[-2000:]}")
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server at {ready_url} not ready")
            time.sleep(0.1)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


async def run_load(
    label: str, url: str, body: dict[str, Any], *, requests: int, concurrency: int
) -> LoadResult:
    """`requests` POSTs with at most `concurrency` in flight; latencies of successful ones."""
    latencies: list[float] = []
    errors = 0
    queue = iter(range(requests))
    async with httpx.AsyncClient(timeout=60) as client:

        async def worker() -> None:
            nonlocal errors
            for _ in queue:
                started = time.perf_counter()
                response = await client.post(url, json=body)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return LoadResult(label, requests, errors, seconds, latencies)


def python() -> str:
    return sys.executable


def summary_ratio(ours: LoadResult, baseline: LoadResult) -> str:
    return (
        f"ratio (ours / bare): p50 {ours.percentile(0.5) / baseline.percentile(0.5):.2f}x, "
        f"p99 {ours.percentile(0.99) / baseline.percentile(0.99):.2f}x, "
        f"throughput {baseline.throughput / ours.throughput:.2f}x slower"
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def data_dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path
