"""The README's host apps (``examples/token_flask.py``, ``examples/token_fastapi.py``) on their production servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator
from realtime_service.web.servers.serve import load_config

from .conftest import realtime_config
from .example_apps import served_example

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def host_app(framework: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The example for ``framework``, pointed at the emulator, served on loopback (``example_apps.py``)."""
    yield from served_example("token", framework, {"realtime": realtime_config(emulator)}, monkeypatch)


def test_a_host_app_mounts_the_endpoint_under_its_prefix(host_app: tuple[Any, str], emulator: Emulator) -> None:
    _, url = host_app
    response = requests.post(url + "/realtime/token", json={"voice": "cedar"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["value"].startswith("ek_")
    assert response.json()["session"]["audio"]["output"]["voice"] == "cedar"
    assert requests.get(url + "/realtime/healthz", timeout=10).json() == {"status": "ok"}
    assert [request.path for request in emulator.requests] == ["/v1/realtime/client_secrets"]


def test_the_example_config_file_loads_with_every_key_commented() -> None:
    from realtime_service.web.settings import DEFAULTS, load_server_settings

    config = load_config(str(ROOT / "config" / "token-server.yaml"))
    settings = load_server_settings(config.get("server"), {})
    assert settings.rate_limit == DEFAULTS["rate_limit"]
    assert settings.session.model == "gpt-realtime-2.1"
