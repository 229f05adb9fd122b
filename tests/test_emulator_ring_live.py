"""``realtime-service emulator ring URL --live --script FILE`` run as a real process against a real GPT-Live webhook
app on loopback: the app verifies the signed ``live.transport.incoming``, accepts with Responses delegation through
the official SDK, attaches its sideband and answers the scripted tool call. The command prints the script's outcome
and exits 0; with an app that never answers, the script fails at its ``expect_output`` in one line and exit 1."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
from standardwebhooks import Webhook
from websockets.exceptions import ConnectionClosed

WAIT = 10.0  # seconds a step waits for what should come at once (a deadline, never reached when it works)
ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + base64.b64encode(b"live-ring-script-test-secret-32b").decode()
ARGUMENTS = {"order_id": "1234"}
SCRIPT = """\
- caller: "Hi, where is my order 1234?"
- model_calls: {name: lookup_order, arguments: {order_id: "1234"}, call_id: call_order}
- expect_output: {timeout: 10, output: {status: shipped}}
- model_says: "Your order 1234 ships tomorrow."
- hangup
"""
ACCEPT = {
    "type": "live",
    "model": "gpt-live-1",
    "instructions": "Help the caller track an order.",
    "delegation": {
        "type": "responses",
        "responses": {
            "model": "gpt-5.4-mini",
            "tools": [
                {
                    "type": "function",
                    "name": "lookup_order",
                    "description": "Where an order is.",
                    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
                }
            ],
        },
    },
}


class LiveApp:
    """A GPT-Live webhook app: accept each incoming call with Responses delegation, attach the sideband, answer
    ``lookup_order`` ``answers`` times (0: an app that never answers). The emulator's URL comes from the command's
    first line of output (``--port 0``: no port guessed)."""

    def __init__(self, api_key: str, *, answers: int) -> None:
        self.api_key, self.answers = api_key, answers
        self.emulator_url = ""
        self.ready = threading.Event()
        self.heard: list[str] = []
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def incoming(self, event: dict[str, Any]) -> None:
        assert event["type"] == "live.transport.incoming"
        assert self.ready.wait(WAIT), "the command never printed the emulator's URL"
        client = openai.OpenAI(api_key=self.api_key, base_url=self.emulator_url)
        session_id = str(event["data"]["session_id"])
        client.live.sessions.accept(session_id, session=ACCEPT)  # type: ignore[arg-type]
        thread = threading.Thread(target=self._talk, args=(client, session_id), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _talk(self, client: openai.OpenAI, session_id: str) -> None:
        try:
            with client.live.sideband.connect(session_id=session_id) as conn:
                watchdog = threading.Timer(3 * WAIT, conn.close)  # a broken emulator fails, never hangs, the test
                watchdog.start()
                answered, heard = 0, []
                try:
                    while True:
                        try:
                            event = conn.recv()
                        except ConnectionClosed:
                            break
                        if event.type == "session.output_transcript.delta":
                            heard.append(event.delta)
                        inner = event.event if event.type == "response.event" else None
                        if isinstance(inner, dict) and inner.get("type") == "response.output_item.done":
                            item = inner["item"]
                            if item["type"] == "function_call" and answered < self.answers:
                                answered += 1
                                assert json.loads(item["arguments"]) == ARGUMENTS
                                output = json.dumps({"status": "shipped"})
                                conn.response.item.create(
                                    item={"type": "function_call_output", "call_id": item["call_id"], "output": output}
                                )
                                conn.response.create()
                finally:
                    watchdog.cancel()
                self.heard.append("".join(heard))
        except BaseException as error:  # handed to the test, which fails on it
            self.errors.append(error)


@contextlib.contextmanager
def serving(app: LiveApp) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                app.incoming(Webhook(SECRET).verify(body, headers))
            except BaseException as error:
                app.errors.append(error)
                self.send_response(500)
            else:
                self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/openai"
    finally:
        server.shutdown()
        server.server_close()


def ring_live(app: LiveApp, url: str, script: Path) -> tuple[int, list[str], str]:
    """Run the command; hand the emulator's URL to the app as soon as the command prints it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_WEBHOOK_SECRET"] = SECRET  # not on the command line, where other users could read it
    command = [sys.executable, "-m", "realtime_service", "emulator", "ring", url, "--live"]
    command += ["--api-key", app.api_key, "--timeout", str(WAIT), "--script", str(script)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            found = re.match(r"emulator on (http://\S+): ", line)
            if found:
                app.emulator_url = found.group(1)
                app.ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=6 * WAIT)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(WAIT)
    assert process.stderr is not None
    return code, lines, process.stderr.read()


def test_ring_live_with_a_script_plays_the_phone_call_to_done(tmp_path: Path) -> None:
    script = tmp_path / "order.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    app = LiveApp("sk-emulator-live-ring-test", answers=1)
    with serving(app) as url:
        code, lines, err = ring_live(app, url, script)
    for thread in app.threads:
        thread.join(3 * WAIT)
    assert app.errors == []
    assert code == 0, (lines, err)
    assert "script: done" in lines
    assert any(re.fullmatch(r"call live_\w+: hung_up", line) for line in lines), lines
    assert "accepted: the script plays once the app attaches its sideband (GET /v1/live/sessions/{id}/attach)" in lines
    assert app.heard == ["Your order 1234 ships tomorrow."]
    assert SECRET not in "\n".join(lines) + err


def test_ring_live_with_an_app_that_never_answers_fails_in_one_line_with_exit_1(tmp_path: Path) -> None:
    script = tmp_path / "order.yaml"
    script.write_text(SCRIPT.replace("timeout: 10", "timeout: 0.5"), encoding="utf-8")
    app = LiveApp("sk-emulator-live-ring-test", answers=0)
    with serving(app) as url:
        code, lines, err = ring_live(app, url, script)
    for thread in app.threads:
        thread.join(3 * WAIT)
    assert app.errors == []
    assert code == 1, (lines, err)
    outcome = [line for line in lines if line.startswith("script: ")]
    assert outcome == [
        "script: failed at step 2 (expect_output): no function_call_output for call_order within the step's timeout"
    ]
    assert err == ""


def test_ring_refuses_a_dial_script_in_one_line_with_exit_2(tmp_path: Path) -> None:
    script = tmp_path / "outbound.yaml"
    script.write_text("- dial: answered\n- caller: hello?\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_WEBHOOK_SECRET"] = SECRET
    command = [sys.executable, "-m", "realtime_service", "emulator", "ring", "http://127.0.0.1:9/webhooks/openai"]
    done = subprocess.run(
        [*command, "--live", "--script", str(script)], capture_output=True, text=True, env=env, timeout=6 * WAIT
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "script step 0 (dial): ring places an incoming call" in done.stderr
