"""``realtime-service dial``, run as a real process against the emulator: the call is placed once and its
session id printed; ``--wait`` follows the sideband to answered (exit 0) or failed / not answered (exit 1); every
failure is one line and its documented exit code; no password and no whole number is ever printed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realtime_service.emulator import Emulator, Fault

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "realtime_service"]
DESTINATION = "+14155550123"
CALLER = "+14155550100"
PASSWORD = "trunk-password-cli-4b7e"
ARGS = [
    "dial",
    DESTINATION,
    "--trunk",
    "sips:pbx.example.com:5061",
    "--trunk-user",
    "acme",
    "--trunk-password-env",
    "TRUNK_PASSWORD",
    "--caller-number",
    CALLER,
]
LEAKS = (PASSWORD, "4155550123", "4155550100", "5550123", "5550100")


def clean_env(emulator: Emulator | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "REALTIME_SERVICE_"))}
    env["TRUNK_PASSWORD"] = PASSWORD
    if emulator is not None:
        env.update(OPENAI_API_KEY=emulator.api_key, OPENAI_BASE_URL=emulator.base_url)
    return {**env, **extra}


def dial(*extra: str, emulator: Emulator | None = None, env: dict[str, str] | None = None) -> Any:
    result = subprocess.run(
        [*CLI, *ARGS, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env=env if env is not None else clean_env(emulator),
    )
    for leak in LEAKS:
        assert leak not in result.stdout + result.stderr
    return result


def posts(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests if r.method == "POST" and r.path.endswith("/live/sessions"))


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


def test_dial_with_the_builtin_emulator_waits_for_the_answer() -> None:
    result = dial("--emulator", "--wait")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("session_id: live_")
    assert lines[1:] == ["calling: +1415*******", "ringing: +1415*******", "answered: +1415*******"]
    assert result.stderr == ""


def test_dial_places_one_call_and_prints_its_session_id(emulator: Emulator) -> None:
    result = dial("--instructions", "Tell the customer their order shipped.", emulator=emulator)
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.splitlines()[0].removeprefix("session_id: ")
    record = emulator.calls.get(session_id)
    assert record is not None
    assert record.outbound
    (sent,) = [r.json for r in emulator.requests if r.path.endswith("/live/sessions")]
    assert sent["session"] == {"instructions": "Tell the customer their order shipped.", "model": "gpt-live-1"}
    assert sent["transport"]["trunk"]["auth"] == {"type": "digest", "username": "acme", "password": PASSWORD}


def test_a_failed_dial_step_prints_failed_and_exits_1() -> None:
    """The phone rings on a pinned clock until the command's sideband has attached; then the clock steps past the
    ringing and the script's dial fails the call."""
    now = [1000.0]
    script = [{"dial": {"outcome": "failed", "ringing": 5, "code": "busy", "message": f"{DESTINATION} is busy"}}]
    with Emulator(script=script, clock=lambda: now[0]) as emu:
        process = subprocess.Popen(
            [*CLI, *ARGS, "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(emu)
        )
        try:
            assert process.stdout is not None
            session_id = process.stdout.readline().strip().removeprefix("session_id: ")
            emu.calls.wait_until(session_id, lambda record: record.script_state is not None, timeout=60)
            now[0] += 10
            out = process.stdout.read()  # to its end (communicate would skip what readline buffered)
            assert process.stderr is not None
            err = process.stderr.read()
            process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert posts(emu) == 1
    assert process.returncode == 1, err
    for leak in LEAKS:
        assert leak not in out + err
    assert out.splitlines() == [
        "calling: +1415*******",
        "ringing: +1415*******",
        "failed: +1415******* (busy: +1415******* is busy)",
    ]


def test_a_call_that_ended_before_the_sideband_attached_exits_1() -> None:
    script = [{"dial": {"outcome": "failed", "ringing": 0, "code": "busy"}}]
    with Emulator(script=script) as emu:
        result = dial("--wait", emulator=emu)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[-1].startswith(("failed: +1415******* (busy)", "ended: +1415*******"))


def test_a_call_nobody_answers_before_the_timeout_exits_1_and_is_hung_up() -> None:
    with Emulator(clock=lambda: 1000.0) as emu:  # a pinned clock: the phone rings until the test steps it
        result = dial("--wait", "--timeout", "1", emulator=emu)
        session_id = result.stdout.splitlines()[0].removeprefix("session_id: ")
        record = emu.calls.get(session_id)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[-1] == "timeout: +1415******* not answered within 1 s: hanging up"
    assert record is not None
    assert record.state == "hung_up"  # nobody watches it any more: it does not ring on


@pytest.mark.parametrize(
    ("fault", "code", "says"),
    [
        (Fault.status(500), 3, "may have been placed"),
        (Fault.status(503), 3, "may have been placed"),
        (Fault.status(429), 3, "Error code: 429"),
        (Fault.drop(), 4, "may have been placed"),
        (Fault.delay(3), 4, "may have been placed"),
    ],
    ids=["500", "503", "429", "drop", "timeout"],
)
def test_a_failure_after_the_request_left_is_one_line_and_never_a_second_call(
    emulator: Emulator, fault: Fault, code: int, says: str, tmp_path: Any
) -> None:
    config = tmp_path / "fast.yaml"
    config.write_text("timeout: {connect: 2, read: 1}\nretry: {max_retries: 2, initial_delay: 0.01}\n")
    emulator.enqueue(fault)
    result = dial("--wait", "--config", str(config), emulator=emulator)
    assert result.returncode == code, result.stderr
    assert posts(emulator) == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert says in result.stderr


def test_a_cut_answer_names_the_session_that_may_be_ringing(emulator: Emulator) -> None:
    emulator.enqueue(Fault.truncated(60))
    result = dial(emulator=emulator)
    assert result.returncode == 4
    assert "the call may have been placed: session live_" in result.stderr
    assert posts(emulator) == 1


def test_a_refused_connection_says_no_call_was_placed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = clean_env(OPENAI_API_KEY="sk-test-0000000000", OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1")
    config_free = dial(env=env)
    assert config_free.returncode == 4
    assert "no call was placed" in config_free.stderr


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (["--caller-number", "+1 415 555 0100"], "transport.trunk.caller_number"),
        (["--trunk", "sip:pbx.example.com"], "transport.trunk.provider_url"),
        (["--trunk-user", "acme\r\nVia: evil"], "transport.trunk.auth.username"),
    ],
)
def test_a_bad_value_exits_2_naming_the_field_and_sends_nothing(
    emulator: Emulator, change: list[str], field: str
) -> None:
    result = dial(*change, emulator=emulator)
    assert result.returncode == 2
    assert field in result.stderr
    assert result.stderr.count("\n") == 1
    assert posts(emulator) == 0


