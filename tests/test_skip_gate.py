"""``--only-system-skips`` (tests/skip_gate.py), run on small test files in a real pytest process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def run_pytest(tmp_path: Path, body: str, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text("import pytest\n\n" + body, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "skip_gate",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            *options,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    "reason",
    [
        "REDIS TESTS SKIPPED: the redis package is not installed, Redis rate limits are UNTESTED",
        "BROWSER TEST SKIPPED: selenium is not installed (pip install -e '.[test]'); the demo page is UNTESTED",
        "the published spec is not beside this checkout",
        "REDIS TESTS SKIPPED: REALTIME_TEST_REDIS_URL=redis://127.0.0.1:1/0 does not answer PING",
        "METRICS TESTS SKIPPED: prometheus-client is not installed (pip install -e '.[metrics]')",
        "prometheus_client is not installed",
        "a private network namespace is not permitted here (needs root or user namespaces): unshare -n: denied",
    ],
)
def test_a_skip_for_anything_but_a_system_package_fails_the_run(tmp_path: Path, reason: str) -> None:
    result = run_pytest(tmp_path, f"def test_a():\n    pytest.skip({reason!r})\n", "--only-system-skips")
    assert result.returncode == 1, result.stdout
    assert "skips that do not name a missing system package" in result.stdout
    assert reason in result.stdout


def test_a_module_level_skip_counts_too(tmp_path: Path) -> None:
    body = "pytest.skip('no spec here', allow_module_level=True)\n\ndef test_a():\n    pass\n"
    result = run_pytest(tmp_path, body, "--only-system-skips")
    assert result.returncode == 1, result.stdout
    assert "no spec here" in result.stdout


@pytest.mark.parametrize(
    "reason",
    [
        "BROWSER TEST SKIPPED: Debian's chromium and chromium-driver are not installed (apt-get install chromium "
        "chromium-driver); the demo page is UNTESTED in this run",
        "REDIS TESTS SKIPPED: redis-server is not installed (apt-get install redis-server), so the Redis rate-limit "
        "storage is UNTESTED in this run",
        "REDIS TESTS SKIPPED: redis-server could not start: bind: address in use",
        "PROMETHEUS TESTS SKIPPED: Debian's prometheus is not installed (apt-get install prometheus), so the "
        "alerting rules and the scrape configuration are UNTESTED in this run",
        "iproute2 (ip) not installed",
    ],
)
def test_a_skip_naming_a_missing_system_package_passes(tmp_path: Path, reason: str) -> None:
    result = run_pytest(tmp_path, f"def test_a():\n    pytest.skip({reason!r})\n", "--only-system-skips")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout


def test_xfail_and_passes_are_not_skips(tmp_path: Path) -> None:
    body = "@pytest.mark.xfail(reason='known')\ndef test_a():\n    assert False\n\ndef test_b():\n    pass\n"
    result = run_pytest(tmp_path, body, "--only-system-skips")
    assert result.returncode == 0, result.stdout


def test_without_the_option_a_skip_is_only_reported(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "def test_a():\n    pytest.skip('whatever')\n")
    assert result.returncode == 0, result.stdout


def test_a_failing_run_keeps_its_own_exit_code(tmp_path: Path) -> None:
    body = "def test_a():\n    pytest.skip('whatever')\n\ndef test_b():\n    assert False\n"
    result = run_pytest(tmp_path, body, "--only-system-skips")
    assert result.returncode == 1, result.stdout
