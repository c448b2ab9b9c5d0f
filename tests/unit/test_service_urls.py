"""Service URL settings: one base URL, or a comma-separated list with one per replica, checked
with errors that name the variable and the entry."""

from __future__ import annotations

import re

import pytest

from aether.agents.contract import ServiceName
from aether.config import Role, SettingsError, load_settings, parse_service_urls
from aether.mesh.topology import remote_client


def test_a_single_url_is_a_list_of_one() -> None:
    assert parse_service_urls("http://ds-analysts:8000/") == ["http://ds-analysts:8000"]


def test_a_list_as_the_launcher_writes_it_and_with_spaces() -> None:
    expected = ["http://127.0.0.1:41001", "http://127.0.0.1:41002"]
    assert parse_service_urls("http://127.0.0.1:41001,http://127.0.0.1:41002") == expected
    assert parse_service_urls(" http://127.0.0.1:41001 , http://127.0.0.1:41002/ ") == expected


def test_a_base_path_is_kept() -> None:
    assert parse_service_urls("https://h/a2a/architect/") == ["https://h/a2a/architect"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "needs at least one http(s) base URL"),
        (" , ", "needs at least one http(s) base URL"),
        ("http://a:1,,http://b:1", "entry 2 of 3 is empty (a stray comma?)"),
        ("http://a:1,", "entry 2 of 2 is empty (a stray comma?)"),
        ("http://a:1,ds-analysts:8000", "entry 2 ('ds-analysts:8000') is not an http(s) URL"),
        ("ftp://a", "entry 1 ('ftp://a') is not an http(s) URL"),
        ("http://a:1,http://a:1/", "lists http://a:1 twice"),
    ],
)
def test_a_bad_list_says_which_entry_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_service_urls(value)


def test_the_variable_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_ANALYSTS_URL", "http://127.0.0.1:41001,nonsense")
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert message.startswith("DS_ANALYSTS_URL: entry 2 ('nonsense') is not an http(s) URL")
    assert "\n" not in message


def test_every_role_url_takes_a_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHITECT_SERVICE_URL", "http://a1:8000,http://a2:8000")
    monkeypatch.setenv("DS_ORCHESTRATOR_URL", "http://ds-orchestrator:8000")
    monkeypatch.setenv("DS_ANALYSTS_URL", "http://127.0.0.1:41001, http://127.0.0.1:41002")
    settings = load_settings(_env_file=None)
    assert settings.service_urls(Role.ARCHITECT) == ["http://a1:8000", "http://a2:8000"]
    assert settings.service_urls(Role.DS_ORCHESTRATOR) == ["http://ds-orchestrator:8000"]
    assert settings.service_urls(Role.DS_ANALYSTS) == [
        "http://127.0.0.1:41001",
        "http://127.0.0.1:41002",
    ]
    assert settings.service_url(Role.ARCHITECT) == "http://a1:8000"


def test_defaults_and_a_single_url_given_in_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DS_ANALYSTS_URL", raising=False)
    assert load_settings(_env_file=None).service_urls(Role.DS_ANALYSTS) == ["http://localhost:8003"]
    settings = load_settings(_env_file=None, ds_analysts_url="http://127.0.0.1:9/")
    assert settings.service_urls(Role.DS_ANALYSTS) == ["http://127.0.0.1:9"]


def test_the_client_of_a_role_gets_every_replica() -> None:
    settings = load_settings(_env_file=None, ds_analysts_url="http://r1:8000,http://r2:8000")
    client = remote_client(settings, ServiceName.DS_ANALYSTS)
    assert client.base_urls == ["http://r1:8000/", "http://r2:8000/"]


@pytest.mark.parametrize(("lease", "heartbeat"), [(30, 16), (1, 0.6)])
def test_a_heartbeat_must_fit_twice_in_the_lease(lease: float, heartbeat: float) -> None:
    with pytest.raises(SettingsError, match=r"^RUN_HEARTBEAT_SECONDS: must be at most half"):
        load_settings(_env_file=None, run_lease_seconds=lease, run_heartbeat_seconds=heartbeat)
    assert load_settings(_env_file=None, run_lease_seconds=lease, run_heartbeat_seconds=lease / 2)
