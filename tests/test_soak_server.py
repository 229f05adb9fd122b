"""The served soak's short version: ``bench/soak_server.py`` on each framework must pass all its own checks."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[1] / "bench" / "soak_server.py"
NEEDS = {"flask": ("flask", "waitress"), "fastapi": ("fastapi", "uvicorn")}


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_a_short_served_soak_answers_every_request_as_documented_and_leaks_nothing(framework: str) -> None:
    missing = [name for name in NEEDS[framework] if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{framework} soak UNTESTED: {', '.join(missing)} not installed")
    command = [sys.executable, str(SOAK), "--framework", framework, "--requests", "1000", "--warmup", "200"]
    command += ["--slow", "40", "--request-timeout", "2", "--max-seconds", "80"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("SOAK-SERVER-RESULT ")]
    figures = json.loads(line.removeprefix("SOAK-SERVER-RESULT "))
    assert figures["failures"] == []
    assert figures["framework"] == framework
    assert figures["sent_measured"] == 1000
    assert figures["slow_sockets_held_min"] == 40
    assert figures["upstream_faulted"] > 0
    assert figures["statuses"]["valid"]["200"] > 0
    assert figures["statuses"]["wrong_token"].get("429 auth_throttled", 0) > 0
    assert figures["statuses"]["hot_identity"].get("429 rate_limited", 0) > 0
    assert sum(sum(counts.values()) for counts in figures["statuses"].values()) == figures["requests"]
