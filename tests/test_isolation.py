"""tests/isolation.py in a real pytest process: a test that leaves state behind does not change the next one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

#: The first test leaves a formatter on pytest's shared capture handler, a handler and a level on a logger, a
#: ``logging.disable`` threshold and an environment variable; the second fails if any of them is still there.
LEAKY_THEN_VICTIM = """
import logging
import os

logger = logging.getLogger("isolation.sample")  # made at import, as modules make theirs


def test_a_leaves_state_behind(caplog):
    caplog.handler.setFormatter(logging.Formatter("LEAKED %(message)s"))
    caplog.handler.addFilter(lambda record: False)
    logger.addHandler(logging.NullHandler())
    logger.setLevel(logging.CRITICAL)
    logging.disable(logging.WARNING)
    os.environ["ISOLATION_SAMPLE_LEAK"] = "1"


def test_b_sees_none_of_it(caplog):
    with caplog.at_level(logging.WARNING, logger="isolation.sample"):
        logger.warning("hello")
    assert "hello" in caplog.text
    assert "LEAKED" not in caplog.text
    assert logger.handlers == []
    assert logging.root.manager.disable == logging.NOTSET
    assert "ISOLATION_SAMPLE_LEAK" not in os.environ
"""


def run_pytest(tmp_path: Path, *plugins: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(LEAKY_THEN_VICTIM, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    env.pop("ISOLATION_SAMPLE_LEAK", None)
    options = [option for plugin in plugins for option in ("-p", plugin)]
    options += ["-p", "no:randomly", "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path), "-c", os.devnull]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *options, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )


def test_without_the_plugin_the_leaks_reach_the_next_test(tmp_path: Path) -> None:
    """The sample really leaks: otherwise the test below would pass whatever isolation.py does."""
    result = run_pytest(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout


def test_with_the_plugin_the_next_test_starts_clean(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "isolation")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
