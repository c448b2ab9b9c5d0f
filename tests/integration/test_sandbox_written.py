"""LLM-written analyses: the LLM's script runs as the analyst's job, in gVisor and in the process
runner, on the job's own files; a failure goes back to the LLM once, only a valid result comes
out, and its tables are stored and linked like a built-in analysis's. The LLM is the fake
OpenAI-compatible server, talked to over HTTP by the real client."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from aether.agents.analysts.coverage import UncoveredAsk
from aether.agents.analysts.written import (
    FAILED_KIND,
    LLMAuthor,
    WrittenRun,
    run_written_analysis,
    written_findings,
)
from aether.agents.contract import AgentEvent, AgentName, Stage, StatusEvent
from aether.llm.client import LLMClient
from aether.sandbox.artifacts import ArtifactSink
from aether.sandbox.gvisor_runner import GVisorRunner
from aether.sandbox.rootfs import prepare_root
from aether.sandbox.runner import SandboxRunner
from aether.sandbox.subprocess_runner import SubprocessRunner
from aether.store.artifacts import ArtifactFile, ArtifactRef
from tests.fakes.openai_server import FAKE_MODEL, FakeOpenAI, running_fake_openai
from tests.integration.test_sandbox_gvisor import POLICIES, require_runsc, root_cache
from tests.integration.test_sandbox_runner import make_job

QUESTION = "What was the fridge's average power between 00:00 and 05:00?"
ASK = UncoveredAsk(ask="a figure for a clock-time window", words="00:00")
BROKEN = """Here you go:
```python
import pandas as pd
frame = pd.read_parquet("input/frame.parquet")
print(frame["no_such_column"])
```"""
FIXED = """```python
import json
import pandas as pd

frame = pd.read_parquet("input/frame.parquet")
analyst = json.load(open("input/analyst.json"))
fridge = frame[frame["entity_id"] == "sensor.fridge_power"]
night = fridge[fridge["timestamp"].dt.hour < 5]
watts = float(night["value"].mean())
night.groupby(night["timestamp"].dt.hour)["value"].mean().to_csv("output/night_hours.csv")
finding = {
    "analyst": analyst,
    "kind": "night_power",
    "title": "Fridge at night",
    "summary": f"The fridge drew {watts:.0f} W on average between midnight and 5:00.",
    "confidence": 0.8,
    "metrics": [{"name": "mean_power", "value": watts, "unit": "W"}],
}
result = {"analyst": analyst, "confidence": 0.8, "findings": [finding]}
json.dump(result, open("output/result.json", "w"))
```"""
INVALID = """```python
import json
json.dump({"analyst": "energy", "findings": "none"}, open("output/result.json", "w"))
```"""


class MemorySink:
    """The store's artifact repository, in memory: what the runner keeps, by content hash."""

    def __init__(self) -> None:
        self.files: dict[str, ArtifactFile] = {}

    async def save(self, files: list[ArtifactFile]) -> list[ArtifactRef]:
        self.files.update((f.sha256, f) for f in files)
        return [
            ArtifactRef(id=f.sha256, name=f.name, media_type=f.media_type, size=f.size)
            for f in files
        ]


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture(params=["gvisor", "process"])
async def runner(
    request: pytest.FixtureRequest,
    sink: MemorySink,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[SandboxRunner]:
    artifacts: ArtifactSink = sink
    opened: SandboxRunner
    if request.param == "gvisor":
        require_runsc()
        root = prepare_root(root_cache(tmp_path_factory))
        opened = GVisorRunner(
            "runsc", root, tmp_path / "sandbox", POLICIES, cgroups=False, artifacts=artifacts
        )
    else:
        opened = SubprocessRunner(tmp_path / "jobs", policies=POLICIES, artifacts=artifacts)
    await opened.start()
    yield opened
    await opened.aclose()


async def written(
    runner: SandboxRunner, replies: Sequence[str]
) -> tuple[WrittenRun, list[AgentEvent], FakeOpenAI]:
    fake = FakeOpenAI(replies=list(replies))
    into = WrittenRun()
    with running_fake_openai(fake) as url:
        async with LLMClient(url, None, FAKE_MODEL, max_retries=0) as llm:
            events = [
                event
                async for event in run_written_analysis(
                    runner,
                    LLMAuthor(llm),
                    AgentName.ENERGY_ANALYST,
                    QUESTION,
                    ASK,
                    make_job("energy"),
                    into,
                )
            ]
    return into, events, fake


def sandbox_jobs(events: list[AgentEvent]) -> list[StatusEvent]:
    return [e for e in events if isinstance(e, StatusEvent) and e.stage is Stage.SANDBOX_JOB]


async def test_a_failing_script_is_corrected_once_and_its_result_validated(
    runner: SandboxRunner, sink: MemorySink
) -> None:
    into, events, fake = await written(runner, [BROKEN, FIXED])

    assert into.outcome is not None
    assert into.failure is None
    (finding,) = into.outcome.result.findings
    assert (into.outcome.result.analyst, finding.kind) == ("energy", "night_power")
    assert finding.metrics[0].value == pytest.approx(46.0)
    first, second = fake.requests
    assert "input/frame.parquet" in first.messages[0]["content"]
    assert QUESTION in first.last_user_message
    assert "KeyError" in second.last_user_message
    assert second.messages[-2]["content"] == BROKEN
    jobs = sandbox_jobs(events)
    assert [job.data["attempt"] for job in jobs] == [1, 2]
    assert all(job.data["runner"] == runner.name for job in jobs)
    assert jobs[0].data["policy"] == "standard"
    assert jobs[0].data["limits"]["wall_time_seconds"] == POLICIES.standard.timeout_seconds
    # The script's table and the job's metrics table are stored and linked from the finding.
    names = {ref.name for ref in into.outcome.artifacts}
    assert names == {"night_hours.csv", "written_metrics.csv"}
    links = {e.data.get("name") for e in finding.evidence if "artifact_id" in e.data}
    assert links == names
    table = next(f for f in sink.files.values() if f.name == "night_hours.csv")
    rows = list(csv.reader(io.StringIO(table.content.decode())))
    assert rows[0] == ["timestamp", "value"]
    assert len(rows) == 6
    (answer,) = written_findings(into, make_job("energy"), ASK)
    assert answer.importance >= 0.95
    assert answer.evidence[0].data == {
        "written": True,
        "attempts": 2,
        "script_sha256": jobs[1].data["script_sha256"],
    }


async def test_a_script_that_fails_twice_becomes_a_failed_finding(runner: SandboxRunner) -> None:
    into, events, fake = await written(runner, [BROKEN, INVALID])

    assert into.outcome is None
    assert into.failure is not None
    assert "after one correction" in into.failure
    assert "not a valid analysis result" in into.failure
    assert "at findings" in into.failure
    assert len(fake.requests) == 2
    (finding,) = written_findings(into, make_job("energy"), ASK)
    assert finding.kind == FAILED_KIND
    assert finding.confidence == 0
    assert into.failure in finding.summary
    assert len(sandbox_jobs(events)) == 2
