"""Secrets audit: the API key and every minted key never show up where they could be read by accident.

Every public operation (``create_realtime_session`` on both shapes, sync and async, the GA operations, and the
WebRTC signaling creates and hang-ups), their error paths, the CLI (a real process, ``create-call`` included) and,
when ``realtime_service.web`` is there, the token endpoint run with *every* logger at DEBUG (urllib3 included). The
emulator records each key it mints, so the audit knows them all. Neither the API key, nor the token server's bearer
token, nor any minted key may appear in a log record (message, args, ``extra``, exception text), an exception's
``str``/``repr`` and fields, a ``repr`` of our objects, the CLI's stdout/stderr (without ``--show-secret``), or a
token-server error body. (A successful mint's body carries its key: that is its job, and it is not audited.)
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from realtime_service import (
    APIConnectionError,
    APIStatusError,
    RealtimeServiceError,
    RequestValidationError,
)
from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import Call, Emulator, Fault, Reply
from realtime_service.emulator.server import DEFAULT_ROUTES
from realtime_service.redaction import redact
from realtime_service.service import RealtimeSessionService

KEY = "sk-audit-0123456789abcdef0123456789abcdef"
BEARER = "browser-token-0123456789abcdef0123"


class Vault:
    """Every secret of the run: the key, the token server's bearer token, and each key the emulator minted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.minted: list[str] = []

    def record(self, reply: Reply) -> Reply:
        if reply.status == 200:
            body = json.loads(reply.body)
            secret = body.get("value") or (body.get("client_secret") or {}).get("value")
            if isinstance(secret, str):
                with self._lock:
                    self.minted.append(secret)
        return reply

    def secrets(self) -> list[str]:
        with self._lock:
            return [KEY, BEARER, *self.minted]


class Records(logging.Handler):
    """Every log record of every logger, rendered with everything a formatter or a log shipper could read."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        parts = [record.getMessage(), repr(record.args), repr(record.__dict__)]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        self.texts.append("\n".join(parts))


@pytest.fixture
def vault() -> Vault:
    return Vault()


@pytest.fixture
def emulator(vault: Vault) -> Iterator[Emulator]:
    with Emulator(KEY) as running:
        for path, methods in DEFAULT_ROUTES.items():
            for method, route in methods.items():
                running.add_route(method, path, _recording(route.handler, vault), beta=route.beta, auth=route.auth)
        yield running


def _recording(handler: Callable[[Call], Reply], vault: Vault) -> Callable[[Call], Reply]:
    return lambda call: vault.record(handler(call))


@pytest.fixture
def records() -> Iterator[Records]:
    """All loggers at DEBUG, ours, urllib3's and the root, captured; levels restored afterwards."""
    handler = Records()
    root = logging.getLogger()
    names = [
        "",
        "realtime_service",
        "realtime_service.web",
        "urllib3",
        "urllib3.connectionpool",
        "asyncio",
        *logging.root.manager.loggerDict,
    ]
    loggers = {name: logging.getLogger(name) for name in names}
    levels = {name: logger.level for name, logger in loggers.items()}
    for logger in loggers.values():
        logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    for name, logger in loggers.items():
        logger.setLevel(levels[name])


def assert_clean(vault: Vault, texts: list[str], where: str) -> None:
    secrets = vault.secrets()
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"{redact(secret)} appears in {where}: {text[:300]!r}"


def error_texts(error: BaseException) -> list[str]:
    texts = [str(error), repr(error), repr(error.args)]
    if isinstance(error, APIStatusError):
        texts += [error.message, json.dumps(error.body), repr(error.type), repr(error.code), repr(error.param)]
    if isinstance(error, RequestValidationError):
        texts.append(repr(error.messages))
    return texts


def service_for(emulator: Emulator, shape: str, **config: Any) -> tuple[RealtimeContainer, RealtimeSessionService]:
    container = RealtimeContainer(environ={})
    container.config.from_dict(
        {"api_key": KEY, "base_url": emulator.base_url, "api_shape": shape, "retry": {"max_retries": 1}, **config}
    )
    container.sleep.override(lambda seconds: None)
    return container, container.realtime_session_service()


#: (operation, shape, a request it accepts): every operation of the service, listed plainly so that one which
#: disappears fails the audit (getattr) instead of silently leaving it.
OPERATIONS = [
    ("create_realtime_session", "beta", {"voice": "marin"}),
    ("create_realtime_session", "ga", {"voice": "marin"}),
    ("create_client_secret", "ga", {}),
    ("create_translation_client_secret", "ga", {"session": {"model": "gpt-realtime-translate"}}),
    ("create_transcription_session", "beta", {}),
]


