"""`/metrics` and the request metrics: counted by route template, never by raw path."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aether.observability.metrics import install_metrics


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    async def inner(_: object) -> PlainTextResponse:
        return PlainTextResponse("inner")

    app.mount("/mounted", Starlette(routes=[Route("/leaf", inner)]))
    install_metrics(app, "unit-test")
    return app


async def test_requests_are_counted_by_route_template_and_status() -> None:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for item in ("a", "b", "c"):
            assert (await client.get(f"/items/{item}")).status_code == 200
        assert (await client.get("/mounted/leaf")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    prefix = "aether_http_requests_total"
    assert (
        f'{prefix}{{method="GET",route="/items/{{item_id}}",service="unit-test",status="200"}} 3.0'
        in text
    )
    assert (
        f'{prefix}{{method="GET",route="/mounted/leaf",service="unit-test",status="200"}}' in text
    )
    assert f'{prefix}{{method="GET",route="unmatched",service="unit-test",status="404"}}' in text
    assert "/items/a" not in text
    assert 'aether_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
