"""Written analyses through the public API: a question no built-in analysis covers gets a script
from the LLM (the fake OpenAI-compatible server), the broken first script is corrected once, and
the corrected one runs in the sandbox (process runner, and gVisor) on the household's data. The
answer carries its figure and links its table; the run's events show every sandbox job with its
policy and limits, and the artifacts each analyst stored."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from aether.agents.analysts.written import CONTRACT
from aether.analysis.findings import AnalysisDepth
from aether.config import load_settings
from aether.sandbox.factory import policies_of
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest, Reply, running_fake_openai
from tests.gateway_harness import RunningGateway, running_gateway
from tests.integration.test_sandbox_gvisor import require_runsc

QUESTION = "What was the heat pump's average power between 22:00 and 06:00 last week?"
COVERED = "How much energy did I use last week?"
ROUTE = json.dumps({"agent": "architect", "reason": "an energy question", "confidence": 0.9})
DEPTH: TypeAdapter[AnalysisDepth] = TypeAdapter(AnalysisDepth)
BROKEN = """```python
import pandas as pd
frame = pd.read_parquet("input/frame.parquet")
print(frame["watts"].mean())
```"""
FIXED = """```python
import json
import pandas as pd

params = json.load(open("input/params.json"))
analyst = json.load(open("input/analyst.json"))
frame = pd.read_parquet("input/frame.parquet")
start, end = pd.Timestamp(params["window_start"]), pd.Timestamp(params["window_end"])
pump = frame[
    (frame["entity_id"] == "sensor.heat_pump_power")
    & (frame["timestamp"] >= start)
    & (frame["timestamp"] < end)
]
hours = pump["timestamp"].dt.tz_convert(params["timezone"]).dt.hour
night = pump[(hours >= 22) | (hours < 6)]
watts = float(night["value"].mean())
table = night.groupby(hours[night.index])["value"].mean().rename("average_w")
table.to_csv("output/heat_pump_night.csv", index_label="hour")
finding = {
    "analyst": analyst,
    "kind": "heat_pump_night_power",
    "title": "Heat pump at night",
    "summary": f"The heat pump drew {watts:.0f} W on average between 22:00 and 06:00.",
    "confidence": 0.9,
    "metrics": [{"name": "mean_power", "value": watts, "unit": "W"}],
}
json.dump(
    {"analyst": analyst, "confidence": 0.9, "findings": [finding]},
    open("output/result.json", "w"),
)
```"""


class ScriptedLLM:
    """Routes to the architect, writes the scripts in order, and narrates the findings it is
    given (every summary line), as a model answering from the context would."""

    def __init__(self, scripts: list[str]) -> None:
        self.scripts = deque(scripts)
        self.script_requests: list[RecordedRequest] = []

    def __call__(self, request: RecordedRequest) -> str | Reply:
        if request.body.get("response_format"):
            return ROUTE
        if request.messages[0]["content"] == CONTRACT:
            self.script_requests.append(request)
            return self.scripts.popleft()
        context = "\n".join(m["content"] for m in request.messages if m["role"] == "system")
        summaries = [
            line.strip().removeprefix("Summary: ")
            for line in context.splitlines()
            if line.strip().startswith("Summary:")
        ]
        return "\n".join(summaries)


def chat(gateway: RunningGateway, question: str) -> tuple[dict[str, Any], str]:
    """(completion, run id) of a non-streaming chat."""
    body = {"model": "aether", "messages": [{"role": "user", "content": question}]}
    with gateway.http() as http:
        response = http.post("/api/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json(), response.headers["x-run-id"]


def ask(gateway: RunningGateway, question: str) -> tuple[str, str]:
    """(answer, run id) of a non-streaming chat."""
    completion, run_id = chat(gateway, question)
    return completion["choices"][0]["message"]["content"], run_id


def run_events(gateway: RunningGateway, run_id: str) -> list[dict[str, Any]]:
    with gateway.http() as http:
        page = http.get(f"/api/v1/runs/{run_id}/events", params={"limit": 1000}).json()
    assert not page["has_more"]
    return [event["payload"] for event in page["data"]]


def stage(events: list[dict[str, Any]], name: str, agent: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("stage") == name and e.get("agent") == agent]


def expected_limits(data_dir: Path, depth: str) -> dict[str, float | int]:
    policies = policies_of(load_settings(aether_data_dir=data_dir))
    return policies.for_depth(DEPTH.validate_python(depth)).limits()


@pytest.mark.parametrize("sandbox", ["process", "gvisor"])
def test_an_uncovered_question_is_answered_by_a_corrected_written_analysis(
    sandbox: str, tmp_path: Path
) -> None:
    if sandbox == "gvisor":
        require_runsc()
    llm = ScriptedLLM([BROKEN, FIXED])
    with (
        running_fake_openai(FakeOpenAI(responder=llm)) as llm_url,
        running_gateway(
            tmp_path,
            api_keys=["key"],
            sandbox=sandbox,
            sandbox_pool_size=0,
            llm_base_url=llm_url,
            llm_model="fake-model",
        ) as gateway,
    ):
        completion, run_id = chat(gateway, QUESTION)
        answer = completion["choices"][0]["message"]["content"]
        events = run_events(gateway, run_id)
        with gateway.http() as http:
            run = http.get(f"/api/v1/runs/{run_id}").json()
            (finding,) = [f for f in run["findings"] if f["kind"] == "heat_pump_night_power"]
            (finished,) = stage(events, "analyst_finished", "energy-analyst")
            (table,) = [a for a in finished["data"]["artifacts"] if a["name"].endswith("night.csv")]
            download = http.get(table["url"])

    watts = finding["metrics"][0]["value"]
    assert f"The heat pump drew {watts:.0f} W on average between 22:00 and 06:00." in answer
    assert f"[heat_pump_night.csv](/api/v1/artifacts/{table['id']})" in answer
    first, second = llm.script_requests
    assert QUESTION in first.last_user_message
    assert "KeyError: 'watts'" in second.last_user_message
    (planning,) = stage(events, "planning", "ds-orchestrator")
    depth = planning["data"]["depth"]
    jobs = stage(events, "sandbox_job", "energy-analyst")
    assert [job["data"].get("attempt") for job in jobs] == [None, 1, 2]  # built-in, then written
    runner = "gvisor" if sandbox == "gvisor" else "subprocess"
    for job in jobs:
        assert job["data"]["runner"] == runner
        assert job["data"]["policy"] == depth
        assert job["data"]["limits"] == expected_limits(tmp_path, depth)
    assert all(job["data"]["written"] for job in jobs[1:])
    assert finding["importance"] >= 0.95
    assert finding["evidence"][0]["data"]["attempts"] == 2
    assert download.status_code == 200
    assert download.text.startswith("hour,average_w\n")
    # The scripts' tokens count in the run's usage (the fake counts a reply's words).
    narration = answer.split("\n\nCharts and tables: ")[0]
    replies = [ROUTE, BROKEN, FIXED, narration]
    assert completion["usage"]["completion_tokens"] == sum(len(r.split()) for r in replies)


def test_without_an_llm_the_built_in_analysis_answers_and_events_show_policy_and_artifacts(
    tmp_path: Path,
) -> None:
    with running_gateway(tmp_path, api_keys=["key"], sandbox="process") as gateway:
        answer, run_id = ask(gateway, QUESTION)
        covered_answer, covered_run = ask(gateway, COVERED)
        events = run_events(gateway, run_id)
        covered_events = run_events(gateway, covered_run)
        with gateway.http() as http:
            (finished,) = stage(covered_events, "analyst_finished", "energy-analyst")
            downloads = {a["name"]: http.get(a["url"]) for a in finished["data"]["artifacts"]}

    (job,) = stage(events, "sandbox_job", "energy-analyst")
    assert "written" not in job["data"]
    assert not any("written" in e.get("data", {}) for e in events)
    assert "heat pump drew" not in answer
    (planning,) = stage(covered_events, "planning", "ds-orchestrator")
    (covered_job,) = stage(covered_events, "sandbox_job", "energy-analyst")
    depth = planning["data"]["depth"]
    assert covered_job["data"]["policy"] == depth
    assert covered_job["data"]["limits"] == expected_limits(tmp_path, depth)
    assert f"under the {depth} policy" in covered_job["message"]
    assert {"metrics.csv", "daily_consumption.svg", "load_profile.svg"} <= set(downloads)
    for artifact in finished["data"]["artifacts"]:
        assert f"[{artifact['name']}](/api/v1/artifacts/{artifact['id']})" in covered_answer
        assert downloads[artifact["name"]].status_code == 200


def test_a_script_that_fails_twice_is_a_failed_finding_not_a_failed_run(tmp_path: Path) -> None:
    llm = ScriptedLLM([BROKEN, BROKEN])
    with (
        running_fake_openai(FakeOpenAI(responder=llm)) as llm_url,
        running_gateway(
            tmp_path, sandbox="process", llm_base_url=llm_url, llm_model="fake-model"
        ) as gateway,
    ):
        answer, run_id = ask(gateway, QUESTION)
        with gateway.http() as http:
            run = http.get(f"/api/v1/runs/{run_id}").json()

    assert run["status"] == "completed"
    (failed,) = [f for f in run["findings"] if f["kind"] == "written_analysis_failed"]
    assert failed["summary"].endswith(
        "failed: the script failed after one correction: analysis failed: KeyError: 'watts'"
    )
    assert failed["summary"] in answer
    assert any(f["kind"] == "consumption_total" for f in run["findings"])
    assert len(llm.script_requests) == 2
