"""The baseline A2A agent: a bare a2a-sdk echo agent, served the SDK's default way.

A minimal AgentExecutor behind the SDK's DefaultRequestHandler, its card, JSON-RPC and HTTP+JSON
routes on a Starlette app, run by uvicorn in its own process. Nothing of Aether's is imported:
this is what an A2A hop costs with the SDK alone. Used by `bench/a2a_hop.py` and, as the
reference behaviour, by the A2A conformance test (tests/e2e/test_distributed_conformance.py).

    python bench/echo_agent.py --port 9999                        # in-memory task store
    python bench/echo_agent.py --port 9999 --store sqlite --database /tmp/echo.db

The executor answers with one `echo` artifact holding the text it received, then COMPLETED,
the pattern of the SDK's samples. Two switches for measurements and tests:

- `--shape aether` makes it publish the events Aether's architect publishes for "hello" (one
  WORKING status with a message, one artifact update holding the 8 lines of the greeting, one
  text part each, COMPLETED with a message), so the SDK's cost per event can be told apart from
  Aether's own code;
- a message whose text starts with `wait` keeps its task WORKING until it is cancelled (or 60 s
  pass), so CancelTask can be tried on a running task.

The SQLite store uses the settings Aether's engine uses (WAL, synchronous=NORMAL, a busy
timeout), so a comparison with Aether's services differs in the code, not in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from typing import Any

import uvicorn
from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import DatabaseTaskStore, InMemoryTaskStore, TaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Part,
    TaskState,
)
from a2a.utils.constants import PROTOCOL_VERSION_1_0, TransportProtocol
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette

WAIT_PREFIX = "wait"
WAIT_LIMIT_SECONDS = 60.0
CHUNKS = 8


class EchoExecutor(AgentExecutor):
    def __init__(self, shape: str) -> None:
        self._shape = shape

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message, task_id, context_id = context.message, context.task_id, context.context_id
        if message is None or task_id is None or context_id is None:
            return
        if context.current_task is None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        updater = TaskUpdater(event_queue, task_id, context_id)
        text = "".join(part.text for part in message.parts if part.HasField("text"))
        if text.startswith(WAIT_PREFIX):
            await updater.start_work(updater.new_agent_message([Part(text="waiting")]))
            await asyncio.sleep(WAIT_LIMIT_SECONDS)  # ends early: CancelTask cancels this
            await updater.complete()
            return
        if self._shape == "aether":
            await self._aether_shaped(updater, text)
            return
        await updater.add_artifact([Part(text=text)], name="echo")
        await updater.complete()

    async def _aether_shaped(self, updater: TaskUpdater, text: str) -> None:
        await updater.start_work(updater.new_agent_message([Part(text="writing")]))
        await updater.add_artifact(
            [new_text_part(f"{text} {index}\n", "text/markdown") for index in range(CHUNKS)],
            artifact_id="answer",
            name="answer",
        )
        await updater.update_status(
            TaskState.TASK_STATE_COMPLETED, updater.new_agent_message([Part(text=text)])
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id is None or context.context_id is None:
            return
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def agent_card(url: str) -> AgentCard:
    return AgentCard(
        name="Echo",
        description="Echoes the text it is sent (the bare a2a-sdk baseline).",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(
                url=url,
                protocol_binding=binding,
                protocol_version=PROTOCOL_VERSION_1_0,
            )
            for binding in (TransportProtocol.JSONRPC, TransportProtocol.HTTP_JSON)
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id="echo",
                name="Echo",
                description="Sends the message's text back as an artifact.",
                tags=["echo"],
                examples=["hello"],
            )
        ],
    )


def sqlite_engine(path: str) -> AsyncEngine:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(connection: sqlite3.Connection, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    return engine


def build_app(url: str, store: TaskStore, shape: str) -> Starlette:
    card = agent_card(url)
    handler = DefaultRequestHandler(
        agent_executor=EchoExecutor(shape), task_store=store, agent_card=card
    )
    return Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, rpc_url="/"),
            *create_rest_routes(handler),
        ]
    )


async def serve(args: argparse.Namespace) -> None:
    store: TaskStore
    if args.store == "sqlite":
        if not args.database:
            raise SystemExit("--store sqlite needs --database PATH")
        store = DatabaseTaskStore(sqlite_engine(args.database))
        await store.initialize()
    else:
        store = InMemoryTaskStore()
    url = f"http://{args.host}:{args.port}/"
    app = build_app(url, store, args.shape)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    await uvicorn.Server(config).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--database", help="SQLite file for --store sqlite")
    parser.add_argument("--shape", choices=("echo", "aether"), default="echo")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
