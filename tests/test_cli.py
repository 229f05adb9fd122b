"""The ``realtime-service`` command: output, redaction and exit codes, run as a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from realtime_service._version import __version__
from realtime_service.cli import subcommand_names
from realtime_service.emulator import Emulator, Fault

CLI = [sys.executable, "-m", "realtime_service"]
ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env={**clean, **(env or {})}, input=stdin, timeout=60
    )


def emulator_env(emulator: Emulator) -> dict[str, str]:
    return {"OPENAI_API_KEY": emulator.api_key, "OPENAI_BASE_URL": emulator.base_url}


def test_create_session_with_the_emulator_prints_a_redacted_ga_answer() -> None:
    """The README's first command: the quick start prints the current (GA) shape, the key redacted, and no
    warning for the model it names."""
    result = run("create-session", "--emulator", "--model", "gpt-realtime-2.1", "--voice", "marin")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    answer = json.loads(result.stdout)
    assert answer["session"]["audio"]["output"]["voice"] == "marin"
    assert answer["session"]["model"] == "gpt-realtime-2.1"
    assert "client_secret" not in answer
    assert answer["value"].startswith("ek_...")
    assert len(answer["value"]) == len("ek_...") + 4


def test_show_secret_prints_the_whole_key() -> None:
    result = run("create-session", "--emulator", "--voice", "marin", "--show-secret")
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)["value"]
    assert value.startswith("ek_")
    assert "..." not in value


def test_a_request_file_is_read_and_flags_override_it(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"voice": "alloy", "instructions": "Be brief.", "turn_detection": None}))
    result = run("create-session", "--emulator", "--request", str(request), "--voice", "cedar", "--beta-output")
    assert result.returncode == 0, result.stderr
    session = json.loads(result.stdout)
    assert session["voice"] == "cedar"
    assert session["instructions"] == "Be brief."
    assert session["turn_detection"] is None
    assert session["client_secret"]["value"].startswith("ek_...")


def test_a_request_on_stdin_is_read() -> None:
    result = run("create-session", "--emulator", "--request", "-", stdin='{"voice": "verse"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["session"]["audio"]["output"]["voice"] == "verse"


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
        result = run(
            "create-session",
            "--voice",
            "marin",
            env={
                "OPENAI_API_KEY": wrong_key,
                "OPENAI_BASE_URL": emulator.base_url,
            },
        )
    assert result.returncode == 3
    assert "401" in result.stderr
    assert wrong_key not in result.stderr + result.stdout


def test_a_connection_error_exits_4_naming_the_url() -> None:
    config = {"OPENAI_API_KEY": "sk-test-000000000000", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    result = run("create-session", "--voice", "marin", env=config)
    assert result.returncode == 4
    assert "Connection error" in result.stderr
    assert "(POST http://127.0.0.1:9/v1/realtime/client_secrets)" in result.stderr


def test_a_non_session_answer_exits_5() -> None:
    with Emulator() as emulator:
        emulator.enqueue(Fault.raw(b"not json"))
        result = run(
            "create-session",
            "--voice",
            "marin",
            env={
                "OPENAI_API_KEY": emulator.api_key,
                "OPENAI_BASE_URL": emulator.base_url,
            },
        )
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


# --- create-session honours api_shape ----------------------------------------------------------------------------


@pytest.mark.parametrize("beta_output", [False, True])
def test_create_session_mints_through_client_secrets_and_prints_ga_unless_beta_output(beta_output: bool) -> None:
    """The same request goes out either way (the bridge's); only what is printed differs."""
    with Emulator(beta_retired=True) as emulator:
        flags = ["--beta-output"] if beta_output else []
        result = run("create-session", "--voice", "cedar", "--instructions", "Hi.", *flags, env=emulator_env(emulator))
    assert result.returncode == 0, result.stderr
    assert [request.path for request in emulator.requests] == ["/v1/realtime/client_secrets"]
    assert emulator.requests[0].json == {
        "expires_after": {"anchor": "created_at", "seconds": 60},
        "session": {"type": "realtime", "instructions": "Hi.", "audio": {"output": {"voice": "cedar"}}},
    }
    printed = json.loads(result.stdout)
    if beta_output:
        assert printed["voice"] == "cedar"
        assert printed["client_secret"]["value"].startswith("ek_...")
    else:
        assert printed["session"]["audio"]["output"]["voice"] == "cedar"
        assert printed["value"].startswith("ek_...")
        assert "client_secret" not in printed


def test_create_session_with_api_shape_beta_posts_to_sessions() -> None:
    with Emulator() as emulator:
        result = run("create-session", "--api-shape", "beta", "--voice", "cedar", env=emulator_env(emulator))
    assert result.returncode == 0, result.stderr
    assert [request.path for request in emulator.requests] == ["/v1/realtime/sessions"]
    assert emulator.requests[0].json == {"voice": "cedar"}


def test_the_retired_beta_api_exits_3_and_says_to_use_api_shape_ga(tmp_path: Path) -> None:
    config = tmp_path / "realtime.yaml"
    config.write_text("api_shape: beta\n")
    with Emulator(beta_retired=True) as emulator:
        result = run("create-session", "--config", str(config), env=emulator_env(emulator))
    assert result.returncode == 3
    assert "api_shape: ga" in result.stderr
    assert result.stderr.count("\n") == 1


# --- create-secret: the GA operation ------------------------------------------------------------------------------


def test_create_secret_prints_the_ga_answer_with_the_key_redacted() -> None:
    with Emulator() as emulator:
        result = run("create-secret", "--model", "gpt-realtime-2.1", "--voice", "marin", env=emulator_env(emulator))
    assert result.returncode == 0, result.stderr
    sent = emulator.requests[0]
    assert sent.path == "/v1/realtime/client_secrets"
    assert sent.json == {
        "session": {"type": "realtime", "model": "gpt-realtime-2.1", "audio": {"output": {"voice": "marin"}}}
    }
    answer = json.loads(result.stdout)
    assert answer["value"].startswith("ek_...")
    assert len(answer["value"]) == len("ek_...") + 4
    assert answer["session"]["audio"]["output"]["voice"] == "marin"
    assert answer["session"]["type"] == "realtime"


def test_create_secret_show_secret_prints_the_whole_key() -> None:
    result = run("create-secret", "--emulator", "--show-secret")
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)["value"]
    assert value.startswith("ek_")
    assert "..." not in value


