"""``--only-system-skips``: fail the run when a test is skipped for any reason but a missing system package.

A skip hides a check; in CI the only acceptable ones are those the machine cannot help (Debian's chromium and
chromium-driver, redis-server, prometheus not installed or not starting; iproute2 or util-linux, which the
network-namespace tests need, not installed). A namespace that cannot be made (not root) is not a missing package:
refused, so CI (root) always runs those tests. A skip whose reason names anything else (a Python package, a
missing file, an environment variable) turns a passing run into exit code 1, listed at the end.
xfail is not a skip and is not counted.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

#: A reason that names a missing or unusable system package. Anything else is refused.
#: ``prometheus`` is Debian's package (the server and promtool), never the ``prometheus-client`` Python package.
SYSTEM_PACKAGE_REASON = re.compile(
    r"\b(redis-server|chromium(-driver)?|prometheus(?!-)|iproute2|util-linux)\b.*\b(not installed|could not start)\b",
    re.IGNORECASE,
)

_OPTION = "--only-system-skips"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        _OPTION,
        action="store_true",
        help="fail the run if a test is skipped for a reason other than a missing "
        "system package (chromium, chromium-driver, redis-server, prometheus)",
    )


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr: Any = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


class _Gate:
    def __init__(self) -> None:
        self.refused: list[str] = []

    def _record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = _reason(report)
            if not SYSTEM_PACKAGE_REASON.search(reason):
                self.refused.append(f"{report.nodeid}: {reason}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.refused:
            terminalreporter.section(f"{_OPTION}: skips that do not name a missing system package", red=True)
            for line in self.refused:
                terminalreporter.line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.refused and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption(_OPTION):
        config.pluginmanager.register(_Gate(), "only-system-skips-gate")
