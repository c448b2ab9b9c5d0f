"""LLM-written analyses: the LLM's script runs in the gVisor sandbox on the job's own files, a
failure goes back to the LLM once, and only a valid result comes out. The LLM is the fake
OpenAI-compatible server, talked to over HTTP by the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aether.llm.client import LLMClient
from aether.sandbox.gvisor_runner import GVisorRunner
from aether.sandbox.jobs import SandboxError
from aether.sandbox.rootfs import prepare_root
from aether.sandbox.written import LLMAuthor, run_written_analysis
from tests.fakes.openai_server import FAKE_MODEL, FakeOpenAI, running_fake_openai
from tests.integration.test_sandbox_gvisor import POLICIES, require_runsc, root_cache
from tests.integration.test_sandbox_runner import make_job

QUESTION = "What was the fridge's average power at night?"
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


@pytest.fixture(scope="module")
def gvisor_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_runsc()
    return prepare_root(root_cache(tmp_path_factory))


@pytest.fixture
async def runner(gvisor_root: Path, tmp_path: Path) -> AsyncIterator[GVisorRunner]:
    runner = GVisorRunner("runsc", gvisor_root, tmp_path / "sandbox", POLICIES, cgroups=False)
    await runner.start()
    yield runner
    await runner.aclose()


async def test_a_failing_script_is_corrected_once_and_its_result_validated(
    runner: GVisorRunner,
) -> None:
    fake = FakeOpenAI(replies=[BROKEN, FIXED])
    with running_fake_openai(fake) as url:
        async with LLMClient(url, None, FAKE_MODEL, max_retries=0) as llm:
            result = await run_written_analysis(
                runner, LLMAuthor(llm), QUESTION, make_job("energy")
            )

    (finding,) = result.findings
    assert (result.analyst, finding.kind) == ("energy", "night_power")
    assert finding.metrics[0].value == pytest.approx(46.0)
    first, second = fake.requests
    assert "input/frame.parquet" in first.messages[0]["content"]
    assert QUESTION in first.last_user_message
    assert "KeyError" in second.last_user_message
    assert second.messages[-2]["content"] == BROKEN


async def test_a_script_that_fails_twice_is_a_sandbox_error(
    runner: GVisorRunner,
) -> None:
    fake = FakeOpenAI(replies=[BROKEN, INVALID])
    with running_fake_openai(fake) as url:
        async with LLMClient(url, None, FAKE_MODEL, max_retries=0) as llm:
            with pytest.raises(SandboxError, match=r"after one correction: .*not a valid analysis"):
                await run_written_analysis(runner, LLMAuthor(llm), QUESTION, make_job("energy"))

    assert len(fake.requests) == 2
