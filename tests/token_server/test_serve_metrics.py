"""``server.metrics``: ``serve`` as a real process, its Prometheus listener scraped over a real socket.

A scripted run (keys minted, a bad bearer, a foreign origin, an upstream 500 that is retried, an upstream 400, a
call started and hung up by ``max_call_seconds``; on one process also a mint over the budget, a phone call rung
and accepted and a forged delivery) moves each counter by exactly what happened, on one process and summed over
``--workers 2`` (both frameworks); the public port never serves metrics; no key, token, secret, call id or phone
number is in a scrape; a bad ``server.metrics`` is refused naming the key, and without the extra it names
``realtime-service[metrics]`` (metrics unset, serve runs without it).
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from realtime_service.emulator import Emulator
from realtime_service.emulator.faults import Fault
from realtime_service.errors import ConfigurationError
from realtime_service.web.messages import CALL_ID_HEADER
from realtime_service.web.settings import MetricsSettings, load_server_settings

from .conftest import realtime_config

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
OFFER = (ROOT / "tests" / "sdp" / "chromium_offer.sdp").read_bytes()
TOKEN = "metrics-test-bearer-0123456789abcdef"
ORIGIN = "https://app.example"
PHONE = "+14155550123"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"metrics-test-webhook-secret-001").decode()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, emulator: Emulator, metrics_port: int, *, phone: bool = False) -> str:
    server: dict[str, Any] = {
        "auth": "bearer",
        "bearer_tokens": {"app": TOKEN},
        "cors_origins": [ORIGIN],
        "rate_limit": "off",  # --workers 2 with memory storage: no budget to share
        "max_call_seconds": 1,  # the call /session starts is hung up a second later
        "metrics": {"address": "127.0.0.1", "port": metrics_port},
    }
    if phone:  # one process: the webhook ledger and a budget in memory are refused with more than one worker
        server["rate_limit"] = "4/minute"  # the script's 4 mints that reach the budget (not the 401 nor the 403)
        server["phone"] = {
            "webhook_secret": WEBHOOK_SECRET,
            "session": {"type": "realtime", "model": "gpt-realtime-2.1"},
        }
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump({"realtime": realtime_config(emulator), "server": server}))
    return str(path)


def scrape(port: int) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """The exposition text and every sample, keyed by (name, sorted labels)."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def scrape_after_the_hangup(port: int) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """Scrape until the call's hang-up (``max_call_seconds`` after it started) is counted; a deadline, not a
    timing assertion."""
    deadline = time.monotonic() + 60
    while True:
        text, samples = scrape(port)
        if value(samples, "realtime_service_hangups_total", outcome="done") or time.monotonic() > deadline:
            return text, samples
        time.sleep(0.1)


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scripted_run(url: str, emulator: Emulator) -> list[str]:
    """Mint 3 keys (the second after an upstream 500 and one retry), 1 refused bearer, 1 foreign origin, 1
    upstream 400 (answered 502), 1 call started. Returns what must never be in a scrape."""
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    minted = []
    first = requests.post(f"{url}/token", json={}, headers=bearer, timeout=30)
    assert first.status_code == 200, first.text
    minted.append(first.json()["value"])
    emulator.enqueue(Fault.status(500))
    retried = requests.post(f"{url}/token", json={}, headers=bearer, timeout=30)
    assert retried.status_code == 200, retried.text
    minted.append(retried.json()["value"])
    assert emulator.pending_faults == 0
    third = requests.post(f"{url}/token", json={}, headers=bearer, timeout=30)
    assert third.status_code == 200, third.text
    minted.append(third.json()["value"])
    wrong = requests.post(f"{url}/token", json={}, headers={"Authorization": "Bearer not-the-token"}, timeout=30)
    assert wrong.status_code == 401
    foreign = requests.post(f"{url}/token", json={}, headers={**bearer, "Origin": "https://evil.example"}, timeout=30)
    assert foreign.status_code == 403
    emulator.enqueue(Fault.status(400))
    refused = requests.post(f"{url}/token", json={}, headers=bearer, timeout=30)
    assert refused.status_code == 502, refused.text
    call = requests.post(
        f"{url}/session", data=OFFER, headers={**bearer, "Content-Type": "application/sdp"}, timeout=30
    )
    assert call.status_code == 201, call.text
    call_id = call.headers.get(CALL_ID_HEADER)
    assert call_id
    return [TOKEN, "not-the-token", emulator.api_key, *minted, call_id, PHONE, "evil.example"]


def phone_run(url: str, emulator: Emulator) -> list[str]:
    """A fifth mint over the budget (429), one call rung and accepted, one forged delivery (refused: bad
    signature). Returns what must not leak."""
    over = requests.post(f"{url}/token", json={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert over.status_code == 429, over.text
    record = emulator.ring(f"{url}/webhooks/openai", {"From": f"<sip:{PHONE}@example.com>"}, secret=WEBHOOK_SECRET)
    assert record.state == "accepted"
    event = {
        "object": "event",
        "id": "evt_forged",
        "type": "realtime.call.incoming",
        "created_at": int(time.time()),
        "data": {"call_id": "rtc_forged", "sip_headers": [{"name": "From", "value": f"<sip:{PHONE}@x>"}]},
    }
    headers = {
        "webhook-id": "msg_forged",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1," + base64.b64encode(b"0" * 32).decode(),
        "content-type": "application/json",
    }
    forged = requests.post(f"{url}/webhooks/openai", data=json.dumps(event), headers=headers, timeout=30)
    assert forged.status_code == 400
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as raw:  # the server's own answer (its guard)
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert raw.recv(64).split(b" ", 2)[1] == b"400"
    return [WEBHOOK_SECRET, record.id, "rtc_forged", "msg_forged"]


def check_phone_counts(samples: dict[Any, float]) -> None:
    assert value(samples, "realtime_service_webhook_deliveries_total", outcome="accepted") == 1
    assert value(samples, "realtime_service_webhook_deliveries_total", outcome="refused") == 1
    assert value(samples, "realtime_service_webhook_decisions_total", kind="accept") == 1
    assert value(samples, "realtime_service_webhook_verification_failures_total", reason="bad_signature") == 1
    assert value(samples, "realtime_service_refusals_total", route="phone", reason="invalid_webhook") == 1
    assert value(samples, "realtime_service_refusals_total", route="token", reason="rate_limited") == 1
    assert value(samples, "realtime_service_refusals_total", route="other", reason="malformed_request") == 1
    assert value(samples, "realtime_service_requests_total", route="other", status="400") == 1
    assert value(samples, "realtime_service_requests_total", route="token", status="429") == 1
    assert value(samples, "realtime_service_requests_total", route="phone", status="200") == 1
    accepted = {"operation": "realtime_call_accept", "outcome": "ok"}
    assert value(samples, "realtime_service_upstream_calls_total", **accepted) == 1


def check_counts(samples: dict[Any, float], *, phone: bool = False) -> None:
    assert value(samples, "realtime_service_keys_minted_total") == 3
    assert value(samples, "realtime_service_requests_total", route="token", status="200") == 3
    assert value(samples, "realtime_service_requests_total", route="token", status="401") == 1
    assert value(samples, "realtime_service_requests_total", route="token", status="403") == 1
    assert value(samples, "realtime_service_requests_total", route="token", status="502") == 1
    assert value(samples, "realtime_service_requests_total", route="session", status="201") == 1
    assert value(samples, "realtime_service_refusals_total", route="token", reason="unauthorized") == 1
    assert value(samples, "realtime_service_refusals_total", route="token", reason="origin_not_allowed") == 1
    assert value(samples, "realtime_service_refusals_total", route="token", reason="upstream_error") == 1
    # GET /metrics on the public port: a path no route serves is "other", never the path itself
    assert value(samples, "realtime_service_requests_total", route="other", status="404") == 1
    assert value(samples, "realtime_service_refusals_total", route="other", reason="not_found") == 1
    refusals = sum(v for (name, _), v in samples.items() if name == "realtime_service_refusals_total")
    assert refusals == 4 + 3 * phone  # nothing else was refused
    ok = {"operation": "client_secrets", "outcome": "ok"}
    assert value(samples, "realtime_service_upstream_calls_total", **ok) == 3
    assert (
        value(samples, "realtime_service_upstream_calls_total", operation="client_secrets", outcome="status_4xx") == 1
    )
    assert value(samples, "realtime_service_upstream_calls_total", operation="calls", outcome="ok") == 1
    assert value(samples, "realtime_service_upstream_retries_total", operation="client_secrets") == 1
    assert value(samples, "realtime_service_upstream_call_seconds_count", **ok) == 3
    assert value(samples, "realtime_service_upstream_call_seconds_bucket", **ok, le="+Inf") == 3
    assert value(samples, "realtime_service_calls_started_total", api="realtime") == 1
    assert value(samples, "realtime_service_calls_started_total", api="live") == 0
    assert value(samples, "realtime_service_hangups_total", outcome="scheduled") == 1
    assert value(samples, "realtime_service_hangups_total", outcome="done") == 1
    hangups = sum(v for (name, _), v in samples.items() if name == "realtime_service_hangups_total")
    assert hangups == 2
    assert value(samples, "realtime_service_upstream_calls_total", operation="call_hangup", outcome="ok") == 1


def check_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text
    assert "14155550123" not in text


def run_serve(tmp_path: Path, emulator: Emulator, start: Any, *extra: str, phone: bool = False) -> list[Path]:
    """Run the script against ``serve *extra`` and check the scrape; returns the multiprocess folders serve's
    temporary folder held while it ran."""
    port = free_port()
    served = start("--config", write_config(tmp_path, emulator, port, phone=phone), *extra)
    try:
        folders = [path for path in (tmp_path / "tmp").iterdir() if path.name.startswith("realtime-service-metrics-")]
        _, before = scrape(port)
        assert value(before, "realtime_service_keys_minted_total") == 0
        public = requests.get(f"{served.url}/metrics", timeout=10)
        assert public.status_code == 404  # the public port never serves metrics
        assert "realtime_service_" not in public.text
        secrets = scripted_run(served.url, emulator)
        if phone:
            secrets += phone_run(served.url, emulator)
        text, samples = scrape_after_the_hangup(port)
        check_counts(samples, phone=phone)
        if phone:
            check_phone_counts(samples)
        check_no_secret(text, secrets)
        for family in text_string_to_metric_families(text):  # labels: closed sets, nothing from a request
            for sample in family.samples:
                assert set(sample.labels) <= {"route", "status", "reason", "operation", "outcome", "api", "kind", "le"}
    finally:
        code = served.stop()
    assert code == 0, served.stderr
    with pytest.raises(requests.ConnectionError):  # the listener stops with serve
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    return folders


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's temporary folders in the test's own, to see the multiprocess folder made and removed."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))


@pytest.mark.timeout(180)
def test_one_process_counts_exactly_what_happened(tmp_path: Path, emulator: Emulator, start: Any) -> None:
    assert (
        run_serve(tmp_path, emulator, start, phone=True) == []
    )  # one process: its own registry, no multiprocess files


@pytest.mark.timeout(240)
@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_two_workers_sum_to_exactly_what_happened(
    tmp_path: Path, emulator: Emulator, start: Any, framework: str
) -> None:
    pytest.importorskip("waitress" if framework == "flask" else "uvicorn")
    [folder] = run_serve(tmp_path, emulator, start, "--workers", "2", "--framework", framework)
    assert not folder.exists()  # removed when serve stopped


def test_metrics_are_off_by_default_and_validated() -> None:
    assert load_server_settings({}, {}).metrics is None
    assert load_server_settings({"metrics": {"port": 9464}}, {}).metrics == MetricsSettings("127.0.0.1", 9464)
    for bad, key in [
        ({"port": 0}, "server.metrics.port"),
        ({"port": "9464"}, "server.metrics.port"),
        ({}, "server.metrics.port"),
        ({"port": 9464, "address": ""}, "server.metrics.address"),
        ({"port": 9464, "path": "/m"}, "server.metrics.path"),
        ("9464", "server.metrics"),
    ]:
        with pytest.raises(ConfigurationError, match=key.replace(".", r"\.")):
            load_server_settings({"metrics": bad}, {})


def hide_the_extra(tmp_path: Path) -> Path:
    """A folder whose ``sitecustomize`` hides ``prometheus_client`` from the interpreter (as a core install)."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'prometheus_client':\n"
        "            raise ModuleNotFoundError(name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    return hide


