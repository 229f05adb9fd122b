"""Every ``realtime-service`` subcommand's usual mistakes, run as real processes: each error is exactly one line
on stderr with its documented exit code, no traceback, no secret (issue 21). The boundary itself
(:mod:`realtime_service.cli_boundary`) is checked in-process for what no real command raises on purpose."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realtime_service import cli_boundary
from realtime_service.cli_boundary import EXIT_CODES, CLIError, run, safe_line

CLI = [sys.executable, "-m", "realtime_service"]
ROOT = Path(__file__).resolve().parents[1]
OFFER = ROOT / "tests" / "sdp" / "chromium_offer.sdp"
KEY = "sk-test-cli-errors-0123456789abcdef"
#: The extra arguments each command that takes --config needs to get as far as reading it.
CONFIG_COMMANDS: dict[str, tuple[str, ...]] = {
    "create-session": (),
    "create-secret": (),
    "create-call": ("--sdp", str(OFFER)),
    "serve": ("--port", "0", "--emulator"),
    "doctor": (),
}
DOCUMENTED = {code for code, _ in EXIT_CODES}


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "REALTIME_SERVICE_")) and k != "PYTHONWARNINGS"
    }
    return {**env, **extra}


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(OPENAI_API_KEY=KEY),
        input=stdin if stdin is not None else "",
        timeout=60,
        cwd=ROOT,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, *says: str) -> str:
    """The documented exit code, exactly one stderr line naming the command, no traceback, no key."""
    assert code in DOCUMENTED
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.endswith("\n"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("realtime-service"), result.stderr
    assert "Traceback" not in result.stderr
    assert KEY not in result.stdout + result.stderr
    for text in says:
        assert text in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): a refused connection, never another host."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port a real socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --- the config file, for every command that takes --config -------------------------------------------------

BAD_CONFIGS: dict[str, tuple[bytes | None, str]] = {
    "missing": (None, "cannot read"),
    "a directory": (b"", "cannot read"),
    "malformed": (b"realtime:\n  api_key: [\n", "is not valid YAML"),
    "not a mapping": (b"- api_key\n", "must hold a mapping"),
    "not UTF-8": (b"api_key: \xff\xfe\n", "not UTF-8"),
    "an unknown key": (b"realtme:\n  api_key: x\n", "unknown config key 'realtme'"),
    "an unknown section": (b"realtime: {}\nservers: {}\n", "'servers'"),
    "a section that is not a mapping": (b"realtime: 5\n", "realtime: must be a mapping"),
}


def write_bad_file(path: Path, case: str, content: bytes | None) -> Path:
    """``path`` holding ``content`` (``None``: no file at all), or a directory for the case ``a directory``."""
    if case == "a directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    return path


def write_bad_config(tmp_path: Path, case: str) -> Path:
    return write_bad_file(tmp_path / "config.yaml", case, BAD_CONFIGS[case][0])


@pytest.mark.parametrize("command", sorted(CONFIG_COMMANDS))
@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_config_file_that_cannot_be_used_is_one_line_and_exit_2(tmp_path: Path, command: str, case: str) -> None:
    path = write_bad_config(tmp_path, case)
    result = cli(command, *CONFIG_COMMANDS[command], "--config", str(path))
    if case == "an unknown key" and command == "doctor":
        # doctor reports a realtime config that does not load as a failed check (exit 1), with the others.
        assert result.returncode == 1, result.stderr
        assert "unknown config key 'realtme'" in result.stdout
        assert result.stderr == ""
        return
    assert_one_line(result, 2, BAD_CONFIGS[case][1])
    assert result.stdout == ""


#: The JSON files of --request and --session, read by the same loader as --config: (content, what stderr says).
BAD_JSON_FILES: dict[str, tuple[bytes | None, str]] = {
    "missing": (None, "cannot read {path}: No such file"),
    "a directory": (b"", "cannot read {path}: Is a directory"),
    "not UTF-8": (b'{"voice": "\xff"}', "cannot read {path}: not UTF-8 text"),
    "malformed": (b'{"voice": ', "{path} is not valid JSON: Expecting value at line 1, column 11"),
    "not an object": (b"[1, 2]", "must hold a JSON object, not a list"),
}
JSON_OPTIONS = {"--request": ("create-secret",), "--session": ("create-call", "--sdp", str(OFFER))}


@pytest.mark.parametrize("option", sorted(JSON_OPTIONS))
@pytest.mark.parametrize("case", sorted(BAD_JSON_FILES))
def test_a_request_or_session_file_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path, option: str, case: str
) -> None:
    content, says = BAD_JSON_FILES[case]
    path = write_bad_file(tmp_path / "body.json", case, content)
    result = cli(*JSON_OPTIONS[option], option, str(path))
    line = assert_one_line(result, 2, option, says.format(path=path))
    assert result.stdout == ""
    assert "Traceback" not in line


@pytest.mark.parametrize("command", ["create-session", "create-secret", "create-call", "serve"])
def test_a_setting_that_cannot_work_is_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("realtime:\n  timeout:\n    connect: -1\n")
    assert_one_line(cli(command, *CONFIG_COMMANDS[command], "--config", str(config)), 2, "timeout.connect")


# --- ports ----------------------------------------------------------------------------------------------------

PORT_COMMANDS = {
    "emulator": ("emulator",),
    "emulator ring": ("emulator", "ring", "http://127.0.0.1:9/webhooks/openai", "--secret", "whsec_dGVzdHNlY3JldA=="),
    "serve": ("serve", "--emulator"),
}


@pytest.mark.parametrize("command", sorted(PORT_COMMANDS))
@pytest.mark.parametrize("port", ["-1", "99999", "abc"])
def test_a_port_that_is_not_a_port_is_one_line_and_exit_2(command: str, port: str) -> None:
    assert_one_line(cli(*PORT_COMMANDS[command], "--port", port), 2, "--port", "--help")


@pytest.mark.parametrize("command", sorted(PORT_COMMANDS))
def test_a_port_in_use_is_one_line_and_exit_2(command: str, busy_port: int) -> None:
    result = cli(*PORT_COMMANDS[command], "--port", str(busy_port))
    assert_one_line(result, 2, f"cannot listen on 127.0.0.1:{busy_port}")


@pytest.mark.parametrize("command", ["emulator", "emulator ring"])
def test_the_emulator_binds_loopback_only(command: str) -> None:
    # Refused before binding: 192.0.2.1 (TEST-NET-1) is never bound nor contacted.
    assert_one_line(cli(*PORT_COMMANDS[command], "--host", "192.0.2.1"), 2, "loopback")


# --- URLs -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://127.0.0.1/hook", "http(s) URL"),
        ("not a url", "white space"),
        ("notaurl", "http(s) URL"),
        ("http://192.0.2.1/hook", "loopback URLs only"),
        ("http://127.0.0.1:99999/hook", "not a number from 0 to 65535"),
        ("http://127.0.0.1:abc/hook", "not a number from 0 to 65535"),
    ],
)
def test_ring_refuses_a_bad_webhook_url_before_starting_anything(url: str, says: str) -> None:
    result = cli("emulator", "ring", url, "--secret", "whsec_dGVzdHNlY3JldA==")
    assert_one_line(result, 2, says)
    assert result.stdout == ""  # no emulator was started


def test_ring_without_a_webhook_secret_is_one_line_and_exit_2() -> None:
    assert_one_line(cli("emulator", "ring", "http://127.0.0.1:9/hook"), 2, "OPENAI_WEBHOOK_SECRET")


@pytest.mark.parametrize("command", ["create-session", "create-secret", "create-call"])
@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("not-a-url", "base_url must be an http(s) URL"),
        ("http://192.0.2.1/v1", "refusing plain http://"),
        ("https://user:pass@127.0.0.1/v1", "must not carry credentials"),
    ],
)
def test_a_bad_base_url_is_one_line_and_exit_2_and_nothing_is_sent(command: str, base_url: str, says: str) -> None:
    result = cli(command, *CONFIG_COMMANDS[command], env=clean_env(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=base_url))
    assert "pass" not in assert_one_line(result, 2, says)


# --- no key, no answer ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["create-session", "create-secret", "create-call", "serve"])
def test_no_api_key_is_one_line_and_exit_2(command: str) -> None:
    args = [a for a in CONFIG_COMMANDS[command] if a != "--emulator"]
    assert_one_line(cli(command, *args, env=clean_env()), 2, "OPENAI_API_KEY")


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (("create-session",), "/v1/realtime/client_secrets"),
        (("create-session", "--api-shape", "beta"), "/v1/realtime/sessions"),
        (("create-secret",), "/v1/realtime/client_secrets"),
        (("create-call", "--sdp", str(OFFER)), "/v1/realtime/calls"),
        (("create-call", "--sdp", str(OFFER), "--live", "--model", "gpt-live-1"), "/v1/live/sessions"),
    ],
)
def test_an_unreachable_api_is_one_line_exit_4_naming_the_url(
    closed_port: int, args: tuple[str, ...], path: str
) -> None:
    env = clean_env(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port}/v1")
    assert_one_line(cli(*args, env=env), 4, "Connection error", f"http://127.0.0.1:{closed_port}{path}")


def test_doctor_names_the_url_it_could_not_reach(closed_port: int) -> None:
    env = clean_env(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port}/v1")
    result = cli("doctor", "--check-key", env=env)
    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if "api key" in line]
    assert f"http://127.0.0.1:{closed_port}/v1/realtime/client_secrets" in line
    assert KEY not in result.stdout + result.stderr


# --- a secret pasted as a key (issue 22) ---------------------------------------------------------------------------

#: Not the API key the CLI knows (that one it scrubs anyway): a secret it has never seen, pasted as a key.
PASTED = "sk-proj-Q3vX9mT2kL7pR4wZ8yN1bC6dF0gH5jK"


@pytest.mark.parametrize(
    ("args", "body"),
    [
        (("create-secret", "--request", "-"), {PASTED: 1}),
        (("create-secret", "--request", "-"), {"session": {"type": "realtime", "audio": {"output": {PASTED: 1}}}}),
        (("create-session", "--request", "-"), {PASTED: 1}),
        (("create-session", "--api-shape", "beta", "--request", "-"), {"turn_detection": {PASTED: 1}}),
        (("create-call", "--sdp", str(OFFER), "--session", "-"), {"type": "realtime", PASTED: 1}),
        (("create-call", "--live", "--model", "gpt-live-1", "--sdp", str(OFFER), "--session", "-"), {PASTED: 1}),
    ],
)
def test_a_secret_pasted_as_a_key_is_named_by_its_length_only(args: tuple[str, ...], body: dict[str, Any]) -> None:
    result = cli(*args, "--emulator", stdin=json.dumps(body))
    assert_one_line(result, 2, "Unknown field", f"<name of {len(PASTED)} characters>")
    output = result.stdout + result.stderr
    assert [PASTED[i : i + 10] for i in range(len(PASTED) - 9) if PASTED[i : i + 10] in output] == []


# --- files and arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("create-secret", "--request", "/nonexistent/request.json"), None, "cannot read /nonexistent/request.json"),
        (("create-secret", "--request", "-"), "{not json", "is not valid JSON"),
        (("create-session", "--request", "-"), "[1, 2]", "must hold a JSON object"),
        (("create-call", "--sdp", "/nonexistent/offer.sdp"), None, "cannot read /nonexistent/offer.sdp"),
        (("create-call", "--sdp", str(OFFER), "--session", "-"), "{", "is not valid JSON"),
        (("create-call",), None, "--sdp"),
        (("create-secret", "--ttl", "soon"), None, "--ttl"),
        (("create-secret", "--no-such-flag"), None, "--no-such-flag"),
        (("no-such-command",), None, "no-such-command"),
        ((), None, "COMMAND"),
        (("emulator", "--history", "-1"), None, "--history"),
        (("emulator", "ring"), None, "url"),
        (("emulator", "ring", "http://127.0.0.1:9/", "--secret", "x", "--deliveries", "0"), None, "--deliveries"),
        (("serve", "--workers", "0", "--emulator"), None, "--workers"),
        (("serve", "--framework", "django"), None, "--framework"),
        (("doctor", "--no-such-flag"), None, "--no-such-flag"),
    ],
)
def test_a_command_line_mistake_is_one_line_and_exit_2(args: tuple[str, ...], stdin: str | None, says: str) -> None:
    assert_one_line(cli(*args, stdin=stdin), 2, says)


# --- stdout closed, Ctrl-C ------------------------------------------------------------------------------------


def run_with_closed_stdout(*args: str) -> tuple[int, str]:
    """Run with stdout a pipe whose reader has already gone (``| head`` that has exited): every write fails."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [*CLI, *args], stdout=write_end, stderr=subprocess.PIPE, text=True, env=clean_env(), timeout=60, cwd=ROOT
        )
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("create-secret", "--emulator"),
        ("create-session", "--emulator"),
        ("doctor",),
        ("--help",),
        ("emulator", "--port", "0"),  # the server stops once nobody reads what it prints
    ],
)
def test_a_closed_stdout_exits_141_silently(args: tuple[str, ...]) -> None:
    code, stderr = run_with_closed_stdout(*args)
    assert (code, stderr) == (141, "")


