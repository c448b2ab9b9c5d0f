import pytest

from aether.config import DeploymentMode, SettingsError, load_settings, without_settings


def test_defaults_are_the_monolith_on_loopback_with_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEPLOYMENT_MODE", "HOST", "PORT", "API_KEYS", "DATABASE_URL", "LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.deployment_mode is DeploymentMode.MONOLITH
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("/var/aether.db")
    assert settings.llm_base_url is None
    assert not settings.auth_enabled


def test_api_keys_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", " one, two ,,three ")
    assert load_settings(_env_file=None).api_keys == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("DEPLOYMENT_MODE", "cluster"),
        ("LLM_BASE_URL", "not a url"),
        ("LOG_LEVEL", "LOUD"),
        ("HOUSEHOLD_TIMEZONE", "Mars/Olympus"),
    ],
)
def test_an_invalid_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message


def test_public_bind_without_api_keys_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_KEYS", raising=False)
    monkeypatch.setenv("HOST", "0.0.0.0")
    with pytest.raises(SettingsError, match=r"^API_KEYS"):
        load_settings(_env_file=None)
    monkeypatch.setenv("API_KEYS", "secret")
    assert load_settings(_env_file=None).auth_enabled


def test_an_environment_without_settings_keeps_everything_else() -> None:
    environment = {"DATABASE_URL": "sqlite://", "log_level": "DEBUG", "PATH": "/usr/bin", "X": "1"}
    assert without_settings(environment) == {"PATH": "/usr/bin", "X": "1"}
