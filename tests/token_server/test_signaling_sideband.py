"""``server.sideband`` over real sockets on waitress and uvicorn: a browser-like ``POST /session`` starts a call
on the emulator, the server attaches to it in the background with its toolbox, and the emulator's script (the
model calls ``lookup_order``) is answered exactly once; off by default; a bad ``server.sideband`` is refused at
settings load, naming the setting."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from realtime_service.emulator import CallRecord, Emulator, Fault
from realtime_service.emulator.core import RecordedRequest
from realtime_service.errors import ConfigurationError
from realtime_service.web.servers.runners import ServedApp
from realtime_service.web.settings import load_server_settings

from .conftest import make_container

OFFER = (Path(__file__).resolve().parents[1] / "sdp" / "chromium_offer.sdp").read_bytes()
TOOLS = "examples.order_tools:toolbox"
CALL = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}, "call_id": "call_1"}},
    {"expect_output": {"timeout": 60}},
    {"model_says": "It has shipped."},
    "hangup",
]


@pytest.fixture
def scripted() -> Iterator[Emulator]:
    with Emulator(script=CALL) as emulator:
        yield emulator


@pytest.fixture
def served(scripted: Emulator, framework: str) -> Iterator[Any]:
    running: list[ServedApp] = []

    def start(**server: Any) -> ServedApp:
        app = ServedApp(make_container(scripted, **server), framework)
        running.append(app.start())
        return app

    yield start
    for app in running:
        app.stop()


def start_call(app: ServedApp) -> str:
    response = requests.post(
        f"{app.url}/session", data=OFFER, headers={"Content-Type": "application/sdp"}, timeout=10
    )
    assert response.status_code == 201, response.content[:300]
    return response.headers["x-call-id"]


def settled(emulator: Emulator, call_id: str) -> CallRecord:
    def over(record: CallRecord) -> bool:
        return record.script_state is not None and record.script_state.status in ("done", "failed")

    return emulator.calls.wait_until(call_id, over, timeout=60)


def outputs(record: CallRecord) -> list[dict[str, Any]]:
    items = [e.event.get("item", {}) for e in record.client_events if e.event.get("type") == "conversation.item.create"]
    return [item for item in items if item.get("type") == "function_call_output"]


def test_the_server_attaches_with_its_toolbox_and_answers_the_tool_call_once(
    served: Any, scripted: Emulator
) -> None:
    app = served(sideband={"tools": TOOLS})
    call_id = start_call(app)
    record = settled(scripted, call_id)
    assert record.script_state is not None
    assert record.script_state.status == "done", record.script_state
    answered = outputs(record)
    assert len(answered) == 1, answered
    assert answered[0]["call_id"] == "call_1"
    assert json.loads(answered[0]["output"]) == {"order_id": "1234", "status": "shipped"}
    # the toolbox's definitions went into the session the server sent
    assert [tool["name"] for tool in record.session["tools"]] == ["lookup_order"]


def test_the_configured_sessions_own_tools_win(served: Any, scripted: Emulator) -> None:
    app = served(sideband={"tools": TOOLS}, session={"tools": []})
    record = scripted.calls.get(start_call(app))
    assert record is not None
    assert record.session["tools"] == []


def test_off_by_default_no_attach(served: Any, scripted: Emulator) -> None:
    app = served()
    call_id = start_call(app)
    record = scripted.calls.get(call_id)
    assert record is not None
    assert "tools" not in record.session
    # nothing was scheduled: attach() counts a call as active before it returns, and keeps a count once it ends
    attacher = app.container.token_server.call_attacher()
    assert (attacher.active, attacher.attached, attacher.failed, attacher.not_owner) == (0, 0, 0, 0)


def refuse_sidebands(request: RecordedRequest) -> Fault | None:
    """Every WebSocket handshake (the sideband) is refused; the REST create goes through."""
    return Fault.status(403) if request.method == "GET" and request.path.startswith("/v1/realtime") else None


def test_a_failed_attach_is_logged_once_without_a_key_and_the_browser_still_gets_its_answer(
    framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="realtime_service.sideband.phone")
    with Emulator(script=CALL, fault_rule=refuse_sidebands) as emulator:
        app = ServedApp(make_container(emulator, sideband={"tools": TOOLS}), framework).start()
        try:
            call_id = start_call(app)  # 201 with the call's id: the answer did not wait for the attach
            attacher = app.container.token_server.call_attacher()
            deadline = time.monotonic() + 30
            while attacher.active and time.monotonic() < deadline:
                time.sleep(0.01)  # polling the attacher's own count, with a deadline
            assert (attacher.failed, attacher.attached, attacher.active) == (1, 0, 0)
        finally:
            app.stop()
    failures = [r.getMessage() for r in caplog.records if "attach failed" in r.getMessage()]
    assert len(failures) == 1, failures
    assert call_id in failures[0]
    assert emulator.api_key not in caplog.text


@pytest.mark.parametrize(
    ("sideband", "message"),
    [
        ({"tools": "examples.no_such_module:toolbox"}, "cannot import module"),
        ({"tools": "examples.order_tools:lookup_order"}, "not a Toolbox"),
        ({"tools": "toolbox"}, "must be 'module:attribute'"),
        ({}, "must be 'module:attribute'"),
        ({"tools": TOOLS, "max_call_seconds": 0}, "server.sideband.max_call_seconds"),
        ({"tools": TOOLS, "colour": "red"}, "server.sideband.colour"),
        ("on", "must be a mapping"),
    ],
)
def test_a_bad_sideband_setting_is_refused_at_load_naming_it(sideband: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"server\.sideband") as caught:
        load_server_settings({"sideband": sideband}, {})
    assert message in str(caught.value)


def test_sideband_under_live_without_a_responses_model_is_refused_at_load() -> None:
    # GPT-Live is wired (test_signaling_live_sideband.py); its toolbox needs the delegation's Responses model
    with pytest.raises(ConfigurationError, match=r"server\.sideband\.delegation\.responses\.model"):
        load_server_settings({"voice_api": "live", "sideband": {"tools": TOOLS}}, {})


def test_sideband_settings_load_the_toolbox_once() -> None:
    from examples.order_tools import toolbox

    settings = load_server_settings({"sideband": {"tools": TOOLS, "max_call_seconds": 30}}, {})
    assert settings.sideband is not None
    assert settings.sideband.toolbox is toolbox
    assert settings.sideband.max_call_seconds == 30
    assert load_server_settings({}, {}).sideband is None


# -- serve as a process -----------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def serve_process(tmp_path: Path, emulator: Emulator, sideband: Any, *extra: str) -> subprocess.Popen[str]:
    config = {
        "realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url},
        "server": {"sideband": sideband},
    }
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")}
    command = [sys.executable, "-m", "realtime_service", "serve", "--port", "0", "--config", str(path), *extra]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_attaches_to_the_call_a_browser_started(scripted: Emulator, tmp_path: Path) -> None:
    server = serve_process(tmp_path, scripted, {"tools": TOOLS})
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "listening on http://" in line, line + (server.stderr.read() if server.poll() is not None else "")
        url = line.split("listening on ", 1)[1].split()[0].rstrip("/")
        response = requests.post(f"{url}/session", data=OFFER, headers={"Content-Type": "application/sdp"}, timeout=10)
        assert response.status_code == 201, response.content[:300]
        record = settled(scripted, response.headers["x-call-id"])
    finally:
        server.send_signal(signal.SIGTERM)
        _, log = server.communicate(timeout=60)
    assert record.script_state is not None
    assert record.script_state.status == "done", (record.script_state, log)
    assert len(outputs(record)) == 1
    assert "sideband attached" in log
    assert scripted.api_key not in log


@pytest.mark.parametrize(
    ("sideband", "extra", "message"),
    [
        ({"tools": "examples.order_tools:nothing"}, (), "'server.sideband.tools'"),
        ({"tools": TOOLS}, ("--workers", "2"), "server.rate_limit_storage: redis://"),
    ],
)
def test_serve_refuses_a_sideband_it_cannot_run(
    scripted: Emulator, tmp_path: Path, sideband: Any, extra: tuple[str, ...], message: str
) -> None:
    server = serve_process(tmp_path, scripted, sideband, *extra)
    out, err = server.communicate(timeout=60)
    assert server.returncode == 2, out + err
    assert message in err
    assert "Traceback" not in err
