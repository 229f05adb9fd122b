"""``serve`` with the phone webhook and ``server.phone.tools`` (a Toolbox named in configuration), on waitress and
on uvicorn, against the emulator over real sockets: ring -> accept (the toolbox's definitions in the session) ->
attach in the background -> the tool answered once -> hang-up; a redelivered webhook, or the call's other
announcement, does not attach twice; memory leases with several workers are refused at start."""

from __future__ import annotations

import os
import secrets
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

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.emulator.ring import _event, _keys
from realtime_service.webhooks.verify import signature_of

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + "dG9vbHMtb24tdGhlLXBob25lLXdlYmhvb2stc2VjcmV0"
SCRIPT = yaml.safe_load((ROOT / "examples" / "order_call.yaml").read_text())
DEADLINE = 120.0


def _config(tmp_path: Path, emulator: Emulator, **server: Any) -> Path:
    config = {
        "realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url},
        "server": {
            "phone": {
                "webhook_secret": SECRET,
                "session": {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "Answer orders."},
                "tools": "examples.order_tools:toolbox",
            },
            **server,
        },
    }
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(script=SCRIPT) as emulator:
        yield emulator


def _serve(config: Path, framework: str, *extra: str) -> subprocess.Popen[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")}
    command = [sys.executable, "-m", "realtime_service", "serve", "--port", "0", "--config", str(config)]
    return subprocess.Popen(
        [*command, "--framework", framework, *extra],
        cwd=ROOT,
        env={**environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _listening(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    line = server.stdout.readline()
    assert "listening on http://" in line, line + (server.stderr.read() if server.poll() is not None else "")
    return line.split("listening on ", 1)[1].split()[0].rstrip("/")


def _stop(server: subprocess.Popen[str]) -> str:
    server.send_signal(signal.SIGTERM)
    _, log = server.communicate(timeout=DEADLINE)
    return log


def _post_again(url: str, record: CallRecord, webhook_id: str) -> requests.Response:
    """Deliver the call's incoming-call event (``realtime.call.incoming`` or ``live.transport.incoming``, by the
    record's API) once more, signed as the emulator signs."""
    body = _event(record.api, record.id, record.sip_headers, "srtp")
    stamp = str(int(time.time()))
    signature = " ".join("v1," + signature_of(key, webhook_id, stamp, body) for key in _keys(SECRET))
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": stamp,
        "webhook-signature": signature,
    }
    return requests.post(url, data=body, headers=headers, timeout=30)


def _settled(emulator: Emulator, call_id: str) -> CallRecord:
    def over(record: CallRecord) -> bool:
        return record.script_state is not None and record.script_state.status in ("done", "failed")

    return emulator.calls.wait_until(call_id, over, timeout=DEADLINE)


def _outputs(record: CallRecord) -> list[dict[str, Any]]:
    return [
        e.event["item"]
        for e in record.client_events
        if e.event.get("type") == "conversation.item.create" and e.event["item"].get("type") == "function_call_output"
    ]


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_serve_accepts_attaches_and_answers_the_tool_once(framework: str, emu: Emulator, tmp_path: Path) -> None:
    server = _serve(_config(tmp_path, emu), framework)
    try:
        base = _listening(server)
        url = f"{base}/webhooks/openai"
        record = emu.ring(url, secret=SECRET)
        assert record.state == "accepted", record
        tools = record.session["tools"]
        assert [tool["name"] for tool in tools] == ["lookup_order"]  # the toolbox's definitions, in the accept
        again = _post_again(url, record, "wh_" + secrets.token_hex(8))  # the call announced again
        assert again.status_code == 200
        assert again.json() == {"result": "duplicate"}
        final = _settled(emu, record.id)
    finally:
        log = _stop(server)
    assert final.script_state is not None
    assert final.script_state.status == "done", final.script_state
    assert [(item["type"], item["output"]) for item in _outputs(final)] == [
        ("function_call_output", '{"order_id": "1234", "status": "shipped"}')
    ]
    assert log.count("sideband attached by") == 1, log
    assert "Traceback" not in log
    assert emu.api_key not in log


def test_several_workers_with_memory_leases_and_tools_are_refused(emu: Emulator, tmp_path: Path) -> None:
    server = _serve(_config(tmp_path, emu), "flask", "--workers", "2")
    out, err = server.communicate(timeout=DEADLINE)
    assert server.returncode == 2, out + err
    assert "call leases" in err
    assert "server.rate_limit_storage: redis://" in err
    assert "Traceback" not in err


def test_a_tools_setting_that_does_not_resolve_stops_serve_naming_it(emu: Emulator, tmp_path: Path) -> None:
    config = _config(tmp_path, emu)
    config.write_text(config.read_text().replace("examples.order_tools:toolbox", "examples.order_tools:nothing"))
    server = _serve(config, "flask")
    out, err = server.communicate(timeout=DEADLINE)
    assert server.returncode == 2, out + err
    assert "'server.phone.tools'" in err
    assert "has no attribute 'nothing'" in err
    assert "Traceback" not in err


def test_two_workers_sharing_redis_attach_the_call_once(emu: Emulator, tmp_path: Path, redis_server: str) -> None:
    """``serve --workers 2`` on one Redis: the call, announced again to whichever worker, is attached once."""
    server = _serve(_config(tmp_path, emu, rate_limit_storage=redis_server), "flask", "--workers", "2")
    try:
        url = f"{_listening(server)}/webhooks/openai"
        record = emu.ring(url, secret=SECRET)
        assert record.state == "accepted", record
        answers = [_post_again(url, record, "wh_" + secrets.token_hex(8)).json() for _ in range(4)]
        assert answers == [{"result": "duplicate"}] * 4
        final = _settled(emu, record.id)
    finally:
        log = _stop(server)
    assert final.script_state is not None
    assert final.script_state.status == "done", final.script_state
    assert len(_outputs(final)) == 1
    assert log.count("sideband attached by") == 1, log
    assert "Traceback" not in log
