"""Artifacts end to end: stored by content hash, linked from the run's findings, downloadable with
an API key and only with one."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
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
                if evidence["data"].get("name") == "metrics.csv"
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


def test_an_energy_answer_links_its_daily_chart_as_svg(tmp_path: Path) -> None:
    with running_gateway(tmp_path, api_keys=["key"], sandbox_pool_size=1) as gateway:
        reply = gateway.openai().chat.completions.create(
            model="aether",
            messages=[{"role": "user", "content": "How much energy did I use last week?"}],
        )
        answer = reply.choices[0].message.content or ""
        link = re.search(r"\[daily_consumption\.svg\]\(/api/v1/artifacts/([0-9a-f]{64})\)", answer)
        assert link is not None, answer
        with gateway.http() as http:
            (summary,) = http.get("/api/v1/runs").json()["data"]
            run = http.get(f"/api/v1/runs/{summary['id']}").json()
            download = http.get(f"/api/v1/artifacts/{link.group(1)}")

    charts = {
        evidence["data"]["name"]: evidence["data"]["artifact_id"]
        for finding in run["findings"]
        for evidence in finding["evidence"]
        if evidence["data"].get("media_type") == "image/svg+xml"
    }
    assert charts["daily_consumption.svg"] == link.group(1)
    assert "load_profile.svg" in charts
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("image/svg+xml")
    assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert download.headers["x-content-type-options"] == "nosniff"
    svg = ET.fromstring(download.content)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(svg.findall("{http://www.w3.org/2000/svg}rect")) == 7
