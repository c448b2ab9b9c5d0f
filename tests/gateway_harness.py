"""Starts a real gateway (monolith) on a free loopback port for a test, with its own data dir."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai

from aether.config import load_settings
from aether.gateway.app import create_app
from tests.servers import serve_in_thread


@dataclass(frozen=True)
class RunningGateway:
    base_url: str
    api_key: str | None

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"

    def openai(self, api_key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.api_url, api_key=api_key or self.api_key or "unused", max_retries=0
        )

    def http(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)


@contextmanager
def running_gateway(data_dir: Path, **settings: object) -> Iterator[RunningGateway]:
    """`settings` are Settings fields (e.g. api_keys=["k"]) that override the environment."""
    config = load_settings(aether_data_dir=data_dir, **settings)
    with serve_in_thread(create_app(config)) as base_url:
        keys = config.api_keys
        yield RunningGateway(base_url=base_url, api_key=keys[0] if keys else None)
