"""The model lifecycle table, the warning a request naming a listed model logs, and the hint on its errors; and
that every default and example in the repository names a model with no announced shutdown."""

from __future__ import annotations

import datetime as dt
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realtime_service import lifecycle
from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import Emulator, Fault
from realtime_service.emulator.primary_sockets import REALTIME_MODELS
from realtime_service.errors import NotFoundError
from realtime_service.lifecycle import BY_MODEL, SHUTDOWNS, describe, models_in, shutdown_hint, warn_if_retiring

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
# A model name as it appears in text: the lifecycle module's own matcher, so "gpt-realtime-2.1" is not read as
# "gpt-realtime".
NAMED = lifecycle._NAMED


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    lifecycle._forget_warnings()
    yield
    lifecycle._forget_warnings()


def lifecycle_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "realtime_service.lifecycle"]


# --- the table -------------------------------------------------------------------------------------------------


def test_the_table_has_one_row_per_model_with_a_name_a_date_a_replacement_and_a_source() -> None:
    assert len(BY_MODEL) == len(SHUTDOWNS)
    for row in SHUTDOWNS:
        assert MODEL_NAME.match(row.model), row
        assert isinstance(row.date, dt.date)
        assert row.replacement
        assert row.source


def test_no_replacement_is_itself_on_the_table() -> None:
    for row in SHUTDOWNS:
        for replacement in row.replacement.split(" or "):
            assert MODEL_NAME.match(replacement), row
            assert replacement not in BY_MODEL, row


def test_the_table_holds_the_sdks_announced_dates() -> None:
    """CALLS-LIVE-NOTES 4.1: the SDK 3.57 deprecated blocks, copied into tests/spec/lifecycle.md."""
    for model in (
        "gpt-realtime",
        "gpt-realtime-2025-08-28",
        "gpt-realtime-mini",
        "gpt-realtime-mini-2025-12-15",
        "gpt-audio-mini",
        "gpt-audio-mini-2025-12-15",
    ):
        assert BY_MODEL[model].date == dt.date(2027, 1, 20)
    for model in (
        "whisper-1",
        "gpt-4o-mini-transcribe",
        "gpt-4o-mini-transcribe-2025-12-15",
        "gpt-4o-transcribe",
        "gpt-4o-transcribe-diarize",
    ):
        assert BY_MODEL[model].date == dt.date(2027, 2, 26)
    assert BY_MODEL["gpt-realtime"].replacement == "gpt-realtime-2.1"
    assert BY_MODEL["gpt-realtime-mini"].replacement == "gpt-realtime-2.1-mini"


def test_the_vendored_lifecycle_notes_list_every_model_the_table_dates_from_the_sdk() -> None:
    notes = (ROOT / "tests" / "spec" / "lifecycle.md").read_text(encoding="utf-8")
    for row in SHUTDOWNS:
        if row.source.startswith("SDK"):
            assert f'"{row.model}"' in notes, row.model
            assert row.date.isoformat() in notes


def test_models_in_finds_every_model_key_and_nothing_else() -> None:
    body = {
        "session": {
            "model": "gpt-realtime",
            "audio": {"input": {"transcription": {"model": "whisper-1"}}},
            "tools": [{"parameters": {"properties": {"model": {"type": "string"}}}}],
        },
        "model": 5,
    }
    assert sorted(models_in(body)) == ["gpt-realtime", "whisper-1"]


def test_describe_says_announced_before_the_date_and_shut_down_after_it() -> None:
    row = BY_MODEL["gpt-realtime"]
    assert "shutdown announced for 2027-01-20; use gpt-realtime-2.1" in describe(row, dt.date(2027, 1, 19))
    assert "shut down on 2027-01-20; use gpt-realtime-2.1" in describe(row, dt.date(2027, 1, 20))


# --- the warning -----------------------------------------------------------------------------------------------


def test_a_listed_model_warns_once_per_process_with_its_date_and_replacement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="realtime_service.lifecycle"):
        for _ in range(3):
            warn_if_retiring({"session": {"model": "gpt-realtime-mini"}})
        warn_if_retiring({"session": {"model": "gpt-realtime-2.1"}})
    (record,) = lifecycle_records(caplog)
    assert record.levelno == logging.WARNING
    assert "gpt-realtime-mini" in record.getMessage()
    assert "2027-01-20" in record.getMessage()
    assert "gpt-realtime-2.1-mini" in record.getMessage()
    assert record.model == "gpt-realtime-mini"  # type: ignore[attr-defined]


