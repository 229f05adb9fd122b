"""One owner per call: the call leases on memory and on a real Redis (threads, processes, a worker killed with
SIGKILL mid-call, Redis stopped and restarted under a held lease), the keeper that renews them and signals
their loss, the standby that takes a call over, and the refusal of memory leases for several workers."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import _ping, free_port
from waiting import await_until, wait_until

from realtime_service.errors import ConfigurationError
from realtime_service.redaction import SECRETS
from realtime_service.sideband.ownership import (
    DRIFT,
    CallLeases,
    Lease,
    LeaseKeeper,
    LeaseUnavailable,
    MemoryCallLeases,
    RedisCallLeases,
    atake_over,
    check_lease_storage,
    lease_key,
    leases_from_url,
)

WORKER = Path(__file__).with_name("lease_worker.py")
CLOSED_PORT_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port of loopback


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def make_leases(request: pytest.FixtureRequest) -> Iterator[Callable[[], CallLeases]]:
    built: list[CallLeases] = []

    def make() -> CallLeases:
        leases: CallLeases = (
            MemoryCallLeases() if request.param == "memory" else RedisCallLeases(request.getfixturevalue("redis_url"))
        )
        built.append(leases)
        return leases

    yield make
    for leases in built:
        leases.close()


def expire(leases: CallLeases, lease: Lease) -> None:
    """Let ``lease`` (a short ttl) run out: poll until its storage no longer holds it."""
    wait_until(lambda: leases.holder(lease.call_id) is None, what="the lease to expire")


# -- acquire, renew, release, holder ------------------------------------------------------------------------------


def test_acquire_renew_release(make_leases: Callable[[], CallLeases]) -> None:
    leases = make_leases()
    lease = leases.acquire("rtc_1", "worker-a")
    assert lease is not None
    assert (lease.call_id, lease.owner, lease.ttl) == ("rtc_1", "worker-a", 5.0)
    assert leases.acquire("rtc_1", "worker-b") is None
    assert leases.acquire("rtc_1", "worker-a") is None  # the same owner name does not acquire twice either
    holder = leases.holder("rtc_1")
    assert holder is not None
    assert (holder.owner, holder.fence) == ("worker-a", lease.fence)
    assert 0 < holder.expires_in <= 5.0
    assert leases.renew(lease)
    assert leases.release(lease)
    assert leases.holder("rtc_1") is None
    assert not leases.release(lease)
    assert not leases.renew(lease)  # a released lease is not brought back by a renewal
    again = leases.acquire("rtc_1", "worker-b")
    assert again is not None
    assert again.fence > lease.fence
    other = leases.acquire("live_2", "worker-a")
    assert other is not None
    assert other.fence > again.fence  # the fence grows with every acquisition, of any call


def test_the_async_twins(make_leases: Callable[[], CallLeases]) -> None:
    leases = make_leases()

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_1", "worker-a", 2)
        assert lease is not None
        assert await leases.aacquire("rtc_1", "worker-b") is None
        holder = await leases.aholder("rtc_1")
        assert holder is not None
        assert holder.owner == "worker-a"
        assert await leases.arenew(lease)
        assert await leases.arelease(lease)
        assert not await leases.arelease(lease)
        assert await leases.aholder("rtc_1") is None
        await leases.aclose()

    asyncio.run(scenario())


def test_a_stale_owner_cannot_renew_or_release_the_new_owners_lease(make_leases: Callable[[], CallLeases]) -> None:
    leases = make_leases()
    stale = leases.acquire("rtc_1", "worker-a", ttl=0.05)
    assert stale is not None
    expire(leases, stale)
    current = leases.acquire("rtc_1", "worker-b")
    assert current is not None
    assert not leases.renew(stale)
    assert not leases.release(stale)
    holder = leases.holder("rtc_1")
    assert holder is not None
    assert (holder.owner, holder.fence) == ("worker-b", current.fence)
    assert current.fence > stale.fence


def test_a_lease_not_renewed_expires_and_another_owner_takes_it(make_leases: Callable[[], CallLeases]) -> None:
    leases = make_leases()
    first = leases.acquire("rtc_1", "worker-a", ttl=1.0)  # long enough that the refusal below comes before it expires
    assert first is not None
    assert leases.acquire("rtc_1", "worker-b") is None
    taken = wait_until(lambda: leases.acquire("rtc_1", "worker-b"), what="worker-b to acquire")
    assert taken.owner == "worker-b"


@pytest.mark.parametrize(
    "call_id",
    ["", "rtc 1", "rtc_1\r\nDEL x", "x" * 129, "rtc_1\n", "*", "a:b c", "\x00", "rtc_é", 42, None, b"rtc_1", "-rtc"],
)
def test_a_hostile_call_id_is_refused_without_being_echoed(make_leases: Callable[[], CallLeases], call_id: Any) -> None:
    leases = make_leases()
    with pytest.raises(ValueError, match="lease call id must be 1 to 128 characters") as raised:
        leases.acquire(call_id, "worker-a")
    if isinstance(call_id, str) and call_id:
        assert call_id not in str(raised.value)
    with pytest.raises(ValueError):
        leases.holder(call_id)
    with pytest.raises(ValueError):
        lease_key(call_id)


@pytest.mark.parametrize("owner", ["", "worker a", "w\r\n", "w" * 129, None])
def test_a_bad_owner_is_refused(make_leases: Callable[[], CallLeases], owner: Any) -> None:
    with pytest.raises(ValueError, match="lease owner"):
        make_leases().acquire("rtc_1", owner)


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), True, "5", 1e9, 0.0001])
def test_a_bad_ttl_is_refused(make_leases: Callable[[], CallLeases], ttl: Any) -> None:
    leases = make_leases()
    with pytest.raises(ValueError, match="ttl"):
        leases.acquire("rtc_1", "worker-a", ttl)
    assert leases.holder("rtc_1") is None


def test_keys_are_namespaced_and_bounded() -> None:
    assert lease_key("rtc_1") == "realtime-call-lease:call:rtc_1"
    assert len(lease_key("r" * 128)) < 160
    assert lease_key("fence") != "realtime-call-lease:fence"  # a call id cannot name the fence counter


def test_memory_leases_expire_on_their_clock_and_are_swept() -> None:
    clock = Clock()
    leases = MemoryCallLeases(clock, sweep_every=4)
    for index in range(3):
        assert leases.acquire(f"rtc_{index}", "worker-a", 1) is not None
    clock.now = 2
    assert leases.acquire("rtc_new", "worker-a", 1) is not None  # the 4th write sweeps the 3 expired
    assert repr(leases) == "MemoryCallLeases(1 entries)"


# -- races: threads and processes --------------------------------------------------------------------------------


def test_threads_racing_for_a_call_one_wins(make_leases: Callable[[], CallLeases]) -> None:
    leases = make_leases()
    threads, trials = 8, 40
    for trial in range(trials):
        barrier = threading.Barrier(threads)
        won: list[Lease] = []

        def contend(name: str, call_id: str, barrier: threading.Barrier, won: list[Lease]) -> None:
            barrier.wait()
            lease = leases.acquire(call_id, name)
            if lease is not None:
                won.append(lease)

        workers = [
            threading.Thread(target=contend, args=(f"worker-{i}", f"rtc_{trial}", barrier, won)) for i in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert len(won) == 1, (trial, won)
        holder = leases.holder(f"rtc_{trial}")
        assert holder is not None
        assert holder.owner == won[0].owner


def test_processes_racing_on_one_redis_one_wins_each_call(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    processes, calls = 3, 300
    client.set("expected", processes)
    started = [
        subprocess.Popen([sys.executable, str(WORKER), redis_url, "race", f"worker-{i}", str(calls)])
        for i in range(processes)
    ]
    assert [process.wait(120) for process in started] == [0] * processes
    won = client.lrange("won", 0, -1)
    assert sorted(entry.split()[0] for entry in won) == sorted(f"race-{i}" for i in range(calls))


# -- the keeper ---------------------------------------------------------------------------------------------------


def test_the_keeper_renews_while_held_and_releases_on_exit(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    leases = RedisCallLeases(redis_url)
    losses: list[str] = []

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_1", "worker-a", ttl=5)  # long: a loaded machine's stall loses nothing
        assert lease is not None
        first_validity = lease.acquired_at + 5 * (1 - DRIFT)
        async with LeaseKeeper(leases, lease, renew_every=0.05, on_lost=losses.append) as keeper:
            await await_until(lambda: keeper.renewals >= 4, what="four renewals")
            assert keeper.valid()
            assert keeper.valid_until > first_validity  # each confirmed renewal moved the validity on
            assert not keeper.lost.is_set()
            holder = await leases.aholder("rtc_1")
            assert holder is not None
            assert holder.fence == keeper.fence
        assert keeper.reason == "released"
        assert not keeper.valid()
        assert await leases.aholder("rtc_1") is None
        await leases.aclose()

    with caplog.at_level(logging.INFO, "realtime_service.sideband"):
        asyncio.run(scenario())
    assert losses == []  # a release is not a loss
    assert "lease lost" not in caplog.text


def test_the_keeper_signals_loss_when_another_owner_holds_the_lease(redis_url: str) -> None:
    import redis

    leases = RedisCallLeases(redis_url)
    reasons: list[str] = []

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_1", "worker-a", ttl=5)
        assert lease is not None
        async with LeaseKeeper(leases, lease, renew_every=0.05, on_lost=reasons.append) as keeper:
            # another owner's lease in its place (as if ours had lapsed and been taken)
            redis.Redis.from_url(redis_url).set(lease_key("rtc_1"), "99 other worker-b", px=60_000)
            await asyncio.wait_for(keeper.lost.wait(), 30)
            assert not keeper.valid()
        holder = await leases.aholder("rtc_1")
        assert holder is not None
        assert holder.owner == "worker-b"  # leaving the keeper did not release the other owner's lease
        await leases.aclose()

    asyncio.run(scenario())
    assert reasons == ["the lease expired or another owner holds it"]


def test_a_paused_holder_is_invalid_the_moment_it_resumes_and_its_keeper_reports_the_loss() -> None:
    """A process paused past its ttl (the clock jumps, as a monotonic clock does across a SIGSTOP)."""
    clock = Clock()
    leases = MemoryCallLeases(clock)

    async def scenario() -> None:
        lease = leases.acquire("rtc_1", "worker-a", ttl=1.0)
        assert lease is not None
        keeper = LeaseKeeper(leases, lease, renew_every=0.05, clock=clock)
        async with keeper:
            await await_until(lambda: keeper.renewals >= 1, what="a renewal")
            assert keeper.valid()
            clock.now = 5.0  # resumed after a pause
            assert not keeper.valid()
            assert leases.acquire("rtc_1", "worker-b") is not None
            await asyncio.wait_for(keeper.lost.wait(), 30)
        holder = leases.holder("rtc_1")
        assert holder is not None
        assert holder.owner == "worker-b"

    asyncio.run(scenario())


def test_the_keeper_checks_its_interval() -> None:
    lease = MemoryCallLeases().acquire("rtc_1", "worker-a", ttl=1)
    assert lease is not None
    for bad in (0, -1, 1 - DRIFT, 5):
        with pytest.raises(ValueError, match="renew_every"):
            LeaseKeeper(MemoryCallLeases(), lease, renew_every=bad)


# -- Redis down, restarted -----------------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of the test's own (no persistence), to stop and restart on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("REDIS TESTS SKIPPED: redis-server is not installed, so a Redis restart is UNTESTED")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _ping(self.url), what="the private redis-server to answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(30)
            self.process = None


@pytest.fixture
def private_redis(redis_server: str) -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


def test_redis_down_longer_than_the_ttl_loses_the_lease_and_a_restarted_redis_gives_it_out_again(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    leases = RedisCallLeases(private_redis.url, timeout=0.2)

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_1", "worker-a", ttl=2)
        assert lease is not None
        async with LeaseKeeper(leases, lease, renew_every=0.1) as keeper:
            await await_until(lambda: keeper.renewals >= 1, what="a renewal")
            private_redis.stop()
            await asyncio.wait_for(keeper.lost.wait(), 30)
            assert keeper.reason is not None
            assert "storage down or slow" in keeper.reason
            assert not keeper.valid()
            private_redis.start()
            # a restarted Redis without persistence forgot the lease: another owner gets it at once
            taken = await leases.aacquire("rtc_1", "worker-b")
            assert taken is not None
        holder = await leases.aholder("rtc_1")
        assert holder is not None
        assert holder.owner == "worker-b"  # the lost keeper released nothing on exit
        await leases.aclose()

    with caplog.at_level(logging.INFO, "realtime_service.sideband"):
        asyncio.run(scenario())
    assert "lease renewal failed (LeaseUnavailable); retrying" in caplog.text


def test_redis_restarted_within_the_ttl_forgot_the_lease_so_the_holder_stops(private_redis: PrivateRedis) -> None:
    leases = RedisCallLeases(private_redis.url, timeout=0.5)

    async def scenario() -> None:
        lease = await leases.aacquire("rtc_1", "worker-a", ttl=3)
        assert lease is not None
        async with LeaseKeeper(leases, lease, renew_every=0.1) as keeper:
            private_redis.stop()
            private_redis.start()
            await asyncio.wait_for(keeper.lost.wait(), 30)
            # whether the restart outlasted the ttl or not, the holder stopped: never a renewal re-creating it
            assert keeper.reason in {
                "the lease expired or another owner holds it",
                "no renewal was confirmed within the lease's ttl (storage down or slow)",
            }
            assert await leases.aholder("rtc_1") is None
        await leases.aclose()

    asyncio.run(scenario())


# -- the standby -----------------------------------------------------------------------------------------------


def test_a_standby_takes_the_call_over_when_the_holders_lease_expires(make_leases: Callable[[], CallLeases]) -> None:
    leases = make_leases()

    async def scenario() -> None:
        dead = await leases.aacquire("rtc_1", "worker-a", ttl=0.3)  # its holder dies: never renewed
        assert dead is not None
        taken = await asyncio.wait_for(atake_over(leases, "rtc_1", "worker-b", ttl=0.3), 30)
        assert taken is not None
        assert taken.owner == "worker-b"
        assert taken.fence > dead.fence
        assert not await leases.arenew(dead)
        await leases.aclose()

    asyncio.run(scenario())


def test_a_standby_stops_when_told_and_polls_through_storage_errors(caplog: pytest.LogCaptureFixture) -> None:
    leases = RedisCallLeases(CLOSED_PORT_URL, timeout=0.2)

    async def scenario() -> Lease | None:
        stop = asyncio.Event()
        standby = asyncio.ensure_future(atake_over(leases, "rtc_1", "worker-b", ttl=0.5, poll=0.01, stop=stop))
        await await_until(lambda: caplog.text.count("cannot reach") >= 1, what="the standby's warning")
        stop.set()
        return await asyncio.wait_for(standby, 30)

    with caplog.at_level(logging.WARNING, "realtime_service.sideband"):
        assert asyncio.run(scenario()) is None
    assert caplog.text.count("standby cannot reach the lease storage (call lease storage: ConnectionError)") == 1


# -- secrets, configuration ---------------------------------------------------------------------------------------


def test_the_redis_password_is_in_no_error_repr_or_log(caplog: pytest.LogCaptureFixture) -> None:
    password = "lease-redis-password-0123"
    leases = RedisCallLeases(f"redis://:{password}@127.0.0.1:9/0", timeout=0.2)
    with pytest.raises(LeaseUnavailable) as raised:
        leases.acquire("rtc_1", "worker-a")
    assert raised.value.__cause__ is None
    lease = MemoryCallLeases().acquire("rtc_1", "worker-a")
    assert lease is not None

    async def keep() -> None:
        keeper = LeaseKeeper(leases, lease, renew_every=0.05)  # its renewals fail against the closed port
        async with keeper:
            await asyncio.wait_for(keeper.lost.wait(), 30)

    with caplog.at_level(logging.DEBUG):
        asyncio.run(keep())
    shown = [str(raised.value), repr(raised.value), repr(leases), repr(lease), caplog.text]
    assert [text for text in shown if password in text] == []
    assert lease.token not in repr(lease)
    assert password not in SECRETS.scrub(f"connecting to redis://:{password}@host")  # registered for every log


def test_memory_leases_are_refused_for_several_workers() -> None:
    with pytest.raises(ConfigurationError, match=r"--workers 2 .* own call leases.*server\.rate_limit_storage"):
        check_lease_storage("memory://", workers=2)
    with pytest.raises(ConfigurationError):
        leases_from_url("memory://", workers=4)
    check_lease_storage("memory://", workers=1)
    check_lease_storage("redis://127.0.0.1:9/0", workers=8)
    assert isinstance(leases_from_url("memory://", workers=1), MemoryCallLeases)
    assert isinstance(leases_from_url("valkey://127.0.0.1:9/0", workers=2), RedisCallLeases)
    for url in ("redis+cluster://h:1", "redis+sentinel://h:1/x", "nope"):
        with pytest.raises(ConfigurationError, match=r"server\.rate_limit_storage"):
            leases_from_url(url, workers=1)


# -- the test: a worker killed mid-call -------------------------------------------------------------------


def test_a_worker_killed_mid_call_is_replaced_by_the_other_and_no_two_act_at_once(redis_url: str) -> None:
    """Two worker processes stand by for one call; the holder answers a "tool call" every tick while its keeper
    says the lease is valid. SIGKILL the holder: the other takes the call over, and Redis, checking each action
    atomically against the lease key, saw every action made by the lease's holder of that instant."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    ttl = "3.0"  # a loop stall must pass 1.7 s (ttl x (1 - DRIFT) - ttl / 3) to reach the validity's end
    workers = {
        name: subprocess.Popen([sys.executable, str(WORKER), redis_url, "hold", name, "rtc_killed", ttl])
        for name in ("worker-a", "worker-b")
    }
    try:
        wait_until(lambda: client.llen("standing-by") == 2, what="both workers standing by")
        first = wait_until(lambda: client.lrange("acquired", 0, -1), what="a first owner")[0].split()[0]
        wait_until(lambda: client.llen("acted") >= 20, what="the first owner acting")
        assert client.llen("acquired") == 1  # the other stood by
        os.kill(workers[first].pid, signal.SIGKILL)
        workers[first].wait(30)
        killed_at = time.monotonic()
        acted_before = client.llen("acted")
        second = wait_until(lambda: client.lrange("acquired", 1, -1), what="the standby taking over")[0].split()[0]
        took = time.monotonic() - killed_at
        wait_until(lambda: client.llen("acted") >= acted_before + 20, what="the new owner acting")
    finally:
        for process in workers.values():
            process.kill()
            process.wait(30)
    assert second != first
    acted = [entry.split() for entry in client.lrange("acted", 0, -1)]
    assert {state for _, _, state in acted} == {"held"}  # no action ever made without holding the lease
    owners = [name for name, _, _ in acted]
    switch = owners.index(second)
    assert set(owners[:switch]) == {first}
    assert set(owners[switch:]) == {second}  # never interleaved: the killed worker never acted again
    fences = [int(fence) for _, fence, _ in acted]
    assert fences == sorted(fences)
    print(f"takeover {took:.2f} s after SIGKILL (ttl {ttl} s)")


