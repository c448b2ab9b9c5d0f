"""Artifacts end to end: stored by content hash, linked from the run's findings, downloadable with
an API key and only with one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from aether.store import Store
from aether.store.artifacts import ArtifactFile
from tests.gateway_harness import running_gateway

TABLE = b"finding,metric\nconsumption_total,3.5\n"


def table(name: str = "metrics.csv") -> ArtifactFile:
    return ArtifactFile(
        name=name, media_type="text/csv", sha256=hashlib.sha256(TABLE).hexdigest(), content=TABLE
    )


async def test_the_same_content_is_stored_once(store: Store) -> None:
    first = await store.artifacts.save([table()])
    again = await store.artifacts.save([table("copy.csv")])

    assert first[0].id == again[0].id == hashlib.sha256(TABLE).hexdigest()
    stored = await store.artifacts.get(first[0].id)
    assert stored is not None
    assert (stored.name, stored.media_type, stored.size) == ("metrics.csv", "text/csv", len(TABLE))
    assert stored.content == TABLE
    assert await store.artifacts.get("0" * 64) is None


def test_an_answer_links_to_its_tables_which_need_a_key(tmp_path: Path) -> None:
    with running_gateway(tmp_path, api_keys=["key"], sandbox_pool_size=1) as gateway:
        gateway.openai().chat.completions.create(
            model="aether",
            messages=[{"role": "user", "content": "How much energy did I use last week?"}],
        )
        with gateway.http() as http:
            (summary,) = http.get("/api/v1/runs").json()["data"]
            run = http.get(f"/api/v1/runs/{summary['id']}").json()
            links = {
                evidence["data"]["artifact_id"]
                for finding in run["findings"]
                for evidence in finding["evidence"]
                if "artifact_id" in evidence["data"]
            }
            assert links
            downloads = [http.get(f"/api/v1/artifacts/{artifact}") for artifact in links]
            missing = http.get(f"/api/v1/artifacts/{'0' * 64}")
        anonymous = httpx.get(f"{gateway.api_url}/artifacts/{next(iter(links))}", timeout=30)

    for download in downloads:
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert download.headers["content-disposition"] == 'attachment; filename="metrics.csv"'
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.text.startswith("finding,title,metric,value,unit,entity_id,at\n")
        assert hashlib.sha256(download.content).hexdigest() in links
    assert missing.status_code == 404
    assert anonymous.status_code == 401
