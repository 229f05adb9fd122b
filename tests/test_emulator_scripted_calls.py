"""A call's script played on its sideband, over real loopback sockets, with the official ``openai`` SDK as the app:
the issue's order call (a tool answered through the SDK), an app that never answers, a re-attach after a
``drop``, and GPT-Live."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from socket_reading import WAIT, sdk_until, sdk_until_closed, watchdog
from standardwebhooks import Webhook
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK

from realtime_service.cli import main as cli_main
from realtime_service.emulator import Emulator
from realtime_service.emulator.call_registry import CallRecord
from realtime_service.emulator.scripts import ScriptState

OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}
LIVE_SESSION = {"model": "gpt-live-1", "instructions": "Be brief."}
ARGUMENTS = {"order_id": "1234"}
ORDER_CALL: list[Any] = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": ARGUMENTS, "call_id": "call_order"}},
    {"expect_output": {"timeout": 10, "output": {"status": "shipped"}}},
    {"model_says": "Your order 1234 ships tomorrow."},
    "hangup",
]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _webrtc_call(emu: Emulator) -> str:
    files = [("sdp", (None, OFFER, "application/sdp")), ("session", (None, json.dumps(SESSION), "application/json"))]
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    response = requests.post(emu.base_url + "/realtime/calls", files=files, headers=headers, timeout=WAIT)
    assert response.status_code == 201, response.text
    return response.headers["location"].rsplit("/", 1)[1]


def _live_session(emu: Emulator) -> str:
    body = {"session": LIVE_SESSION, "transport": {"type": "webrtc", "sdp": OFFER.decode()}}
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    response = requests.post(emu.base_url + "/live/sessions", json=body, headers=headers, timeout=WAIT)
    assert response.status_code == 200, response.text
    return str(response.json()["session"]["id"])


def _outputs(record: CallRecord) -> list[dict[str, Any]]:
    return [
        e.event["item"]
        for e in record.client_events
        if e.event.get("type") == "conversation.item.create" and e.event["item"]["type"] == "function_call_output"
    ]


def test_the_order_call_plays_on_the_sdk_and_the_record_says_done(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    emu.script_call(call_id, ORDER_CALL)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
        heard = sdk_until(conn, "conversation.item.input_audio_transcription.completed")
        assert heard[0].type == "session.created"
        assert heard[-1].transcript == "Hi, where is my order 1234?"  # type: ignore[union-attr]
        called = sdk_until(conn, "response.done")
        arguments = [e for e in called if e.type == "response.function_call_arguments.done"]
        assert len(arguments) == 1
        assert (arguments[0].name, arguments[0].call_id) == ("lookup_order", "call_order")  # type: ignore[union-attr]
        assert json.loads(arguments[0].arguments) == ARGUMENTS  # type: ignore[union-attr]
        deltas = "".join(e.delta for e in called if e.type == "response.function_call_arguments.delta")  # type: ignore[union-attr]
        assert json.loads(deltas) == ARGUMENTS
        # the app runs its tool and answers, as an app would through the SDK
        conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": "call_order", "output": '{"status": "shipped"}'}
        )
        conn.response.create()
        said = sdk_until(conn, "response.done")
        transcripts = [e for e in said if e.type == "response.output_audio_transcript.done"]
        assert [e.transcript for e in transcripts] == ["Your order 1234 ships tomorrow."]  # type: ignore[union-attr]
        assert [e.type for e in said].count("response.created") == 1  # the script's response, not the emulator's
        rest, closed = sdk_until_closed(conn)  # the script hung up: the socket closes normally
        assert isinstance(closed, ConnectionClosedOK)
        assert [e.type for e in rest] == ["rate_limits.updated"]  # after every response.done, before the close
    record = emu.calls.wait_until(
        call_id, lambda r: r.script_state is not None and r.script_state.status != "playing", timeout=WAIT
    )
    assert record.state == "hung_up"
    assert record.script_state is not None
    assert (record.script_state.status, record.script_state.reason) == ("done", None)
    outputs = _outputs(record)
    assert [(o["call_id"], o["output"]) for o in outputs] == [("call_order", '{"status": "shipped"}')]


def test_an_app_that_never_answers_fails_the_script_at_expect_output(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    script = [*ORDER_CALL[:2], {"expect_output": {"timeout": 0.2}}, *ORDER_CALL[3:]]
    emu.script_call(call_id, script)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
        called = sdk_until(conn, "response.function_call_arguments.done")
        assert called[-1].call_id == "call_order"  # type: ignore[union-attr]
        record = emu.calls.wait_until(
            call_id, lambda r: r.script_state is not None and r.script_state.status == "failed", timeout=WAIT
        )
        # the call goes on, a quiet caller from now on: a response.create is answered, not held
        conn.response.create()
        assert sdk_until(conn, "response.done")[-1].response.status == "completed"  # type: ignore[union-attr]
    assert record.state == "active"
    assert record.script_state is not None
    assert (record.script_state.step, record.script_state.step_name) == (2, "expect_output")
    assert record.script_state.reason == "no function_call_output for call_order within the step's timeout"
    assert _outputs(emu.calls.get(call_id)) == []  # type: ignore[arg-type]


def test_an_app_turn_of_its_own_before_the_output_neither_fails_the_script_nor_locks_out_the_answer(
    emu: Emulator,
) -> None:
    """A greeting's response.create reaching the emulator after the scripted call (the Agents SDK's SIP example
    sends one as it attaches, racing the script): it waits for the script's next response with the answer's
    create, instead of being refused as an active response or failing expect_output."""
    call_id = _webrtc_call(emu)
    emu.script_call(call_id, ORDER_CALL)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
        sdk_until(conn, "response.done")  # the call's response, over
        conn.response.create(response={"instructions": "Greet the caller."})  # the app's own turn, late
        conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": "call_order", "output": '{"status": "shipped"}'}
        )
        conn.response.create()
        rest, closed = sdk_until_closed(conn)
        assert isinstance(closed, ConnectionClosedOK)
    assert [e.type for e in rest if e.type == "error"] == []
    assert [e.transcript for e in rest if e.type == "response.output_audio_transcript.done"] == [  # type: ignore[union-attr]
        "Your order 1234 ships tomorrow."
    ]
    record = emu.calls.wait_until(
        call_id, lambda r: r.script_state is not None and r.script_state.status != "playing", timeout=WAIT
    )
    assert record.script_state == ScriptState("done")
    assert [(o["call_id"], o["output"]) for o in _outputs(record)] == [("call_order", '{"status": "shipped"}')]


def test_a_reattach_after_a_drop_continues_the_script_and_does_not_restart_it(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    emu.script_call(call_id, [{"caller": "first"}, "drop", {"caller": "second"}, "hangup"])
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
        first = sdk_until(conn, "conversation.item.input_audio_transcription.completed")
        assert first[-1].transcript == "first"  # type: ignore[union-attr]
        rest, closed = sdk_until_closed(conn)
        assert isinstance(closed, ConnectionClosedError)  # dropped: no close frame (1006)
        assert closed.rcvd is None
        assert "response.done" not in [e.type for e in rest]
    with client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
        again = sdk_until(conn, "conversation.item.input_audio_transcription.completed")
        transcripts = [e.transcript for e in again if e.type.endswith("transcription.completed")]  # type: ignore[union-attr]
        assert transcripts == ["second"]
        _, closed = sdk_until_closed(conn)  # the app stays attached until the script's hangup closes the socket
        assert isinstance(closed, ConnectionClosedOK)
    record = emu.calls.wait_until(
        call_id, lambda r: r.script_state is not None and r.script_state.status != "playing", timeout=WAIT
    )
    assert record.state == "hung_up"
    assert record.script_state == ScriptState("done")


def test_a_rest_hang_up_stops_the_script_and_closes_its_sideband(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    emu.script_call(call_id, [{"caller": "Hello?"}, {"wait": 600}, {"model_says": "never said"}, "hangup"])
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
        sdk_until(conn, "conversation.item.input_audio_transcription.completed")
        emu.calls.wait_until(call_id, lambda r: r.script_state is not None and r.script_state.step == 1, timeout=WAIT)
        response = requests.post(
            f"{emu.base_url}/realtime/calls/{call_id}/hangup",
            headers={"Authorization": f"Bearer {emu.api_key}"},
            timeout=WAIT,
        )
        assert response.status_code == 200
        rest, closed = sdk_until_closed(conn)
        assert isinstance(closed, ConnectionClosedOK)
        assert "response.created" not in [e.type for e in rest]
    record = emu.calls.wait_until(
        call_id, lambda r: r.script_state is not None and r.script_state.status == "failed", timeout=WAIT
    )
    assert record.script_state == ScriptState("failed", 2, "model_says", "the call ended before this step")


def test_a_call_without_a_script_stays_a_quiet_caller(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
        assert conn.recv().type == "session.created"
        conn.response.create()
        assert sdk_until(conn, "response.done")[-1].response.status == "completed"  # type: ignore[union-attr]
    record = emu.calls.get(call_id)
    assert record is not None
    assert (record.state, record.script_state) == ("active", None)


def test_a_user_driver_wins_over_the_script(emu: Emulator) -> None:
    call_id = _webrtc_call(emu)
    emu.script_call(call_id, ORDER_CALL)
    emu.on_sideband = lambda channel: channel.send({"type": "session.updated", "session": {"type": "realtime"}})
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
        assert [conn.recv().type, conn.recv().type] == ["session.created", "session.updated"]
    record = emu.calls.get(call_id)
    assert record is not None
    assert record.script_state is None


def test_a_live_scripted_tool_call_is_answered_through_the_sdk_sideband(emu: Emulator) -> None:
    session_id = _live_session(emu)  # client delegation: the script plays its call as Responses delegation
    emu.script_call(session_id, ORDER_CALL)
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.base_url)
    with client.live.sideband.connect(session_id=session_id) as raw, watchdog(raw) as conn:
        backend: list[dict[str, Any]] = []  # the Responses stream, in its response.event envelopes
        while not (backend and backend[-1]["type"] == "response.completed"):
            event = conn.recv()
            if event.type == "response.event":
                backend.append(event.event)  # type: ignore[union-attr]
        done = [e for e in backend if e["type"] == "response.function_call_arguments.done"]
        assert len(done) == 1
        assert (done[0]["name"], json.loads(done[0]["arguments"])) == ("lookup_order", ARGUMENTS)
        conn.response.item.create(  # type: ignore[call-arg]
            item={"type": "function_call_output", "call_id": "call_order", "output": '{"status": "shipped"}'}
        )
        conn.response.create()
        closed = []
        while not closed:
            event = conn.recv()
            if event.type == "session.closed":
                closed.append(event)
        assert closed[0].reason == "remote_hangup"
        rest, end = sdk_until_closed(conn)  # the call's end adds no second session.closed (close_requested)
        assert isinstance(end, ConnectionClosedOK)
        assert [e.type for e in rest if e.type == "session.closed"] == []
    record = emu.calls.wait_until(
        session_id, lambda r: r.script_state is not None and r.script_state.status != "playing", timeout=WAIT
    )
    assert record.state == "hung_up"
    assert record.script_state == ScriptState("done")
    outputs = [e.event["item"] for e in record.client_events if e.event.get("type") == "response.item.create"]
    assert [o["call_id"] for o in outputs] == ["call_order"]


# realtime-service emulator ring URL --script call.yaml, with an app that attaches and answers its tool

CALL_YAML = """\
- caller: "Hi, where is my order 1234?"
- model_calls: {name: lookup_order, arguments: {order_id: "1234"}, call_id: call_order}
- expect_output: {timeout: 10}
- model_says: "Your order 1234 ships tomorrow."
- hangup
"""
SECRET = "whsec_" + base64.b64encode(b"scripted-call-test-secret-32byte").decode()


class _PhoneApp:
    """A webhook app on loopback, as issue 24's controller will be: accept, attach the sideband with the SDK,
    answer ``lookup_order`` (``answers`` says how many times: 0 is an app that never answers)."""

    def __init__(self, emulator_url: str, api_key: str, *, answers: int = 1) -> None:
        self.client = openai.OpenAI(api_key=api_key, base_url=emulator_url)
        self.answers = answers
        self.heard: list[str] = []
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def incoming(self, event: dict[str, Any]) -> None:
        call_id = str(event["data"]["call_id"])
        self.client.realtime.calls.accept(call_id, type="realtime", model="gpt-realtime")
        thread = threading.Thread(target=self._talk, args=(call_id,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _talk(self, call_id: str) -> None:
        try:
            with self.client.realtime.connect(call_id=call_id) as raw, watchdog(raw) as conn:
                answered = 0
                while True:
                    try:
                        event = conn.recv()
                    except ConnectionClosed:
                        return
                    if event.type == "response.output_audio_transcript.done":
                        self.heard.append(event.transcript)
                    if event.type != "response.done":  # answer once the response is over: a response.create
                        continue  # during it is refused (conversation_already_has_active_response)
                    for call in [i for i in event.response.output or [] if i.type == "function_call"]:
                        if answered >= self.answers:
                            break
                        answered += 1
                        assert json.loads(call.arguments) == ARGUMENTS
                        output = json.dumps({"status": "shipped"})
                        item = {"type": "function_call_output", "call_id": call.call_id, "output": output}
                        conn.conversation.item.create(item=item)
                        conn.response.create()
        except BaseException as error:  # handed to the test, which fails on it
            self.errors.append(error)


def _serve_app(app: _PhoneApp) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            app.incoming(Webhook(SECRET).verify(body, headers))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("answers", "code", "outcome"),
    [
        (1, 0, "script: done"),
        (0, 1, "script: failed at step 2 (expect_output): no function_call_output for call_order within"),
    ],
)
def test_ring_with_a_script_plays_the_whole_phone_call_end_to_end(
    answers: int,
    code: int,
    outcome: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = tmp_path / "call.yaml"
    script.write_text(CALL_YAML if answers else CALL_YAML.replace("timeout: 10", "timeout: 0.2"))
    port, key = _free_port(), "sk-emulator-scripted-test"
    app = _PhoneApp(f"http://127.0.0.1:{port}/v1", key, answers=answers)
    server = _serve_app(app)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/openai"
        argv = ["emulator", "ring", url, "--port", str(port), "--api-key", key, "--script", str(script)]
        assert cli_main(argv) == code
    finally:
        server.shutdown()
        server.server_close()
    for thread in app.threads:
        thread.join(3 * WAIT)
    out = capsys.readouterr().out
    assert app.errors == []
    assert outcome in out
    if answers:
        assert app.heard == ["Your order 1234 ships tomorrow."]
        assert ": hung_up" in out
