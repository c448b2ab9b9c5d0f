"""The agent cards: what each agent service is, where to reach it, and how to authenticate.

Cards are how other A2A agents discover Aether, so they say only what the agents really do, list
the interfaces the service really serves (JSON-RPC and HTTP+JSON, A2A 1.0 and the 0.3
compatibility layer, all at one base URL), and declare the Bearer scheme exactly when the service
enforces it.
"""

from __future__ import annotations

from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import PROTOCOL_VERSION_0_3, PROTOCOL_VERSION_1_0, TransportProtocol

from aether import __version__
from aether.agents.contract import ServiceName
from aether.config import DeploymentMode, Role, Settings
from aether.mesh.a2a_mapping import EVENT_MEDIA_TYPE, REQUEST_MEDIA_TYPE

CARD_CACHE_CONTROL = "public, max-age=300"
"""Cards change only with a deployment; five minutes keeps discovery cheap and updates prompt."""
BEARER_SCHEME = "bearer"
PROVIDER = "Aether"
MOUNT_PREFIX = "/a2a"

_INPUT_MODES = ["text/plain", REQUEST_MEDIA_TYPE]
_OUTPUT_MODES = ["text/markdown", "text/plain", EVENT_MEDIA_TYPE]

_ENERGY_EXAMPLES = [
    "How much energy did I use last week?",
    "What is my baseload?",
    "When was my peak demand this month?",
]

_ARCHITECT_SKILLS = [
    AgentSkill(
        id="energy-questions",
        name="Energy questions",
        description=(
            "Answers questions about the household's energy use (consumption, baseload, peak "
            "demand, daily profile, device habits, sensor health) with figures computed from the "
            "household's own time series: it asks the DS orchestrator for the analysis and writes "
            "the answer with the configured LLM, or offline from the findings."
        ),
        tags=["energy", "home-assistant", "consumption", "baseload", "peak-demand"],
        examples=[*_ENERGY_EXAMPLES, "Which devices do I leave on at night?"],
    ),
    AgentSkill(
        id="automation-proposals",
        name="Automation proposals",
        description=(
            "With an LLM configured, suggests Home Assistant automations that follow from the "
            "findings, always as proposals for a person to approve; it never changes the home."
        ),
        tags=["home-assistant", "automation", "proposal"],
        examples=["Suggest an automation that cuts my standby consumption."],
    ),
]

_ORCHESTRATOR_SKILLS = [
    AgentSkill(
        id="team-analysis",
        name="Team analysis",
        description=(
            "Decides which analysts a question needs (energy, behavioral, diagnostic), runs them "
            "on the ds-analysts service, re-runs an analyst whose confidence is below 0.6 with a "
            "wider gap tolerance (at most twice), and returns the deduplicated findings ranked by "
            "importance with a short report."
        ),
        tags=["analysis", "energy", "data-science"],
        examples=[*_ENERGY_EXAMPLES[:2], "Give me a full report on last month."],
    ),
]

_ANALYST_SKILLS = [
    AgentSkill(
        id="energy-analyst",
        name="Energy analyst",
        description=(
            "Consumption per meter and in total (cumulative meters differenced with reset "
            "detection, power sensors integrated over time), daily profile, baseload, peak "
            "demand and top consumers, as structured findings with numbers and evidence."
        ),
        tags=["energy", "consumption", "baseload", "peak-demand"],
        examples=_ENERGY_EXAMPLES,
    ),
    AgentSkill(
        id="behavioral-analyst",
        name="Behavioral analyst",
        description=(
            "Device usage patterns: when and how long devices run, what runs at night, and "
            "recurring manual actions that could become automations."
        ),
        tags=["behavior", "patterns", "automation"],
        examples=["What are my daily routines?", "Which lights do I switch on by hand?"],
    ),
    AgentSkill(
        id="diagnostic-analyst",
        name="Diagnostic analyst",
        description=(
            "Sensor health and data quality: gaps, stale and unavailable sensors, implausible "
            "values and meter resets, with the coverage of every input."
        ),
        tags=["diagnostics", "data-quality", "sensors"],
        examples=["Are any of my sensors broken?", "Is data missing last week?"],
    ),
]

_DESCRIPTIONS = {
    ServiceName.ARCHITECT: (
        "Aether's conversational agent: answers questions about a household's energy use with "
        "real figures and proposes Home Assistant automations for a person to approve."
    ),
    ServiceName.DS_ORCHESTRATOR: (
        "Aether's data-science orchestrator: runs the analyst team for a question, retries weak "
        "results and returns ranked findings."
    ),
    ServiceName.DS_ANALYSTS: (
        "Aether's analysts (energy, behavioral, diagnostic) over the household's time series; "
        "every analysis runs in a sandbox. A plain-text message picks its analyst from the "
        "`skill` (or `agent`) metadata, else from the question's words, else the energy analyst."
    ),
}
_SKILLS = {
    ServiceName.ARCHITECT: _ARCHITECT_SKILLS,
    ServiceName.DS_ORCHESTRATOR: _ORCHESTRATOR_SKILLS,
    ServiceName.DS_ANALYSTS: _ANALYST_SKILLS,
}


def service_card(settings: Settings, service: ServiceName, *, on_gateway: bool) -> AgentCard:
    """The card of `service`, served by its own process or mounted under the gateway."""
    return _card(
        name=f"Aether {service.value}",
        description=_DESCRIPTIONS[service],
        url=a2a_url(settings, service, on_gateway=on_gateway),
        skills=_SKILLS[service],
        settings=settings,
    )


def gateway_card(settings: Settings) -> AgentCard:
    """Aether's front door: the card points at the architect, the agent that takes questions."""
    on_gateway = settings.deployment_mode is DeploymentMode.MONOLITH
    card = _card(
        name="Aether",
        description=(
            "An agent mesh that answers questions about a household's energy use. A2A callers "
            "talk to its architect agent; people use the OpenAI-compatible chat API at "
            f"{settings.public_url(Role.GATEWAY)}/api/v1."
        ),
        url=a2a_url(settings, ServiceName.ARCHITECT, on_gateway=on_gateway),
        skills=_ARCHITECT_SKILLS,
        settings=settings,
    )
    card.documentation_url = f"{settings.public_url(Role.GATEWAY)}/docs"
    return card


def a2a_url(settings: Settings, service: ServiceName, *, on_gateway: bool) -> str:
    """The base URL of a service's A2A endpoints (JSON-RPC is served at exactly this URL)."""
    if on_gateway:
        return f"{settings.public_url(Role.GATEWAY)}{MOUNT_PREFIX}/{service.value}/"
    return f"{settings.public_url(Role(service.value))}/"


def _card(
    *, name: str, description: str, url: str, skills: list[AgentSkill], settings: Settings
) -> AgentCard:
    card = AgentCard(
        name=name,
        description=description,
        version=__version__,
        provider=AgentProvider(organization=PROVIDER, url=settings.public_url(Role.GATEWAY)),
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding=binding, protocol_version=version)
            for version in (PROTOCOL_VERSION_1_0, PROTOCOL_VERSION_0_3)
            for binding in (TransportProtocol.JSONRPC, TransportProtocol.HTTP_JSON)
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=_INPUT_MODES,
        default_output_modes=_OUTPUT_MODES,
        skills=skills,
    )
    if settings.service_credentials:
        card.security_schemes[BEARER_SCHEME].CopyFrom(
            SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="Bearer",
                    description="SERVICE_TOKEN, or one of the API keys, as a Bearer token.",
                )
            )
        )
        card.security_requirements.append(
            SecurityRequirement(schemes={BEARER_SCHEME: StringList()})
        )
    return card
