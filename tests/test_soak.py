"""The soak's short version: ``bench/soak.py --calls 1000`` must pass all its own checks (see its docstring)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[1] / "bench" / "soak.py"


@pytest.mark.slow
@pytest.mark.parametrize("api_shape", ["ga", "beta"])
def test_a_short_soak_ends_every_call_as_scheduled_and_leaks_nothing(api_shape: str) -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--calls", "1000", "--max-seconds", "60", "--api-shape", api_shape],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("SOAK-RESULT ")]
    figures = json.loads(line.removeprefix("SOAK-RESULT "))
    assert figures["failures"] == []
    assert figures["api_shape"] == api_shape
    assert figures["faulted"] == 100
    assert sum(figures["outcomes"].values()) == 1000
    assert figures["distinct_secrets"] == figures["outcomes"]["minted"]