def test_a_sip_uri_destination_is_refused_as_the_guide_says(emulator: Emulator) -> None:
    env = clean_env(emulator)
    result = subprocess.run(
        [*CLI, "dial", "sip:bob@example.com", *ARGS[2:]], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2
    assert "SIP URI destinations are not supported" in result.stderr
    assert posts(emulator) == 0


def test_a_missing_password_variable_and_a_stray_number_are_usage_errors_without_the_number(
    emulator: Emulator,
) -> None:
    unset = dial(env={k: v for k, v in clean_env(emulator).items() if k != "TRUNK_PASSWORD"})
    assert unset.returncode == 2
    assert "TRUNK_PASSWORD is not set" in unset.stderr
    stray = dial("+14155550199", emulator=emulator)
    assert stray.returncode == 2
    assert "unrecognized arguments: +1415*******" in stray.stderr
    assert "5550199" not in stray.stderr
    assert posts(emulator) == 0


def test_wait_without_the_sideband_extra_refuses_before_any_call(emulator: Emulator) -> None:
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "websockets":
                    raise ModuleNotFoundError(f"{{name}} hidden", name=name)
                return None

        sys.meta_path.insert(0, Hide())
        from realtime_service.cli import main
        sys.exit(main({[*ARGS, "--wait"]!r}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=clean_env(emulator)
    )
    assert result.returncode == 2, result.stderr
    assert "--wait needs the sideband extra" in result.stderr
    assert posts(emulator) == 0


def test_dial_help_lists_its_options_and_exit_codes() -> None:
    result = subprocess.run([*CLI, "dial", "--help"], capture_output=True, text=True, timeout=60, env=clean_env())
    assert result.returncode == 0
    for option in ("--trunk", "--trunk-user", "--trunk-password-env", "--caller-number", "--wait", "--emulator"):
        assert option in result.stdout
    assert "dial --wait: the call failed or was not answered" in result.stdout


@pytest.mark.parametrize("config", sorted(ROOT.joinpath("config").glob("*.yaml")), ids=lambda path: path.name)
def test_every_shipped_config_dials(config: Path) -> None:
    result = dial("--emulator", "--config", str(config), "--wait", env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "answered: +1415*******"


def test_ctrl_c_while_it_rings_hangs_the_call_up_and_exits_130() -> None:
    script = [{"dial": {"outcome": "answered", "ringing": 5}}]
    with Emulator(script=script, clock=lambda: 1000.0) as emu:  # pinned: it rings until hung up
        process = subprocess.Popen(
            [*CLI, *ARGS, "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(emu)
        )
        try:
            assert process.stdout is not None
            session_id = process.stdout.readline().strip().removeprefix("session_id: ")
            emu.calls.wait_until(session_id, lambda record: record.script_state is not None, timeout=60)
            process.send_signal(signal.SIGINT)
            process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        record = emu.calls.wait_for(session_id, {"hung_up"}, timeout=10)
    assert process.returncode == 130
    assert record.state == "hung_up"
