"""``realtime-service create-call``: an offer in, the answer and the call or session id out, run as a real
process against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime_service.emulator import Emulator, Fault

OFFER = Path(__file__).parent / "sdp" / "chromium_offer.sdp"
CLI = [sys.executable, "-m", "realtime_service", "create-call"]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


def run(emulator: Emulator, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    env |= {"OPENAI_API_KEY": emulator.api_key, "OPENAI_BASE_URL": emulator.base_url}
    return subprocess.run([*CLI, *args], capture_output=True, env=env, input=stdin, timeout=60)


def test_a_call_prints_its_id_and_the_answer_and_the_offer_arrives_byte_for_byte(emulator: Emulator) -> None:
    done = run(emulator, "--sdp", str(OFFER), "--voice", "marin", "--instructions", "Be brief.")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    record = emulator.calls.get(printed["call_id"])
    assert record is not None
    assert record.offer == OFFER.read_bytes()
    assert record.session == {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}
    assert printed["sdp"] == record.answer
    assert printed["request_id"].startswith("req_")


def test_live_reads_the_offer_from_stdin_and_the_session_from_a_file(emulator: Emulator, tmp_path: Path) -> None:
    session = tmp_path / "session.json"
    session.write_text(json.dumps({"model": "gpt-live-1", "store": True}))
    done = run(emulator, "--sdp", "-", "--live", "--session", str(session), stdin=OFFER.read_bytes())
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    record = emulator.calls.get(printed["session_id"])
    assert record is not None
    assert record.session == {"model": "gpt-live-1", "store": True}
    assert record.offer == OFFER.read_bytes()


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("--sdp", "-", "--session", "-"), b"", b"cannot both read stdin"),
        (("--sdp", "-"), b"v=0\r\n", b"sdp"),
        (("--sdp", "-", "--live"), OFFER.read_bytes(), b"session.model"),
        (("--sdp", "/nonexistent/offer.sdp"), None, b"offer.sdp"),
    ],
)
def test_what_cannot_be_sent_exits_2_and_sends_nothing(
    emulator: Emulator, args: tuple[str, ...], stdin: bytes | None, says: bytes
) -> None:
    done = run(emulator, *args, stdin=stdin)
    assert done.returncode == 2
    assert says in done.stderr
    assert emulator.requests == []


def test_an_api_error_exits_3_and_an_unreadable_answer_5(emulator: Emulator) -> None:
    emulator.enqueue(Fault.status(429, headers={"x-should-retry": "false"}))
    assert run(emulator, "--sdp", str(OFFER)).returncode == 3
    emulator.enqueue(Fault.json({"session": {}}))
    assert run(emulator, "--sdp", str(OFFER), "--live", "--model", "gpt-live-1").returncode == 5