def test_each_listed_model_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="realtime_service.lifecycle"):
        warn_if_retiring(
            {"session": {"model": "gpt-realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}}
        )
        warn_if_retiring({"model": "whisper-1"})
    assert sorted(r.model for r in lifecycle_records(caplog)) == ["gpt-realtime", "whisper-1"]  # type: ignore[attr-defined]


@pytest.fixture
def ga_container(realtime_emulator: Emulator) -> Iterator[RealtimeContainer]:
    container = RealtimeContainer(environ={})
    container.config.from_dict(
        {"api_key": realtime_emulator.api_key, "base_url": realtime_emulator.base_url, "retry": {"max_retries": 0}}
    )
    yield container
    container.shutdown_resources()


def test_the_service_warns_once_when_its_requests_name_a_listed_model(
    ga_container: RealtimeContainer, caplog: pytest.LogCaptureFixture
) -> None:
    service = ga_container.realtime_session_service()
    with caplog.at_level(logging.WARNING, logger="realtime_service.lifecycle"):
        service.create_client_secret({"session": {"type": "realtime", "model": "gpt-realtime"}})
        service.create_client_secret({"session": {"type": "realtime", "model": "gpt-realtime"}})
        service.create_realtime_session({"model": "gpt-realtime"})  # bridged: the same model, no second line
        service.create_client_secret({"session": {"type": "realtime", "model": "gpt-realtime-2.1"}})
    (record,) = lifecycle_records(caplog)
    assert "gpt-realtime: shutdown announced for 2027-01-20; use gpt-realtime-2.1" in record.getMessage()


def test_a_current_model_logs_no_lifecycle_warning(
    ga_container: RealtimeContainer, caplog: pytest.LogCaptureFixture
) -> None:
    service = ga_container.realtime_session_service()
    with caplog.at_level(logging.DEBUG):
        service.create_client_secret({"session": {"type": "realtime", "model": "gpt-realtime-2.1"}})
        service.create_realtime_session({"model": "gpt-realtime-2.1-mini", "voice": "marin"})
    assert lifecycle_records(caplog) == []


# --- the hint on upstream errors -------------------------------------------------------------------------------


def test_an_upstream_error_naming_a_model_past_its_date_gets_the_date_and_replacement(
    ga_container: RealtimeContainer, realtime_emulator: Emulator
) -> None:
    realtime_emulator.enqueue(
        Fault.status(404, message="The model `gpt-4o-realtime-preview` does not exist.", code="model_not_found")
    )
    with pytest.raises(NotFoundError) as caught:
        ga_container.realtime_session_service().create_client_secret(
            {"session": {"type": "realtime", "model": "gpt-4o-realtime-preview"}}
        )
    assert caught.value.code == "model_not_found"
    assert caught.value.message.startswith("The model `gpt-4o-realtime-preview` does not exist.")
    assert "gpt-4o-realtime-preview: shut down on 2026-05-07; use gpt-realtime-2.1 instead" in caught.value.message


def test_an_upstream_error_naming_a_model_before_its_date_gets_no_hint(
    ga_container: RealtimeContainer, realtime_emulator: Emulator
) -> None:
    message = "The model `gpt-realtime-2.1-mini` does not exist or you do not have access to it."
    realtime_emulator.enqueue(Fault.status(404, message=message, code="model_not_found"))
    with pytest.raises(NotFoundError) as caught:
        ga_container.realtime_session_service().create_client_secret({"session": {"type": "realtime"}})
    assert caught.value.message == message


def test_the_hint_depends_on_the_date_and_reads_the_longest_name() -> None:
    message = "The model `gpt-realtime-mini-2025-12-15` has been deprecated."
    assert shutdown_hint(message, dt.date(2027, 1, 19)) == ""
    hint = shutdown_hint(message, dt.date(2027, 1, 20))
    assert hint.startswith(" Model gpt-realtime-mini-2025-12-15: shut down on 2027-01-20;")
    assert "use gpt-realtime-2.1-mini" in hint
    assert hint.count("Model ") == 1
    assert shutdown_hint("The model `gpt-realtime-2.1` is fine", dt.date(2030, 1, 1)) == ""


# --- every default and example is current ----------------------------------------------------------------------

#: (file, model) -> why that file may name a model on the table. Anything else the scan finds is a failure.
ALLOWED: dict[tuple[str, str], str] = {
    **{
        ("realtime_service/beta/schemas.py", m): "the retired beta transcription endpoint's closed enum (spec)"
        for m in ("gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1")
    },
    **{
        ("realtime_service/beta/models.py", m): "documents that closed beta enum"
        for m in ("gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1")
    },
    **{
        ("realtime_service/emulator/transcription_sessions.py", m): "the emulator mimics that beta enum and default"
        for m in ("gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-1")
    },
    ("realtime_service/emulator/sessions.py", "gpt-4o-realtime-preview"): (
        "the emulator mimics the retired beta endpoint's own default"
    ),
    ("realtime_service/emulator/client_secrets.py", "gpt-realtime"): (
        "the emulator mimics the API's own default for a request that names no model"
    ),
    **{
        ("realtime_service/emulator/primary_sockets.py", m): (
            "the emulator accepts the SDK's Realtime model enum on ?model=, as the API does until each shutdown"
        )
        for m in sorted(REALTIME_MODELS & set(BY_MODEL))  # only those with an announced shutdown
    },
    ("docs/emulator-calls.md", "gpt-realtime"): "quotes the model the Agents SDK's own SIP example accepts with",
}

#: Files that document the table itself, where every listed model may appear (they are checked against it).
ALLOWED_FILES: dict[str, str] = {"docs/model-lifecycle.md": "the lifecycle page shows the table (tests/test_docs.py)"}


def scanned_files() -> list[Path]:
    """Where defaults and examples live: the package, config, examples, benchmarks, README, docs, shared samples."""
    files = [p for p in (ROOT / "realtime_service").rglob("*") if p.suffix in {".py", ".html", ".js", ".css"}]
    files = [p for p in files if p.name != "lifecycle.py"]
    files += sorted((ROOT / "config").glob("*.yaml")) + sorted((ROOT / "examples").glob("*.py"))
    files += sorted((ROOT / "bench").glob("*.py")) + sorted((ROOT / "docs").rglob("*.md"))
    files += [ROOT / "README.md", ROOT / "mkdocs.yml"]
    files += [ROOT / "tests" / name for name in ("conftest.py", "ga_samples.py", "beta_samples.py")]
    return [p for p in files if p.is_file()]


def test_the_scan_covers_the_places_defaults_live() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in scanned_files()}
    for expected in (
        "realtime_service/web/settings.py",
        "realtime_service/cli.py",
        "config/token-server.yaml",
        "examples/handlers.py",
        "README.md",
        "tests/conftest.py",
    ):
        assert expected in names


def test_every_default_and_example_names_a_model_with_no_announced_shutdown() -> None:
    found: list[str] = []
    for path in scanned_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative in ALLOWED_FILES:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for model in NAMED.findall(line):
                if (relative, model) not in ALLOWED:
                    found.append(f"{relative}:{number}: {model} ({BY_MODEL[model].date})")
    assert found == []


def test_every_allowance_is_still_needed() -> None:
    seen = {(p.relative_to(ROOT).as_posix(), m) for p in scanned_files() for m in NAMED.findall(p.read_text("utf-8"))}
    assert set(ALLOWED) <= seen, set(ALLOWED) - seen


def test_the_defaults_the_package_sends_are_current() -> None:
    from realtime_service.web.settings import DEFAULTS

    assert DEFAULTS["session"]["model"] not in BY_MODEL
    assert MODEL_NAME.match(DEFAULTS["session"]["model"])


def test_the_cli_help_names_a_current_model() -> None:
    helps: list[str] = []
    for command in ("create-session", "create-secret", "doctor"):
        result = subprocess.run(
            [sys.executable, "-m", "realtime_service", command, "--help"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        helps.append(result.stdout)
    assert "gpt-realtime-2.1" in helps[0]
    named: list[Any] = [m for text in helps for m in NAMED.findall(text)]
    assert named == []
