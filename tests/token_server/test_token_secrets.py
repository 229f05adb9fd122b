"""Every secret the deployment holds stays out of everything ``serve`` writes, on both frameworks.

``serve`` runs as a real process with all of them configured: the API key, two bearer tokens, a current and a
rotated webhook signing secret, and a real ``redis-server`` that requires a password (``server.rate_limit_storage``).
The emulator, scripted with faults, answers errors and a 200 that quote each secret in every form a text may hold it
(webhook secrets with and without ``whsec_`` and decoded; the Redis password plain and URL-encoded). Neither the
answers the browser gets, nor serve's log (stderr), nor its stdout may contain any of them, nor a run of 10 or more
characters of one. A 200 that adds a top-level field gets to the browser without it (an allow-list).
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml
from redis_server import free_port

from realtime_service.emulator import Emulator, Fault

from .conftest import FAST_RETRY, require

TIMEOUT = 30
OFFER = (Path(__file__).resolve().parents[1] / "sdp" / "chromium_offer.sdp").read_bytes()
#: The shortest run of a secret that must not appear anywhere (redact shows at most 8 + 4 characters, apart).
RUN = 10


def _token(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


API_KEY = _token("sk-proj-")
BEARER_A = _token("bearer-a-")
BEARER_B = _token("bearer-b-")
ROTATED_KEY = b"rotated webhook key, printable 0"  # 32 bytes that are text: the decoded form can be quoted
CURRENT_WEBHOOK = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
ROTATED_WEBHOOK = "whsec_" + base64.b64encode(ROTATED_KEY).decode()
REDIS_PASSWORD = "redis/pass@" + secrets.token_hex(12)

#: Each secret, then every form it may be quoted in.
SECRETS: dict[str, list[str]] = {
    "api key": [API_KEY],
    "bearer a": [BEARER_A],
    "bearer b": [BEARER_B],
    "current webhook secret": [CURRENT_WEBHOOK, CURRENT_WEBHOOK.removeprefix("whsec_")],
    "rotated webhook secret": [ROTATED_WEBHOOK, ROTATED_WEBHOOK.removeprefix("whsec_"), ROTATED_KEY.decode()],
    "redis password": [REDIS_PASSWORD, quote(REDIS_PASSWORD, safe="")],
}
EVERY_FORM = [form for forms in SECRETS.values() for form in forms]
QUOTED = " | ".join(EVERY_FORM)


@pytest.fixture(scope="module")
def redis_with_password() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("REDIS TESTS SKIPPED: redis-server is not installed (apt-get install redis-server)")
    import redis

    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*args, "--requirepass", REDIS_PASSWORD, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://:{quote(REDIS_PASSWORD, safe='')}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.ping():
                break
        except redis.RedisError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.skip("REDIS TESTS SKIPPED: redis-server could not start")
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)


def leaks(text: str) -> list[str]:
    """Which secrets ``text`` shows, whole or as a run of :data:`RUN` characters."""
    found = []
    for name, forms in SECRETS.items():
        for form in forms:
            runs = {form[start : start + RUN] for start in range(len(form) - RUN + 1)}
            if any(run in text for run in runs):
                found.append(f"{name} ({form[:4]}...)")
    return found


def config(tmp_path: Path, emulator: Emulator, redis_url: str) -> str:
    path = tmp_path / "serve.yaml"
    tree: dict[str, Any] = {
        "realtime": {"api_key": API_KEY, "base_url": emulator.base_url, "retry": dict(FAST_RETRY)},
        "server": {
            "auth": "bearer",
            "bearer_tokens": {"a": BEARER_A, "b": BEARER_B},
            "rate_limit_storage": redis_url,
            "rate_limit": "1000/minute",  # one Redis for both frameworks' runs: budgets are not what is tested
            "phone": {"webhook_secret": [CURRENT_WEBHOOK, ROTATED_WEBHOOK]},
        },
    }
    path.write_text(yaml.safe_dump(tree))
    return str(path)


def upstream_faults() -> list[Fault]:
    """Errors and answers that quote every secret in every form, in every place an error has."""
    ga_200 = {
        "value": "ek_" + secrets.token_hex(16),
        "expires_at": int(time.time()) + 60,
        "session": {"type": "realtime", "id": "sess_1", "object": "realtime.session", "instructions": QUOTED},
        "leaked": QUOTED,
        "debug": {"authorization": f"Bearer {API_KEY}"},
    }
    return [
        Fault.status(401, message=f"Incorrect API key provided: {QUOTED}", code=CURRENT_WEBHOOK, param=REDIS_PASSWORD),
        Fault.status(400, message=QUOTED, code=ROTATED_KEY.decode(), param=ROTATED_WEBHOOK.removeprefix("whsec_")),
        Fault.status(403, message=QUOTED, type=BEARER_A, code=BEARER_B, param=CURRENT_WEBHOOK),
        Fault.raw(QUOTED, status=418, content_type="text/plain"),
        Fault.raw(f"not json: {QUOTED}", status=200),
        Fault.json(ga_200),
    ]


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_no_secret_reaches_a_log_an_answer_or_the_output(
    start: Any, tmp_path: Path, redis_with_password: str, framework: str
) -> None:
    require(framework)
    with Emulator(API_KEY) as emulator:
        served = start("--config", config(tmp_path, emulator, redis_with_password), "--framework", framework)
        answers: list[requests.Response] = []
        for fault in upstream_faults():
            emulator.enqueue(fault)
            answers.append(
                requests.post(
                    served.url + "/token", json={}, headers={"Authorization": f"Bearer {BEARER_A}"}, timeout=TIMEOUT
                )
            )
        emulator.enqueue(Fault.status(401, message=QUOTED, code=CURRENT_WEBHOOK, param=ROTATED_KEY.decode()))
        answers.append(
            requests.post(
                served.url + "/session",
                data=OFFER,
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {BEARER_B}"},
                timeout=TIMEOUT,
            )
        )
        wrong = requests.post(
            served.url + "/token", json={}, headers={"Authorization": f"Bearer {QUOTED}"}, timeout=TIMEOUT
        )
        assert served.stop() == 0
    statuses = [answer.status_code for answer in answers]
    assert statuses == [502, 502, 502, 502, 502, 200, 502], [a.text[:200] for a in answers]
    assert wrong.status_code == 401
    granted = answers[5].json()
    assert set(granted) == {"value", "expires_at", "session"}  # "leaked" and "debug" never reach the browser
    assert granted["value"].startswith("ek_")
    log = served.stderr
    assert "upstream rejected this server's API key" in log  # the errors were logged: the check is not vacuous
    assert "upstream answer held a server secret" in log
    for where, text in [
        *((f"answer {index}", answer.text + json.dumps(dict(answer.headers))) for index, answer in enumerate(answers)),
        ("the refusal of a wrong token", wrong.text),
        ("serve's log", log),
    ]:
        assert not leaks(text), f"{leaks(text)} in {where}: {text[:400]!r}"


def test_the_cli_prints_no_webhook_secret_or_token_from_its_environment(tmp_path: Path) -> None:
    """``create-secret`` reads no ``server:`` tree, but the process holds the secrets of its environment: an
    upstream error quoting them is printed redacted."""
    with Emulator(API_KEY) as emulator:
        path = tmp_path / "realtime.yaml"
        realtime = {"api_key": API_KEY, "base_url": emulator.base_url, "retry": {"max_retries": 0}}
        path.write_text(yaml.safe_dump(realtime))
        emulator.enqueue(Fault.status(401, message=QUOTED))
        environ = {
            "PATH": "/usr/bin:/bin",
            "OPENAI_WEBHOOK_SECRET": f"{CURRENT_WEBHOOK},{ROTATED_WEBHOOK}",
            "REALTIME_SERVICE_TOKENS": f"a={BEARER_A},{BEARER_B}",
        }
        done = subprocess.run(
            [sys.executable, "-m", "realtime_service", "create-secret", "--config", str(path)],
            capture_output=True,
            text=True,
            env=environ,
            timeout=60,
        )
    assert done.returncode == 3, done.stderr
    assert "Incorrect" not in done.stdout
    output = done.stdout + done.stderr
    remaining = [name for name in leaks(output) if not name.startswith("redis password")]  # not in its environment
    assert not remaining, f"{remaining} in the CLI's output: {output[:400]!r}"
    assert "whsec_..." in output  # the quoted secrets are there, redacted


def test_loading_the_server_settings_registers_every_secret_even_when_they_are_refused() -> None:
    from realtime_service.errors import ConfigurationError
    from realtime_service.redaction import scrub
    from realtime_service.web.settings import load_server_settings

    token, named = _token("load-a-"), _token("load-b-")
    env_token = _token("load-env-")
    password = "load/pass@" + secrets.token_hex(8)
    current = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    rotated = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env_webhook = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    load_server_settings(
        {
            "bearer_tokens": [token],
            "rate_limit_storage": f"redis://:{quote(password, safe='')}@127.0.0.1:1/0",
            "phone": {"webhook_secret": [current, rotated]},
        },
        {"REALTIME_SERVICE_TOKENS": f"n={env_token}"},
    )
    with pytest.raises(ConfigurationError):  # refused after the secrets were read: they are registered all the same
        load_server_settings(
            {"bearer_tokens": {"b": named}, "max_ttl": "never"}, {"OPENAI_WEBHOOK_SECRET": env_webhook}
        )
    for secret in (token, named, env_token, password, quote(password, safe=""), current, rotated, env_webhook):
        assert secret not in scrub(f"[{secret}]"), secret[:6]
    for webhook in (current, rotated, env_webhook):
        assert scrub(webhook.removeprefix("whsec_")) == "whsec_..." + webhook[-4:]


def test_an_sdp_answer_quoting_a_webhook_secret_is_refused(serve: Any, emulator: Emulator) -> None:
    """``/session`` answers SDP, which cannot be scrubbed and stay valid: an answer holding any registered secret
    (here the rotated webhook secret without its prefix) is a 502, not passed on."""
    quoted = ROTATED_WEBHOOK.removeprefix("whsec_")
    answer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=x-debug:" + quoted + "\r\n"
    location = {"location": "/v1/realtime/calls/rtc_quoting"}
    served = serve(phone={"webhook_secret": [CURRENT_WEBHOOK, ROTATED_WEBHOOK]})
    sdp = {"Content-Type": "application/sdp"}
    good = requests.post(served.url + "/session", data=OFFER, headers=sdp, timeout=30)
    assert good.status_code == 201, good.text
    emulator.enqueue(Fault.raw(answer, status=201, content_type="application/sdp", headers=location))
    refused = requests.post(
        served.url + "/session", data=OFFER, headers={"Content-Type": "application/sdp"}, timeout=30
    )
    assert refused.status_code == 502
    assert refused.json()["error"]["code"] == "upstream_invalid_response"
    assert quoted not in refused.text
