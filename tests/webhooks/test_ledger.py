"""Delivered at least once, decided once: the ledger on memory (threads) and on a real Redis (threads and two
processes), and the CallDesk over it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

from realtime_service.errors import APITimeoutError, BadRequestError, ConfigurationError, InternalServerError
from realtime_service.webhooks import (
    Accept,
    CallDesk,
    Claim,
    DecisionLedger,
    Ignore,
    LedgerUnavailable,
    MemoryLedgerStore,
    Reject,
    WebhookDelivery,
    WebhookEvent,
    call_key,
    parse_event,
    store_from_url,
    webhook_key,
)

from .conftest import body_of, incoming_call, live_incoming


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def make_ledger(request: pytest.FixtureRequest) -> Iterator[Callable[..., DecisionLedger]]:
    built: list[DecisionLedger] = []

    def make(**ttls: float) -> DecisionLedger:
        if request.param == "memory":
            ledger = DecisionLedger(MemoryLedgerStore(), **ttls)
        else:
            ledger = DecisionLedger.from_url(request.getfixturevalue("redis_url"), **ttls)
        built.append(ledger)
        return ledger

    yield make
    for ledger in built:
        ledger.close()


def test_the_first_claim_wins_and_a_second_is_in_progress(make_ledger: Callable[..., DecisionLedger]) -> None:
    ledger = make_ledger()
    first = ledger.claim("k")
    assert first.won
    assert ledger.claim("k").status == "in_progress"


def test_a_recorded_claim_answers_decided_with_its_outcome(make_ledger: Callable[..., DecisionLedger]) -> None:
    ledger = make_ledger()
    claim = ledger.claim("k")
    assert ledger.record(claim, "accepted")
    again = ledger.claim("k")
    assert (again.status, again.outcome) == ("decided", "accepted")


def test_a_released_claim_may_be_claimed_again(make_ledger: Callable[..., DecisionLedger]) -> None:
    ledger = make_ledger()
    claim = ledger.claim("k")
    assert ledger.release(claim)
    assert ledger.state("k") is None
    assert ledger.claim("k").won


def test_only_the_holder_can_record_or_release(make_ledger: Callable[..., DecisionLedger]) -> None:
    slow = make_ledger(claim_ttl=0.05)
    stale = slow.claim("k")
    wait_until(lambda: slow.state("k") is None, what="the slow decider's claim to lapse")  # another takes over
    other = DecisionLedger(slow.store, claim_ttl=60)
    fresh = other.claim("k")
    assert fresh.won
    assert not slow.release(stale)
    assert not slow.record(stale, "accepted")
    assert other.state("k") == Claim("k", "in_progress")
    assert other.record(fresh, "rejected:603")
    assert not slow.record(stale, "accepted")
    assert other.state("k") == Claim("k", "decided", outcome="rejected:603")


def test_a_claim_that_was_not_won_cannot_be_recorded(make_ledger: Callable[..., DecisionLedger]) -> None:
    ledger = make_ledger()
    ledger.claim("k")
    with pytest.raises(ValueError, match="only a won claim"):
        ledger.record(ledger.claim("k"), "accepted")


def test_racing_threads_decide_each_key_once(make_ledger: Callable[..., DecisionLedger]) -> None:
    ledger = make_ledger()
    keys = [f"k{i}" for i in range(50)]
    won: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for key in keys:
            claim = ledger.claim(key)
            if claim.won:
                with lock:
                    won.append(key)
                ledger.record(claim, "accepted")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == sorted(keys)


def test_memory_entries_expire_on_their_clock_and_are_swept() -> None:
    clock = Clock()
    store = MemoryLedgerStore(clock=clock, sweep_every=10)
    ledger = DecisionLedger(store, claim_ttl=5, decided_ttl=100)
    claim = ledger.claim("a")
    clock.now = 6
    assert ledger.claim("a").won  # the first claim lapsed
    ledger.record(ledger.claim("b"), "accepted")
    clock.now = 200
    for index in range(10):
        ledger.claim(f"n{index}")
    assert len(store) == 10  # a and b were swept
    assert not ledger.release(claim)


def test_storage_urls() -> None:
    assert isinstance(store_from_url("memory://"), MemoryLedgerStore)
    for url in ("redis+cluster://h:1", "redis+sentinel://h:1/x", "memcached://h:1", "nope"):
        with pytest.raises(ConfigurationError, match=r"server\.rate_limit_storage"):
            store_from_url(url)


def test_an_unreachable_redis_is_ledger_unavailable() -> None:
    ledger = DecisionLedger.from_url("redis://127.0.0.1:9/0")
    with pytest.raises(LedgerUnavailable):
        ledger.claim("k")


def test_keys_are_bounded_and_the_call_key_is_the_sip_call_id() -> None:
    realtime = parse_event(body_of(incoming_call()))
    live = parse_event(body_of(live_incoming()))
    assert call_key(realtime) == call_key(live)
    assert call_key(realtime) is not None
    assert len(webhook_key("x" * 10_000)) < 100
    other = parse_event(body_of(incoming_call(sip_headers=[{"name": "Call-ID", "value": "another@host"}])))
    assert call_key(other) != call_key(realtime)
    assert call_key(parse_event(b'{"type": "x"}')) is None


def test_without_a_sip_call_id_the_call_key_is_the_events_own_id() -> None:
    realtime = parse_event(body_of(incoming_call(sip_headers=[])))
    live = parse_event(body_of(live_incoming(sip_headers=[])))
    assert call_key(realtime) != call_key(live)
    assert call_key(realtime) == call_key(parse_event(body_of(incoming_call(sip_headers=[]))))


# -- the CallDesk ------------------------------------------------------------------------------------------


class Upstream:
    """Records what was sent; fails as scripted."""

    def __init__(self, *failures: Exception) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.failures = list(failures)

    def __call__(self, event: WebhookEvent, decision: Any) -> None:
        self.sent.append((event.type, decision))
        if self.failures:
            raise self.failures.pop(0)


REALTIME = parse_event(body_of(incoming_call()))
LIVE = parse_event(body_of(live_incoming()))
ACCEPT = Accept({"type": "realtime"})


def delivery(webhook_id: str = "wh_1") -> WebhookDelivery:
    return WebhookDelivery(webhook_id, 0)


def test_a_redelivery_of_a_decided_event_is_answered_200_without_acting_again(
    make_ledger: Callable[..., DecisionLedger],
) -> None:
    upstream = Upstream()
    desk = CallDesk(make_ledger(), lambda event: ACCEPT, upstream)
    first = desk.handle(delivery(), REALTIME)
    assert (first.status, first.result, first.decision) == (200, "accepted", ACCEPT)
    again = desk.handle(delivery(), REALTIME)
    assert (again.status, again.result) == (200, "already_decided:accepted")
    assert len(upstream.sent) == 1


def test_the_same_call_announced_for_both_apis_is_decided_once(make_ledger: Callable[..., DecisionLedger]) -> None:
    upstream = Upstream()
    desk = CallDesk(make_ledger(), lambda event: Reject(), upstream)
    assert desk.handle(delivery("wh_rt"), REALTIME).result == "rejected:603"
    duplicate = desk.handle(delivery("wh_live"), LIVE)
    assert (duplicate.status, duplicate.result) == (200, "duplicate")
    assert desk.handle(delivery("wh_live"), LIVE).result == "already_decided:duplicate"
    assert upstream.sent == [("realtime.call.incoming", Reject())]


def test_an_ignored_announcement_leaves_the_call_to_the_other(make_ledger: Callable[..., DecisionLedger]) -> None:
    upstream = Upstream()
    live_only = Accept({"type": "live", "model": "gpt-live-1"})
    desk = CallDesk(make_ledger(), lambda event: live_only if event.type.startswith("live") else Ignore(), upstream)
    assert desk.handle(delivery("wh_rt"), REALTIME).result == "ignored"
    assert desk.handle(delivery("wh_live"), LIVE).result == "accepted"
    assert upstream.sent == [("live.transport.incoming", live_only)]


def test_a_retryable_upstream_failure_answers_503_and_the_redelivery_tries_again(
    make_ledger: Callable[..., DecisionLedger],
) -> None:
    upstream = Upstream(InternalServerError("boom", status_code=502))
    desk = CallDesk(make_ledger(), lambda event: ACCEPT, upstream)
    failed = desk.handle(delivery(), REALTIME)
    assert (failed.status, failed.result) == (503, "retry")
    assert desk.handle(delivery(), REALTIME).result == "accepted"
    assert len(upstream.sent) == 2


def test_a_timeout_is_retryable_and_a_bad_request_is_recorded_as_failed(
    make_ledger: Callable[..., DecisionLedger],
) -> None:
    ledger = make_ledger()
    timeout = CallDesk(ledger, lambda event: ACCEPT, Upstream(APITimeoutError()))
    assert timeout.handle(delivery("wh_a"), REALTIME).status == 503
    bad = Upstream(BadRequestError("call not found", status_code=400))
    desk = CallDesk(ledger, lambda event: ACCEPT, bad)
    failed = desk.handle(delivery("wh_b"), REALTIME)
    assert (failed.status, failed.result) == (200, "failed:BadRequestError")
    assert desk.handle(delivery("wh_b"), REALTIME).result == "already_decided:failed:BadRequestError"
    assert len(bad.sent) == 1


def test_a_router_error_releases_the_claims_and_propagates(make_ledger: Callable[..., DecisionLedger]) -> None:
    def broken(event: WebhookEvent) -> Any:
        raise LookupError("customer database down")

    ledger = make_ledger()
    with pytest.raises(LookupError):
        CallDesk(ledger, broken, Upstream()).handle(delivery(), REALTIME)
    assert CallDesk(ledger, lambda event: ACCEPT, Upstream()).handle(delivery(), REALTIME).result == "accepted"


def test_a_concurrent_delivery_is_in_progress(make_ledger: Callable[..., DecisionLedger]) -> None:
    ledger = make_ledger()
    entered, release = threading.Event(), threading.Event()
    outcomes: list[Any] = []

    def slow(event: WebhookEvent, decision: Any) -> None:
        entered.set()
        release.wait(10)

    desk = CallDesk(ledger, lambda event: ACCEPT, slow)
    thread = threading.Thread(target=lambda: outcomes.append(desk.handle(delivery(), REALTIME)))
    thread.start()
    assert entered.wait(10)
    assert CallDesk(ledger, lambda event: ACCEPT, Upstream()).handle(delivery(), REALTIME).status == 409
    assert CallDesk(ledger, lambda event: ACCEPT, Upstream()).handle(delivery("wh_live"), LIVE).status == 409
    release.set()
    thread.join()
    assert outcomes[0].result == "accepted"


def test_the_async_path_takes_async_routers_and_acts(make_ledger: Callable[..., DecisionLedger]) -> None:
    sent: list[Any] = []

    async def router(event: WebhookEvent) -> Any:
        return ACCEPT

    async def act(event: WebhookEvent, decision: Any) -> None:
        await asyncio.sleep(0)
        sent.append(decision)

    desk = CallDesk(make_ledger(), router, act)
    assert asyncio.run(desk.ahandle(delivery(), REALTIME)).result == "accepted"
    assert asyncio.run(desk.ahandle(delivery(), REALTIME)).result == "already_decided:accepted"
    assert sent == [ACCEPT]


def test_events_that_are_not_calls_are_recorded_ignored(make_ledger: Callable[..., DecisionLedger]) -> None:
    upstream = Upstream()
    desk = CallDesk(make_ledger(), lambda event: ACCEPT, upstream)
    event = parse_event(b'{"id": "evt_1", "type": "live.transport.connected", "data": {"session_id": "live_1"}}')
    assert desk.handle(delivery(), event).result == "ignored"
    assert upstream.sent == []


def test_two_processes_on_one_redis_decide_every_call_once(redis_url: str) -> None:
    import redis

    worker = Path(__file__).with_name("race_worker.py")
    calls = 60
    processes = [
        subprocess.Popen([sys.executable, str(worker), redis_url, str(calls)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    results = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
    acted = redis.Redis.from_url(redis_url, decode_responses=True).lrange("acted", 0, -1)
    assert len(acted) == calls  # one accept per call, over 2 announcements x 2 deliveries x 2 processes
    assert len({event_id.rsplit("_", 1)[1] for event_id in acted}) == calls
    total: dict[str, int] = {}
    for result in results:
        for key, count in result.items():
            total[key] = total.get(key, 0) + count
    assert total.get("accepted") == calls
    assert sum(total.values()) == calls * 2 * 2 * 2
    assert set(total) <= {"accepted", "duplicate", "already_decided", "in_progress"}


def test_an_async_act_on_the_sync_path_is_a_type_error_and_decides_nothing() -> None:
    ledger = DecisionLedger()

    async def act(event: WebhookEvent, decision: Any) -> None:
        raise AssertionError("never awaited")

    with pytest.raises(TypeError, match="ahandle"):
        CallDesk(ledger, lambda event: ACCEPT, act).handle(delivery(), REALTIME)
    assert ledger.state(webhook_key("wh_1")) is None
    assert ledger.state(call_key(REALTIME) or "") is None
