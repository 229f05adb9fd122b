"""The takeover records in the lease storage (a real ``redis-server``): ``arecord`` only under the lease, renewals
move a recorded call's deadline, ``aadopt`` leases a due call to exactly one standby and only for a wiring it
has, ``aforget`` never removes another owner's call, and records nobody adopts are dropped after
``forget_after``. Memory leases record nothing (one process: no standby)."""

from __future__ import annotations

import asyncio
import time

import pytest

from realtime_service.sideband.ownership import (
    LIVE_RELEASE_MARGIN,
    OWNED_KEY,
    WIRING_KEY,
    MemoryCallLeases,
    RedisCallLeases,
)


def _run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_record_renew_adopt_forget(redis_url: str) -> None:
    leases = RedisCallLeases(redis_url)
    client = leases._client

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_rec", "worker-a", ttl=0.5)
        assert lease is not None
        assert await leases.arecord(lease, "live", "server.phone.tools")
        assert client.hget(WIRING_KEY, "rtc_rec") == "live server.phone.tools"
        deadline = client.zscore(OWNED_KEY, "rtc_rec")
        assert await leases.aadopt("worker-b", ("server.phone.tools",), ttl=1) is None  # the owner holds it
        await asyncio.sleep(0.05)
        assert await leases.arenew(lease)
        moved = client.zscore(OWNED_KEY, "rtc_rec")
        assert deadline is not None
        assert moved is not None
        assert moved > deadline  # the renewal moved the recorded deadline with the lease
        await asyncio.sleep(0.7)  # the owner "dies": its lease ends unrenewed
        assert await leases.aadopt("worker-b", ("server.sideband",), ttl=1) is None  # not a wiring it has
        adopted = await leases.aadopt("worker-b", ("server.sideband", "server.phone.tools"), ttl=1)
        assert adopted is not None
        assert (adopted.api, adopted.wiring, adopted.lease.call_id) == ("live", "server.phone.tools", "rtc_rec")
        assert adopted.lease.fence > lease.fence
        holder = await leases.aholder("rtc_rec")
        assert holder is not None
        assert holder.owner == "worker-b"
        assert not await leases.arenew(lease)  # the dead owner cannot come back
        assert not await leases.arecord(lease, "live", "server.phone.tools")
        await leases.aforget(lease)  # a stale owner's forget leaves the new owner's call recorded
        assert client.hget(WIRING_KEY, "rtc_rec") == "live server.phone.tools"
        assert await leases.aadopt("worker-c", ("server.phone.tools",), ttl=1) is None  # held by worker-b
        await leases.aforget(adopted.lease)
        assert client.hget(WIRING_KEY, "rtc_rec") is None
        assert client.zscore(OWNED_KEY, "rtc_rec") is None
        await leases.aclose()

    _run(scenario())


def test_exactly_one_standby_adopts_a_call(redis_url: str) -> None:
    async def scenario() -> list[str]:
        owner = RedisCallLeases(redis_url)
        lease = await owner.aacquire("rtc_race", "worker-dead", ttl=0.2)
        assert lease is not None
        assert await owner.arecord(lease, "realtime", "w")
        await asyncio.sleep(0.4)
        standbys = [RedisCallLeases(redis_url) for _ in range(8)]
        adopted = await asyncio.gather(*(s.aadopt(f"worker-{i}", ("w",), ttl=5) for i, s in enumerate(standbys)))
        for each in [owner, *standbys]:
            await each.aclose()
        return [a.lease.owner for a in adopted if a is not None]

    winners = _run(scenario())
    assert isinstance(winners, list)
    assert len(winners) == 1


def test_records_nobody_adopts_are_dropped_after_forget_after(redis_url: str) -> None:
    leases = RedisCallLeases(redis_url)
    client = leases._client

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_old", "worker-dead", ttl=0.1)
        assert lease is not None
        assert await leases.arecord(lease, "realtime", "nobody-has-it")
        await asyncio.sleep(0.3)
        assert await leases.aadopt("worker-b", ("other",), ttl=1, forget_after=10) is None
        assert client.hget(WIRING_KEY, "rtc_old") is not None  # due, but not yet forgotten
        assert await leases.aadopt("worker-b", ("other",), ttl=1, forget_after=0.1) is None
        await leases.aclose()

    _run(scenario())
    assert client.hget(WIRING_KEY, "rtc_old") is None
    assert client.zscore(OWNED_KEY, "rtc_old") is None


def test_bad_records_are_refused_without_being_echoed(redis_url: str) -> None:
    leases = RedisCallLeases(redis_url)

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_bad", "worker-a")
        assert lease is not None
        with pytest.raises(ValueError, match="api must be") as api:
            await leases.arecord(lease, "sip", "w")
        assert "sip" not in str(api.value)
        with pytest.raises(ValueError, match="wiring name") as name:
            await leases.arecord(lease, "realtime", "a b\r\nFLUSHALL")
        assert "FLUSHALL" not in str(name.value)
        with pytest.raises(ValueError, match="wiring name"):
            await leases.aadopt("worker-a", ("a b",))
        await leases.arelease(lease)
        await leases.aclose()

    _run(scenario())


def test_a_released_lease_makes_its_recorded_call_due_at_once(redis_url: str) -> None:
    """A worker shut down cleanly (SIGTERM) releases its leases while their calls go on: the standby takes a
    Realtime call at its next poll, not a ttl later; a GPT-Live session once the attach's replay margin has
    passed. A call not recorded (ended, forgotten) is not recorded again."""
    leases = RedisCallLeases(redis_url)
    client = leases._client

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_shut", "worker-a", ttl=60)
        assert lease is not None
        assert await leases.arecord(lease, "realtime", "server.sideband")
        assert await leases.aadopt("worker-b", ("server.sideband",), ttl=1) is None  # held, due in a minute
        assert await leases.arelease(lease)
        adopted = await leases.aadopt("worker-b", ("server.sideband",), ttl=1)
        assert adopted is not None
        assert adopted.lease.call_id == "rtc_shut"

        live = await leases.aacquire("live_shut", "worker-a", ttl=60)
        assert live is not None
        assert await leases.arecord(live, "live", "server.sideband")
        assert await leases.arelease(live)
        assert await leases.aadopt("worker-b", ("server.sideband",), ttl=1) is None  # the replay's margin first
        due = client.zscore(OWNED_KEY, "live_shut")
        assert due is not None
        seconds, micros = client.time()
        assert 0 < due - (seconds * 1000 + micros // 1000) <= LIVE_RELEASE_MARGIN * 1000

        other = await leases.aacquire("rtc_gone", "worker-a", ttl=60)
        assert other is not None
        assert await leases.arelease(other)
        assert client.zscore(OWNED_KEY, "rtc_gone") is None

    _run(scenario())


def test_memory_leases_record_nothing() -> None:
    leases = MemoryCallLeases()

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_mem", "worker-a", ttl=0.05)
        assert lease is not None
        assert not await leases.arecord(lease, "realtime", "w")
        time.sleep(0.1)
        assert await leases.aadopt("worker-b", ("w",)) is None
        await leases.aforget(lease)

    _run(scenario())
