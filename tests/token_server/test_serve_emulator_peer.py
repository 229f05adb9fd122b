"""``serve --emulator --emulator-webrtc`` and ``--emulator-script``: the options' misuse is one line and exit 2
before anything binds (a missing ``webrtc`` extra names it), and the demo page's config says whether a real peer
stands behind the emulator's answers. The call itself is tested in a network namespace
(``tests/test_demo_call_netns.py``): starting serve gathers nothing, only an offer does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import SERVE, Served, config_file

SCRIPT = "- caller: hello\n- model_says: hi there\n"


def _run(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_SERVICE_"))}
    command = [*SERVE, "--port", "0", *args]
    if prelude:  # run serve_main after the prelude (e.g. hiding a package) in the same interpreter
        code = f"{prelude}\nfrom realtime_service.web.servers.serve import serve_main\nraise SystemExit(serve_main())"
        command = [sys.executable, "-c", code, "--port", "0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--emulator-webrtc"], "--emulator-webrtc needs --emulator"),
        (["--emulator-script", "x.yaml"], "--emulator-script needs --emulator"),
        (["--emulator", "--emulator-webrtc-address", "10.0.0.1"], "--emulator-webrtc-address needs --emulator-webrtc"),
        (
            ["--emulator", "--emulator-webrtc", "--emulator-webrtc-address", "not-an-ip"],
            "--emulator-webrtc-address: webrtc_addresses: 'not-an-ip' is not an IP address",
        ),
    ],
)
def test_misused_emulator_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"realtime-service serve: error: {message}"]


def test_without_the_webrtc_extra_emulator_webrtc_names_it() -> None:
    hide = "import sys; sys.modules['aiortc'] = None  # as if the webrtc extra were not installed"
    result = _run("--emulator", "--emulator-webrtc", prelude=hide)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "realtime-service serve: error: --emulator-webrtc needs the webrtc extra (aiortc): "
        "pip install 'realtime-service[webrtc]'"
    ]


def test_a_bad_script_is_one_line_and_exit_2(tmp_path: Path) -> None:
    script = tmp_path / "call.yaml"
    script.write_text("- sings: la la\n")
    result = _run("--emulator", "--emulator-script", str(script))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"realtime-service serve: error: {script}"), lines


@pytest.mark.parametrize(("webrtc", "peer"), [(False, False), (True, True)])
def test_the_demo_config_says_whether_a_peer_answers(start: Any, tmp_path: Path, webrtc: bool, peer: bool) -> None:
    script = tmp_path / "call.yaml"
    script.write_text(SCRIPT)
    served: Served = start("--emulator", "--emulator-script", str(script), *(["--emulator-webrtc"] if webrtc else []))
    config = requests.get(served.url + "/demo-config.json", timeout=10).json()
    assert config["upstream"] == "emulator"
    assert config["emulator_peer"] is peer
    assert served.stop() == 0


def test_a_real_upstream_reports_no_emulator_peer(start: Any, tmp_path: Path) -> None:
    config_path = tmp_path / "serve.yaml"
    config_path.write_text("realtime:\n  api_key: sk-test-not-used-0000\n  base_url: https://127.0.0.1:9/v1\n")
    served: Served = start("--config", str(config_path))
    assert requests.get(served.url + "/demo-config.json", timeout=10).json()["emulator_peer"] is None
    assert served.stop() == 0


def test_workers_say_so_too(start: Any, tmp_path: Path, redis_url: str) -> None:
    """``--workers 2``: the supervisor's emulator answers for all, and each worker's page says a peer answers."""
    served: Served = start(
        "--emulator",
        "--emulator-webrtc",
        "--workers",
        "2",
        "--config",
        config_file(tmp_path, None, rate_limit_storage=redis_url),
    )
    close = {"Connection": "close"}  # a new connection each time: either worker may answer
    peers = [
        requests.get(served.url + "/demo-config.json", headers=close, timeout=10).json()["emulator_peer"]
        for _ in range(4)
    ]
    assert peers == [True] * 4
    assert served.stop() == 0
