"""Settings: defaults, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import SettingsError, load_settings, settings_from_mapping


def test_defaults_are_safe() -> None:
    settings = settings_from_mapping({"node": {"domain": "finance.example.org"}}, env={})
    assert settings.federation.mode == "allowlist"
    assert settings.federation.authorized_fetch is True
    assert settings.federation.allow_http is False
    assert settings.federation.delivery_horizon_hours == 7 * 24
    assert settings.server.max_body_bytes == 1024 * 1024
    assert settings.base_url == "https://finance.example.org"


def test_environment_overrides_the_file() -> None:
    settings = settings_from_mapping(
        {"server": {"port": 8001}},
        env={"KANTINE_SERVER_PORT": "9001", "KANTINE_FEDERATION_ALLOW": "a.example, b.example"},
    )
    assert settings.server.port == 9001
    assert settings.federation.allow == ("a.example", "b.example")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"federation": {"mode": "everyone"}}, "federation.mode"),
        ({"server": {"port": "eighty"}}, "server.port"),
        ({"server": {"port": 70000}}, "server.port"),
        ({"server": {"colour": "blue"}}, "server.colour"),
        ({"nodes": {}}, "nodes"),
        ({"database": {"url": "mysql://x"}}, "database.url"),
        ({"node": {"base_url": "http://finance.example.org"}}, "node.base_url"),
        ({"node": {"home_feed_size": -1}}, "node.home_feed_size"),
        # plain http is for loopback demos and tests only
        (
            {
                "node": {"base_url": "http://finance.example.org"},
                "federation": {"allow_http": True},
            },
            "federation.allow_http",
        ),
        (
            {"node": {"domain": "finance.example.org"}, "federation": {"allow_http": True}},
            "federation.allow_http",
        ),
    ],
)
def test_a_wrong_value_names_its_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_mapping(data, env={})
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")


@pytest.mark.parametrize(
    "base", ["http://127.0.0.2:8001", "http://localhost:8001", "http://[::1]:8001"]
)
def test_plain_http_on_loopback_is_allowed(base: str) -> None:
    settings = settings_from_mapping(
        {"node": {"base_url": base}, "federation": {"allow_http": True}}, env={}
    )
    assert settings.base_url == base


def test_relative_sqlite_path_is_resolved_against_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "finance.toml"
    config.write_text('[database]\nurl = "sqlite+aiosqlite:///var/finance.db"\n', encoding="utf-8")
    settings = load_settings(config, env={})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'finance.db'}"


def test_a_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[node\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config, env={})
    with pytest.raises(SettingsError, match="file not found"):
        load_settings(tmp_path / "missing.toml", env={})
