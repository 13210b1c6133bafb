"""Settings: read from the environment once, and documented in the README."""

from __future__ import annotations

import pytest

from territoires.shared.settings import ConfigurationError, Settings, get_settings

from ..conftest import ROOT


def environment_names() -> list[tuple[str, str]]:
    """(variable, short form used in grouped README rows) for every setting."""
    names = []
    for name, field in Settings.model_fields.items():
        if field.validation_alias is not None:
            names.append((field.validation_alias.choices[0], field.validation_alias.choices[0]))
        else:
            names.append((f"TERRITOIRES_{name.upper()}", f"_{name.upper()}"))
    return names


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        full
        for full, short in environment_names()
        if f"`{full}`" not in readme and f"`{short}`" not in readme
    ]
    assert not missing


def test_conventional_urls_and_prefixed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/territoires")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("TERRITOIRES_CATALOG_URL", "http://catalog:8000/")
    monkeypatch.setenv("TERRITOIRES_TILES_PORT", "9003")
    monkeypatch.setenv("TERRITOIRES_API_KEY_PEPPER", "a-pepper-of-its-own")
    settings = Settings()
    assert settings.require_database_url() == "postgresql://db/territoires"
    assert settings.service_url("catalog") == "http://catalog:8000"
    assert settings.service_url("tiles") == "http://127.0.0.1:9003"


def test_missing_urls_explain_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    settings = Settings(_env_file=None)
    with pytest.raises(ConfigurationError, match="DATABASE_URL is not set"):
        settings.require_database_url()
    with pytest.raises(ConfigurationError, match="REDIS_URL is not set"):
        settings.require_redis_url()


def test_invalid_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERRITOIRES_GATEWAY_PORT", "70000")
    get_settings.cache_clear()
    with pytest.raises(
        ConfigurationError, match="invalid setting TERRITOIRES_GATEWAY_PORT='70000'"
    ):
        get_settings()
    get_settings.cache_clear()


# Backends on other hosts: outside local mode.
DEPLOYED = {
    "DATABASE_URL": "postgresql://territoires:a-password-of-its-own@postgis:5432/territoires",
    "REDIS_URL": "redis://:a-password-of-its-own@redis:6379/0",
    "TERRITOIRES_API_KEY_PEPPER": "a-pepper-of-its-own",
}


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TERRITOIRES_API_KEY_PEPPER", None, "TERRITOIRES_API_KEY_PEPPER"),  # the built-in one
        ("TERRITOIRES_API_KEY_PEPPER", "territoires-compose-pepper", "TERRITOIRES_API_KEY_PEPPER"),
        ("TERRITOIRES_API_KEY_PEPPER", "", "TERRITOIRES_API_KEY_PEPPER (empty)"),
        (
            "DATABASE_URL",
            "postgresql://territoires:territoires@postgis:5432/territoires",
            "the password of DATABASE_URL",
        ),
        ("REDIS_URL", "redis://:CHANGE-ME@redis:6379/0", "the password of REDIS_URL"),
        ("AWS_SECRET_ACCESS_KEY", "territoires-compose-secret", "AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_development_secrets_are_refused_outside_local_mode(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None, named: str
) -> None:
    for name, given in DEPLOYED.items():
        monkeypatch.setenv(name, given)
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError) as raised:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(raised.value)
    assert message.startswith(f"invalid setting {named}: a development default, refused")
    assert "\n" not in message
    assert "a-password-of-its-own" not in message


def test_deployed_settings_with_secrets_of_their_own_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, given in DEPLOYED.items():
        monkeypatch.setenv(name, given)
    settings = Settings(_env_file=None)
    assert not settings.local_mode
    assert settings.api_key_pepper.get_secret_value() == "a-pepper-of-its-own"


@pytest.mark.parametrize(
    ("database_url", "redis_url"),
    [
        ("postgresql://postgres@127.0.0.1:5432/t", "redis://127.0.0.1:6379/0"),
        ("postgresql://territoires:territoires@localhost/t", "redis://:territoires@[::1]:6379/0"),
        ("postgresql:///t?host=/var/run/postgresql", "unix:///run/redis/redis.sock"),
    ],
)
def test_local_mode_keeps_the_development_defaults(
    monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str
) -> None:
    """Backends on this machine are local mode (`make run`, the tests): the built-in pepper
    and the example passwords are allowed there."""
    monkeypatch.delenv("TERRITOIRES_API_KEY_PEPPER", raising=False)
    settings = Settings(DATABASE_URL=database_url, REDIS_URL=redis_url, _env_file=None)
    assert settings.local_mode