def test_create_secret_ttl_sets_expires_after() -> None:
    with Emulator() as emulator:
        before = time.time()
        result = run("create-secret", "--ttl", "120", env=emulator_env(emulator))
    assert result.returncode == 0, result.stderr
    assert emulator.requests[0].json["expires_after"] == {"anchor": "created_at", "seconds": 120}
    assert before + 110 < json.loads(result.stdout)["expires_at"] < time.time() + 130


def test_create_secret_for_a_transcription_session() -> None:
    result = run("create-secret", "--emulator", "--session-type", "transcription")
    assert result.returncode == 0, result.stderr
    session = json.loads(result.stdout)["session"]
    assert session["type"] == "transcription"
    assert session["object"] == "realtime.transcription_session"


def test_create_secret_reads_a_ga_request_and_its_flags_win(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "expires_after": {"anchor": "created_at", "seconds": 300},
                "session": {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "alloy"}}},
            }
        )
    )
    with Emulator() as emulator:
        result = run("create-secret", "--request", str(request), "--voice", "cedar", env=emulator_env(emulator))
    assert result.returncode == 0, result.stderr
    assert emulator.requests[0].json == {
        "expires_after": {"anchor": "created_at", "seconds": 300},
        "session": {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "cedar"}}},
    }


def test_create_secret_reads_stdin_and_session_type_flag_wins() -> None:
    with Emulator() as emulator:
        result = run(
            "create-secret",
            "--request",
            "-",
            "--session-type",
            "transcription",
            stdin='{"session": {"type": "realtime"}}',
            env=emulator_env(emulator),
        )
    assert result.returncode == 0, result.stderr
    assert emulator.requests[0].json == {"session": {"type": "transcription"}}


