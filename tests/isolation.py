"""Each test starts from the same process-wide state whatever ran before it (a pytest plugin, see
``tests/conftest.py``).

The suite runs in random order (pytest-randomly, in the ``test`` extra), so a test that passes only after (or
before) another one fails somewhere instead of hiding behind alphabetical order. An autouse fixture puts back
what a test changed in state the whole process shares, and the run ends with the order's seed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from realtime_service import lifecycle


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The order's seed at the end too: ``-q`` (and a long log) hides the header pytest-randomly prints it in."""
    if config.pluginmanager.hasplugin("randomly") and config.getoption("randomly_reorganize", False):
        seed = config.getoption("randomly_seed")
        terminalreporter.write_line(f"random order: reproduce with --randomly-seed={seed} (file order: -p no:randomly)")


@dataclass
class _LoggerState:
    """What a test may change on one logger, to put back."""

    level: int
    handlers: list[logging.Handler]
    filters: list[Any]
    propagate: bool
    disabled: bool

    @classmethod
    def of(cls, logger: logging.Logger) -> _LoggerState:
        return cls(logger.level, list(logger.handlers), list(logger.filters), logger.propagate, logger.disabled)

    def restore(self, logger: logging.Logger) -> None:
        logger.setLevel(self.level)
        logger.handlers[:] = self.handlers
        logger.filters[:] = self.filters
        logger.propagate, logger.disabled = self.propagate, self.disabled


@pytest.fixture(autouse=True)
def _global_state_restored(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Undo what a test changed in process-wide state, so no test passes or fails because of the one before it.

    pytest's capture handler (``caplog.handler``) is one object for the whole run: a formatter or filter a test
    leaves on it reformats every later test's ``caplog.text``. Loggers, their handlers and levels, logging's
    ``disable`` threshold and ``os.environ`` are process-wide too, and a retiring model's warning is logged once
    per process. A leak shows up as a failure in some later test; this restores them after every test (a new
    logger a test's import created is left as its module configured it)."""
    handler = caplog.handler
    formatter, handler_filters, handler_level = handler.formatter, list(handler.filters), handler.level
    manager = logging.Logger.manager
    loggers = {
        name: _LoggerState.of(logger)
        for name, logger in list(manager.loggerDict.items())
        if isinstance(logger, logging.Logger)
    }
    root = _LoggerState.of(logging.getLogger())
    disabled = manager.disable
    environ = dict(os.environ)
    lifecycle._forget_warnings()
    yield
    lifecycle._forget_warnings()
    handler.setFormatter(formatter)
    handler.filters[:] = handler_filters
    handler.setLevel(handler_level)
    for name, state in loggers.items():
        state.restore(logging.getLogger(name))
    root.restore(logging.getLogger())
    logging.disable(disabled)
    if dict(os.environ) != environ:
        os.environ.clear()
        os.environ.update(environ)