# -- wired into serve's container -------------------------------------------------------------------------------


def _serve_container(storage: str, workers: int) -> Any:
    from realtime_service.web.servers.containers import ServeContainer

    container = ServeContainer(environ={})
    container.config.from_dict(
        {"realtime": {"api_key": "sk-test-0000000000000000"}, "server": {"rate_limit_storage": storage}}
    )
    container.token_server.workers.override(workers)
    return container


def test_serves_container_refuses_memory_leases_for_several_workers() -> None:
    container = _serve_container("memory://", 2)
    with pytest.raises(ConfigurationError, match="--workers 2 with in-memory storage"):
        container.token_server.call_leases()
    single = _serve_container("memory://", 1)
    assert isinstance(single.token_server.call_leases(), MemoryCallLeases)
    single.shutdown_resources()


def test_serves_container_shares_redis_leases_and_closes_them(redis_url: str) -> None:
    container = _serve_container(redis_url, 4)
    leases = container.token_server.call_leases()
    assert isinstance(leases, RedisCallLeases)
    assert container.token_server.call_leases() is leases
    assert leases.acquire("rtc_1", "worker-a") is not None
    container.shutdown_resources()


@pytest.mark.parametrize(("worker", "argv", "expected"), [(None, ["--workers", "1"], 1), ({"workers": 3}, [], 3)])
def test_serve_tells_each_container_how_many_workers_share_its_storage(
    monkeypatch: pytest.MonkeyPatch, worker: dict[str, Any] | None, argv: list[str], expected: int
) -> None:
    """``serve --workers N`` runs N children without ``--workers``: the count reaches each child's container in
    the worker's environment, so memory leases are refused there too."""
    import socket

    from realtime_service.web.servers import serve

    seen: list[int] = []

    class Runner:
        def run(self) -> None:
            pass

        def stop(self) -> None:
            pass

    def make_runner(container: Any, framework: str, sock: socket.socket) -> Runner:
        seen.append(container.token_server.workers())
        if worker is not None:
            sock.close()  # the inherited descriptor (a dup here), which the real runner would serve and close
        return Runner()

    monkeypatch.setattr(serve, "make_runner", make_runner)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000")
    args = serve.build_parser().parse_args(["--port", "0", *argv])
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        inherited = None if worker is None else {**worker, "fd": os.dup(listening.fileno()), "realtime": {}}
        assert serve._serve(args, inherited) == 0
    assert seen == [expected]


