"""The emulator soak's short version: ``bench/soak_emulator.py`` with small bounds must pass its own checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[1] / "bench" / "soak_emulator.py"


@pytest.mark.slow
def test_a_short_emulator_soak_stays_within_its_bounds() -> None:
    bounds = ["--max-keys", "200", "--max-calls", "20", "--max-ended-calls", "20"]
    result = subprocess.run(
        [sys.executable, str(SOAK), "--mints", "3000", "--every", "500", "--threads", "2", *bounds],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("SOAK-EMULATOR-RESULT ")]
    figures = json.loads(line.removeprefix("SOAK-EMULATOR-RESULT "))
    assert figures["problems"] == []
    assert figures["calls"] == 150  # every 20th of 3,000 mints
    assert figures["warmup"] == 800  # enough mints to fill the 20 live and 20 ended calls
    last = [line for line in result.stdout.splitlines() if line.strip().startswith("3000 mints")]
    assert last, result.stdout
    assert "keys 200 " in last[0]  # the key table was full, so keys were evicted, not only expired
    assert last[0].rstrip().endswith("ended 20")  # and so were the ended calls