def _faults(minted_example: str) -> list[tuple[str, list[Fault]]]:
    return [
        ("401 echoing the key", [Fault.status(401, message=f"Incorrect API key provided: {KEY}.")]),
        ("400 naming the key as param and code", [Fault.status(400, message="bad", param=KEY, code=KEY)]),
        ("500 text echoing the key", [Fault.raw(f"upstream said {KEY}", status=500, content_type="text/plain")] * 2),
        (
            "200 with a key but a bad expiry",
            [
                Fault.json(
                    {
                        "client_secret": {"value": minted_example, "expires_at": "x"},
                        "value": minted_example,
                        "expires_at": "x",
                    }
                )
            ],
        ),
        ("connection reset", [Fault.reset()] * 2),
        ("redirect", [Fault.redirect(f"http://127.0.0.1:1/{KEY}")]),
    ]


@pytest.mark.parametrize(
    ("operation", "shape", "request_body"), OPERATIONS, ids=[f"{name}[{shape}]" for name, shape, _ in OPERATIONS]
)
def test_no_operation_leaks_a_secret_on_success_or_failure(
    emulator: Emulator, vault: Vault, records: Records, operation: str, shape: str, request_body: dict[str, Any]
) -> None:
    container, service = service_for(emulator, shape)
    run = getattr(service, operation)
    texts: list[str] = []
    result = run(request_body)
    texts += [repr(result), str(result), repr(container.settings()), repr(container.gateway()), repr(service)]
    minted_example = "ek_" + "q" * 32
    vault.minted.append(minted_example)
    for _name, faults in _faults(minted_example):
        emulator.enqueue(*faults)
        with pytest.raises(RealtimeServiceError) as caught:
            run(request_body)
        texts += error_texts(caught.value)
        emulator.clear()
    with pytest.raises(RequestValidationError) as refused:
        run({**request_body, "temperature": KEY, "unknown_field": KEY})
    texts += error_texts(refused.value)
    texts.append(repr(asyncio.run(getattr(service, "a" + operation)(request_body))))
    container.shutdown_resources()
    assert len(vault.minted) >= 2
    assert records.count > 0
    assert_clean(vault, texts, f"{operation}'s results or errors")
    assert_clean(vault, records.texts, "a log record")


def test_a_connection_refused_or_timed_out_leaks_nothing(vault: Vault, records: Records) -> None:
    container = RealtimeContainer(environ={})
    container.config.from_dict(
        {"api_key": KEY, "base_url": "http://127.0.0.1:1/v1", "api_shape": "beta", "retry": {"max_retries": 0}}
    )
    with pytest.raises(APIConnectionError) as caught:
        container.realtime_session_service().create_realtime_session({})
    assert_clean(vault, error_texts(caught.value), "a connection error")
    assert_clean(vault, records.texts, "a log record")


def test_a_key_echoed_json_escaped_in_an_error_body_is_scrubbed_too(emulator: Emulator, vault: Vault) -> None:
    escaped = "".join(f"\\u{ord(char):04x}" for char in KEY)
    body = '{"error": {"message": "Incorrect API key provided: %s", "type": "x", "param": null, "code": null}}'
    emulator.enqueue(Fault.raw(body % escaped, status=401))
    _, service = service_for(emulator, "beta")
    with pytest.raises(APIStatusError) as caught:
        service.create_realtime_session({})
    assert_clean(vault, error_texts(caught.value), "an error built from an escaped body")


# --- WebRTC signaling: creates and hang-ups --------------------------------------------------------------------

OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
LIVE_SESSION = {"model": "gpt-live-1"}
SIGNALING_FAULTS = [
    [Fault.status(401, message=f"Incorrect API key provided: {KEY}.")],
    [Fault.status(400, message="bad", param=KEY, code=KEY)],
    [Fault.raw(f"upstream said {KEY}", status=500, content_type="text/plain")] * 2,
    [Fault.raw(f"not sdp but {KEY}", status=201, content_type="text/plain")],
    [Fault.reset()] * 2,
    [Fault.redirect(f"http://127.0.0.1:1/{KEY}")],
]