def test_without_the_extra_serve_names_it(tmp_path: Path, emulator: Emulator) -> None:
    hide = hide_the_extra(tmp_path)
    config = write_config(tmp_path, emulator, free_port())
    result = subprocess.run(
        [sys.executable, "-m", "realtime_service.web", "--port", "0", "--config", config],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": f"{hide}:{ROOT}", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "realtime-service[metrics]" in result.stderr
    assert "server.metrics" in result.stderr


def test_without_the_extra_and_metrics_unset_serve_mints(
    tmp_path: Path, emulator: Emulator, start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", f"{hide_the_extra(tmp_path)}:{ROOT}")
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump({"realtime": realtime_config(emulator), "server": {}}))
    served = start("--config", str(path))
    try:
        minted = requests.post(f"{served.url}/token", json={}, timeout=30)
    finally:
        code = served.stop()
    assert minted.status_code == 200, minted.text
    assert code == 0, served.stderr


def test_webhook_results_become_closed_outcome_labels() -> None:
    """The desk's results carry details (``rejected:603``, ``failed:BadRequestError``): only the kind is a label,
    and a result or reason outside the known sets is ``other``."""
    from realtime_service.observability import metrics
    from realtime_service.webhooks.decisions import Reject

    metrics.enable()
    try:
        for result in ("duplicate", "duplicate", "already_decided:accepted", "rejected:603", "failed:BadRequestError"):
            metrics.webhook_delivery(result, Reject(603) if result == "rejected:603" else None)
        metrics.webhook_delivery("something_new:+14155550123")
        metrics.webhook_refused("Bad Reason +1415")
        registry = metrics._registry
        counts = {
            (sample.name.removeprefix("realtime_service_webhook_"), *sample.labels.values()): sample.value
            for family in registry.collect()
            for sample in family.samples
            if sample.name.startswith("realtime_service_webhook") and sample.name.endswith("_total")
        }
    finally:
        metrics.disable()
    assert counts == {
        ("deliveries_total", "duplicate"): 2,
        ("deliveries_total", "already_decided"): 1,
        ("deliveries_total", "rejected"): 1,
        ("deliveries_total", "failed"): 1,
        ("deliveries_total", "other"): 1,
        ("deliveries_total", "refused"): 1,
        ("decisions_total", "reject"): 1,
        ("verification_failures_total", "other"): 1,
    }
    assert not metrics.enabled()


# -- the sideband: calls held, tool calls -------------------------------------------------------------------------

TOOL_CALL = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}, "call_id": "call_metrics_1"}},
    {"expect_output": {"timeout": 60}},
    {"model_says": "It has shipped."},
    "hangup",
]


