"""A plain A2A agent built from the a2a-sdk alone (no Aether code): the other side of a client
test, the way any third-party agent on the mesh would look."""

from __future__ import annotations

from a2a.server.agent_execution import AgentExecutor
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface
from starlette.applications import Starlette


def sdk_agent_app(executor: AgentExecutor, *, name: str, description: str) -> Starlette:
    """JSON-RPC at `/` and the agent card at its well-known path, tasks kept in memory."""
    card = AgentCard(
        name=name,
        description=description,
        version="1",
        supported_interfaces=[
            AgentInterface(url="http://unused/", protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
    )
    handler = DefaultRequestHandler(
        agent_executor=executor, task_store=InMemoryTaskStore(), agent_card=card
    )
    return Starlette(
        routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, rpc_url="/")]
    )
