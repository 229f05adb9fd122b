"""The ``realtime-service`` command: output, redaction and exit codes, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from realtime_service.emulator import Emulator, Fault

CLI = [sys.executable, "-m", "realtime_service"]


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env={**clean, **(env or {})}, input=stdin, timeout=60
    )


def test_create_session_with_the_emulator_prints_a_redacted_session() -> None:
    result = run("create-session", "--emulator", "--model", "gpt-4o-realtime-preview", "--voice", "marin")
    assert result.returncode == 0, result.stderr
    session = json.loads(result.stdout)
    assert session["voice"] == "marin"
    assert session["client_secret"]["value"].startswith("ek_...")
    assert len(session["client_secret"]["value"]) == len("ek_...") + 4


def test_show_secret_prints_the_whole_key() -> None:
    result = run("create-session", "--emulator", "--voice", "marin", "--show-secret")
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)["client_secret"]["value"]
    assert value.startswith("ek_")
    assert "..." not in value


def test_a_request_file_is_read_and_flags_override_it(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"voice": "alloy", "instructions": "Be brief.", "turn_detection": None}))
    result = run("create-session", "--emulator", "--request", str(request), "--voice", "cedar")
    assert result.returncode == 0, result.stderr
    session = json.loads(result.stdout)
    assert session["voice"] == "cedar"
    assert session["instructions"] == "Be brief."
    assert session["turn_detection"] is None


def test_a_request_on_stdin_is_read() -> None:
    result = run("create-session", "--emulator", "--request", "-", stdin='{"voice": "verse"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["voice"] == "verse"


def test_an_invalid_request_exits_2_naming_the_field() -> None:
    result = run("create-session", "--emulator", "--request", "-", stdin='{"voise": "verse"}')
    assert result.returncode == 2
    assert "voise" in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_a_missing_key_exits_2_naming_the_variable() -> None:
    result = run("create-session", "--voice", "marin")
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr


def test_an_api_error_exits_3_without_leaking_the_key() -> None:
    with Emulator() as emulator:
        wrong_key = "sk-wrong-key-for-the-cli-test-0000"
        result = run("create-session", "--voice", "marin", env={
            "OPENAI_API_KEY": wrong_key, "OPENAI_BASE_URL": emulator.base_url,
        })
    assert result.returncode == 3
    assert "401" in result.stderr
    assert wrong_key not in result.stderr + result.stdout


def test_a_connection_error_exits_4() -> None:
    config = {"OPENAI_API_KEY": "sk-test-000000000000", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    result = run("create-session", "--voice", "marin", env=config)
    assert result.returncode == 4
    assert "Connection error" in result.stderr


def test_a_non_session_answer_exits_5() -> None:
    with Emulator() as emulator:
        emulator.enqueue(Fault.raw(b"not json"))
        result = run("create-session", "--voice", "marin", env={
            "OPENAI_API_KEY": emulator.api_key, "OPENAI_BASE_URL": emulator.base_url,
        })
    assert result.returncode == 5


def test_a_config_file_supplies_settings(tmp_path: Path) -> None:
    with Emulator() as emulator:
        config = tmp_path / "realtime.yaml"
        config.write_text(f"api_key: {emulator.api_key}\nbase_url: {emulator.base_url}\n")
        result = run("create-session", "--voice", "marin", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert emulator.api_key not in result.stdout + result.stderr


def test_usage_errors_exit_2() -> None:
    assert run("no-such-command").returncode == 2


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "realtime-service"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "create-session" in result.stdout