def scrape_after_the_sideband_ended(port: int) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """Scrape until the sideband's end is counted (the emulator hangs up after its script); a deadline, not a
    timing assertion."""
    deadline = time.monotonic() + 60
    while True:
        text, samples = scrape(port)
        ended = sum(v for (name, _), v in samples.items() if name == "realtime_service_sidebands_ended_total")
        if ended or time.monotonic() > deadline:
            return text, samples
        time.sleep(0.1)


@pytest.mark.timeout(180)
def test_a_sideband_call_with_one_tool_call_is_counted(tmp_path: Path, start: Any) -> None:
    """``serve`` with ``server.sideband.tools``: a ``/session`` call whose model calls ``lookup_order`` once and
    then hangs up shows one attach, the gauge back at 0, one end (``server_closed``), one ``ok`` tool call with
    its latency sample, the call's duration, and no delegation."""
    with Emulator(script=TOOL_CALL) as emulator:
        port = free_port()
        config = tmp_path / "serve.yaml"
        server = {
            "metrics": {"address": "127.0.0.1", "port": port},
            "sideband": {"tools": "examples.order_tools:toolbox"},
        }
        config.write_text(yaml.safe_dump({"realtime": realtime_config(emulator), "server": server}))
        served = start("--config", str(config))
        try:
            _, before = scrape(port)
            assert value(before, "realtime_service_sidebands_attached", api="realtime") == 0
            call = requests.post(
                f"{served.url}/session", data=OFFER, headers={"Content-Type": "application/sdp"}, timeout=30
            )
            assert call.status_code == 201, call.text
            call_id = call.headers[CALL_ID_HEADER]
            record = emulator.calls.wait_until(
                call_id,
                lambda r: r.script_state is not None and r.script_state.status in ("done", "failed"),
                timeout=60,
            )
            assert record.script_state is not None
            assert record.script_state.status == "done", record.script_state
            text, samples = scrape_after_the_sideband_ended(port)
        finally:
            code = served.stop()
        assert code == 0, served.stderr
    assert value(samples, "realtime_service_sideband_attaches_total", outcome="attached") == 1
    assert value(samples, "realtime_service_sidebands_attached", api="realtime") == 0
    ended = {labels: v for (name, labels), v in samples.items() if name == "realtime_service_sidebands_ended_total"}
    assert ended == {(("api", "realtime"), ("reason", "server_closed")): 1}
    tool = {"api": "realtime", "tool": "lookup_order", "outcome": "ok"}
    assert value(samples, "realtime_service_tool_calls_total", **tool) == 1
    tool_calls = sum(v for (name, _), v in samples.items() if name == "realtime_service_tool_calls_total")
    assert tool_calls == 1
    assert value(samples, "realtime_service_tool_call_seconds_count", **tool) == 1
    assert value(samples, "realtime_service_tool_call_seconds_bucket", **tool, le="+Inf") == 1
    assert value(samples, "realtime_service_sideband_call_seconds_count", api="realtime") == 1
    assert value(samples, "realtime_service_delegations_total", outcome="refused") == 0
    assert not [key for key in samples if key[0].startswith("realtime_service_delegations")]
    assert value(samples, "realtime_service_calls_started_total", api="realtime") == 1
    check_no_secret(text, [emulator.api_key, call_id, "call_metrics_1", "where is my order"])
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert set(sample.labels) <= {"route", "status", "reason", "operation", "outcome", "api", "tool", "le"}