# -- hostile storage contents, broken callbacks -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["x", "", "12", "12 token", "-1 token owner", "1 t bad owner\r\n", "१ t owner"])
def test_a_lease_key_holding_something_else_is_held_by_an_unreadable_owner(redis_url: str, value: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).set(lease_key("rtc_1"), value, px=60_000)
    leases = RedisCallLeases(redis_url)
    holder = leases.holder("rtc_1")
    assert holder is not None
    assert (holder.owner, holder.fence) == ("(unreadable)", -1)
    assert leases.acquire("rtc_1", "worker-a") is None  # held all the same: nobody takes it over early


def test_a_failing_on_lost_callback_still_leaves_the_loss_signalled(caplog: pytest.LogCaptureFixture) -> None:
    leases = MemoryCallLeases()

    def broken(reason: str) -> None:
        raise RuntimeError("callback bug")

    async def scenario() -> LeaseKeeper:
        lease = leases.acquire("rtc_1", "worker-a", ttl=30)
        assert lease is not None
        async with LeaseKeeper(leases, lease, renew_every=0.01, on_lost=broken) as keeper:
            leases.close()  # the lease vanishes: the next renewal is refused
            await asyncio.wait_for(keeper.lost.wait(), 30)
        return keeper

    keeper = asyncio.run(scenario())
    assert keeper.reason == "the lease expired or another owner holds it"
    assert "the lease's on_lost callback raised" in caplog.text


