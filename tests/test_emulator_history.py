"""The emulator keeps a bounded history of requests (issue 10, item 10): one left running must not grow forever."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from realtime_service.emulator import Emulator
from realtime_service.emulator.server import DEFAULT_HISTORY


def _mint(emu: Emulator, voice: str) -> None:
    answer = requests.post(
        emu.base_url + "/realtime/sessions",
        json={"model": "gpt-4o-realtime-preview", "voice": voice},
        headers={"Authorization": f"Bearer {emu.api_key}", "OpenAI-Beta": "realtime=v1"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def test_only_the_newest_requests_are_kept_and_all_are_counted() -> None:
    voices = ["alloy", "ash", "ballad", "coral", "echo"]
    with Emulator(history=3) as emu:
        for voice in voices:
            _mint(emu, voice)
        assert [request.json["voice"] for request in emu.requests] == voices[-3:]
        assert emu.received == 5
        emu.clear()
        assert emu.requests == []
        assert emu.received == 0


def test_the_default_history_is_bounded() -> None:
    emu = Emulator()
    assert DEFAULT_HISTORY > 0
    assert emu._requests.maxlen == DEFAULT_HISTORY


def test_a_history_of_zero_keeps_nothing_but_still_counts() -> None:
    with Emulator(history=0) as emu:
        _mint(emu, "marin")
        assert emu.requests == []
        assert emu.received == 1


def test_a_negative_history_is_refused() -> None:
    with pytest.raises(ValueError, match="history"):
        Emulator(history=-1)


def test_the_command_refuses_a_negative_history() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime_service.emulator", "--history", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--history must be >= 0" in result.stderr
