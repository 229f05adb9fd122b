"""The README's host apps (``examples/token_flask.py``, ``examples/token_fastapi.py``) on their production servers."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator
from realtime_service.web.servers.serve import UvicornRunner, WaitressRunner, bind, load_config

from .conftest import realtime_config, require

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def host_app(framework: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The example module for ``framework``, pointed at the emulator, served on loopback."""
    require(framework)
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module(f"examples.token_{framework}")
    application = module.application
    application.config.from_dict({"realtime": realtime_config(emulator)})
    application.token_server.environ.override({})
    adapter = f"realtime_service.web.adapters.{'flask_blueprint' if framework == 'flask' else 'fastapi_router'}"
    application.wire(modules=[adapter])  # other tests may have wired the adapter to their own container since
    sock = bind("127.0.0.1", 0)
    runner: Any
    if framework == "flask":
        runner = WaitressRunner(module.app, sock, threads=4, shutdown_timeout=5)
    else:
        runner = UvicornRunner(module.app, sock, shutdown_timeout=5)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    yield module, f"http://127.0.0.1:{sock.getsockname()[1]}"
    runner.stop()
    thread.join(10)
    sock.close()
    application.unwire()
    application.shutdown_resources()
    application.token_server.environ.reset_override()
    sys.modules.pop(f"examples.token_{framework}", None)


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