def _signaling(service: RealtimeSessionService, operation: str, ident: str, bad: bool = False) -> Any:
    """Run ``operation`` (``a``-prefixed: its twin); ``bad`` puts the key where validation refuses it."""
    twin = operation.startswith("a")
    run = getattr(service, operation)
    name = operation[1:] if twin else operation
    if name == "create_call":
        call: Any = run(OFFER, {"type": "realtime", "temperature": KEY} if bad else None)
    elif name == "create_live_session":
        call = run(OFFER, {"model": KEY, "bogus": KEY} if bad else LIVE_SESSION)
    else:
        call = run(KEY if bad else ident)
    return asyncio.run(call) if twin else call


@pytest.mark.parametrize("operation", ["create_call", "create_live_session", "hangup_call", "hangup_live_session"])
def test_no_signaling_operation_leaks_a_secret_on_success_or_failure(
    emulator: Emulator, vault: Vault, records: Records, operation: str
) -> None:
    container, service = service_for(emulator, "ga")
    call_id = service.create_call(OFFER).call_id or ""
    session_id = service.create_live_session(OFFER, LIVE_SESSION).session_id
    ident = session_id if operation == "hangup_live_session" else call_id
    texts = [repr(_signaling(service, operation, ident)), repr(service), repr(container.gateway())]
    for faults in SIGNALING_FAULTS:
        if "hangup" in operation and faults[0].status_code == 201:
            continue  # a 2xx ends a hang-up well: nothing to audit
        emulator.enqueue(*faults)
        with pytest.raises(RealtimeServiceError) as caught:
            _signaling(service, operation, ident)
        texts += error_texts(caught.value)
        emulator.clear()
    for twin in (operation, "a" + operation):
        with pytest.raises(RequestValidationError) as refused:
            _signaling(service, twin, ident, bad=True)
        texts += error_texts(refused.value)
    container.shutdown_resources()
    assert records.count > 0
    assert_clean(vault, texts, f"{operation}'s results or errors")
    assert_clean(vault, records.texts, "a log record")


def test_the_create_call_cli_prints_no_secret(emulator: Emulator, vault: Vault, tmp_path: Path) -> None:
    config = tmp_path / "realtime.yaml"
    config.write_text(yaml.safe_dump({"api_key": KEY, "base_url": emulator.base_url, "retry": {"max_retries": 0}}))
    offer = tmp_path / "offer.sdp"
    offer.write_bytes(OFFER)
    created = run_cli("create-call", config, "--sdp", str(offer), "--voice", "marin")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["call_id"].startswith("rtc_")
    live = run_cli("create-call", config, "--sdp", "-", "--live", "--model", "gpt-live-1", stdin=OFFER.decode())
    assert live.returncode == 0, live.stderr
    assert json.loads(live.stdout)["session_id"].startswith("live_")
    emulator.enqueue(Fault.status(401, message=f"Incorrect API key provided: {KEY}."))
    refused = run_cli("create-call", config, "--sdp", str(offer))
    assert refused.returncode == 3
    invalid = run_cli("create-call", config, "--sdp", str(offer), "--live", "--instructions", KEY)
    assert invalid.returncode == 2
    outputs = [p.stdout + p.stderr for p in (created, live, refused, invalid)]
    assert_clean(vault, outputs, "the create-call CLI's output")


# --- the CLI, as a real process ------------------------------------------------------------------------------------

CLI = [sys.executable, "-m", "realtime_service"]


