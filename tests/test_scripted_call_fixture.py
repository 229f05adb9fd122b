"""The ``realtime_scripted_call`` fixture as a host app uses it: its own Toolbox against a scripted call, in an
async test (anyio) and in a sync one; a tool that answers right passes the script, one that answers wrong fails
it at ``expect_output``, and the run count shows each tool call ran once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from realtime_service.sideband.tools import Toolbox
from realtime_service.testing.plugin import ScriptedCalls

ORDER = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}}},
    {"expect_output": {"timeout": 10, "output": {"order_id": "1234", "status": "shipped"}}},
    {"model_says": "Your order 1234 ships tomorrow."},
    "hangup",
]


def toolbox_answering(status: str, runs: list[str]) -> Toolbox:
    toolbox = Toolbox()

    @toolbox.function
    def lookup_order(order_id: str) -> dict[str, str]:
        """Where an order is."""
        runs.append(order_id)
        return {"order_id": order_id, "status": status}

    return toolbox


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_an_async_test_gets_the_handle_and_the_record(realtime_scripted_call: ScriptedCalls) -> None:
    runs: list[str] = []
    call = await realtime_scripted_call(script=ORDER, tools=toolbox_answering("shipped", runs))
    end = await call.handle.closed()
    assert end.reason == "server_closed"
    record = call.record()
    assert record.script_state is not None
    assert record.script_state.status == "done", record.script_state
    assert runs == ["1234"]
    assert call.handle.tools_run == 1


def test_a_sync_test_plays_the_call_to_its_end(realtime_scripted_call: ScriptedCalls) -> None:
    runs: list[str] = []
    heard: list[Any] = []
    played = realtime_scripted_call.play(ORDER, tools=toolbox_answering("shipped", runs), observers=[heard.append])
    assert played.record.script_state is not None
    assert played.record.script_state.status == "done", played.record.script_state
    assert runs == ["1234"]
    assert heard  # the observers are attached too


def test_a_tool_with_the_wrong_answer_fails_the_script(realtime_scripted_call: ScriptedCalls) -> None:
    runs: list[str] = []
    played = realtime_scripted_call.play(ORDER, tools=toolbox_answering("lost", runs))
    state = played.record.script_state
    assert state is not None
    assert (state.status, state.step_name) == ("failed", "expect_output")
    assert "lost" in (state.reason or ""), state
    assert played.end.reason == "closed"
    assert runs == ["1234"]


def test_the_example_script_and_toolbox_pass(realtime_scripted_call: ScriptedCalls) -> None:
    from examples.order_tools import toolbox

    script = yaml.safe_load(open("examples/order_call.yaml", encoding="utf-8"))  # noqa: SIM115
    played = realtime_scripted_call.play(script, tools=toolbox)
    assert played.record.script_state is not None
    assert played.record.script_state.status == "done", played.record.script_state


def readme_phone_agent() -> str:
    """The README's "most common uses" phone agent: its one Python block that defines a ``test_``."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", readme, re.MULTILINE | re.DOTALL)
    (agent,) = [block for block in blocks if "def test_" in block]
    return agent


def test_the_readmes_phone_agent_is_a_test_that_can_fail(
    realtime_scripted_call: ScriptedCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/test_doc_blocks.py runs the README's test with this fixture; here the same snippet with a tool that
    answers wrong fails it, so the README shows a test that checks the call, not one that always passes."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    source = readme_phone_agent()
    assert "def test_the_order_call(realtime_scripted_call):" in source
    namespace: dict[str, Any] = {}
    exec(compile(source, "README.md", "exec"), namespace)  # noqa: S102 - the repository's own README
    namespace["test_the_order_call"](realtime_scripted_call)
    wrong: dict[str, Any] = {}
    exec(compile(source.replace('"shipped"', '"lost"'), "README.md", "exec"), wrong)  # noqa: S102
    with pytest.raises(AssertionError):
        wrong["test_the_order_call"](realtime_scripted_call)
