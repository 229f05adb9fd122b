"""The repository's composition root and example handler, as the README shows them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from realtime_service.emulator import Emulator
from realtime_service.testing import FakeGateway, session_body

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from containers import Application, create_application  # noqa: E402
from examples.handlers import mint_browser_key  # noqa: E402


def test_the_default_config_file_loads_with_every_key_commented() -> None:
    application = create_application(ROOT / "config" / "realtime.yaml")
    application.realtime.environ.override({})
    settings = application.realtime.settings()
    assert settings.base_url == "https://api.openai.com/v1"


def test_the_example_handler_mints_against_the_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator() as emulator:
        config = tmp_path / "app.yaml"
        config.write_text(f"realtime:\n  api_key: {emulator.api_key}\n  base_url: {emulator.base_url}\n")
        monkeypatch.setenv("APP_CONFIG", str(config))
        application = create_application()
        try:
            minted = mint_browser_key(voice="cedar")
        finally:
            application.shutdown_resources()
            application.unwire()
    assert minted["client_secret"].startswith("ek_")
    assert emulator.requests[0].json["session"]["audio"]["output"]["voice"] == "cedar"


def test_the_example_handler_is_tested_with_an_overridden_gateway() -> None:
    application = Application()
    application.config.from_dict({"realtime": {"api_key": "sk-test-000000000000"}})
    fake = FakeGateway()
    fake.queue_response(session_body())
    try:
        with application.realtime.gateway.override(fake):
            minted = mint_browser_key()
    finally:
        application.unwire()
    assert minted["client_secret"].startswith("ek_")
    assert fake.calls[0].json["session"]["audio"]["output"]["voice"] == "marin"


def test_the_example_handler_runs_as_a_script(tmp_path: Path) -> None:
    """`python -m examples.handlers` is ``__main__``, not the wired ``examples.handlers``: it must still mint."""
    with Emulator() as emulator:
        config = tmp_path / "app.yaml"
        config.write_text(f"realtime:\n  api_key: {emulator.api_key}\n  base_url: {emulator.base_url}\n")
        environ = {key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")}
        result = subprocess.run(
            [sys.executable, "-m", "examples.handlers"],
            cwd=ROOT,
            env={**environ, "APP_CONFIG": str(config)},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert len(emulator.requests) == 1
    assert re.search(r"'client_secret': 'ek_\.\.\.\w{4}'", result.stdout), result.stdout
