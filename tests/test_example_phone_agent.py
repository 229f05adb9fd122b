"""The phone agents as a user runs them: ``examples/phone_agent_flask.py`` (waitress) and
``examples/phone_agent_fastapi.py`` (uvicorn), each a router accepting with a ``Toolbox`` (the README's), and
``examples/phone_sideband.py``, the same written by hand with the official SDK; each in one process and
``realtime-service emulator ring ... --script examples/order_call.yaml`` in another, over loopback: the whole
scripted call, the tool answered once, and a wrong answer reported as such."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_c2NyaXB0ZWQtY2FsbC1leGFtcGxlLXNlY3JldC0zMmI="  # the example's docstring's, a test-only secret
KEY = "sk-emulator-local"
DEADLINE = 120.0  # seconds a command may take on a loaded machine before the test fails instead of hanging


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: Each example, and what its log says of a whole call: the package's controller, or the hand-written SDK loop.
PACKAGE_LOG = ("sideband attached by", "sideband ended (server_closed)")
EXAMPLES = {
    "phone_agent_flask": PACKAGE_LOG,
    "phone_agent_fastapi": PACKAGE_LOG,
    "phone_sideband": ("the model said 'Your order 1234 ships tomorrow.'",),
}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
@pytest.mark.parametrize(("script", "code"), [("order_call.yaml", 0), ("wrong_answer", 1)])
def test_the_example_agent_and_ring_play_the_whole_call(example: str, script: str, code: int, tmp_path: Path) -> None:
    command = shutil.which("realtime-service")
    assert command is not None, "the package's console script is not installed"
    path = ROOT / "examples" / "order_call.yaml"
    if script == "wrong_answer":  # the app answers, but not what this script expects: ring reports the failure
        path = tmp_path / "call.yaml"
        path.write_text((ROOT / "examples" / "order_call.yaml").read_text().replace("status: shipped", "status: lost"))
    emulator_port = _free_port()
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")}
    app_environ = {
        **environ,
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{emulator_port}/v1",
        "OPENAI_WEBHOOK_SECRET": SECRET,
    }
    app = subprocess.Popen(
        [sys.executable, "-m", f"examples.{example}", "--port", "0"],
        cwd=ROOT,
        env=app_environ,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stderr is not None
        first = app.stderr.readline()
        assert first.startswith("listening on http://127.0.0.1:"), first
        url = first.split()[-1]
        ring = subprocess.run(
            [command, "emulator", "ring", url, "--port", str(emulator_port), "--api-key", KEY, "--script", str(path)],
            env={**environ, "OPENAI_WEBHOOK_SECRET": SECRET},
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
    finally:
        app.terminate()
        _, app_log = app.communicate(timeout=DEADLINE)
    assert ring.returncode == code, ring.stdout + ring.stderr
    assert "Traceback" not in ring.stderr + app_log
    if code == 0:
        assert "script: done" in ring.stdout
        assert ": hung_up" in ring.stdout
        for line in EXAMPLES[example]:
            assert line in app_log
    else:
        assert "script: failed at step 2 (expect_output):" in ring.stdout
        failure = ring.stdout.split("script: failed at step 2 (expect_output): ", 1)[1].splitlines()[0]
        assert '"status": "shipped"' in failure
        assert '"status":"lost"' in failure
        assert KEY not in app_log