def test_a_renewal_that_raises_is_a_loss_at_once(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryCallLeases):
        async def arenew(self, lease: Lease) -> bool:
            raise RuntimeError("storage bug")

    leases = Broken()

    async def scenario() -> LeaseKeeper:
        lease = leases.acquire("rtc_1", "worker-a", ttl=60)
        assert lease is not None
        async with LeaseKeeper(leases, lease, renew_every=0.01) as keeper:
            await asyncio.wait_for(keeper.lost.wait(), 30)
            assert not keeper.valid()  # long before the 60 s validity ran out
        return keeper

    keeper = asyncio.run(scenario())
    assert keeper.reason == "the renewal raised RuntimeError"
    assert "lease renewal raised" in caplog.text


def test_storage_errors_shorter_than_the_ttl_are_retried_and_the_lease_kept() -> None:
    class Flaky(MemoryCallLeases):
        failures = 3

        async def arenew(self, lease: Lease) -> bool:
            if self.failures:
                self.failures -= 1
                raise LeaseUnavailable("call lease storage: ConnectionError")
            return await super().arenew(lease)

    leases = Flaky()

    async def scenario() -> None:
        lease = leases.acquire("rtc_1", "worker-a", ttl=60)
        assert lease is not None
        async with LeaseKeeper(leases, lease, renew_every=0.04) as keeper:
            await await_until(lambda: keeper.renewals >= 2, what="renewals after the errors")
            assert leases.failures == 0
            assert keeper.valid()
            assert not keeper.lost.is_set()
        assert keeper.reason == "released"

    asyncio.run(scenario())
