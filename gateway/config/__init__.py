"""The config: `gateway.yaml` parsed once into frozen, typed objects.

    schema   the dataclasses and every default (Config, RouteConfig, ModelConfig, ...)
    parser   load()/loads(): YAML, `${VAR}` interpolation, strict validation, ConfigError
    fields   the typed converters the parser checks each value with

May import: `policies`, `providers` (their settings dataclasses), `gateway.redact`. Nothing
else of the gateway: every other package reads its settings from here.
"""

from gateway.config.parser import load, loads
from gateway.config.schema import (
    LOG_FORMATS,
    LOG_LEVELS,
    PROVIDER_TYPES,
    STORE_BACKENDS,
    STORE_MODES,
    UNMATCHED_CLASS,
    ClassConfig,
    Config,
    ConfigError,
    DashboardConfig,
    LearningConfig,
    LoggingConfig,
    ModelConfig,
    PromotionConfig,
    ProviderConfig,
    RouteConfig,
    ServerConfig,
    ShadowConfig,
    StoreConfig,
    TelemetryConfig,
)

__all__ = [
    "UNMATCHED_CLASS",
    "ClassConfig",
    "LearningConfig",
    "LOG_FORMATS", "LOG_LEVELS", "PROVIDER_TYPES", "STORE_BACKENDS", "STORE_MODES", "Config",
    "ConfigError",
    "DashboardConfig", "LoggingConfig", "ModelConfig", "PromotionConfig", "ProviderConfig",
    "RouteConfig", "ServerConfig", "ShadowConfig", "StoreConfig", "TelemetryConfig", "load",
    "loads",
]
