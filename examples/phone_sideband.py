"""A phone app that runs its own tool inside the call, hand-written with the official ``openai`` SDK: it accepts each
Realtime SIP call, attaches the call's sideband and answers ``lookup_order`` (docs/emulator-calls.md, "Playing a
script"). This is the loop users glue together by hand; the package's own controller does it for you, with
leases, timeouts and redaction: ``examples/phone_agent_flask.py``.

Run it against the emulator, in two shells::

    export OPENAI_WEBHOOK_SECRET=whsec_c2NyaXB0ZWQtY2FsbC1leGFtcGxlLXNlY3JldC0zMmI=
    OPENAI_API_KEY=sk-emulator-local OPENAI_BASE_URL=http://127.0.0.1:8765/v1 python -m examples.phone_sideband
    realtime-service emulator ring http://127.0.0.1:8000/webhooks/openai --port 8765 --api-key sk-emulator-local \\
        --script examples/order_call.yaml

``ring`` prints ``script: done`` and the call ``hung_up``: the caller asked, the model called the tool, this app
answered it once, the model said the answer and the caller hung up.
"""

from __future__ import annotations

import argparse
import http.server
import json
import logging
import threading
from typing import Any

import openai
from websockets.exceptions import ConnectionClosed

SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime-2.1",
    "instructions": "You answer the phone for Example Ltd. Look orders up with lookup_order.",
    "tools": [
        {
            "type": "function",
            "name": "lookup_order",
            "description": "Where an order is.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        }
    ],
}
log = logging.getLogger("examples.phone_sideband")


def lookup_order(order_id: str) -> dict[str, str]:
    """The private tool: in a real app, a query with the server's own credentials."""
    return {"order_id": order_id, "status": "shipped"}


def run_tool(name: str, arguments: str) -> str:
    """One tool call's output (a JSON string); a failure is an error result the model can speak about."""
    try:
        if name != "lookup_order":
            raise LookupError(f"no tool named {name!r}")
        return json.dumps(lookup_order(**json.loads(arguments)))
    except Exception as error:  # the call goes on: the model hears that the tool failed
        log.warning("tool %s failed: %s", name, type(error).__name__)
        return json.dumps({"error": type(error).__name__})


def attend(client: openai.OpenAI, call_id: str) -> None:
    """The call's sideband until it closes. Each completed function call is run once (keyed by its ``call_id``:
    replays and duplicates do not run it again); once the model's response is over, every output goes back and
    then one ``response.create`` (one sent while the response still runs is refused by the API)."""
    try:
        _attend(client, call_id)
    except ConnectionClosed as closed:  # the network, not the call, ended it: a real app would re-attach here
        log.warning("call %s: the sideband closed abnormally (%s)", call_id, closed.rcvd.code if closed.rcvd else 1006)


def _attend(client: openai.OpenAI, call_id: str) -> None:
    done: set[str] = set()
    outputs: list[tuple[str, str]] = []
    with client.realtime.connect(call_id=call_id) as connection:
        for event in connection:  # ends when the call ends
            if event.type == "response.output_audio_transcript.done":
                log.info("call %s: the model said %r", call_id, event.transcript)
            elif event.type == "response.output_item.done" and event.item.type == "function_call":
                item = event.item
                if item.status == "completed" and item.call_id and item.call_id not in done:
                    done.add(item.call_id)
                    outputs.append((item.call_id, run_tool(item.name or "", item.arguments or "{}")))
            elif event.type == "response.done" and outputs:
                for tool_call_id, output in outputs:
                    connection.conversation.item.create(
                        item={"type": "function_call_output", "call_id": tool_call_id, "output": output}
                    )
                connection.response.create()
                outputs.clear()


def make_server(client: openai.OpenAI, secret: str, port: int) -> http.server.ThreadingHTTPServer:
    """``POST /webhooks/openai``: verify, accept a Realtime call, and attend it on a thread of its own."""

    class Webhook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                event = client.webhooks.unwrap(body, dict(self.headers.items()), secret=secret)
            except Exception:
                self._answer(400)
                return
            if self.path != "/webhooks/openai" or event.type != "realtime.call.incoming":
                self._answer(200)
                return
            call_id = event.data.call_id
            client.realtime.calls.accept(call_id, **SESSION)
            threading.Thread(target=attend, args=(client, call_id), daemon=True).start()
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug(format, *args)

    return http.server.ThreadingHTTPServer(("127.0.0.1", port), Webhook)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the call's own
    client = openai.OpenAI()  # OPENAI_API_KEY, OPENAI_BASE_URL and OPENAI_WEBHOOK_SECRET from the environment
    server = make_server(client, client.webhook_secret or "", args.port)
    log.info("listening on http://127.0.0.1:%d/webhooks/openai", server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