def test_sideband_labels_come_from_closed_sets() -> None:
    """An end reason outside ``CallEnd``'s set, a tool the configured Toolbox does not define, an unknown outcome
    or api: each counts as ``other``; the tool names are read from the Toolbox's own definitions."""
    from examples.order_tools import toolbox
    from realtime_service.observability import metrics
    from realtime_service.sideband.realtime import _defined_names

    known = _defined_names(toolbox)
    assert known == frozenset({"lookup_order"})
    assert _defined_names(None) == frozenset()
    metrics.enable()
    try:
        metrics.sideband_attached("realtime")
        metrics.sideband_ended("realtime", "exploded +14155550123", 2.0, 3)
        metrics.sideband_attached("live")
        metrics.sideband_ended("live", "remote_hangup", 1.0, 0)
        metrics.tool_call("realtime", metrics.tool_label("lookup_order", known), "ok", 0.2)
        metrics.tool_call("realtime", metrics.tool_label("rm -rf / please", known), "ok", 0.1)
        metrics.tool_call("realtime", metrics.tool_label(None, known), "bad_call")
        metrics.tool_call("mystery", metrics.tool_label("lookup_order", known), "exploded")
        metrics.delegation("answered")
        metrics.delegation("ignored")
        metrics.sideband_attach("teleported")
        counts = {
            (sample.name.removeprefix("realtime_service_"), *sample.labels.values()): sample.value
            for family in metrics._registry.collect()
            for sample in family.samples
            if sample.name.endswith("_total") or sample.name == "realtime_service_sidebands_attached"
            if "keys_minted" not in sample.name
        }
    finally:
        metrics.disable()
    assert counts == {
        ("sidebands_attached", "realtime"): 0,
        ("sidebands_attached", "live"): 0,
        ("sidebands_ended_total", "realtime", "other"): 1,
        ("sidebands_ended_total", "live", "remote_hangup"): 1,
        ("sideband_events_dropped_total", "realtime"): 3,
        ("tool_calls_total", "realtime", "lookup_order", "ok"): 1,
        ("tool_calls_total", "realtime", "other", "ok"): 1,
        ("tool_calls_total", "realtime", "other", "bad_call"): 1,
        ("tool_calls_total", "other", "lookup_order", "other"): 1,
        ("delegations_total", "answered"): 1,
        ("delegations_total", "other"): 1,
        ("sideband_attaches_total", "other"): 1,
    }
