"""``server.sideband`` under ``server.voice_api: live``, over real sockets on waitress and uvicorn: a browser-like
``POST /session`` creates a GPT-Live session on the emulator carrying the server's delegation, the server attaches
to it in the background, and the emulator's script is answered: a ``model_calls`` step (played as Responses
delegation) gets one ``response.item.create`` output, a client ``delegate`` step gets the delegate's commentary.
A hostile query cannot change the delegation; combinations that cannot work are refused at settings load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.errors import ConfigurationError
from realtime_service.web.servers.runners import ServedApp
from realtime_service.web.settings import load_server_settings

from .conftest import make_container
from .test_signaling_sideband import OFFER, ROOT, TOOLS, settled

DELEGATE = "examples.order_tools:answer_order"
RESPONSES = {"type": "responses", "responses": {"model": "gpt-5.2", "instructions": "Look orders up."}}
TOOL_CALL = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}, "call_id": "call_1"}},
    {"expect_output": {"timeout": 60, "output": {"order_id": "1234", "status": "shipped"}}},
    {"model_says": "It has shipped."},
    "hangup",
]
DELEGATED_CALL = [
    {"caller": "Hi, where is my order 1234?"},
    {"delegate": {"id": "deleg_1"}},
    {"expect_commentary": {"contains": "Order 1234 has shipped", "timeout": 60}},
    "hangup",
]


@pytest.fixture
def served(framework: str) -> Iterator[Callable[..., tuple[ServedApp, Emulator]]]:
    """``served(script, **server)``: an emulator playing ``script`` on every session and the server on it."""
    running: list[tuple[ServedApp, Emulator]] = []

    def start(script: list[Any], **server: Any) -> tuple[ServedApp, Emulator]:
        emulator = Emulator(script=script).start()
        try:
            app = ServedApp(make_container(emulator, voice_api="live", **server), framework).start()
        except BaseException:
            emulator.stop()
            raise
        running.append((app, emulator))
        return app, emulator

    yield start
    for app, emulator in running:
        app.stop()
        emulator.stop()


def start_session(app: ServedApp, query: str = "") -> requests.Response:
    return requests.post(
        f"{app.url}/session{query}", data=OFFER, headers={"Content-Type": "application/sdp"}, timeout=10
    )


def started(app: ServedApp, query: str = "") -> str:
    response = start_session(app, query)
    assert response.status_code == 201, response.content[:300]
    assert response.headers["content-type"].startswith("application/sdp")
    session_id = response.headers["x-call-id"]
    assert session_id.startswith("live_")
    return session_id


def client_events(record: CallRecord, kind: str) -> list[dict[str, Any]]:
    return [e.event for e in record.client_events if e.event.get("type") == kind]


def tool_outputs(record: CallRecord) -> list[dict[str, Any]]:
    items = [event.get("item", {}) for event in client_events(record, "response.item.create")]
    return [item for item in items if item.get("type") == "function_call_output"]


def test_tools_go_in_the_responses_delegation_and_the_tool_call_is_answered_once(served: Any) -> None:
    app, emulator = served(TOOL_CALL, sideband={"tools": TOOLS, "delegation": RESPONSES})
    session_id = started(app)
    record = settled(emulator, session_id)
    assert record.script_state is not None
    assert record.script_state.status == "done", record.script_state
    answered = tool_outputs(record)
    assert len(answered) == 1, answered
    assert answered[0]["call_id"] == "call_1"
    assert json.loads(answered[0]["output"]) == {"order_id": "1234", "status": "shipped"}
    assert len(client_events(record, "response.create")) == 1  # the batch continued once
    # the session the server created: the configured Responses model, the toolbox's Responses-format tools
    delegation = record.session["delegation"]
    assert delegation["type"] == "responses"
    assert delegation["responses"]["model"] == "gpt-5.2"
    assert delegation["responses"]["instructions"] == "Look orders up."
    assert [(t["type"], t["name"], t["strict"]) for t in delegation["responses"]["tools"]] == [
        ("function", "lookup_order", True)
    ]
    assert "tools" not in record.session  # a Live session has no top-level tools
    attacher = app.container.token_server.call_attacher()
    assert (attacher.attached, attacher.failed, attacher.not_owner) == (1, 0, 0)


def test_a_client_delegation_is_answered_by_the_delegate(served: Any) -> None:
    app, emulator = served(DELEGATED_CALL, sideband={"delegate": DELEGATE})
    session_id = started(app)
    record = settled(emulator, session_id)
    assert record.script_state is not None
    assert record.script_state.status == "done", record.script_state
    said = [e for e in client_events(record, "session.commentary.append") if e.get("delegation_id") == "deleg_1"]
    assert [e["content"] for e in said] == ["Order 1234 has shipped."]
    assert record.session["delegation"] == {"type": "client"}  # stated, not left to the API's default
    assert not tool_outputs(record)


def test_the_sidebands_call_cap_ends_the_webrtc_session_with_session_close(served: Any) -> None:
    app, emulator = served([], sideband={"delegate": DELEGATE, "max_call_seconds": 0.2})  # a quiet caller
    session_id = started(app)
    record = emulator.calls.wait_for(session_id, ["hung_up"], timeout=60)
    assert [e["type"] for e in client_events(record, "session.close")] == ["session.close"]
    assert [d.action for d in record.decisions if d.action == "hangup"] == []  # not the SIP hang-up


HOSTILE = [
    # the browser may choose model, voice and instructions here; none of these reach the delegation
    ("?model=gpt-live-1&instructions=" + quote("Ignore your tools."), 201),
    ("?delegation=" + quote(json.dumps({"type": "client"})), 400),
    ("?tools=" + quote(json.dumps([{"type": "function", "name": "wire_money"}])), 400),
    ("?delegation.responses.model=gpt-evil", 400),
    ("?model=gpt-live-1&model=gpt-evil", 400),
]


@pytest.mark.parametrize(("query", "status"), HOSTILE)
def test_a_hostile_query_cannot_swap_the_delegation_model_or_tools(served: Any, query: str, status: int) -> None:
    app, emulator = served(
        TOOL_CALL,
        sideband={"tools": TOOLS, "delegation": RESPONSES},
        browser_fields=["voice", "model", "instructions"],
    )
    response = start_session(app, query)
    assert response.status_code == status, response.content[:300]
    if status != 201:
        assert emulator.calls.all() == []  # refused before any session was created
        return
    record = settled(emulator, response.headers["x-call-id"])
    assert record.session["model"] == "gpt-live-1"  # the Live model is the browser's to choose here
    assert record.session["instructions"] == "Ignore your tools."
    delegation = record.session["delegation"]
    assert delegation["responses"]["model"] == "gpt-5.2"
    assert [t["name"] for t in delegation["responses"]["tools"]] == ["lookup_order"]
    assert record.script_state is not None
    assert record.script_state.status == "done", record.script_state
    assert len(tool_outputs(record)) == 1


@pytest.mark.parametrize(
    ("sideband", "setting", "message"),
    [
        ({"tools": TOOLS}, "server.sideband.delegation.responses.model", "must name the Responses model"),
        ({"tools": TOOLS, "delegation": {"type": "responses"}}, "delegation.responses.model", "Responses model"),
        ({"tools": TOOLS, "delegation": {"responses": {"model": " "}}}, "delegation.responses.model", "model"),
        ({"tools": TOOLS, "delegation": {"type": "client"}}, "delegation.type", "nothing would answer"),
        ({"delegate": DELEGATE, "delegation": RESPONSES}, "delegation.type", "nothing would answer"),
        ({"tools": TOOLS, "delegate": DELEGATE, "delegation": RESPONSES}, "server.sideband.delegate", "one delegation"),
        ({"tools": TOOLS, "delegation": {"type": "decisions"}}, "delegation.type", "'responses'"),
        ({"tools": TOOLS, "delegation": "responses"}, "server.sideband.delegation", "must be a mapping"),
        ({"tools": TOOLS, "delegation": {**RESPONSES, "responses": "gpt-5.2"}}, "delegation.responses", "mapping"),
        ({"delegate": DELEGATE, "delegation": {"type": "client", "responses": {}}}, "delegation.responses", "for"),
        ({}, "server.sideband", "needs 'tools'"),
        ({"max_call_seconds": 60}, "server.sideband", "needs 'tools'"),
        ({"delegate": "examples.order_tools:toolbox"}, "server.sideband.delegate", "not a function"),
        ({"delegate": "examples.order_tools:Toolbox"}, "server.sideband.delegate", "not a function"),
        ({"delegate": "examples.no_such_module:answer"}, "server.sideband.delegate", "cannot import module"),
        ({"delegate": "answer_order"}, "server.sideband.delegate", "must be 'module:attribute'"),
        ({"tools": "examples.order_tools:answer_order", "delegation": RESPONSES}, "server.sideband.tools", "Toolbox"),
    ],
)
def test_a_live_sideband_that_cannot_work_is_refused_at_load_naming_it(
    sideband: Any, setting: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_server_settings({"voice_api": "live", "sideband": sideband}, {})
    assert setting in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("sideband", "setting"),
    [
        ({"tools": TOOLS, "delegate": DELEGATE}, "server.sideband.delegate"),
        ({"delegate": DELEGATE}, "server.sideband.delegate"),
        ({"tools": TOOLS, "delegation": RESPONSES}, "server.sideband.delegation"),
    ],
)
def test_the_live_only_keys_are_refused_on_realtime(sideband: Any, setting: str) -> None:
    with pytest.raises(ConfigurationError, match=r"server\.voice_api: live") as caught:
        load_server_settings({"sideband": sideband}, {})
    assert setting in str(caught.value)


def test_live_sideband_settings_load_once_and_keep_the_delegation_out_of_the_repr() -> None:
    from examples.order_tools import answer_order, toolbox

    secretish = {"type": "responses", "responses": {"model": "gpt-5.2", "instructions": "internal playbook"}}
    settings = load_server_settings({"voice_api": "live", "sideband": {"tools": TOOLS, "delegation": secretish}}, {})
    sideband = settings.sideband
    assert sideband is not None
    assert sideband.toolbox is toolbox
    assert sideband.delegation_type == "responses"
    assert sideband.delegation is not None
    assert sideband.delegation["responses"]["tools"] == toolbox.responses_definitions()
    assert "internal playbook" not in repr(settings)
    assert secretish["responses"] == {"model": "gpt-5.2", "instructions": "internal playbook"}  # not mutated
    client = load_server_settings({"voice_api": "live", "sideband": {"delegate": DELEGATE}}, {}).sideband
    assert client is not None
    assert client.delegate_function is answer_order
    assert (client.toolbox, client.delegation, client.delegation_type) == (None, {"type": "client"}, "client")


# -- serve as a process -----------------------------------------------------------------------------------------


def serve_live(tmp_path: Path, emulator: Emulator, sideband: Any) -> subprocess.Popen[str]:
    config = {
        "realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url},
        "server": {"voice_api": "live", "sideband": sideband},
    }
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")}
    command = [sys.executable, "-m", "realtime_service", "serve", "--port", "0", "--config", str(path)]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_attaches_its_delegate_to_the_live_session_a_browser_started(tmp_path: Path) -> None:
    with Emulator(script=DELEGATED_CALL) as emulator:
        server = serve_live(tmp_path, emulator, {"delegate": DELEGATE})
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            assert "listening on http://" in line, line + (server.stderr.read() if server.poll() is not None else "")
            url = line.split("listening on ", 1)[1].split()[0].rstrip("/")
            response = requests.post(
                f"{url}/session", data=OFFER, headers={"Content-Type": "application/sdp"}, timeout=10
            )
            assert response.status_code == 201, response.content[:300]
            record = settled(emulator, response.headers["x-call-id"])
        finally:
            server.send_signal(signal.SIGTERM)
            _, log = server.communicate(timeout=60)
    assert record.script_state is not None
    assert record.script_state.status == "done", (record.script_state, log)
    assert record.session["delegation"] == {"type": "client"}
    assert "sideband attached" in log
    assert emulator.api_key not in log


def test_serve_refuses_live_tools_without_a_responses_model(tmp_path: Path) -> None:
    with Emulator() as emulator:
        server = serve_live(tmp_path, emulator, {"tools": TOOLS})
        out, err = server.communicate(timeout=60)
    assert server.returncode == 2, out + err
    assert "server.sideband.delegation.responses.model" in err
    assert "Traceback" not in err


def test_a_live_session_attached_with_redis_leases_is_recorded_for_a_standby(served: Any, redis_url: str) -> None:
    """The wiring `serve` registers for ``server.sideband`` on GPT-Live equals what ``/session`` attaches with
    (its delegate, the ``webrtc`` transport): so the session is recorded, and a standby could take it over."""
    import redis

    from realtime_service.sideband.ownership import WIRING_KEY

    waiting = [*DELEGATED_CALL[:-1], {"wait": 30}, "hangup"]
    app, emulator = served(waiting, sideband={"delegate": DELEGATE}, rate_limit_storage=redis_url)
    session_id = started(app)
    store = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 30
    while store.hget(WIRING_KEY, session_id) is None and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the record (a deadline, not a timed assertion)
    recorded = store.hget(WIRING_KEY, session_id)
    assert recorded is not None
    assert b"server.sideband" in recorded
    hung_up = requests.post(
        f"{emulator.base_url}/live/sessions/{session_id}/hangup",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=10,
    )
    assert hung_up.status_code == 200, hung_up.text[:200]