def run_cli(command: str, config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    return subprocess.run(
        [*CLI, command, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=environ,
        input=stdin,
        timeout=60,
    )


def printed_key(command: str, stdout: str) -> str:
    answer = json.loads(stdout)
    # create-session prints the GA shape (value) unless the beta one is asked for (client_secret.value).
    key = answer["client_secret"]["value"] if "client_secret" in answer else answer["value"]
    assert isinstance(key, str)
    return key


@pytest.mark.parametrize(
    ("command", "shape"), [("create-session", "ga"), ("create-session", "beta"), ("create-secret", "ga")]
)
def test_the_cli_prints_no_secret_without_show_secret(
    emulator: Emulator, vault: Vault, tmp_path: Path, command: str, shape: str
) -> None:
    config = tmp_path / "realtime.yaml"
    config.write_text(
        yaml.safe_dump({"api_key": KEY, "base_url": emulator.base_url, "api_shape": shape, "retry": {"max_retries": 0}})
    )
    outputs: list[str] = []
    minted = run_cli(command, config, "--voice", "marin")
    assert minted.returncode == 0, minted.stderr
    assert len(vault.minted) == 1
    # Written out, not computed with redact() (an expected value built by the function under test cannot fail).
    assert vault.minted[0].startswith("ek_")
    assert printed_key(command, minted.stdout) == "ek_..." + vault.minted[0][-4:]
    outputs += [minted.stdout, minted.stderr]
    emulator.enqueue(Fault.status(401, message=f"Incorrect API key provided: {KEY}."))
    refused = run_cli(command, config)
    assert refused.returncode == 3
    emulator.enqueue(
        Fault.json(
            {
                "client_secret": {"value": "ek_" + "z" * 30, "expires_at": "x"},
                "value": "ek_" + "z" * 30,
                "expires_at": "x",
            }
        )
    )
    vault.minted.append("ek_" + "z" * 30)
    invalid = run_cli(command, config)
    assert invalid.returncode == 5
    bad_request = run_cli(command, config, "--request", "-", stdin=json.dumps({"temperature": KEY}))
    assert bad_request.returncode == 2
    outputs += [refused.stdout, refused.stderr, invalid.stdout, invalid.stderr, bad_request.stdout, bad_request.stderr]
    assert_clean(vault, outputs, "the CLI's output")


# --- the token server, when there is one ---------------------------------------------------------------------------

HAS_WEB = importlib.util.find_spec("realtime_service.web") is not None


@pytest.mark.skipif(not HAS_WEB, reason="realtime_service.web is not on this checkout: no token server to audit")
def test_the_token_endpoint_leaks_no_secret_in_error_bodies_or_logs(
    emulator: Emulator, vault: Vault, records: Records
) -> None:
    from realtime_service.web.messages import WebRequest
    from realtime_service.web.servers.containers import TokenServerContainer

    container = TokenServerContainer(environ={})
    container.config.from_dict(
        {
            "realtime": {"api_key": KEY, "base_url": emulator.base_url, "retry": {"max_retries": 0}},
            "server": {"auth": "bearer", "bearer_tokens": {"web": BEARER}, "rate_limit": "1000/minute"},
        }
    )
    endpoint = container.token_endpoint()

    def post(body: bytes = b"{}", token: str = BEARER) -> Any:
        headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
        return endpoint.handle(WebRequest("POST", "/token", headers, body, client="127.0.0.1"))

    minted = post()
    assert minted.status == 200, minted.body
    assert len(vault.minted) == 1
    failures = [
        post(token=KEY),  # a browser presenting the API key itself
        post(token=BEARER[:-1] + "x"),
        post(json.dumps({"instructions": KEY}).encode()),
        post(json.dumps({"voice": 5, "unknown_field": BEARER}).encode()),
        post(b"{" + KEY.encode()),
    ]
    for faults in (
        [Fault.status(401, message=f"Incorrect API key provided: {KEY}.")],
        [Fault.status(400, message=f"bad {KEY}", param=KEY)],
        [Fault.raw(f"oops {KEY}", status=500, content_type="text/plain")],
        [Fault.json({"value": "ek_" + "w" * 30, "expires_at": "x"})],
        [Fault.reset()],
    ):
        emulator.enqueue(*faults)
        failures.append(post())
        emulator.clear()
    vault.minted.append("ek_" + "w" * 30)
    assert all(response.status >= 400 for response in failures), [r.status for r in failures]
    texts = [response.body.decode("utf-8", "replace") + repr(response.headers) for response in failures]
    texts.append(repr(container.server_settings()))
    assert_clean(vault, texts, "a token-server error response")
    assert_clean(vault, records.texts, "a log record")
    container.realtime.shutdown_resources()


def test_the_audit_sees_a_leak_when_there_is_one(vault: Vault) -> None:
    vault.minted.append("ek_" + "v" * 30)
    with pytest.raises(AssertionError, match=r"ek_\.\.\.vvvv"):
        assert_clean(vault, ["oops ek_" + "v" * 30], "a planted text")
    with pytest.raises(AssertionError):
        assert_clean(vault, [f"Bearer {KEY}"], "a planted text")


def test_the_records_fixture_captures_urllib3_debug_lines(emulator: Emulator, records: Records) -> None:
    _, service = service_for(emulator, "beta")
    service.create_realtime_session({})
    assert any("Starting new HTTP connection" in text for text in records.texts)


#: Call control (issue 13): (operation, id prefix, an argument it accepts).
CALL_CONTROL = [
    ("accept_call", "rtc_", {"type": "realtime", "model": "gpt-realtime-2.1"}),
    ("reject_call", "rtc_", 486),
    ("refer_call", "rtc_", "tel:+14155550123"),
    ("accept_live_session", "live_", {"type": "live", "model": "gpt-live-1"}),
    ("reject_live_session", "live_", 486),
    ("refer_live_session", "live_", "sip:desk@example.com"),
]


@pytest.mark.parametrize(("operation", "prefix", "argument"), CALL_CONTROL, ids=[c[0] for c in CALL_CONTROL])
def test_no_call_control_operation_leaks_a_secret(
    emulator: Emulator, vault: Vault, records: Records, operation: str, prefix: str, argument: Any
) -> None:
    import time

    from realtime_service.emulator import CallRecord

    container, service = service_for(emulator, "ga")
    run = getattr(service, operation)

    def pending() -> str:
        ident = f"{prefix}{time.monotonic_ns():x}"
        api = "live" if prefix == "live_" else "realtime"
        emulator.calls.add(CallRecord(id=ident, api=api, transport="sip", state="pending", created_at=time.time()))
        return ident

    texts = [repr(run(pending(), argument))]
    for _name, faults in _faults("ek_" + "q" * 32):
        if faults[0].status_code == 200:  # a 2xx is success for call control: its body is not read
            continue
        emulator.enqueue(*faults)
        with pytest.raises(RealtimeServiceError) as caught:
            run(pending(), argument)
        texts += error_texts(caught.value)
        emulator.clear()
    with pytest.raises(RequestValidationError) as refused:
        run(pending(), {"type": "realtime", "instructions": 5, "unknown_field": KEY} if "accept" in operation else KEY)
    texts += error_texts(refused.value)
    texts.append(repr(asyncio.run(getattr(service, "a" + operation)(pending(), argument))))
    container.shutdown_resources()
    assert records.count > 0
    assert_clean(vault, texts, f"{operation}'s results or errors")
    assert_clean(vault, records.texts, "a log record")


@pytest.mark.skipif(not HAS_WEB, reason="realtime_service.web is not on this checkout: no phone endpoint to audit")
def test_the_phone_endpoint_leaks_no_webhook_secret_or_key(emulator: Emulator, vault: Vault, records: Records) -> None:
    import base64

    from realtime_service.web.messages import WebRequest
    from realtime_service.web.servers.containers import TokenServerContainer

    webhook_secret = "whsec_" + base64.b64encode(b"audit-webhook-secret-0123456789").decode()
    container = TokenServerContainer(environ={})
    container.config.from_dict(
        {
            "realtime": {"api_key": KEY, "base_url": emulator.base_url, "retry": {"max_retries": 0}},
            "server": {"phone": {"webhook_secret": webhook_secret, "session": {"type": "realtime"}}},
        }
    )
    endpoint = container.phone_endpoint()
    texts = [repr(endpoint), repr(endpoint.verifier), repr(container.server_settings())]
    body = json.dumps(
        {
            "object": "event",
            "id": "evt_1",
            "type": "realtime.call.incoming",
            "created_at": 1,
            "data": {"call_id": "rtc_audit", "sip_headers": []},
        }
    ).encode()
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    now = datetime.now(tz=UTC)

    def post(signature: str, webhook_id: str = "wh_audit") -> Any:
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        return endpoint.handle(WebRequest("POST", "/webhooks/openai", headers, body, client="127.0.0.1"))

    good = Webhook(webhook_secret).sign("wh_audit", now, body.decode())
    responses = [post(good.replace("v1,", "v1,AAAA")), post(f"v1,{webhook_secret}")]
    emulator.enqueue(Fault.status(401, message=f"Incorrect API key provided: {KEY}."))
    responses.append(post(good))  # the call is unknown upstream, and the upstream echoes the key
    for n, fault in enumerate([Fault.raw(f"oops {KEY}", status=500, content_type="text/plain"), Fault.reset()]):
        emulator.enqueue(fault)
        responses.append(post(Webhook(webhook_secret).sign(f"wh_audit{n}", now, body.decode()), f"wh_audit{n}"))
    texts += [response.body.decode("utf-8", "replace") + repr(response.headers) for response in responses]
    assert [response.status for response in responses][:2] == [400, 400]
    vault.minted.append(webhook_secret)  # audited like a key
    vault.minted.append(webhook_secret.removeprefix("whsec_"))
    assert_clean(vault, texts, "a phone-endpoint response")
    assert_clean(vault, records.texts, "a log record")
    container.shutdown_resources()


# --- `serve` as a process at server.log_level: DEBUG, text and JSON --------------------------------------------------

SIDEBAND_SCRIPT = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}, "call_id": "call_1"}},
    {"expect_output": {"timeout": 60}},
    {"model_says": "It has shipped."},
    "hangup",
]
HAS_SIDEBAND = importlib.util.find_spec("websockets") is not None


