"""A worker process for the call-lease tests, against one Redis (``tests/test_ownership.py``).

``python lease_worker.py URL race NAME CALLS``: waits for its twins (a counter in Redis), then tries to acquire
the lease of ``race-0`` .. ``race-CALLS-1`` and pushes each it won to the list ``won``.

``python lease_worker.py URL hold NAME CALL_ID TTL``: a worker of the issue's test. It stands by for the call
(:func:`atake_over`), holds the lease with a :class:`LeaseKeeper` and, while it is valid, "answers a tool call"
every tick: a Lua script that appends ``NAME FENCE held|stale`` to the list ``acted``, ``held`` when the lease
key in Redis is this worker's at that instant (checked atomically by Redis). Runs until killed.
"""

from __future__ import annotations

import asyncio
import sys
import time

import redis
import redis.asyncio

from realtime_service.sideband.ownership import LeaseKeeper, RedisCallLeases, atake_over, lease_key

_ACT = """
local mine = redis.call('GET', KEYS[1]) == ARGV[2]
return redis.call('RPUSH', KEYS[2], ARGV[1] .. (mine and ' held' or ' stale'))
"""


def race(url: str, name: str, calls: int) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    leases = RedisCallLeases(url)
    client.incr("ready")
    deadline = time.monotonic() + 30
    while int(client.get("ready") or 0) < int(client.get("expected") or 0) and time.monotonic() < deadline:
        time.sleep(0.001)
    for index in range(calls):
        if leases.acquire(f"race-{index}", name, 30) is not None:
            client.rpush("won", f"race-{index} {name}")


async def hold(url: str, name: str, call_id: str, ttl: float) -> None:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    act = client.register_script(_ACT)
    leases = RedisCallLeases(url)
    await client.rpush("standing-by", name)
    while True:
        lease = await atake_over(leases, call_id, name, ttl=ttl)
        assert lease is not None
        await client.rpush("acquired", f"{name} {lease.fence}")
        async with LeaseKeeper(leases, lease) as keeper:
            while keeper.valid():
                await act(keys=[lease_key(call_id), "acted"], args=[f"{name} {lease.fence}", lease.value])
                await asyncio.sleep(0.02)  # the pace of "tool calls", not a wait for anything


if __name__ == "__main__":
    if sys.argv[2] == "race":
        race(sys.argv[1], sys.argv[3], int(sys.argv[4]))
    else:
        asyncio.run(hold(sys.argv[1], sys.argv[3], sys.argv[4], float(sys.argv[5])))
