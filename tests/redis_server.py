"""A real ``redis-server`` on loopback for the whole test session (a pytest plugin, see ``tests/conftest.py``).

``$REALTIME_TEST_REDIS_URL`` names one that is already running; otherwise Debian's ``redis-server`` is started
on a free port with no persistence. Without it the Redis tests skip with a reason the skip gate accepts
(``tests/skip_gate.py``): the rate limits' Redis storage and the Redis decision ledger are then UNTESTED.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A real redis-server on loopback (``$REALTIME_TEST_REDIS_URL``, or one started here), for the session."""
    if importlib.util.find_spec("redis") is None:
        pytest.skip("REDIS TESTS SKIPPED: the redis package is not installed (pip install -e '.[test]')")
    url = os.environ.get("REALTIME_TEST_REDIS_URL")
    if url:
        if not _ping(url):
            pytest.skip(f"REDIS TESTS SKIPPED: REALTIME_TEST_REDIS_URL={url} does not answer PING")
        yield url
        return
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if binary is None:
        pytest.skip(
            "REDIS TESTS SKIPPED: redis-server is not installed (apt-get install redis-server), so Redis rate "
            "limits and the Redis decision ledger are UNTESTED in this run"
        )
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*args, "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _ping(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.skip(f"REDIS TESTS SKIPPED: redis-server could not start: {err.decode(errors='replace')[-300:]}")
        time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    redis.Redis.from_url(redis_server).flushdb()
    return redis_server