@pytest.mark.skipif(not (HAS_WEB and HAS_SIDEBAND), reason="needs realtime_service.web and the sideband extra")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_serve_at_debug_writes_no_secret_to_stderr(vault: Vault, tmp_path: Path, log_format: str) -> None:
    """A mint, a call with its sideband (websockets logs its handshake, the key's header included, at DEBUG), refused
    credentials and a forged webhook: stderr holds none of the key, the bearer token, a minted key or the webhook
    secret, whether lines are text or JSON; every logger, third-party ones included, wrote at DEBUG."""
    import base64
    import signal

    import requests

    webhook_secret = "whsec_" + base64.b64encode(b"audit-serve-webhook-secret-0123").decode()
    with Emulator(KEY, script=SIDEBAND_SCRIPT) as emulator:
        config = {
            "realtime": {"api_key": KEY, "base_url": emulator.base_url},
            "server": {
                "auth": "bearer",
                "bearer_tokens": {"web": BEARER},
                "sideband": {"tools": "examples.order_tools:toolbox"},
                "phone": {"webhook_secret": webhook_secret, "session": {"type": "realtime"}},
                "log_format": log_format,
                "log_level": "DEBUG",
            },
        }
        path = tmp_path / "serve.yaml"
        path.write_text(yaml.safe_dump(config))
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
        root = Path(__file__).resolve().parents[1]
        server = subprocess.Popen(
            [*CLI, "serve", "--port", "0", "--config", str(path)],
            cwd=root,
            env={**environ, "PYTHONPATH": str(root)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            assert "listening on http://" in line, line + (server.stderr.read() if server.poll() is not None else "")
            url = line.split("listening on ", 1)[1].split()[0].rstrip("/")
            auth = {"Authorization": f"Bearer {BEARER}"}
            minted = requests.post(f"{url}/token", json={}, headers=auth, timeout=10)
            assert minted.status_code == 200, minted.text[:300]
            vault.minted.append(minted.json()["value"])
            refused = requests.post(f"{url}/token", json={}, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
            assert refused.status_code == 401
            call = requests.post(
                f"{url}/session", data=OFFER, headers={**auth, "Content-Type": "application/sdp"}, timeout=10
            )
            assert call.status_code == 201, call.text[:300]
            call_id = call.headers["X-Call-Id"]
            emulator.calls.wait_until(
                call_id,
                lambda record: record.script_state is not None and record.script_state.status in ("done", "failed"),
                timeout=60,
            )
            forged = requests.post(
                f"{url}/webhooks/openai",
                data=b"{}",
                headers={"webhook-id": "wh_1", "webhook-timestamp": "1", "webhook-signature": f"v1,{webhook_secret}"},
                timeout=10,
            )
            assert forged.status_code == 400
        finally:
            server.send_signal(signal.SIGTERM)
            _, err = server.communicate(timeout=60)
    vault.minted += [webhook_secret, webhook_secret.removeprefix("whsec_")]
    assert len(vault.minted) >= 3  # the mint, the call's key (the emulator records both) and the webhook forms
    lines = err.splitlines()
    assert_clean(vault, lines, f"serve's {log_format} stderr at DEBUG")
    if log_format == "json":
        entries = [json.loads(line) for line in lines]  # every line one JSON object
        loggers = {entry["logger"] for entry in entries if entry["level"] == "DEBUG"}
    else:
        loggers = {part.split(":", 1)[0] for line in lines if " DEBUG " in line for part in [line.split(" DEBUG ")[1]]}
    # websockets logs the sideband's handshake (its Authorization header) on the package's socket logger
    assert "realtime_service.sideband.socket" in loggers, sorted(loggers)
    assert any(name.startswith("urllib3") for name in loggers), sorted(loggers)
    assert "> Authorization: <redacted>" in err  # the handshake's key header reached the log, masked
