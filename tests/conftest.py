"""Shared fixtures. The package's own pytest plugin (``realtime_service.testing.plugin``) adds the
``realtime_*`` fixtures; these build on them."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import Emulator
from realtime_service.service import RealtimeSessionService

pytest_plugins = ["skip_gate", "redis_server"]  # --only-system-skips (tests/skip_gate.py); a real redis-server

REQUEST = {"model": "gpt-realtime-2.1", "voice": "marin", "instructions": "Be brief."}


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The order's seed at the end too: ``-q`` (and a long log) hides the header pytest-randomly prints it in."""
    if config.pluginmanager.hasplugin("randomly") and config.getoption("randomly_reorganize", False):
        seed = config.getoption("randomly_seed")
        terminalreporter.write_line(f"random order: reproduce with --randomly-seed={seed} (file order: -p no:randomly)")


@dataclass
class _LoggerState:
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
    ``disable`` threshold and ``os.environ`` are process-wide too. The suite runs in random order
    (pytest-randomly), so a leak shows up as a failure somewhere else; this restores them after every test.
    """
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
    yield
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


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def emulator(realtime_emulator: Emulator) -> Emulator:
    return realtime_emulator


@pytest.fixture
def container(realtime_emulator_container: RealtimeContainer) -> RealtimeContainer:
    """A container on the beta shape, so requests reach ``/realtime/sessions`` as written."""
    realtime_emulator_container.config.from_dict({"api_shape": "beta"})
    return realtime_emulator_container


@pytest.fixture
def service(container: RealtimeContainer) -> RealtimeSessionService:
    return container.realtime_session_service()


@pytest.fixture
def make_container(emulator: Emulator) -> Iterator[object]:
    """Build beta-shape containers against the emulator with extra config; all are shut down after the test."""
    built: list[RealtimeContainer] = []

    def make(config: dict[str, object] | None = None, **providers: object) -> RealtimeContainer:
        container = RealtimeContainer(environ={}, **providers)
        container.config.from_dict(
            {"api_key": emulator.api_key, "base_url": emulator.base_url, "api_shape": "beta", **(config or {})}
        )
        built.append(container)
        return container

    yield make
    for container in built:
        container.shutdown_resources()
