"""`/api/v1/conversations`: list, read and delete stored conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from aether.gateway.auth import require_api_key
from aether.gateway.dependencies import StoreDep
from aether.gateway.errors import ApiError

router = APIRouter(prefix="/api/v1/conversations", dependencies=[Depends(require_api_key)])


class ConversationOut(BaseModel):
    id: str
    object: Literal["conversation"] = "conversation"
    title: str | None
    created_at: datetime
    updated_at: datetime


class MessageOut(BaseModel):
    id: str
    role: str
    content: str
    status: str
    error: str | None
    run_id: str | None
    created_at: datetime


class ConversationPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[ConversationOut]
    total: int
    limit: int
    offset: int


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class Deleted(BaseModel):
    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool = True


@router.get("")
async def list_conversations(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ConversationPage:
    items, total = await store.conversations.list(limit=limit, offset=offset)
    return ConversationPage(
        data=[ConversationOut.model_validate(item, from_attributes=True) for item in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{conversation_id}")
async def get_conversation(conversation_id: str, store: StoreDep) -> ConversationDetail:
    conversation = await store.conversations.get(conversation_id)
    if conversation is None:
        raise _not_found(conversation_id)
    messages = await store.conversations.messages(conversation_id)
    return ConversationDetail(
        **ConversationOut.model_validate(conversation, from_attributes=True).model_dump(),
        messages=[MessageOut.model_validate(m, from_attributes=True) for m in messages],
    )


@router.delete("/{conversation_id}")
async def delete_conversation(conversation_id: str, store: StoreDep) -> Deleted:
    if not await store.conversations.delete(conversation_id):
        raise _not_found(conversation_id)
    return Deleted(id=conversation_id)


def _not_found(conversation_id: str) -> ApiError:
    return ApiError(
        404,
        f"Conversation {conversation_id!r} does not exist.",
        param="conversation_id",
        code="conversation_not_found",
    )
