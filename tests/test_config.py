"""Settings: package defaults < environment < explicit config, and refusals that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from realtime_service.config import DEFAULTS, load_settings
from realtime_service.errors import ConfigurationError


def test_a_fresh_load_carries_the_package_defaults() -> None:
    settings = load_settings(None, {})
    assert settings.base_url == "https://api.openai.com/v1"
    assert (settings.timeout.connect, settings.timeout.read) == (5.0, 20.0)
    assert settings.retry.max_retries == 2
    assert settings.retry.initial_delay == 0.5
    assert settings.retry.max_delay == 8.0
    assert settings.retry.max_retry_after == 60.0
    assert settings.retry.total_timeout == 30.0
    assert settings.pool_maxsize == 10
    assert settings.api_key is None


def test_environment_fills_keys_not_set_explicitly() -> None:
    environ = {
        "OPENAI_API_KEY": "sk-from-env-000000",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_ORG_ID": "org_env",
        "OPENAI_PROJECT_ID": "proj_env",
    }
    settings = load_settings({}, environ)
    assert settings.api_key == "sk-from-env-000000"
    assert settings.base_url == "http://127.0.0.1:9/v1"
    assert settings.organization == "org_env"
    assert settings.project == "proj_env"


def test_explicit_config_wins_over_the_environment() -> None:
    settings = load_settings(
        {"api_key": "sk-explicit-00000", "organization": "org_explicit"},
        {"OPENAI_API_KEY": "sk-from-env-000000", "OPENAI_ORG_ID": "org_env"},
    )
    assert settings.api_key == "sk-explicit-00000"
    assert settings.organization == "org_explicit"


def test_an_explicit_none_leaves_the_key_to_the_environment() -> None:
    settings = load_settings({"api_key": None}, {"OPENAI_API_KEY": "sk-from-env-000000"})
    assert settings.api_key == "sk-from-env-000000"


def test_nested_keys_merge_without_losing_their_siblings() -> None:
    settings = load_settings({"retry": {"max_retries": 5}, "timeout": {"read": 3}}, {})
    assert settings.retry.max_retries == 5
    assert settings.retry.total_timeout == DEFAULTS["retry"]["total_timeout"]
    assert settings.timeout == type(settings.timeout)(connect=5.0, read=3.0)


def test_an_unknown_key_is_refused_by_its_dotted_name() -> None:
    with pytest.raises(ConfigurationError, match=r"retry\.max_retires"):
        load_settings({"retry": {"max_retires": 5}}, {})


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"timeout": {"read": "soon"}}, "timeout.read"),
        ({"timeout": {"connect": 0}}, "timeout.connect"),
        ({"retry": {"max_retries": -1}}, "retry.max_retries"),
        ({"retry": {"max_retries": True}}, "retry.max_retries"),
        ({"pool": {"maxsize": 0}}, "pool.maxsize"),
        ({"allow_insecure_http": "maybe"}, "allow_insecure_http"),
    ],
)
def test_a_bad_value_is_refused_by_its_key(config: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigurationError, match=key.replace(".", r"\.")):
        load_settings(config, {})


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        load_settings({"base_url": "http://api.example.com/v1"}, {})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"])
def test_plain_http_to_loopback_is_allowed(host: str) -> None:
    assert load_settings({"base_url": f"http://{host}:8080/v1"}, {}).base_url == f"http://{host}:8080/v1"


def test_plain_http_to_a_remote_host_is_allowed_when_configured() -> None:
    settings = load_settings({"base_url": "http://gateway.internal/v1", "allow_insecure_http": True}, {})
    assert settings.base_url == "http://gateway.internal/v1"


def test_a_base_url_with_credentials_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="credentials"):
        load_settings({"base_url": "https://user:pw@api.openai.com/v1"}, {})


def test_a_missing_api_key_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigurationError, match=r"'api_key'.*OPENAI_API_KEY"):
        load_settings({}, {}).require_api_key()


def test_settings_repr_redacts_the_key() -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
    text = repr(load_settings({"api_key": key}, {}))
    assert key not in text
    assert "0123" in text


def _dotted_keys(tree: dict[str, object], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _dotted_keys(value, f"{prefix}{key}.")
    return keys


def test_the_default_yaml_documents_every_key_and_only_real_keys() -> None:
    """``config/realtime.yaml`` holds every key commented out: uncommented, it must load to exactly DEFAULTS' keys."""
    text = (Path(__file__).resolve().parents[1] / "config" / "realtime.yaml").read_text(encoding="utf-8")
    uncommented = [re.sub(r"^(\s+)# ?", r"\1", line) if line.startswith("  #") else line for line in text.splitlines()]
    documented = yaml.safe_load("\n".join(uncommented))["realtime"]
    assert _dotted_keys(documented) == _dotted_keys(DEFAULTS)


def test_azure_without_an_api_version_cannot_use_the_classic_paths() -> None:
    azure = load_settings({"provider": "azure"}, {})
    assert sorted(azure.unusable_operations) == ["sessions", "transcription_sessions"]
    assert "OPENAI_API_VERSION" in azure.unusable_operations["sessions"]
    assert load_settings({"provider": "azure"}, {"OPENAI_API_VERSION": "2025-04-01-preview"}).unusable_operations == {}
    assert load_settings(None, {}).unusable_operations == {}
