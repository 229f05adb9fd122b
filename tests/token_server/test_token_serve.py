"""``serve`` as a real process: safe defaults, fail-fast configuration, graceful SIGTERM, several workers."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from waiting import wait_until

from realtime_service.emulator import Emulator, Fault

from .conftest import FRAMEWORKS, SERVE, config_file, require


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_SERVICE_"))}
    return subprocess.run([*SERVE, *args], capture_output=True, text=True, timeout=60, env=env)


def test_serve_refuses_anonymous_minting_on_a_non_loopback_address() -> None:
    result = run_serve("--emulator", "--host", "0.0.0.0", "--port", "0")  # noqa: S104 - refused before binding
    assert result.returncode == 2
    assert "refusing to serve on non-loopback 0.0.0.0 with server.auth: none" in result.stderr


def test_serve_refuses_to_start_without_an_api_key() -> None:
    result = run_serve("--port", "0")
    assert result.returncode == 2
    assert "api_key is not set" in result.stderr


def test_serve_refuses_several_workers_with_in_memory_budgets() -> None:
    result = run_serve("--emulator", "--port", "0", "--workers", "2")
    assert result.returncode == 2
    assert "redis" in result.stderr


def test_serve_emulator_mints_offline_and_serves_the_demo_page(start: Any) -> None:
    served = start("--emulator")
    response = requests.post(served.url + "/token", json={"voice": "cedar"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = requests.get(served.url + "/", timeout=10)
    assert "Mint a key" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert requests.get(served.url + "/demo-config.json", timeout=10).json()["calls_url"] is None
    assert served.stop() == 0
    assert "POST /token -> 200" in served.stderr


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_sigterm_lets_an_in_flight_mint_finish(start: Any, emulator: Emulator, tmp_path: Path, framework: str) -> None:
    require(framework)
    served = start("--config", config_file(tmp_path, emulator), "--framework", framework)
    emulator.enqueue(Fault.delay(1.0))
    answers: list[requests.Response] = []
    client = threading.Thread(
        target=lambda: answers.append(requests.post(served.url + "/token", json={}, timeout=20)), daemon=True
    )
    client.start()
    wait_until(lambda: emulator.requests, what="the mint to reach the upstream")
    signalled = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    client.join(20)
    assert answers, served.stderr
    assert answers[0].status_code == 200, served.stderr
    assert answers[0].json()["value"].startswith("ek_")  # the GA answer, as OpenAI's browser samples read it
    assert served.process.wait(20) == 0, served.stderr
    assert time.monotonic() - signalled >= 0.5  # it waited for the upstream instead of dropping the request
    assert "stopped" in served.stderr


def test_two_workers_share_one_redis_budget(start: Any, emulator: Emulator, tmp_path: Path, redis_url: str) -> None:
    config = config_file(tmp_path, emulator, rate_limit="5/minute", rate_limit_storage=redis_url)
    served = start("--config", config, "--workers", "2")
    workers = _children(served.process.pid)
    assert len(workers) == 2
    statuses = [
        requests.post(served.url + "/token", json={}, headers={"Connection": "close"}, timeout=10).status_code
        for _ in range(8)
    ]
    assert statuses == [200] * 5 + [429] * 3
    assert served.stop() == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def _children(pid: int) -> list[int]:
    def found() -> list[int]:
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
        return children if len(children) >= 2 else []

    return wait_until(found, what=f"two workers under {pid}")
