"""``/token`` never echoes a key the browser chose (issue 22): a secret pasted as a key inside a browser field
is named by its length in the 400 and in every log line, over real HTTP on waitress and uvicorn."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator
from realtime_service.web.servers.runners import ServedApp

Serve = Callable[..., ServedApp]
PASTED = "sk-proj-Q3vX9mT2kL7pR4wZ8yN1bC6dF0gH5jK"
SHOWN = f"<name of {len(PASTED)} characters>"


def runs_in(text: str) -> list[str]:
    """The 10-character runs of :data:`PASTED` found in ``text``."""
    return [PASTED[i : i + 10] for i in range(len(PASTED) - 9) if PASTED[i : i + 10] in text]


def post(served: ServedApp, body: Any) -> requests.Response:
    response = requests.post(
        served.url + "/token", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, timeout=10
    )
    served.settle()  # the access line may follow the answer
    return response


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """What the server logged (not the test's own HTTP client, which logs the URL it was given)."""
    return "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("urllib3"))


@pytest.mark.parametrize(
    "body",
    [
        {"turn_detection": {"type": "server_vad", PASTED: 1}},
        {"turn_detection": {"type": "semantic_vad", "eagerness": "low", PASTED: {"nested": True}}},
        {"tools": [{"type": "function", "name": "lookup", PASTED: 1}]},
        {"tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}, {PASTED: 1}]},
    ],
    ids=["turn_detection", "turn_detection-object", "tools", "tools-second"],
)
def test_a_secret_key_inside_a_browser_field_is_not_echoed(
    serve: Serve, emulator: Emulator, caplog: pytest.LogCaptureFixture, body: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG)
    served = serve(browser_fields=["turn_detection", "tools"])
    response = post(served, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_value", next(iter(body)))
    assert runs_in(response.text) == []
    assert runs_in(logged(caplog)) == []
    assert emulator.requests == []  # refused before anything was sent


def test_a_secret_key_in_the_servers_own_session_is_logged_by_its_length(
    serve: Serve, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's configuration fails validation: a 500 for the browser, and a log line naming the fields."""
    caplog.set_level(logging.DEBUG)
    served = serve(session={"turn_detection": {"type": "server_vad", PASTED: 1}})
    response = post(served, {})
    assert response.status_code == 500, response.text
    assert response.json()["error"]["code"] == "server_misconfigured"
    assert SHOWN in logged(caplog)
    assert runs_in(response.text + logged(caplog)) == []
    assert emulator.requests == []


def test_a_secret_pasted_as_a_top_level_key_is_named_by_its_length_on_token(
    serve: Serve, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = post(serve(), {"voice": "marin", PASTED: "x"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("unknown_field", SHOWN)
    assert runs_in(response.text) == []
    assert runs_in(logged(caplog)) == []
    assert emulator.requests == []


@pytest.mark.parametrize("query", [f"{PASTED}=1", f"{PASTED}=1&{PASTED}=2"], ids=["unknown", "repeated"])
def test_a_secret_pasted_as_a_query_name_is_named_by_its_length_on_session(
    serve: Serve, emulator: Emulator, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    caplog.set_level(logging.DEBUG)
    served = serve()
    response = requests.post(
        f"{served.url}/session?{query}", data=b"v=0\r\n", headers={"Content-Type": "application/sdp"}, timeout=10
    )
    served.settle()
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == SHOWN
    assert runs_in(response.text) == []
    assert runs_in(logged(caplog)) == []
    assert emulator.requests == []
