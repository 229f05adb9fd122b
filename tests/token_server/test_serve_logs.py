"""``server.log_format`` and ``server.log_level``: ``serve`` as a real process on a loopback port, its stderr read.

JSON lines parse one per line with their fields typed, the access line's fields are the request's (route, status,
duration, the upstream request id, the call id ``/session`` answered with), a hostile path stays on one line,
DEBUG needs no patching, and a bad value is refused at start-up with one line naming the key and exit code 2.
(That no secret reaches stderr at DEBUG, in both formats, is in ``tests/test_secrets_audit.py``.)
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from realtime_service.emulator import Emulator
from realtime_service.errors import ConfigurationError
from realtime_service.redaction import RedactingFilter, SecretRegistry, install_log_redaction
from realtime_service.web.servers.logs import JsonLogFormatter
from realtime_service.web.settings import load_server_settings

ROOT = Path(__file__).resolve().parents[2]
OFFER = (ROOT / "tests" / "sdp" / "chromium_offer.sdp").read_bytes()
RFC3339_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EXIT_USAGE = 2


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


def start_serve(tmp_path: Path, config: dict[str, Any], *extra: str) -> subprocess.Popen[str]:
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    command = [sys.executable, "-m", "realtime_service", "serve", "--port", "0", "--config", str(path), *extra]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def base_url(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    line = server.stdout.readline()
    assert "listening on http://" in line, line + (server.stderr.read() if server.poll() is not None else "")
    return line.split("listening on ", 1)[1].split()[0].rstrip("/")


def stop(server: subprocess.Popen[str]) -> str:
    """SIGTERM, then everything it wrote to stderr."""
    server.send_signal(signal.SIGTERM)
    _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err[-2000:]
    return err


def config_for(emulator: Emulator, **server: Any) -> dict[str, Any]:
    return {"realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url}, "server": server}


def json_lines(err: str) -> list[dict[str, Any]]:
    """Every stderr line as a JSON object (any line that is not one fails the test)."""
    entries = []
    for line in err.splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


def access_lines(entries: list[dict[str, Any]], route: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["logger"] == "realtime_service.web.access" and e.get("route") == route]


# -- settings ----------------------------------------------------------------------------------------------------


def test_log_settings_default_to_todays_text_and_levels_and_accept_a_level_in_any_case() -> None:
    settings = load_server_settings({}, {})
    assert (settings.log_format, settings.log_level) == ("text", None)
    chosen = load_server_settings({"log_format": "json", "log_level": "debug"}, {})
    assert (chosen.log_format, chosen.log_level) == ("json", "DEBUG")


@pytest.mark.parametrize(
    ("server", "key"),
    [
        ({"log_format": "xml"}, "server.log_format"),
        ({"log_level": "verbose"}, "server.log_level"),
        ({"log_level": 10}, "server.log_level"),
    ],
)
def test_a_bad_log_setting_is_refused_naming_its_key(server: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(repr(key))):
        load_server_settings(server, {})


# -- the formatter -------------------------------------------------------------------------------------------------

HOSTILE = 'a\nb\r\u2028c\u2029"quoted"\\ \x00\x1b[31m é 漢 ' + "v" * 16 * 1024


def formatted(record: logging.LogRecord, registry: SecretRegistry | None = None) -> str:
    """``record`` through a handler as ``serve`` sets one up: redaction filter, then the JSON formatter."""
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Capture()
    handler.setFormatter(JsonLogFormatter())
    if registry is not None:
        handler.addFilter(RedactingFilter(registry))
    else:
        install_log_redaction(handlers=[handler])
    handler.handle(record)
    assert len(lines) == 1
    return lines[0]


def test_a_hostile_message_and_field_stay_one_ascii_line_and_round_trip() -> None:
    record = logging.LogRecord("x.y", logging.WARNING, __file__, 1, "got %s", (HOSTILE,), None)
    record.route = HOSTILE  # an ``extra=`` field
    line = formatted(record)
    assert "\n" not in line
    assert "\r" not in line
    assert line.isascii()
    assert line.isprintable()
    assert len(line.splitlines()) == 1
    entry = json.loads(line)
    assert entry["message"] == "got " + HOSTILE
    assert entry["route"] == HOSTILE
    assert (entry["level"], entry["logger"]) == ("WARNING", "x.y")
    assert RFC3339_MS_UTC.match(entry["time"]), entry["time"]


def test_an_exception_is_its_type_and_its_redacted_traceback() -> None:
    secret = "sk-json-exc-0123456789abcdef0123456789"
    registry = SecretRegistry()
    registry.add(secret)
    try:
        raise ValueError(f"upstream said {secret}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed with %s", (secret,), exc_info)
    line = formatted(record, registry)
    entry = json.loads(line)
    assert secret not in line
    assert entry["exc_type"] == "ValueError"
    assert "Traceback (most recent call last)" in entry["exc"]
    assert "ValueError: upstream said sk-...6789" in entry["exc"]
    assert entry["message"] == "failed with sk-...6789"


# -- serve as a process ----------------------------------------------------------------------------------------------


def test_json_logs_are_one_object_per_line_with_the_access_fields_of_each_request(
    emulator: Emulator, tmp_path: Path
) -> None:
    server = start_serve(tmp_path, config_for(emulator, log_format="json"))
    try:
        url = base_url(server)
        minted = requests.post(f"{url}/token", json={}, timeout=10)
        call = requests.post(f"{url}/session", data=OFFER, headers={"Content-Type": "application/sdp"}, timeout=10)
        hostile = requests.get(url + "/x%0a%E2%80%A8%22q%22/" + "p" * 16 * 1024, timeout=10)
    finally:
        err = stop(server)
    assert (minted.status_code, call.status_code) == (200, 201), (minted.text[:200], call.text[:200])
    entries = json_lines(err)
    for entry in entries:
        assert RFC3339_MS_UTC.match(entry["time"]), entry
        assert entry["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        assert isinstance(entry["logger"], str)
        assert isinstance(entry["message"], str)
    [token] = access_lines(entries, "/token")
    assert (token["method"], token["status"], token["level"]) == ("POST", 200, "INFO")
    assert isinstance(token["duration_ms"], float)
    assert token["duration_ms"] >= 0
    assert token["request_id"].startswith("req_")
    assert "call_id" not in token
    [session] = access_lines(entries, "/session")
    assert session["status"] == 201
    assert session["call_id"] == call.headers["X-Call-Id"]
    assert session["request_id"].startswith("req_")
    assert session["request_id"] != token["request_id"]
    [odd] = [e for e in entries if e["logger"] == "realtime_service.web.access" and e["route"].startswith("/x")]
    assert odd["status"] == hostile.status_code
    assert odd["route"].startswith('/x\\n\\u2028"q"/')
    assert odd["route"].endswith("...(cut)")
    assert "DEBUG" not in {e["level"] for e in entries}  # the default levels: no DEBUG line


def test_the_default_is_todays_text_line(emulator: Emulator, tmp_path: Path) -> None:
    server = start_serve(tmp_path, config_for(emulator))
    try:
        url = base_url(server)
        assert requests.post(f"{url}/token", json={}, timeout=10).status_code == 200
    finally:
        err = stop(server)
    line = next(line for line in err.splitlines() if "realtime_service.web.access" in line)
    assert re.match(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO realtime_service\.web\.access: POST /token -> 200 in ", line
    )
    assert " DEBUG " not in err


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_debug_is_a_setting_not_a_patch(emulator: Emulator, tmp_path: Path, log_format: str) -> None:
    server = start_serve(tmp_path, config_for(emulator, log_format=log_format, log_level="DEBUG"))
    try:
        url = base_url(server)
        assert requests.post(f"{url}/token", json={}, timeout=10).status_code == 200
    finally:
        err = stop(server)
    if log_format == "json":
        debug = [e for e in json_lines(err) if e["level"] == "DEBUG"]
        loggers = {e["logger"] for e in debug}
        gateway = [e for e in json_lines(err) if e["logger"] == "realtime_service" and e.get("status") == 200]
        assert gateway, "the package's per-attempt line (INFO, under WARNING by default) is missing"
    else:
        loggers = {m.group(1) for m in re.finditer(r" DEBUG (\S+): ", err)}
    assert any(name.startswith("urllib3") for name in loggers), err[-2000:]


@pytest.mark.parametrize(
    ("server", "key"), [({"log_format": "yaml"}, "server.log_format"), ({"log_level": "LOUD"}, "server.log_level")]
)
def test_serve_refuses_a_bad_log_setting_in_one_line(
    emulator: Emulator, tmp_path: Path, server: dict[str, Any], key: str
) -> None:
    process = start_serve(tmp_path, config_for(emulator, **server))
    out, err = process.communicate(timeout=60)
    assert process.returncode == EXIT_USAGE, out + err
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert repr(key) in err
    assert "Traceback" not in err
