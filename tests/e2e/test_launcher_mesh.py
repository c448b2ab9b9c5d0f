"""The real distributed mesh, started by the launcher as four processes, used as a client would.

The same `Deployment` that `make run-distributed` runs without a container engine starts
`aether serve --service <role>` for every role on free loopback ports, in its own temporary data
directory and working directory (so no `.env` is read), with the settings of this process
removed: the roles run on defaults plus what the launcher hands them, offline (no LLM).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from aether.config import without_settings
from aether.deploy.launcher import Deployment
from aether.deploy.loader import load_topology
from aether.deploy.plan import LaunchOptions, resolve
from tests.deploy_harness import CapturedLog

QUESTION = "How much energy did I use last week?"
TOKEN = "e2e-service-token"
AGENTS = ("architect", "ds-orchestrator", "ds-analysts")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    topology = load_topology()
    work = tmp_path_factory.mktemp("mesh")
    options = LaunchOptions(
        free_ports=True,
        data_dir=work / "data",
        service_token=TOKEN,
        environment=without_settings(os.environ),
        cwd=work,
    )
    plan = resolve(topology, options)
    log = CapturedLog(plan.roles)
    deployment = Deployment(plan, sink=log.sink, ready_timeout=90, stop_grace=15)
    try:
        with deployment:
            yield deployment
    except Exception:
        (work / "mesh.log").write_text(log.text)
        raise
    assert all(p.returncode is not None for p in deployment.processes.values()), log.text
    assert deployment.wait(timeout=0) is None, f"a role died during the tests:\n{log.text}"


def gateway_client(mesh: Deployment) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{mesh.urls['gateway']}/api/v1", api_key="unused", max_retries=0, timeout=120
    )


def test_the_launcher_started_every_role_in_dependency_order(mesh: Deployment) -> None:
    assert mesh.plan.start_order == ["ds-analysts", "ds-orchestrator", "architect", "gateway"]
    for name, process in mesh.processes.items():
        assert process.returncode is None, name
        assert Path(process.plan.data_dir).is_dir()


def test_a_chat_completion_crosses_the_mesh(mesh: Deployment) -> None:
    completion = gateway_client(mesh).chat.completions.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}]
    )
    answer = completion.choices[0].message.content or ""
    assert re.search(r"\d[\d,.]* kWh", answer), answer
    assert completion.choices[0].finish_reason == "stop"


def test_a_streamed_chat_completion_addressed_to_the_architect(mesh: Deployment) -> None:
    stream = gateway_client(mesh).chat.completions.create(
        model="aether",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        extra_body={"agent": "architect"},
    )
    parts = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    answer = "".join(parts)
    assert len([part for part in parts if part]) > 1, "the answer should arrive in pieces"
    assert re.search(r"\d[\d,.]* kWh", answer), answer


def test_the_guides_checks(mesh: Deployment) -> None:
    urls = mesh.urls
    with httpx.Client(timeout=30, trust_env=False) as http:
        gateway = http.get(f"{urls['gateway']}/api/v1/health")
        assert gateway.status_code == 200
        assert gateway.json()["mode"] == "distributed"
        for agent in AGENTS:
            health = http.get(f"{urls[agent]}/health")
            assert health.status_code == 200, agent
            assert health.json()["status"] == "ok"
            assert http.get(f"{urls[agent]}/ready").status_code == 200, agent
        for agent in ("architect", "ds-analysts"):
            card = http.get(f"{urls[agent]}/.well-known/agent-card.json")
            assert card.status_code == 200
            body = card.json()
            assert body["name"]
            # The card advertises where the launcher put the agent, not the default port.
            interfaces = [interface["url"] for interface in body["supportedInterfaces"]]
            assert any(url.startswith(urls[agent]) for url in interfaces), interfaces


def test_agent_routes_refuse_calls_without_the_service_token(mesh: Deployment) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "none"}}
    for agent in AGENTS:
        refused = httpx.post(f"{mesh.urls[agent]}/", json=request, trust_env=False, timeout=30)
        assert refused.status_code == 401, agent
        wrong = httpx.post(
            f"{mesh.urls[agent]}/",
            json=request,
            headers={"Authorization": "Bearer not-the-token"},
            trust_env=False,
            timeout=30,
        )
        assert wrong.status_code == 401, agent
