"""Settings, read once from the environment (and `.env`) with pydantic-settings.

Every knob of Aether lives here so that both deployment modes and every service read the same names.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class DeploymentMode(StrEnum):
    MONOLITH = "monolith"
    DISTRIBUTED = "distributed"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class SettingsError(Exception):
    """A setting is invalid; the message is one line that names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    deployment_mode: DeploymentMode = DeploymentMode.MONOLITH
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    aether_data_dir: Path = Path("./var")
    database_url: str | None = None
    llm_base_url: AnyHttpUrl | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    log_level: LogLevel = LogLevel.INFO
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    analysis_timeout_seconds: float = Field(default=60.0, gt=0)
    household_timezone: str = "Europe/Berlin"
    demo_days: int = Field(default=90, ge=14, le=730)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("llm_base_url", "database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

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


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise SettingsError with one line naming the bad variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    if not settings.api_keys and not settings.binds_loopback:
        raise SettingsError(
            f"API_KEYS: must be set when HOST={settings.host} is not a loopback address"
        )
    return settings


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    variable = str(error["loc"][0]).upper() if error["loc"] else "settings"
    value = error.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
    return f"{variable}: {error['msg']}{shown}"
