"""The emulator's memory is bounded: minted keys expire out or are evicted, calls are forgotten beyond a bound.

Over real loopback sockets where the API answers (an expired or evicted key is a 401, a forgotten call a 404),
with an injected clock (no sleeps) and small bounds; the registry's sizes are read directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator
from realtime_service.emulator.call_registry import CallRecord, CallRegistry, UnknownCall
from realtime_service.emulator.cli import main as emulator_main

OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()
START = 1_000_000.0


class Clock:
    """The emulator's time, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[Emulator]:
    with Emulator(clock=clock, max_keys=3, max_calls=2, max_ended_calls=2) as emulator:
        yield emulator


def _mint(emu: Emulator, seconds: int = 600) -> str:
    response = requests.post(
        emu.base_url + "/realtime/client_secrets",
        json={"expires_after": {"anchor": "created_at", "seconds": seconds}},
        headers={"authorization": f"Bearer {emu.api_key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["value"])


def _call(emu: Emulator, key: str | None = None) -> requests.Response:
    headers = {"authorization": f"Bearer {key or emu.api_key}", "content-type": "application/sdp"}
    return requests.post(emu.base_url + "/realtime/calls", data=OFFER, headers=headers, timeout=10)


def _decide(emu: Emulator, call_id: str, action: str, body: Any = None) -> requests.Response:
    return requests.post(
        f"{emu.base_url}/realtime/calls/{call_id}/{action}",
        json=body,
        headers={"authorization": f"Bearer {emu.api_key}"},
        timeout=10,
    )


def _code(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


def _sip(emu: Emulator, n: int) -> str:
    call_id = f"rtc_{n:032x}"
    emu.calls.add(CallRecord(id=call_id, api="realtime", transport="sip", state="pending", created_at=START))
    return call_id


# keys


def test_an_expired_key_is_dropped_on_the_next_mint_and_can_no_longer_create_a_call(
    emu: Emulator, clock: Clock
) -> None:
    old = _mint(emu, seconds=10)
    assert _call(emu, old).status_code == 201
    clock.now += 10  # expires_at == now: expired
    fresh = _mint(emu, seconds=600)
    assert emu.calls.minted(old) is None
    assert emu.calls.sizes().keys == 1
    assert _code(_call(emu, old), 401) == "invalid_api_key"
    assert _call(emu, fresh).status_code == 201


def test_a_key_one_second_from_expiry_is_kept(emu: Emulator, clock: Clock) -> None:
    key = _mint(emu, seconds=10)
    clock.now += 9
    _mint(emu)
    assert emu.calls.minted(key) is not None
    assert _call(emu, key).status_code == 201


def test_beyond_max_keys_the_oldest_unexpired_key_is_evicted_and_gets_the_apis_401(emu: Emulator) -> None:
    keys = [_mint(emu) for _ in range(4)]  # max_keys=3
    assert emu.calls.minted(keys[0]) is None
    assert _code(_call(emu, keys[0]), 401) == "invalid_api_key"
    for key in keys[1:]:
        assert _call(emu, key).status_code == 201
    assert emu.calls.sizes().keys == 3


def test_many_mints_keep_every_structure_at_its_bound(emu: Emulator, clock: Clock) -> None:
    for n in range(40):
        _mint(emu, seconds=10 + n % 7)  # expiries out of mint order
        if n % 5 == 0:
            clock.now += 3
        sizes = emu.calls.sizes()
        assert sizes.keys <= 3
        assert sizes.expiry_heap <= 2 * 3


def test_the_expiry_heap_is_compacted_when_keys_are_evicted_long_before_they_expire(clock: Clock) -> None:
    registry = CallRegistry(clock, max_keys=5)
    for n in range(1000):
        registry.remember_minted(f"ek_{n}", int(START) + 7200, None)  # the clock never moves: nothing expires
        assert registry.sizes().expiry_heap <= 10
    assert registry.sizes().keys == 5
    assert [registry.minted(f"ek_{n}") is not None for n in (994, 995, 999)] == [False, True, True]


def test_expired_keys_are_dropped_even_when_they_were_minted_out_of_expiry_order(clock: Clock) -> None:
    registry = CallRegistry(clock, max_keys=100)
    registry.remember_minted("ek_long", int(START) + 100, None)
    registry.remember_minted("ek_short", int(START) + 10, None)
    clock.now = START + 50
    registry.remember_minted("ek_new", int(START) + 600, None)
    assert registry.minted("ek_short") is None
    assert registry.minted("ek_long") is not None
    assert registry.sizes().keys == 2


# calls


def test_beyond_max_calls_the_oldest_live_call_is_forgotten_and_answers_404(emu: Emulator) -> None:
    ids = [_call(emu).headers["location"].rsplit("/", 1)[1] for _ in range(3)]  # max_calls=2
    assert emu.calls.get(ids[0]) is None
    assert [record.id for record in emu.calls.all()] == ids[1:]
    assert _code(_decide(emu, ids[0], "hangup"), 404) == "call_id_not_found"
    assert _decide(emu, ids[2], "hangup").status_code == 200
    assert emu.calls.sizes().live_calls == 1


def test_recently_ended_calls_keep_their_answer_up_to_the_bound_and_older_ones_are_forgotten(emu: Emulator) -> None:
    first, second, third = (_sip(emu, n) for n in range(3))  # max_calls=2: the first is already forgotten
    assert emu.calls.get(first) is None
    assert _decide(emu, second, "reject").status_code == 200
    assert _decide(emu, third, "reject").status_code == 200
    # both ended calls are still known: a second decision says the call was rejected
    assert _code(_decide(emu, second, "accept", {"type": "realtime"}), 400) == "invalid_call_state"
    fourth = _sip(emu, 4)
    assert _decide(emu, fourth, "hangup").status_code == 200  # a third ended call: the oldest ended one goes
    assert emu.calls.get(second) is None
    assert _code(_decide(emu, second, "reject"), 404) == "call_id_not_found"
    assert _code(_decide(emu, third, "accept", {"type": "realtime"}), 400) == "invalid_call_state"
    sizes = emu.calls.sizes()
    assert (sizes.live_calls, sizes.ended_calls) == (0, 2)


def test_many_calls_keep_the_registry_at_its_bounds(emu: Emulator) -> None:
    for n in itertools.count():
        if n == 60:
            break
        call_id = _sip(emu, n)
        if n % 3:
            assert _decide(emu, call_id, "reject").status_code == 200
        sizes = emu.calls.sizes()
        assert sizes.live_calls <= 2
        assert sizes.ended_calls <= 2
        assert len(emu.calls.all()) == sizes.live_calls + sizes.ended_calls


def test_a_call_forgotten_between_lookup_and_decision_is_unknown(clock: Clock) -> None:
    registry = CallRegistry(clock, max_calls=1)
    registry.add(CallRecord(id="rtc_a", api="realtime", transport="sip", state="pending", created_at=START))
    registry.add(CallRecord(id="rtc_b", api="realtime", transport="sip", state="pending", created_at=START))
    with pytest.raises(UnknownCall):
        registry.decide("rtc_a", "reject", {}, allowed=("pending",), to="rejected")
    with pytest.raises(UnknownCall):
        registry.update("rtc_a", lambda record: record)


def test_clear_forgets_calls_and_their_order(emu: Emulator) -> None:
    _sip(emu, 1)
    _decide(emu, _sip(emu, 2), "reject")
    emu.calls.clear()
    sizes = emu.calls.sizes()
    assert (sizes.live_calls, sizes.ended_calls, len(emu.calls.all())) == (0, 0, 0)


# configuration


@pytest.mark.parametrize("bound", ["max_keys", "max_calls", "max_ended_calls"])
def test_a_bound_below_one_is_refused(bound: str) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        Emulator(**{bound: 0})


@pytest.mark.parametrize("flag", ["--max-keys", "--max-calls", "--max-ended-calls"])
def test_the_cli_refuses_a_bound_below_one_in_one_line(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert emulator_main([flag, "0"]) == 2  # through the CLI's boundary: one line, exit 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"{flag} must be >= 1" in err[0]
