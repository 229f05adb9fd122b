"""Every shipped config file (config/*.yaml) with every subcommand that takes ``--config``, run as real processes
against the emulator: each one works (issue 21: ``create-secret --config config/realtime.yaml`` said "unknown
config key 'realtime'")."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from realtime_service.cli import DELEGATED, subcommand_names

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "config").glob("*.yaml"))
OFFER = ROOT / "tests" / "sdp" / "chromium_offer.sdp"
CLI = [sys.executable, "-m", "realtime_service"]
#: Every command that takes --config, with what it needs to run against the in-process emulator.
WITH_CONFIG: dict[str, tuple[str, ...]] = {
    "create-session": ("--emulator", "--voice", "marin"),
    "create-secret": ("--emulator", "--voice", "marin"),
    "create-call": ("--emulator", "--sdp", str(OFFER)),
    "dial": (
        "--emulator",
        "+14155550123",
        "--trunk",
        "sips:pbx.example.com",
        "--trunk-user",
        "acme",
        "--trunk-password-env",
        "TRUNK_PASSWORD",
        "--caller-number",
        "+14155550100",
    ),
    "serve": ("--emulator", "--port", "0"),
    "doctor": (),
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "REALTIME_SERVICE_"))}
    return {**env, **extra}


def test_the_shipped_configs_are_there() -> None:
    assert {path.name for path in SHIPPED} >= {"realtime.yaml", "token-server.yaml", "local-emulator.yaml"}


def test_the_table_covers_every_command_that_takes_config() -> None:
    """A new command with --config joins the matrix below, or this fails."""
    takes_config = set()
    for command in subcommand_names():
        shown = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True, timeout=60, env=clean_env())
        assert shown.returncode == 0, shown.stderr
        if "--config" in shown.stdout:
            takes_config.add(command)
    assert takes_config == set(WITH_CONFIG)
    assert set(DELEGATED) <= set(subcommand_names())


@pytest.mark.parametrize("config", SHIPPED, ids=lambda path: path.name)
@pytest.mark.parametrize("command", ["create-session", "create-secret", "create-call"])
def test_every_shipped_config_mints_and_calls(config: Path, command: str) -> None:
    done = subprocess.run(
        [*CLI, command, "--config", str(config), *WITH_CONFIG[command]],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    printed = json.loads(done.stdout)
    if command == "create-call":
        assert printed["call_id"].startswith("rtc_")
        assert printed["sdp"].startswith("v=0")
    else:
        assert printed["value"].startswith("ek_...")
        assert printed["session"]["audio"]["output"]["voice"] == "marin"


@pytest.mark.parametrize("config", SHIPPED, ids=lambda path: path.name)
def test_every_shipped_config_passes_doctor(config: Path) -> None:
    """With a key in the environment (the files keep theirs out, but local-emulator's), nothing fails."""
    done = subprocess.run(
        [*CLI, "doctor", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(OPENAI_API_KEY="sk-test-doctor-configs-0000"),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(r"\d+ checks: 0 failed, \d+ warnings?", done.stdout.splitlines()[-1])
    assert "sk-test-doctor-configs-0000" not in done.stdout


@pytest.mark.parametrize("config", SHIPPED, ids=lambda path: path.name)
def test_every_shipped_config_serves(config: Path) -> None:
    process = subprocess.Popen(
        [*CLI, "serve", "--config", str(config), *WITH_CONFIG["serve"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd=ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()], daemon=True).start()
    try:
        first = lines.get(timeout=60)  # a deadline for a server that never starts, not a timing assertion
        match = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert match, first
        answer = requests.post(match.group(0) + "/token", json={}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["value"].startswith("ek_")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
