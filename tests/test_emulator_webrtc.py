"""The emulator as a real WebRTC peer (``Emulator(webrtc=True)``, the ``webrtc`` extra).

Whatever gathers ICE candidates runs inside a private network namespace (tests/netns.py): tests/webrtc_call.py
plays the browser there with a second ``aiortc`` peer and reports what both sides saw. What gathers nothing (the
canned answer without ``aiortc``, checking the options) runs here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests
from netns import EMULATOR_ADDRESS, NETWORK, run_in_namespace

from realtime_service.emulator import Emulator

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """One run of the namespace helper: a scripted multipart call, a raw ``ek_`` call, and the refusals."""
    return run_in_namespace(HERE / "webrtc_call.py")


def test_the_answer_is_a_real_peers_on_the_given_address_only(report: dict[str, Any]) -> None:
    scripted = report["scripted"]
    assert scripted["answer_candidates"] == [EMULATOR_ADDRESS]
    assert scripted["answer_has_fingerprint"]
    assert scripted["answer_has_sctp"]


def test_both_sides_connect_and_the_record_keeps_the_peer_states(report: dict[str, Any]) -> None:
    scripted = report["scripted"]
    assert scripted["browser_states"][:3] == ["new", "connecting", "connected"]
    assert scripted["peer_states"] == ["new", "connecting", "connected", "closed"]


def test_the_script_plays_on_oai_events_in_order_and_the_browsers_events_are_recorded(report: dict[str, Any]) -> None:
    scripted = report["scripted"]
    events = [kind for kind in scripted["events"] if kind != "rate_limits.updated"]
    assert events[0] == "session.created"
    turns = [
        kind
        for kind in events
        if kind in ("response.output_audio_transcript.done", "response.function_call_arguments.done")
    ]
    assert turns == [
        "response.output_audio_transcript.done",
        "response.function_call_arguments.done",
        "response.output_audio_transcript.done",
    ]
    assert events.count("response.done") == 3
    assert scripted["script_state"] == "done", scripted["script_reason"]
    recorded = [(connection[:3], event["type"]) for connection, event in scripted["client_events"]]
    assert recorded == [("ws_", "session.update"), ("dc_", "conversation.item.create"), ("dc_", "response.create")]
    assert scripted["client_events"][1][1]["item"]["output"] == '{"status": "shipped"}'
    assert len({connection for connection, _ in scripted["client_events"][1:]}) == 1


def test_a_sideband_on_the_same_call_hears_the_same_conversation(report: dict[str, Any]) -> None:
    """One script runner per call: the turn after the sideband attached reaches it and the data channel alike."""
    heard = report["scripted"]["sideband_heard"]
    assert heard[:2] == [["session.created", None], ["session.updated", None]]
    assert ["response.output_audio_transcript.done", "It has shipped"] in heard
    assert heard[-1][0] == "response.done"
    assert report["scripted"]["events"].count("response.output_audio_transcript.done") == 2  # and the browser too


def test_the_peers_audio_reaches_the_browser(report: dict[str, Any]) -> None:
    assert report["scripted"]["inbound_packets"] > 0


def test_a_rest_hang_up_closes_the_peer_on_both_sides(report: dict[str, Any]) -> None:
    scripted = report["scripted"]
    assert scripted["hangup_status"] == 200
    assert scripted["call_state"] == "hung_up"
    assert scripted["browser_states"][-1] == "closed"
    assert scripted["browser_channel_closed"]


def test_raw_sdp_with_an_ek_key_connects_and_the_browser_leaving_ends_the_call(report: dict[str, Any]) -> None:
    raw = report["raw"]
    assert (raw["encoding"], raw["auth"], raw["first_event"]) == ("raw", "ephemeral", "session.created")
    assert raw["call_state"] == "hung_up"
    assert raw["peer_states"] == ["new", "connecting", "connected", "closed"]


def test_a_live_session_over_webrtc_plays_its_script_on_the_channel_and_its_hang_up_closes_the_peer(
    report: dict[str, Any],
) -> None:
    live = report["live"]
    assert live["events"][0] == "session.started"
    assert live["events"].count("session.started") == 1
    assert "session.output_transcript.delta" in live["events"]
    assert live["events"][-1] == "session.closed"
    assert live["errors"] == ["invalid_value"]  # session.input_audio.append: audio goes on the track
    assert live["client_events"] == [["dc_", "session.input_audio.append"], ["dc_", "session.commentary.append"]]
    assert live["script_state"] == "done"
    assert live["state"] == "hung_up"
    assert live["peer_states"] == ["new", "connecting", "connected", "closed"]
    assert live["browser_states"][-1] == "closed"


def test_an_offer_the_peer_cannot_answer_is_a_400_and_a_full_emulator_a_429(report: dict[str, Any]) -> None:
    refusals = report["refusals"]
    status, error = refusals["refused"]
    assert status == 400
    assert error["code"] == "invalid_offer"
    assert error["param"] == "sdp"
    assert "ICE username fragment" in error["message"]
    assert refusals["calls_after_refusal"] == 0
    assert refusals["first"] == 201
    assert refusals["second"] == [429, "rate_limit_exceeded"]
    assert refusals["held"] == 1


def test_a_peer_that_never_connects_is_closed_and_its_call_ends(report: dict[str, Any]) -> None:
    never = report["never_connects"]
    assert never["state"] == "hung_up"
    assert never["peer_states"][0] == "new"
    assert never["peer_states"][-1] == "closed"
    assert "connected" not in never["peer_states"]
    assert never["other"] == ["new", "connecting", "connected"]


def test_stopping_the_emulator_closes_its_peers(report: dict[str, Any]) -> None:
    state, peer_states, browser_state = report["timings"]["after_stop"]
    assert (state, peer_states[-1], browser_state) == ("hung_up", "closed", "closed")
    assert "connected" in peer_states


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        (["10.0.0.1", "not-an-ip"], "'not-an-ip' is not an IP address"),
        ([], "at least one address"),
        ("10.0.0.1", "not one string"),
    ],
)
def test_webrtc_addresses_are_checked_at_construction(addresses: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Emulator(webrtc=True, webrtc_addresses=addresses)


WITHOUT_AIORTC = textwrap.dedent(
    """
    import importlib.abc, logging, sys

    class HideAiortc(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("aiortc", "aioice", "av"):
                raise ModuleNotFoundError(f"{name} hidden", name=name)
            return None

    sys.meta_path.insert(0, HideAiortc())
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    import requests
    from realtime_service.emulator import Emulator
    from realtime_service.wire.sdp import answer_for

    offer = open(sys.argv[1], "rb").read()
    for _ in range(2):
        with Emulator(webrtc=True) as emulator:
            assert emulator.peers is None
            reply = requests.post(
                emulator.base_url + "/realtime/calls",
                headers={"Authorization": "Bearer " + emulator.api_key, "Content-Type": "application/sdp"},
                data=offer,
                timeout=30,
            )
            assert reply.status_code == 201, reply.text
            assert reply.text.count("m=") == answer_for(offer).count("m=")
            assert emulator.calls.all()[0].peer_states == ()
    print("loaded:", sorted(n for n in sys.modules if n.partition(".")[0] in ("aiortc", "aioice", "av")))
    """
)


def test_without_aiortc_webrtc_true_keeps_the_canned_answer_and_says_so_once() -> None:
    """Nothing gathers here: the canned answer binds no socket."""
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_AIORTC, str(HERE / "sdp" / "chromium_offer.sdp")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if "aiortc is not importable" in line]
    assert len(warnings) == 1, result.stderr
    assert "canned SDP" in warnings[0]
    assert "realtime-service[webrtc]" in warnings[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--webrtc-address", "10.0.0.1"], "--webrtc-address needs --webrtc"),
        (["--webrtc", "--webrtc-address", "nope"], "'nope' is not an IP address"),
    ],
)
def test_the_emulator_cli_refuses_bad_webrtc_flags_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from realtime_service.emulator.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_the_docs_show_the_network_the_namespace_test_makes() -> None:
    """docs/emulator-calls.md ("Where ICE may go") shows the namespace's network in a text block (it needs a
    namespace, so the doc tests do not run it): it is the one tests/netns.py makes."""
    page = (HERE.parent / "docs" / "emulator-calls.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(ip link set lo up\n.*?)```", page, re.DOTALL)
    assert block is not None
    assert tuple(block.group(1).strip().splitlines()) == NETWORK


def test_the_helper_refuses_to_gather_in_the_tests_own_namespace() -> None:
    """The guard that keeps candidates out of the host's network: run without a namespace, the helper stops."""
    env = {**os.environ, "REALTIME_SERVICE_TEST_HOST_NETNS": os.readlink("/proc/self/ns/net")}
    result = subprocess.run(
        [sys.executable, str(HERE / "webrtc_call.py")], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode != 0
    assert "refusing to gather ICE candidates in the test's own network namespace" in result.stderr


def test_a_peer_in_the_test_process_cannot_gather_in_the_hosts_network(capfd: pytest.CaptureFixture[str]) -> None:
    """tests/netns.py's guard: an offer answered by a real peer here, outside a namespace, fails before any
    candidate is gathered (the emulator answers 500), so no test can gather on the host's interfaces."""
    offer = (HERE / "sdp" / "chromium_offer.sdp").read_bytes()
    with Emulator(webrtc=True) as emulator:
        reply = requests.post(
            f"{emulator.base_url}/realtime/calls",
            headers={"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/sdp"},
            data=offer,
            timeout=30,
        )
        assert reply.status_code == 500
        assert emulator.calls.all() == []
    assert "ICE gathering in the test process's own network namespace" in capfd.readouterr().err


@pytest.fixture(scope="module")
def watched() -> list[dict[str, Any]]:
    """Two runs of a WebRTC call watched by the browser and the package's sideband controller (a Toolbox tool):
    tests/webrtc_sideband_call.py. The first attaches as ``/session`` does (before the browser connects), the second
    only after the browser heard the caller's turn (the script's ``expect_sideband`` holds the tool call for it)."""
    calls: list[dict[str, Any]] = run_in_namespace(HERE / "webrtc_sideband_call.py", "2", timeout=180)["calls"]
    return calls


def test_the_sidebands_tool_output_is_an_item_the_browser_hears(watched: list[dict[str, Any]]) -> None:
    for call in watched:
        assert len(call["called"]) == 1  # the browser heard the model's call, though the sideband attached first
        output = [call["called"][0], '{"order_id": "1234", "status": "shipped"}']
        assert call["outputs"] == [["conversation.item.added", *output], ["conversation.item.done", *output]]
        events = [kind for kind in call["events"] if kind != "rate_limits.updated"]
        assert events[0] == "session.created"
        assert events.index("conversation.item.added", events.index("response.function_call_arguments.done")) < (
            events.index("output_audio_buffer.started")
        )


def test_a_call_watched_by_a_sideband_and_the_browser_plays_to_its_end_every_time(
    watched: list[dict[str, Any]],
) -> None:
    assert [call["late"] for call in watched] == [False, True]
    for call in watched:
        assert (call["script_state"], call["script_reason"]) == ("done", None)
        assert call["tool_runs"] == ["1234"]  # the tool ran once: no batch was delivered twice
        assert call["client_events"] == [["ws_", "conversation.item.create"], ["ws_", "response.create"]]
        assert "server_closed" in call["attach_end"]
