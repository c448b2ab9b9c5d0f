"""`GET /api/v1/models`: the agents, presented as OpenAI models."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from aether.gateway.auth import require_api_key
from aether.gateway.catalog import find_model, list_models
from aether.gateway.openai_schema import ModelCard, ModelList

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_key)])


@router.get("/models")
async def models() -> ModelList:
    return ModelList(data=list_models())


@router.get("/models/{model_id}")
async def model(model_id: str) -> ModelCard:
    return find_model(model_id)
