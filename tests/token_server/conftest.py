"""Fixtures for the token endpoint: the real servers (waitress and uvicorn) on loopback, a real redis-server.

Servers run in a thread of the test process on port 0 (:class:`~realtime_service.web.servers.runners.ServedApp`)
so tests can read their logs and script the emulator; ``serve`` itself runs as a subprocess in ``test_token_serve.py``.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis_server import free_port  # noqa: F401 - re-exported for the tests here

from realtime_service.emulator import Emulator

try:
    from realtime_service.web.servers.containers import ServeContainer
    from realtime_service.web.servers.runners import REQUIREMENTS, ServedApp
except ImportError as missing:  # the server extra (limits) is not installed: say so, do not error
    collect_ignore_glob = ["test_*.py"]
    warnings.warn(
        f"TOKEN ENDPOINT TESTS SKIPPED: {missing} (pip install -e '.[test]'); realtime_service.web is UNTESTED",
        stacklevel=1,
    )

FRAMEWORKS = ["flask", "fastapi"]
#: Fast retries, and no honouring of long Retry-After waits, so upstream-failure tests take milliseconds.
FAST_RETRY = {"max_retries": 1, "initial_delay": 0.01, "max_delay": 0.02, "max_retry_after": 0.05, "total_timeout": 5}


def realtime_config(emulator: Emulator) -> dict[str, Any]:
    return {"api_key": emulator.api_key, "base_url": emulator.base_url, "retry": dict(FAST_RETRY)}


def make_container(emulator: Emulator, **server: Any) -> ServeContainer:
    container = ServeContainer(environ={})
    container.config.from_dict({"realtime": realtime_config(emulator), "server": server})
    return container


def require(framework: str) -> None:
    missing = [name for name in REQUIREMENTS[framework] if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{framework} adapter UNTESTED: {', '.join(missing)} not installed (pip install -e '.[test]')")


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    require(name)
    return name


@pytest.fixture
def serve(emulator: Emulator, framework: str) -> Iterator[Callable[..., ServedApp]]:
    """``serve(**server_config)`` or ``serve(container=host)``: the real server for ``framework`` on loopback.

    One at a time per framework (the adapter module is wired to one container), so starting another stops the
    previous one.
    """
    running: list[ServedApp] = []

    def start(container: Any = None, **server: Any) -> ServedApp:
        while running:
            running.pop().stop()
        served = ServedApp(container if container is not None else make_container(emulator, **server), framework)
        running.append(served.start())
        return served

    yield start
    while running:
        running.pop().stop()


# -- serve as a process ------------------------------------------------------------------------------------

SERVE = [sys.executable, "-m", "realtime_service.web"]


class Served:
    """A ``serve`` process: its base URL once it listens, its stderr in a file."""

    def __init__(self, args: list[str], log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_SERVICE_"))}
        self.log = log
        self.process = subprocess.Popen(
            [*SERVE, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
            env=env,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout or ()], daemon=True).start()
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"serve did not start: {self.stderr}") from None
        match = re.search(r"http://[\d.]+:\d+", first)
        assert match, first
        self.url = match.group(0)

    @property
    def stderr(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[Served] = []

    def run(*args: str) -> Served:
        served = Served(list(args), tmp_path / f"serve-{len(started)}.log")
        started.append(served)
        return served

    yield run
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()


def config_file(tmp_path: Path, emulator: Emulator | None = None, **server: Any) -> str:
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump({"realtime": realtime_config(emulator) if emulator else {}, "server": server}))
    return str(path)
