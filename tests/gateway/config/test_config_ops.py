"""The operator's config keys: logging and dashboard, with their error messages."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, loads

BASE = """
providers: {sim: {type: simulated}}
models: {a: {provider: sim}}
routes: {auto: {candidates: [a]}}
"""


def test_defaults() -> None:
    config = loads(BASE, env={})
    assert (config.logging.level, config.logging.format) == ("info", "text")
    assert config.dashboard.history_interval_s == 2.0
    assert config.dashboard.history_points == 300


def test_values() -> None:
    config = loads(BASE + "logging: {level: DEBUG, format: json}\n"
                   "dashboard: {history_interval_s: 0.5, history_points: 50}\n", env={})
    assert (config.logging.level, config.logging.format) == ("debug", "json")
    assert config.dashboard.history_interval_s == 0.5
    assert config.dashboard.history_points == 50


@pytest.mark.parametrize(("extra", "expected"), [
    ("logging: {level: loud}", "logging.level: expected one of debug, info, warning, error, "
     "critical, got 'loud'"),
    ("logging: {format: xml}", "logging.format: expected one of text, json, got 'xml'"),
    ("logging: {colour: true}", "logging.colour: unknown key (expected one of: access_log, format, "
     "level)"),
    ("logging: json", "logging: expected a mapping, got str"),
    ("dashboard: {history_interval_s: 0}", "dashboard.history_interval_s: must be at least "
     "0.05, got 0"),
    ("dashboard: {history_points: 1}", "dashboard.history_points: must be at least 2, got 1"),
    ("dashboard: {history_points: 2.5}", "dashboard.history_points: expected an integer, "
     "got 2.5"),
])
def test_error_messages(extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads(BASE + extra + "\n", env={})
    assert expected in info.value.errors


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.config import load

    path = tmp_path / "broken.yaml"
    path.write_text("server:\n  port: [8080,\nmodels: {}\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    (error,) = info.value.errors
    assert error.startswith(f"{path}, line ") and "not valid YAML" in error
    assert "<unicode string>" not in error


def test_an_unknown_key_suggests_the_known_one() -> None:
    with pytest.raises(ConfigError) as info:
        loads(BASE + "logging: {levle: debug}\n", env={})
    assert info.value.errors == ["logging.levle: unknown key (did you mean 'level'? expected "
                                 "one of: access_log, format, level)"]


def test_access_log_is_opt_in() -> None:
    assert loads(BASE, env={}).logging.access_log is False
    assert loads(BASE + "logging: {access_log: true}\n", env={}).logging.access_log is True
