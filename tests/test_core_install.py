"""A core install (no extras) must work: the README's first command mints with only the core dependencies. The
extras' packages are hidden from a fresh interpreter, which then runs the CLI against the emulator."""

from __future__ import annotations

import subprocess
import sys
import textwrap

EXTRAS = (
    "standardwebhooks",
    "limits",
    "redis",
    "flask",
    "werkzeug",
    "waitress",
    "fastapi",
    "starlette",
    "uvicorn",
    "websockets",
    "jsonschema",  # the sideband extra's (tool arguments): a core install imports none of realtime_service.sideband
    "referencing",
    "prometheus_client",  # the metrics extra's: metrics off, the service and serve import nothing of it
    "opentelemetry",  # the tracing extra's: without it every span is a no-op that imports nothing
    "aiortc",  # the webrtc extra's: the emulator imports it only for Emulator(webrtc=True)
    "aioice",
    "av",
)

SCRIPT = textwrap.dedent(
    f"""
    import importlib.abc, sys

    class HideExtras(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {EXTRAS!r}:
                raise ModuleNotFoundError(f"{{name}} hidden: not in a core install", name=name)
            return None

    sys.meta_path.insert(0, HideExtras())
    from realtime_service.cli import main

    code = main(["create-session", "--emulator", "--model", "gpt-realtime-2.1", "--voice", "marin"])
    loaded = sorted(n for n in sys.modules if n.partition(".")[0] in {EXTRAS!r})
    print("loaded:", loaded)
    sys.exit(code)
    """
)


def test_the_readme_mint_works_without_any_extra() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"value": "ek_...' in result.stdout  # the GA answer, the key redacted
    assert "loaded: []" in result.stdout
