"""A role that dies mid-answer: the chat client gets an error frame, the conversation keeps the
failure, and the rest of the mesh goes on serving (the launcher as a library does not stop the
others; `make run-distributed` does)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.distributed import ENERGY_QUESTION, chat_client, gateway_get, launched_mesh


def test_killing_ds_analysts_mid_answer_gives_an_error_frame_and_a_recorded_failure(
    tmp_path: Path,
) -> None:
    with launched_mesh(tmp_path) as (mesh, log):
        analysts = mesh.processes["ds-analysts"]
        raw = chat_client(mesh.urls["gateway"]).chat.completions.with_raw_response.create(
            model="aether",
            messages=[{"role": "user", "content": ENERGY_QUESTION}],
            stream=True,
            timeout=60,
        )
        conversation_id, run_id = raw.headers["x-conversation-id"], raw.headers["x-run-id"]
        started = time.monotonic()
        progress: list[str] = []

        def read_and_kill_the_analysts_midway() -> None:
            for chunk in raw.parse():
                if not chunk.choices:
                    continue
                reasoning = getattr(chunk.choices[0].delta, "reasoning_content", None) or ""
                progress.append(reasoning)
                if "sandbox" in reasoning and analysts.returncode is None:
                    os.kill(analysts.pid, signal.SIGKILL)  # mid-analysis, no goodbye

        with pytest.raises(openai.APIError) as raised:
            read_and_kill_the_analysts_midway()
        assert any("sandbox" in line for line in progress), "the kill came before the analysis"
        assert time.monotonic() - started < 30
        assert raised.value.code == "agent_unavailable", raised.value
        assert "energy-analyst" in str(raised.value)

        died = mesh.wait(timeout=10)
        assert died is not None
        assert (died.role, died.code) == ("ds-analysts", -signal.SIGKILL), log.text

        conversation = gateway_get(mesh, f"/conversations/{conversation_id}")
        user, assistant = conversation["messages"]
        assert user["content"] == ENERGY_QUESTION
        assert assistant["status"] == "failed"
        assert "energy-analyst" in assistant["error"]
        run = gateway_get(mesh, f"/runs/{run_id}")
        assert run["status"] == "failed"
        assert run["error"] == assistant["error"]

        # Everyone else is still up; the orchestrator's readiness names what it lost.
        for role in ("gateway", "architect", "ds-orchestrator"):
            assert mesh.processes[role].returncode is None, role
        with httpx.Client(timeout=30, trust_env=False) as http:
            assert http.get(f"{mesh.urls['gateway']}/api/v1/health").status_code == 200
            ready = http.get(f"{mesh.urls['ds-orchestrator']}/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["downstream"] != "ok"