@pytest.mark.parametrize(
    ("args", "stdin", "field"),
    [
        (("--ttl", "5"), None, "expires_after.seconds"),
        (("--request", "-"), '{"session": {"type": "realtime", "voise": "x"}}', "session.voise"),
        (("--request", "-", "--voice", "marin"), '{"session": {"type": "realtime", "audio": 3}}', "session.audio"),
        (("--session-type", "transcription", "--voice", "marin"), None, "session.audio.output"),
    ],
)
def test_an_invalid_ga_request_exits_2_naming_the_field_and_sends_nothing(
    args: tuple[str, ...], stdin: str | None, field: str
) -> None:
    with Emulator() as emulator:
        result = run("create-secret", *args, stdin=stdin, env=emulator_env(emulator))
    assert result.returncode == 2, result.stderr
    assert field in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert emulator.requests == []


def test_create_secret_errors_never_print_the_key() -> None:
    wrong_key = "sk-wrong-key-for-the-cli-test-1111"
    with Emulator() as emulator:
        result = run("create-secret", env={"OPENAI_API_KEY": wrong_key, "OPENAI_BASE_URL": emulator.base_url})
    assert result.returncode == 3
    assert "401" in result.stderr
    assert wrong_key not in result.stderr + result.stdout


# --- the commands that run servers pass their arguments through -------------------------------------------------


@pytest.mark.parametrize(("command", "option"), [("emulator", "--port"), ("serve", "--workers")])
def test_server_commands_show_their_own_help(command: str, option: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert option in result.stdout


def test_the_top_level_help_lists_every_command_in_whole_sentences() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in subcommand_names():
        assert f"\n    {command}" in result.stdout
    description = result.stdout.split("\n\n")[1]
    assert description.rstrip().endswith(".")  # it used to stop mid-sentence at the docstring's first line break
    assert "exit codes:" in result.stdout


def test_version_prints_the_packages_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"realtime-service {__version__}\n"


def test_the_getting_started_table_lists_exactly_the_cli_subcommands() -> None:
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `realtime-service ([a-z-]+)[ `]", page, re.MULTILINE)
    assert sorted(listed) == sorted(subcommand_names())
    assert len(listed) == len(set(listed))


# --- models the package does not know, and those it knows are retiring ----------------------------------------


@pytest.mark.parametrize("command", ["create-session", "create-secret"])
def test_an_unknown_model_warns_with_the_closest_name_and_is_sent_anyway(command: str) -> None:
    with Emulator() as emulator:
        result = run(command, "--model", "gpt-realtim-2.1", env=emulator_env(emulator))
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "realtime-service: warning: gpt-realtim-2.1 is not a model this package knows; did you mean "
        "gpt-realtime-2.1? (sending it anyway: the API decides)\n"
    )
    assert emulator.requests[0].json["session"]["model"] == "gpt-realtim-2.1"


def test_an_unknown_model_in_a_call_session_warns_too(tmp_path: Path) -> None:
    session = tmp_path / "session.json"
    session.write_text(json.dumps({"type": "realtime", "model": "gpt-realtime-2.1-mni"}))
    result = run(
        "create-call",
        "--emulator",
        "--sdp",
        str(ROOT / "tests" / "sdp" / "chromium_offer.sdp"),
        "--session",
        str(session),
    )
    assert result.returncode == 0, result.stderr
    assert "did you mean gpt-realtime-2.1-mini?" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_retiring_model_is_one_short_warning_line_without_sources() -> None:
    result = run("create-secret", "--emulator", "--model", "gpt-realtime")
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "realtime-service: warning: request names gpt-realtime: shutdown announced for 2027-01-20; "
        "use gpt-realtime-2.1 instead\n"
    )
