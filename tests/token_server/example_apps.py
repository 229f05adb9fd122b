"""The repository's example host apps (``examples/token_*.py``, ``signaling_*.py``, ``phone_*.py``) served the
way a host serves them: imported from the checkout's root, their container pointed at the emulator, on their
production server (waitress for Flask, uvicorn for FastAPI) on a free loopback port. One runner for all three
test modules, so they cannot drift apart in how an example is started and cleaned up."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realtime_service.web.servers.runners import ADAPTERS, UvicornRunner, WaitressRunner, bind

from .conftest import require

ROOT = Path(__file__).resolve().parents[2]


def served_example(
    name: str, framework: str, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, path: str = ""
) -> Iterator[tuple[Any, str]]:
    """``examples.{name}_{framework}`` with ``config`` and no environment, served; yields the module and its URL
    (``path`` on the server), then stops the server and forgets the module (the next test imports it afresh)."""
    require(framework)
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    module_name = f"examples.{name}_{framework}"
    module = importlib.import_module(module_name)
    application = module.application
    application.config.from_dict(config)
    application.token_server.environ.override({})
    application.wire(modules=[ADAPTERS[framework]])  # other tests may have wired the adapter to their container
    sock = bind("127.0.0.1", 0)
    runner: Any
    if framework == "flask":
        runner = WaitressRunner(module.app, sock, threads=4, shutdown_timeout=5)
    else:
        runner = UvicornRunner(module.app, sock, shutdown_timeout=5)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        yield module, f"http://127.0.0.1:{sock.getsockname()[1]}{path}"
    finally:
        runner.stop()
        thread.join(10)
        sock.close()
        application.unwire()
        application.shutdown_resources()
        application.token_server.environ.reset_override()
        sys.modules.pop(module_name, None)
