"""Settings, read once from the environment (and `.env`) with pydantic-settings.

Every knob of Aether lives here so that both deployment modes and every service read the same names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from aether.analysis.tariff import Tariff


class DeploymentMode(StrEnum):
    MONOLITH = "monolith"
    DISTRIBUTED = "distributed"


class Role(StrEnum):
    """The deployable roles: the gateway and the three agent services."""

    GATEWAY = "gateway"
    ARCHITECT = "architect"
    DS_ORCHESTRATOR = "ds-orchestrator"
    DS_ANALYSTS = "ds-analysts"


DEFAULT_PORTS: dict[Role, int] = {
    Role.GATEWAY: 8000,
    Role.ARCHITECT: 8001,
    Role.DS_ORCHESTRATOR: 8002,
    Role.DS_ANALYSTS: 8003,
}


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class SandboxMode(StrEnum):
    """Where analysis jobs run: gVisor, plain child processes, or gVisor when it works."""

    GVISOR = "gvisor"
    PROCESS = "process"
    AUTO = "auto"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    """Refuses to start an analysts service without gVisor."""


class SettingsError(Exception):
    """A setting is invalid; the message is one line that names the variable."""


_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


def parse_service_urls(value: str) -> list[str]:
    """A comma-separated list of base URLs, one per replica of a service (spaces tolerated):
    `http://127.0.0.1:41001,http://127.0.0.1:41002`. Raises ValueError saying which entry is
    wrong."""
    entries = [entry.strip() for entry in value.split(",")]
    if not any(entries):
        raise ValueError("needs at least one http(s) base URL")
    urls: list[str] = []
    for position, entry in enumerate(entries, start=1):
        if not entry:
            raise ValueError(f"entry {position} of {len(entries)} is empty (a stray comma?)")
        try:
            url = str(_HTTP_URL.validate_python(entry)).rstrip("/")
        except ValidationError:
            raise ValueError(f"entry {position} ({entry!r}) is not an http(s) URL") from None
        if url in urls:
            raise ValueError(f"lists {url} twice")
        urls.append(url)
    return urls


def _urls(port: int) -> list[AnyHttpUrl]:
    return [AnyHttpUrl(f"http://localhost:{port}")]


ServiceUrls = Annotated[list[AnyHttpUrl], NoDecode, Field(min_length=1)]
"""One base URL per replica of an agent service."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    deployment_mode: DeploymentMode = DeploymentMode.MONOLITH
    aether_service: Role = Role.GATEWAY
    """The role this process plays (`aether serve --service` sets it)."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    """Defaults to the role's port (8000-8003) when neither PORT nor --port is given."""
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    service_token: SecretStr | None = None
    """Bearer token the agent services require on their A2A routes and every caller sends."""
    architect_service_url: ServiceUrls = Field(default_factory=lambda: _urls(8001))
    ds_orchestrator_url: ServiceUrls = Field(default_factory=lambda: _urls(8002))
    ds_analysts_url: ServiceUrls = Field(default_factory=lambda: _urls(8003))
    """Where the other processes reach each agent service in distributed mode: one base URL, or
    a comma-separated list with one URL per replica (calls are spread over them)."""
    gateway_public_url: AnyHttpUrl | None = None
    architect_public_url: AnyHttpUrl | None = None
    ds_orchestrator_public_url: AnyHttpUrl | None = None
    ds_analysts_public_url: AnyHttpUrl | None = None
    """What the agent cards advertise; unset, a service advertises its service URL (and the
    gateway http://localhost:PORT)."""
    a2a_timeout_seconds: float = Field(default=120.0, gt=0)
    """Longest silence on an A2A call (streams carry keep-alive pings every 15 s)."""
    a2a_connect_retries: int = Field(default=2, ge=0, le=10)
    """Retries of a refused connection to a single service URL; a list of replicas is instead
    tried once each (the next replica on a refusal)."""
    run_lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    """How long a run stays `running` without a heartbeat from the gateway replica serving it;
    then any replica ends it `failed` (the replica was killed or lost its database)."""
    run_heartbeat_seconds: float = Field(default=5.0, gt=0, le=600)
    """How often a gateway replica renews the leases of its runs in flight (one batched write,
    which also saves their partial answers) and looks for runs whose lease expired."""
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=3600)
    """How long a stopping service lets its answers in flight finish. A gateway then ends those
    still running with a retryable 503 error (the run `failed`, its partial answer kept); an
    agent service then closes its streams."""
    aether_data_dir: Path = Path("./var")
    database_url: str | None = None
    llm_base_url: AnyHttpUrl | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    log_level: LogLevel = LogLevel.INFO
    log_format: Literal["json", "text"] = "json"
    """json: one JSON object per line, with the service, run id and trace id; text: for reading
    in a terminal."""
    mlflow_tracking_uri: str | None = None
    """MLflow tracking server (MLflow's own variable): set, every span of every request is traced
    there; unset, tracing is off and costs nothing."""
    mlflow_experiment_name: str = Field(default="aether", min_length=1)
    """The MLflow experiment the traces go to (MLflow's own variable); created if missing."""
    mlflow_trace_sampling_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of the chat requests traced (MLflow's own variable), decided by the gateway and
    followed by every service, so a request is traced everywhere or nowhere."""
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    analysis_timeout_seconds: float = Field(default=60.0, gt=0)
    """Wall-clock limit of a standard-depth analysis job; quick jobs get a third, deep ones 3x."""
    environment: Environment = Environment.DEVELOPMENT
    sandbox: SandboxMode = SandboxMode.AUTO
    sandbox_pool_size: int = Field(default=2, ge=0, le=16)
    """Warm gVisor sandboxes kept ready (libraries imported), one job each; 0 disables the pool."""
    sandbox_memory_mb: int = Field(default=2048, ge=256)
    """Memory limit of a standard-depth analysis job; quick jobs get half, deep ones double."""
    sandbox_runsc: str = "runsc"
    """The gVisor runtime binary (a name on PATH or a path)."""
    household_timezone: str = "Europe/Berlin"
    demo_days: int = Field(default=90, ge=14, le=730)
    tariff: Annotated[Tariff | None, NoDecode] = None
    """Electricity price for cost figures: `0.32 EUR`, time-of-use bands such as
    `EUR 0.25@00-07,0.35@07-23,0.25@23-24`, or JSON (syntax in aether/analysis/tariff.py and
    docs/analysis.md). Unset: no costs."""
    data_source: Literal["demo", "homeassistant", "files"] = "demo"
    """Where the household's history comes from: the generated demo, Home Assistant (HA_URL,
    HA_TOKEN), or files imported with `aether data import` (docs/data-sources.md)."""
    ha_url: AnyHttpUrl | None = None
    ha_token: SecretStr | None = None
    """A long-lived access token of a Home Assistant user (profile page, Security tab)."""
    ha_timeout_seconds: float = Field(default=30.0, gt=0)
    """Longest wait for one Home Assistant request (REST call or WebSocket answer)."""
    ha_batch_entities: int = Field(default=10, ge=1, le=500)
    ha_batch_days: float = Field(default=3.0, gt=0, le=366)
    """History is fetched in requests of at most this many entities and days each."""
    ha_history_days: int = Field(default=10, ge=1, le=3650)
    """How far back Home Assistant keeps full history (the recorder's `purge_keep_days`); older
    ranges are read from its hourly long-term statistics."""
    ha_entities: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated entity ids or patterns (`sensor.*_energy`) to analyse; empty: sensors
    with a state_class, lights, switches, fans, climate and water heaters."""
    ha_minimal_response: bool = False
    """Ask the history API for `minimal_response`: smaller answers, but HA then drops repeated
    identical states, which the diagnostics count as gaps."""

    @field_validator("api_keys", "ha_entities", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator(
        "architect_service_url", "ds_orchestrator_url", "ds_analysts_url", mode="before"
    )
    @classmethod
    def _split_urls(cls, value: object) -> object:
        return parse_service_urls(value) if isinstance(value, str) else value

    @field_validator("run_heartbeat_seconds")
    @classmethod
    def _heartbeat_within_lease(cls, value: float, info: ValidationInfo) -> float:
        lease = info.data.get("run_lease_seconds")
        if lease is not None and value * 2 > lease:
            raise ValueError(
                f"must be at most half of RUN_LEASE_SECONDS ({lease:g}), or a live run could be "
                "taken for a dead one between two heartbeats"
            )
        return value

    @field_validator(
        "llm_base_url",
        "database_url",
        "service_token",
        "gateway_public_url",
        "architect_public_url",
        "ds_orchestrator_public_url",
        "ds_analysts_public_url",
        "ha_url",
        "ha_token",
        "mlflow_tracking_uri",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _role_port(self) -> Settings:
        if "port" not in self.model_fields_set:
            self.port = DEFAULT_PORTS[self.aether_service]
        return self

    @field_validator("tariff", mode="before")
    @classmethod
    def _parse_tariff(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        try:
            return Tariff.parse(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ValueError(f"invalid tariff: {f'{where}: ' if where else ''}{message}") from None
        except ValueError as exc:
            raise ValueError(f"invalid tariff: {exc}") from None

    @field_validator("household_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def effective_database_url(self) -> str:
        """The configured database, or SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.aether_data_dir / 'aether.db').resolve()}"

    @property
    def binds_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @property
    def service_credentials(self) -> list[str]:
        """What the A2A routes accept: the service token and every API key."""
        token = [self.service_token.get_secret_value()] if self.service_token else []
        return token + self.api_keys

    @property
    def outbound_token(self) -> str | None:
        """What this process sends to other agent services: SERVICE_TOKEN, else the first key."""
        if self.service_token:
            return self.service_token.get_secret_value()
        return self.api_keys[0] if self.api_keys else None

    def service_urls(self, role: Role) -> list[str]:
        """Where other processes reach `role`: one base URL per replica (no trailing slashes)."""
        gateway_port = (
            self.port if self.aether_service is Role.GATEWAY else DEFAULT_PORTS[Role.GATEWAY]
        )
        gateway = self.gateway_public_url or AnyHttpUrl(f"http://localhost:{gateway_port}")
        urls = {
            Role.GATEWAY: [gateway],
            Role.ARCHITECT: self.architect_service_url,
            Role.DS_ORCHESTRATOR: self.ds_orchestrator_url,
            Role.DS_ANALYSTS: self.ds_analysts_url,
        }
        return [str(url).rstrip("/") for url in urls[role]]

    def service_url(self, role: Role) -> str:
        """Where other processes reach `role`; with several replicas, the first one's URL."""
        return self.service_urls(role)[0]

    def public_url(self, role: Role) -> str:
        """The base URL `role` advertises in its agent card (no trailing slash)."""
        public = {
            Role.GATEWAY: self.gateway_public_url,
            Role.ARCHITECT: self.architect_public_url,
            Role.DS_ORCHESTRATOR: self.ds_orchestrator_public_url,
            Role.DS_ANALYSTS: self.ds_analysts_public_url,
        }[role]
        return str(public).rstrip("/") if public else self.service_url(role)


def without_settings(environment: Mapping[str, str]) -> dict[str, str]:
    """`environment` minus every variable that sets an Aether setting: a service started with
    it runs on the defaults plus whatever its launcher adds (tests, benchmarks)."""
    names = {name.upper() for name in Settings.model_fields}
    return {key: value for key, value in environment.items() if key.upper() not in names}


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise SettingsError with one line naming the bad variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    if settings.binds_loopback:
        return settings
    if settings.aether_service is Role.GATEWAY and not settings.api_keys:
        raise SettingsError(
            f"API_KEYS: must be set when HOST={settings.host} is not a loopback address"
        )
    if not settings.service_credentials:
        raise SettingsError(
            f"SERVICE_TOKEN: must be set (or API_KEYS) when the {settings.aether_service.value} "
            f"service binds HOST={settings.host}, which is not a loopback address"
        )
    return settings


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    variable = str(error["loc"][0]).upper() if error["loc"] else "settings"
    value = error.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{variable}: {message}{shown}"
