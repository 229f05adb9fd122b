"""``server.metrics``: ``serve`` as a real process, its Prometheus listener scraped over a real socket.

A scripted run (keys minted, a bad bearer, a foreign origin, an upstream 500 that is retried, an upstream 400, a
call started) moves each counter by exactly what happened, on one process and summed over ``--workers 2``; the
public port never serves metrics; no key, token, secret, call id or phone number is in a scrape; a bad
``server.metrics`` is refused naming the key, and without the extra it names ``realtime-service[metrics]``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
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


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, emulator: Emulator, metrics_port: int) -> str:
    server = {
        "auth": "bearer",
        "bearer_tokens": {"app": TOKEN},
        "cors_origins": [ORIGIN],
        "rate_limit": "off",  # --workers 2 with memory storage: no budget to share
        "metrics": {"address": "127.0.0.1", "port": metrics_port},
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


def check_counts(samples: dict[Any, float]) -> None:
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
    assert refusals == 4  # nothing else was refused
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


def check_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text
    assert "14155550123" not in text


def run_serve(tmp_path: Path, emulator: Emulator, start: Any, *extra: str) -> list[Path]:
    """Run the script against ``serve *extra`` and check the scrape; returns the multiprocess folders serve's
    temporary folder held while it ran."""
    port = free_port()
    served = start("--config", write_config(tmp_path, emulator, port), *extra)
    try:
        folders = [path for path in (tmp_path / "tmp").iterdir() if path.name.startswith("realtime-service-metrics-")]
        _, before = scrape(port)
        assert value(before, "realtime_service_keys_minted_total") == 0
        public = requests.get(f"{served.url}/metrics", timeout=10)
        assert public.status_code == 404  # the public port never serves metrics
        assert "realtime_service_" not in public.text
        secrets = scripted_run(served.url, emulator)
        text, samples = scrape(port)
        check_counts(samples)
        check_no_secret(text, secrets)
        for family in text_string_to_metric_families(text):  # labels: closed sets, nothing from a request
            for sample in family.samples:
                assert set(sample.labels) <= {"route", "status", "reason", "operation", "outcome", "api", "le"}
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
    assert run_serve(tmp_path, emulator, start) == []  # one process: its own registry, no multiprocess files


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
