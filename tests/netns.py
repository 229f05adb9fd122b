"""Run a helper script inside a private network namespace the test makes, and read its JSON report.

Every test in which a WebRTC peer gathers ICE candidates (the emulator's, a Python test peer's, Chromium's) runs
there: ``unshare -n`` (as root, CI; else ``unshare -rn``, a user namespace mapping root, where the kernel allows
it) gives the helper an empty network with only ``lo``; the helper (:func:`make_network`) brings ``lo`` up and
makes a veth pair with two 10.x addresses and no route out, so ICE traffic cannot leave the namespace. Where
neither is permitted the test is skipped naming the missing capability, a skip ``--only-system-skips`` refuses:
CI runs as root, so there it must run.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EMULATOR_ADDRESS = "10.203.0.1"
"""Where the emulator's peer gathers (one end of the veth pair)."""
BROWSER_ADDRESS = "10.203.0.2"
"""Where the test's browser peer gathers (the other end)."""
_HOST_NAMESPACE = "REALTIME_SERVICE_TEST_HOST_NETNS"
NETWORK = (
    "ip link set lo up",
    "ip link add rtc-emu type veth peer name rtc-browser",
    f"ip addr add {EMULATOR_ADDRESS}/24 dev rtc-emu",
    f"ip addr add {BROWSER_ADDRESS}/24 dev rtc-browser",
    "ip link set rtc-emu up",
    "ip link set rtc-browser up",
)
"""What :func:`make_network` runs in the namespace (docs/emulator-calls.md shows it: the test checks they agree)."""


@functools.cache
def _unshare() -> tuple[str, ...] | str:
    """The ``unshare`` command that makes a private network namespace here, or why there is none."""
    if shutil.which("unshare") is None:
        return "util-linux (unshare) not installed"
    if shutil.which("ip") is None:
        return "iproute2 (ip) not installed"
    tried = []
    for command in (("unshare", "-n"), ("unshare", "-rn")):
        probe = subprocess.run([*command, "ip", "link", "set", "lo", "up"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            return command
        tried.append(f"{' '.join(command)}: {probe.stderr.strip()[:120]}")
    return "a private network namespace is not permitted here (needs root or user namespaces): " + "; ".join(tried)


def run_in_namespace(helper: Path, *args: str, timeout: float = 90) -> dict[str, Any]:
    """Run ``python helper args...`` in a new network namespace; the JSON object it prints last on stdout."""
    command = _unshare()
    if isinstance(command, str):
        pytest.skip(command)
    result = subprocess.run(
        [*command, sys.executable, str(helper), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, _HOST_NAMESPACE: os.readlink("/proc/self/ns/net")},
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        pytest.fail(f"{helper.name} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    report["stderr"] = result.stderr
    return report


def make_network() -> None:
    """Inside the namespace (the helper's first call): refuse to run in the host's, bring ``lo`` up, make the veth
    pair with :data:`EMULATOR_ADDRESS` and :data:`BROWSER_ADDRESS`; no default route is added."""
    if os.readlink("/proc/self/ns/net") == os.environ.get(_HOST_NAMESPACE, os.readlink("/proc/self/ns/net")):
        raise SystemExit("refusing to gather ICE candidates in the test's own network namespace")
    for line in NETWORK:
        subprocess.run(line.split(), check=True, capture_output=True, timeout=30)
    routes = subprocess.run(["ip", "route", "show", "default"], check=True, capture_output=True, text=True, timeout=30)
    if routes.stdout.strip():
        raise SystemExit(f"the namespace has a default route: {routes.stdout.strip()}")


def pytest_configure(config: pytest.Config) -> None:
    """In the test process (never in a helper: it runs in the namespace), ICE gathering is refused outright, so a
    test that would gather in the host's network fails instead of binding sockets there (a pytest plugin,
    tests/conftest.py)."""
    try:
        import aioice.ice
    except ImportError:
        return

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ICE gathering in the test process's own network namespace: run it via tests/netns.py")

    aioice.ice.Connection.get_component_candidates = refuse
