"""Typed, frozen settings for a Kantine node, loaded from one TOML file."""

from config.settings import (
    DatabaseSettings,
    DirectorySettings,
    FederationSettings,
    LoggingSettings,
    NodeSettings,
    ServerSettings,
    Settings,
    SettingsError,
    load_settings,
    settings_from_mapping,
)

__all__ = [
    "DatabaseSettings",
    "DirectorySettings",
    "FederationSettings",
    "LoggingSettings",
    "NodeSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "settings_from_mapping",
]
