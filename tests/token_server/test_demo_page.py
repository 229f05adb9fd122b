"""The demo page's server side over real sockets: its favicon under the same strict headers as the page, what
``/demo-config.json`` tells the page (upstream, the two budgets), the separate keys and calls budgets in settings,
and the budget ``serve --emulator`` gives a developer clicking around (also in its workers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator
from realtime_service.errors import ConfigurationError
from realtime_service.web.servers.runners import ServedApp
from realtime_service.web.servers.serve import EMULATOR_RATE_LIMIT
from realtime_service.web.settings import DEFAULTS, load_server_settings

from .conftest import config_file, make_container

TIMEOUT = 10


def test_the_favicon_is_served_with_the_pages_strict_headers(serve: Any) -> None:
    served: ServedApp = serve()
    page = requests.get(served.url + "/", timeout=TIMEOUT)
    assert '<link rel="icon" href="static/favicon.svg" type="image/svg+xml">' in page.text
    icon = requests.get(served.url + "/static/favicon.svg", timeout=TIMEOUT)
    assert icon.status_code == 200
    assert icon.headers["Content-Type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg ")
    assert icon.headers["X-Content-Type-Options"] == "nosniff"
    assert icon.headers["Content-Security-Policy"] == page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in icon.headers["Content-Security-Policy"]
    assert "img-src 'self'" in page.headers["Content-Security-Policy"]
    missing = requests.get(served.url + "/static/favicon.ico", timeout=TIMEOUT)
    assert missing.status_code == 404


def test_the_demo_config_names_the_upstream_and_both_budgets(serve: Any) -> None:
    served: ServedApp = serve(rate_limit="3/minute;50/day", call_rate_limit="off")
    config = requests.get(served.url + "/demo-config.json", timeout=TIMEOUT).json()
    assert config["upstream"] == "emulator"  # the test emulator is on loopback: the page says "no audio"
    assert config["calls_url"] is None
    assert config["budgets"] == {"keys": "3/minute;50/day", "calls": None}


def test_a_non_loopback_upstream_is_named_by_its_provider(emulator: Emulator) -> None:
    container = make_container(emulator)
    container.config.from_dict({"realtime": {"base_url": "https://upstream.invalid/v1"}})  # never contacted
    with ServedApp(container) as served:
        config = requests.get(served.url + "/demo-config.json", timeout=TIMEOUT).json()
    assert config["upstream"] == "openai"
    assert config["calls_url"] == "https://upstream.invalid/v1/realtime/calls"


@pytest.mark.parametrize(
    ("server", "keys", "calls"),
    [
        ({}, DEFAULTS["rate_limit"], DEFAULTS["rate_limit"]),  # unset: the same windows, counted apart
        ({"rate_limit": "2/minute"}, "2/minute", "2/minute"),
        ({"rate_limit": "2/minute", "call_rate_limit": "5/hour"}, "2/minute", "5/hour"),
        ({"call_rate_limit": "off"}, DEFAULTS["rate_limit"], None),
        ({"call_rate_limit": False}, DEFAULTS["rate_limit"], None),  # YAML's bare `off`
        ({"rate_limit": "off"}, None, None),
        ({"rate_limit": "off", "call_rate_limit": "1/minute"}, None, "1/minute"),
    ],
)
def test_call_rate_limit_follows_rate_limit_unless_set(server: dict[str, Any], keys: Any, calls: Any) -> None:
    settings = load_server_settings(server, {})
    assert (settings.rate_limit, settings.call_rate_limit) == (keys, calls)


def test_a_call_rate_limit_that_is_not_a_limit_is_refused_naming_the_key(emulator: Emulator) -> None:
    with pytest.raises(ConfigurationError, match=r"server\.call_rate_limit"):
        load_server_settings({"call_rate_limit": 5}, {})
    container = make_container(emulator, call_rate_limit="many/minute")
    with pytest.raises(ConfigurationError, match=r"server\.call_rate_limit"):
        container.token_server.call_rate_limiter()


def test_serve_emulator_gives_a_budget_a_developer_does_not_exhaust_by_clicking(start: Any) -> None:
    served = start("--emulator")
    config = requests.get(served.url + "/demo-config.json", timeout=TIMEOUT).json()
    assert config["budgets"] == {"keys": EMULATOR_RATE_LIMIT, "calls": EMULATOR_RATE_LIMIT}
    limit = int(EMULATOR_RATE_LIMIT.split("/")[0])
    assert limit > int(DEFAULTS["rate_limit"].split("/")[0])
    statuses = {requests.post(served.url + "/token", json={}, timeout=TIMEOUT).status_code for _ in range(limit)}
    assert statuses == {200}
    assert requests.post(served.url + "/token", json={}, timeout=TIMEOUT).status_code == 429  # still bounded
    assert served.stop() == 0


def test_serve_emulator_keeps_a_configured_budget(start: Any, tmp_path: Path) -> None:
    served = start("--emulator", "--config", config_file(tmp_path, None, rate_limit="2/minute"))
    config = requests.get(served.url + "/demo-config.json", timeout=TIMEOUT).json()
    assert config["budgets"] == {"keys": "2/minute", "calls": "2/minute"}
    assert served.stop() == 0


def test_serve_emulator_workers_get_the_emulator_budget_too(start: Any, tmp_path: Path, redis_url: str) -> None:
    config = config_file(tmp_path, None, rate_limit_storage=redis_url)
    served = start("--emulator", "--workers", "2", "--config", config)
    close = {"Connection": "close"}  # a new connection each time: either worker may answer
    budgets = [
        requests.get(served.url + "/demo-config.json", headers=close, timeout=TIMEOUT).json()["budgets"]
        for _ in range(4)
    ]
    assert budgets == [{"keys": EMULATOR_RATE_LIMIT, "calls": EMULATOR_RATE_LIMIT}] * 4
    assert served.stop() == 0