def test_ctrl_c_while_waiting_for_the_api_is_one_line_and_exit_130() -> None:
    """A loopback server that accepts and never answers: the CLI waits in its read until SIGINT."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(60)  # a deadline for the test, not a timing assertion
        port = server.getsockname()[1]
        env = clean_env(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1")
        process = subprocess.Popen(
            [*CLI, "create-secret"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        try:
            connection, _ = server.accept()
            with connection:
                process.send_signal(signal.SIGINT)
                stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert_one_line(done, 130, "interrupted")
    assert stdout == ""


# --- the boundary, for what no command raises on purpose ------------------------------------------------------


def raise_unexpected() -> int:
    raise RuntimeError(f"something broke holding {KEY}")


def test_an_unexpected_error_is_one_line_naming_its_class_and_exit_70(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cli_boundary.DEBUG_VARIABLE, raising=False)
    assert run(raise_unexpected, "realtime-service create-secret") == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("realtime-service create-secret: internal error: RuntimeError")
    assert "REALTIME_SERVICE_DEBUG=1" in err
    assert KEY not in err
    assert "something broke" not in err  # the message could hold anything: only the class is named


def test_debug_lets_the_unexpected_error_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli_boundary.DEBUG_VARIABLE, "1")
    with pytest.raises(RuntimeError):
        run(raise_unexpected, "realtime-service")
    monkeypatch.delenv(cli_boundary.DEBUG_VARIABLE)
    with pytest.raises(RuntimeError):
        run(raise_unexpected, "realtime-service", debug=True)


def test_a_known_error_never_prints_a_secret_of_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook_secret = "whsec_c2VjcmV0LXZhbHVlLWZvci10aGUtdGVzdA=="
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", webhook_secret)
    monkeypatch.setenv("REALTIME_SERVICE_TOKENS", "web=plain-token-value-123456")

    def body() -> int:
        raise CLIError(f"bad {webhook_secret} and plain-token-value-123456 and ek_abcdefghijklmnop\nsecond line", 2)

    assert run(body, "realtime-service serve") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    for secret in (webhook_secret, "plain-token-value-123456", "ek_abcdefghijklmnop"):
        assert secret not in err
    assert safe_line("a\nb") == "a b"


def test_every_exit_code_is_in_the_help_and_the_getting_started_page() -> None:
    help_text = cli("--help").stdout
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    for code, meaning in EXIT_CODES:
        assert f"{code:>3}  {meaning}" in help_text
        assert f"\n| {code} | " in page
