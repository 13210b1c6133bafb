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
