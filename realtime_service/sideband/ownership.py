"""One owner per call, across workers and hosts: a lease per call, in memory or in Redis.

A worker that wants to act on a call (attach its sideband, answer its tools) first *acquires* the call's lease
(``SET NX PX``: the first asker wins, the others get ``None``) and keeps it alive with a :class:`LeaseKeeper`,
which *renews* it every ``ttl / 3`` (a compare-and-set: only while it is still ours) and sets
:attr:`LeaseKeeper.lost` the moment it can no longer be sure it holds it. When the holder dies, its lease expires
within ``ttl`` and a standby (:func:`atake_over`) acquires it: the call has a new owner within ``ttl`` plus one
poll (the defaults: 5 s and 0.5 s).

**The guarantee.** The keeper counts the lease valid until ``ttl * (1 - DRIFT)`` after it *sent* the last
renewal Redis confirmed (Redis started its expiry later than that, so the key outlives the keeper's view of it).
A holder that acts only while :meth:`LeaseKeeper.valid` is true never acts while another holds the lease.

**Its limits.** (1) A process paused (GC, ``SIGSTOP``, a VM migration) between checking ``valid()`` and acting
acts once after its lease may have passed on: check right before each action, and where the other side can, let
it reject stale owners by the :attr:`Lease.fence` token (it only grows). (2) Clocks: Redis expires keys by its
own wall clock; a jump forward on the Redis host, or a rate drift beyond ``DRIFT``, expires a lease early.
(3) Redis is one point of truth: a failover to a replica that had not received the latest write, or a restart
without persistence, forgets leases (the holders' renewals then fail and they stop) and may restart the fence
counter. Redis Cluster and Sentinel URLs are refused, as for the webhook ledger.

**Takeover records** (Redis only). An owner that attached a call records it (:meth:`CallLeases.arecord`: its
API and the name of the wiring every worker can re-attach it with) next to the leases; each renewal moves the
record's deadline with the lease, and the owner removes it when the call ends (:meth:`CallLeases.aforget`). A
standby's :meth:`CallLeases.aadopt` leases, in one script, a recorded call whose deadline passed: exactly one
standby wins it. Memory leases record nothing (one process: nobody is left to take over).

The storage is the webhook ledger's: ``server.rate_limit_storage`` (``memory://`` for one process, ``redis://``
/ ``rediss://`` / ``redis+unix://`` / ``valkey://`` for workers and hosts); memory leases are refused when the
server runs several worker processes, each of which would hold its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from ..errors import ConfigurationError, RealtimeServiceError
from ..redaction import SECRETS
from ..webhooks.ledger import redis_url

logger = logging.getLogger("realtime_service.sideband")

NAMESPACE = "realtime-call-lease"
#: Seconds a lease lasts unless renewed: how long a dead holder's call waits for its next owner.
DEFAULT_TTL = 5.0
#: The fraction of the ttl the keeper gives up for clock-rate drift between this host and Redis.
DRIFT = 0.1
#: The longest ttl accepted (a lease is a liveness signal, not a booking).
MAX_TTL = 3600.0
#: Call ids and owner names: what OpenAI's ids (``rtc_...``, ``live_...``) and host/process names are made of.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")


class LeaseUnavailable(RealtimeServiceError):
    """The lease storage did not answer: nothing is known about ownership (act as if the lease were not held)."""


def _checked(value: object, what: str) -> str:
    """``value`` if it is a valid call id or owner name; else a ``ValueError`` that does not echo it (it may be
    anything: a CRLF to inject a command, kilobytes, a pasted key)."""
    if isinstance(value, str) and _NAME.fullmatch(value):
        return value
    shown = f"a string of {len(value)} characters" if isinstance(value, str) else type(value).__name__
    raise ValueError(
        f"a lease {what} must be 1 to 128 characters of A-Z a-z 0-9 _ . : @ - (starting with a "
        f"letter or digit), not {shown}"
    )


def _checked_ttl(ttl: object) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or not 0 < ttl <= MAX_TTL:
        raise ValueError(f"a lease ttl must be a number of seconds above 0 and at most {MAX_TTL:g}")
    if ttl < 0.001:
        raise ValueError("a lease ttl must be at least a millisecond")
    return float(ttl)


def lease_key(call_id: str) -> str:
    """The storage key of a call's lease (the id validated first: no key injection, bounded)."""
    return f"{NAMESPACE}:call:{_checked(call_id, 'call id')}"


FENCE_KEY = f"{NAMESPACE}:fence"
#: The calls attached under a lease that a standby may take over: a sorted set of call ids scored by when their
#: owner's lease ends if not renewed (ms, Redis's clock), and a hash of call id -> ``"<api> <wiring name>"``.
OWNED_KEY = f"{NAMESPACE}:owned"
WIRING_KEY = f"{NAMESPACE}:owned-wiring"
#: Seconds a recorded call whose lease ended stays recorded while no standby manages to re-attach it (after
#: that it is forgotten: the call most likely ended while nobody owned it).
FORGET_AFTER = 60.0
#: The APIs a recorded call may be attached with.
APIS = ("realtime", "live")


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease won by :meth:`CallLeases.acquire`. ``fence`` grows with every acquisition (of any call), so a
    party that sees an action with a lower fence than one it already saw knows it comes from a stale owner.
    ``acquired_at`` is the local monotonic time the acquisition was *sent* (the lease's validity counts from
    there). ``token`` identifies this acquisition in the storage and is not shown."""

    call_id: str
    owner: str
    fence: int
    ttl: float
    acquired_at: float
    token: str = field(repr=False)

    @property
    def value(self) -> str:
        """What the storage holds for this lease: compared whole on renew and release."""
        return f"{self.fence} {self.token} {self.owner}"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a call's lease now (:meth:`CallLeases.holder`), and for how many more seconds at most
    (``owner`` :data:`UNREADABLE` and ``fence`` -1 when the key holds something else than a lease)."""

    owner: str
    fence: int
    expires_in: float


@dataclass(frozen=True, slots=True)
class Adopted:
    """A recorded call whose owner's lease had ended, now leased to the standby that adopted it
    (:meth:`CallLeases.aadopt`): re-attach it with ``api`` and the wiring named ``wiring``."""

    lease: Lease
    api: str
    wiring: str


#: The owner shown for a lease key whose value is not one of ours (written by something else): it is held.
UNREADABLE = "(unreadable)"


def _holder(value: str, expires_in: float) -> Holder:
    fence, _, rest = value.partition(" ")
    _, _, owner = rest.partition(" ")
    if not (fence.isascii() and fence.isdigit() and _NAME.fullmatch(owner)):
        return Holder(UNREADABLE, -1, expires_in)
    return Holder(owner, int(fence), expires_in)


class CallLeases(Protocol):
    """Leases on calls: sync methods, and their ``a``-prefixed coroutine twins for the async controller."""

    #: Whether worker processes and hosts share these leases (``False``: memory, this process only).
    shared: bool

    def acquire(self, call_id: str, owner: str, ttl: float = DEFAULT_TTL) -> Lease | None:
        """The call's lease if nobody holds it (``SET NX PX``), else ``None``."""

    def renew(self, lease: Lease) -> bool:
        """Extend the lease by its ttl if it is still ours; ``False`` if it expired or another owner holds it."""

    def release(self, lease: Lease) -> bool:
        """Give the lease up if it is still ours (``False``: it was not; whoever holds it keeps it)."""

    def holder(self, call_id: str) -> Holder | None: ...

    async def aacquire(self, call_id: str, owner: str, ttl: float = DEFAULT_TTL) -> Lease | None: ...

    async def arenew(self, lease: Lease) -> bool: ...

    async def arelease(self, lease: Lease) -> bool: ...

    async def aholder(self, call_id: str) -> Holder | None: ...

    async def arecord(self, lease: Lease, api: str, wiring: str) -> bool:
        """Record the call of ``lease`` (still ours) as attached with ``api`` and the wiring named ``wiring``, so
        that a standby re-attaches it once the lease ends unrenewed; ``False`` when not recorded (the lease is
        no longer ours, or these leases have no standby: memory)."""

    async def aforget(self, lease: Lease) -> None:
        """Forget the call's record (it ended), unless another owner now holds its lease."""

    async def aadopt(
        self, owner: str, wirings: tuple[str, ...], ttl: float = DEFAULT_TTL, *, forget_after: float = FORGET_AFTER
    ) -> Adopted | None:
        """Lease one recorded call whose owner's lease has ended and whose wiring is one of ``wirings``, to
        ``owner``; ``None`` when there is none. Records left unadopted for ``forget_after`` are dropped."""

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


class MemoryCallLeases:
    """One process's leases: a dict under a lock, on a monotonic clock (injectable for tests). Several threads
    or event loops of one process may share it; other processes cannot (see :func:`leases_from_url`)."""

    shared = False

    def __init__(self, clock: Callable[[], float] = time.monotonic, sweep_every: int = 1024) -> None:
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._fence = 0
        self._sweep_every = sweep_every
        self._writes = 0

    def __repr__(self) -> str:
        return f"MemoryCallLeases({len(self._entries)} entries)"

    def _current(self, key: str, now: float) -> tuple[str, float] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] <= now:
            del self._entries[key]
            return None
        return entry

    def acquire(self, call_id: str, owner: str, ttl: float = DEFAULT_TTL) -> Lease | None:
        key, owner, ttl = lease_key(call_id), _checked(owner, "owner"), _checked_ttl(ttl)
        with self._lock:
            now = self._clock()
            if self._current(key, now) is not None:
                return None
            self._fence += 1
            lease = Lease(call_id, owner, self._fence, ttl, now, secrets.token_hex(16))
            self._entries[key] = (lease.value, now + ttl)
            self._writes += 1
            if self._writes % self._sweep_every == 0:  # bound memory: drop what has expired
                for stale in [k for k, (_, expires) in self._entries.items() if expires <= now]:
                    del self._entries[stale]
            return lease

    def renew(self, lease: Lease) -> bool:
        key = lease_key(lease.call_id)
        with self._lock:
            now = self._clock()
            current = self._current(key, now)
            if current is None or current[0] != lease.value:
                return False
            self._entries[key] = (lease.value, now + lease.ttl)
            return True

    def release(self, lease: Lease) -> bool:
        key = lease_key(lease.call_id)
        with self._lock:
            current = self._current(key, self._clock())
            if current is None or current[0] != lease.value:
                return False
            del self._entries[key]
            return True

    def holder(self, call_id: str) -> Holder | None:
        key = lease_key(call_id)
        with self._lock:
            now = self._clock()
            current = self._current(key, now)
            return None if current is None else _holder(current[0], current[1] - now)

    async def aacquire(self, call_id: str, owner: str, ttl: float = DEFAULT_TTL) -> Lease | None:
        return self.acquire(call_id, owner, ttl)

    async def arenew(self, lease: Lease) -> bool:
        return self.renew(lease)

    async def arelease(self, lease: Lease) -> bool:
        return self.release(lease)

    async def aholder(self, call_id: str) -> Holder | None:
        return self.holder(call_id)

    async def arecord(self, lease: Lease, api: str, wiring: str) -> bool:
        """Nothing to record: one process holds every memory lease, so no standby outlives the owner."""
        return False

    async def aforget(self, lease: Lease) -> None:
        return None

    async def aadopt(
        self, owner: str, wirings: tuple[str, ...], ttl: float = DEFAULT_TTL, *, forget_after: float = FORGET_AFTER
    ) -> Adopted | None:
        return None

    def close(self) -> None:
        with self._lock:
            self._entries.clear()

    async def aclose(self) -> None:
        self.close()


#: KEYS: lease, fence counter. ARGV: token, owner, ttl ms. The fence only counts acquisitions that succeed.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], fence .. ' ' .. ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[3])
return fence
"""
#: Redis's clock in ms (scripts may read it since Redis 5: their effects, not the script, are replicated).
_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
#: KEYS: lease, owned, wiring. ARGV: lease value, ttl ms, call id. A recorded call's deadline moves with its lease.
_RENEW = (
    _NOW
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local renewed = redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3]) end
return renewed
"""
)
#: KEYS: lease, owned, wiring. ARGV: lease value, call id, "<api> <wiring>", ttl ms.
_RECORD = (
    _NOW
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[2])
return 1
"""
)
#: KEYS: lease, owned, wiring. ARGV: lease value, call id. Not while another owner holds the lease.
_FORGET = """
local value = redis.call('GET', KEYS[1])
if value ~= false and value ~= ARGV[1] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1
"""
#: KEYS: owned, wiring, fence counter. ARGV: token, owner, ttl ms, forget-after ms, how many due calls to look
#: at, the lease key prefix, then the wiring names this worker can re-attach. Bounded work: at most 16 stale
#: records dropped and ARGV[5] due ones looked at per call. The lease keys are derived from the recorded ids
#: (validated when recorded), so this script cannot run on Redis Cluster (refused anyway).
_ADOPT = (
    _NOW
    + """
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]), 'LIMIT', 0, 16)
for _, call in ipairs(stale) do
  redis.call('ZREM', KEYS[1], call)
  redis.call('HDEL', KEYS[2], call)
end
local known = {}
for i = 7, #ARGV do known[ARGV[i]] = true end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
for _, call in ipairs(due) do
  local wiring = redis.call('HGET', KEYS[2], call)
  if wiring == false then
    redis.call('ZREM', KEYS[1], call)
  else
    local name = string.match(wiring, '^%S+ (%S+)$')
    local lease = ARGV[6] .. call
    if name ~= nil and known[name] and redis.call('EXISTS', lease) == 0 then
      local fence = redis.call('INCR', KEYS[3])
      redis.call('SET', lease, fence .. ' ' .. ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[3])
      return {call, wiring, fence}
    end
  end
end
return false
"""
)
#: KEYS: lease, owned, wiring. ARGV: lease value, call id, GPT-Live margin ms. A call still recorded (its
#: sideband stopped while the call goes on: a shutdown) becomes due sooner than its lease's end: a Realtime call
#: at once, a GPT-Live session once the attach's replay can no longer bring back what the owner answered.
_RELEASE = (
    _NOW
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local wiring = redis.call('HGET', KEYS[3], ARGV[2])
local current = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[2]))
if wiring ~= false and current ~= nil then
  local due = now
  if string.sub(wiring, 1, 5) == 'live ' then due = now + tonumber(ARGV[3]) end
  if due < current then redis.call('ZADD', KEYS[2], 'XX', due, ARGV[2]) end
end
return 1
"""
)
#: After a clean release, how long a GPT-Live session's record waits before a standby may take it: longer than
#: the attach's replay (about 3 s, SIDEBAND-NOTES §3.4), which would otherwise bring the owner's last
#: delegations back to be answered again.
LIVE_RELEASE_MARGIN = 4.5
_HOLDER = """
local value = redis.call('GET', KEYS[1])
if value == false then return false end
return {value, redis.call('PTTL', KEYS[1])}
"""


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisCallLeases:
    """Leases in Redis, shared by every worker and host on the same Redis: ``SET NX PX`` (with the fence
    ``INCR``) to acquire, Lua compare-and-set to renew and release. A sync client for the sync methods and a
    ``redis.asyncio`` one (made on the running loop) for the coroutines. The URL's password is registered with
    :data:`~realtime_service.redaction.SECRETS` and appears in no repr or error."""

    shared = True

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        try:
            import redis
            import redis.asyncio
        except ImportError:
            raise ConfigurationError(
                "Redis call leases need the redis package: pip install 'realtime-service[sideband]'"
            ) from None
        SECRETS.add_url_password(url)
        self._url = url
        self._timeout = timeout
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
        )
        self._scripts = {name: self._client.register_script(source) for name, source in _SCRIPTS.items()}
        self._async: tuple[asyncio.AbstractEventLoop, Any, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return "RedisCallLeases(server.rate_limit_storage)"

    def _unavailable(self, exc: BaseException) -> LeaseUnavailable:
        return LeaseUnavailable(f"call lease storage: {type(exc).__name__}")

    def _run(self, script: str, keys: list[str], args: list[str | int]) -> Any:
        try:
            return self._scripts[script](keys=keys, args=args)
        except self._errors as exc:
            raise self._unavailable(exc) from None

    async def _arun(self, script: str, keys: list[str], args: list[str | int]) -> Any:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout, decode_responses=True
            )
            self._async = (loop, client, {name: client.register_script(src) for name, src in _SCRIPTS.items()})
        try:
            return await self._async[2][script](keys=keys, args=args)
        except self._errors as exc:
            raise self._unavailable(exc) from None

    @staticmethod
    def _acquire_args(call_id: str, owner: str, ttl: float) -> tuple[list[str], list[str | int], str, float]:
        key, owner, ttl = lease_key(call_id), _checked(owner, "owner"), _checked_ttl(ttl)
        return [key, FENCE_KEY], [secrets.token_hex(16), owner, _ms(ttl)], owner, ttl

    @staticmethod
    def _lease(call_id: str, owner: str, ttl: float, token: str, fence: Any, sent: float) -> Lease | None:
        return None if fence is None else Lease(call_id, owner, int(fence), ttl, sent, token)

    @staticmethod
    def _to_holder(result: Any) -> Holder | None:
        if not result:
            return None
        value, pttl = result
        return _holder(str(value), max(0, int(pttl)) / 1000)

    def acquire(self, call_id: str, owner: str, ttl: float = DEFAULT_TTL) -> Lease | None:
        keys, args, owner, ttl = self._acquire_args(call_id, owner, ttl)
        sent = time.monotonic()
        return self._lease(call_id, owner, ttl, str(args[0]), self._run("acquire", keys, args), sent)

    def renew(self, lease: Lease) -> bool:
        return bool(self._run("renew", _record_keys(lease.call_id), [lease.value, _ms(lease.ttl), lease.call_id]))

    def release(self, lease: Lease) -> bool:
        return bool(self._run("release", _record_keys(lease.call_id), self._release_args(lease)))

    def holder(self, call_id: str) -> Holder | None:
        return self._to_holder(self._run("holder", [lease_key(call_id)], []))

    async def aacquire(self, call_id: str, owner: str, ttl: float = DEFAULT_TTL) -> Lease | None:
        keys, args, owner, ttl = self._acquire_args(call_id, owner, ttl)
        sent = time.monotonic()
        return self._lease(call_id, owner, ttl, str(args[0]), await self._arun("acquire", keys, args), sent)

    async def arenew(self, lease: Lease) -> bool:
        keys = _record_keys(lease.call_id)
        return bool(await self._arun("renew", keys, [lease.value, _ms(lease.ttl), lease.call_id]))

    async def arelease(self, lease: Lease) -> bool:
        return bool(await self._arun("release", _record_keys(lease.call_id), self._release_args(lease)))

    @staticmethod
    def _release_args(lease: Lease) -> list[str | int]:
        return [lease.value, lease.call_id, _ms(LIVE_RELEASE_MARGIN)]

    async def aholder(self, call_id: str) -> Holder | None:
        return self._to_holder(await self._arun("holder", [lease_key(call_id)], []))

    async def arecord(self, lease: Lease, api: str, wiring: str) -> bool:
        if api not in APIS:
            raise ValueError("api must be 'realtime' or 'live'")
        args: list[str | int] = [lease.value, lease.call_id, f"{api} {_checked(wiring, 'wiring name')}", _ms(lease.ttl)]
        return bool(await self._arun("record", _record_keys(lease.call_id), args))

    async def aforget(self, lease: Lease) -> None:
        await self._arun("forget", _record_keys(lease.call_id), [lease.value, lease.call_id])

    async def aadopt(
        self, owner: str, wirings: tuple[str, ...], ttl: float = DEFAULT_TTL, *, forget_after: float = FORGET_AFTER
    ) -> Adopted | None:
        owner, ttl = _checked(owner, "owner"), _checked_ttl(ttl)
        names = [_checked(name, "wiring name") for name in wirings]
        if not names:
            return None
        token = secrets.token_hex(16)
        prefix = lease_key("x")[:-1]
        args: list[str | int] = [token, owner, _ms(ttl), _ms(forget_after), _ADOPT_SCAN, prefix, *names]
        sent = time.monotonic()
        found = await self._arun("adopt", [OWNED_KEY, WIRING_KEY, FENCE_KEY], args)
        if not found:
            return None
        call_id, wiring, fence = str(found[0]), str(found[1]), int(found[2])
        api, _, name = wiring.partition(" ")
        return Adopted(Lease(call_id, owner, fence, ttl, sent, token), api, name)

    def close(self) -> None:
        self._client.close()

    async def aclose(self) -> None:
        """Close the async client (on the loop it was made on) and the sync one."""
        held, self._async = self._async, None
        if held is not None and held[0] is asyncio.get_running_loop():
            await held[1].aclose()
        self.close()


_SCRIPTS = {
    "acquire": _ACQUIRE,
    "renew": _RENEW,
    "release": _RELEASE,
    "holder": _HOLDER,
    "record": _RECORD,
    "forget": _FORGET,
    "adopt": _ADOPT,
}
#: How many due records one adoption poll looks at (those whose lease is held again, or whose wiring this
#: worker does not have, are skipped).
_ADOPT_SCAN = 16


def _record_keys(call_id: str) -> list[str]:
    return [lease_key(call_id), OWNED_KEY, WIRING_KEY]


def check_lease_storage(storage_uri: str, *, workers: int) -> None:
    """Refuse ``memory://`` leases for a server of several worker processes: each would hold its own, so two
    workers could own one call. ``ConfigurationError`` (as ``serve`` does for the webhook ledger)."""
    if workers > 1 and redis_url(storage_uri) is None:
        raise ConfigurationError(
            f"--workers {workers} with in-memory storage would give each worker its own call leases, so two "
            "workers could act on one call: set server.rate_limit_storage: redis://... (or use one worker)"
        )


def leases_from_url(storage_uri: str, *, workers: int) -> CallLeases:
    """The leases for the ``server.rate_limit_storage`` URL of a server running ``workers`` processes."""
    check_lease_storage(storage_uri, workers=workers)
    url = redis_url(storage_uri)
    return MemoryCallLeases() if url is None else RedisCallLeases(url)


def open_call_leases(storage_uri: str, workers: int) -> Iterator[CallLeases]:
    """The container's resource: the leases, closed at ``shutdown_resources()``."""
    leases = leases_from_url(storage_uri, workers=workers)
    try:
        yield leases
    finally:
        leases.close()


class LeaseKeeper:
    """Keeps a lease while a call is handled: renews it every ``renew_every`` (default ``ttl / 3``) and sets
    :attr:`lost` (and calls ``on_lost`` once, with the reason) the moment it can no longer be sure it holds it:
    a renewal refused (expired, or another owner holds it), or none confirmed before the lease's validity ran
    out (the storage down or slow). Storage errors are retried until then. Leaving the ``async with`` releases
    the lease if it is still ours.

    Act only while :meth:`valid` is true, and check it right before each action (see the module docstring)."""

    def __init__(
        self,
        leases: CallLeases,
        lease: Lease,
        *,
        renew_every: float | None = None,
        on_lost: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.leases = leases
        self.lease = lease
        self.renew_every = renew_every if renew_every is not None else lease.ttl / 3
        if not 0 < self.renew_every < lease.ttl * (1 - DRIFT):
            raise ValueError("renew_every must be above 0 and well under the lease's ttl")
        self._on_lost = on_lost
        self._clock = clock
        self._valid_until = lease.acquired_at + lease.ttl * (1 - DRIFT)
        self.lost = asyncio.Event()
        #: Why the lease was lost (``None`` while held).
        self.reason: str | None = None
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = f"lost: {self.reason}" if self.reason else "held"
        return f"LeaseKeeper({self.lease!r}, {state})"

    @property
    def fence(self) -> int:
        return self.lease.fence

    @property
    def valid_until(self) -> float:
        """The monotonic time (this host's clock) until which the lease is surely ours, as of the last renewal."""
        return self._valid_until

    def valid(self) -> bool:
        """Whether this process may act on the call now: the lease is not lost and its validity has not run
        out on this host's monotonic clock (also false at once after this process was paused past it)."""
        return not self.lost.is_set() and self._clock() < self._valid_until

    def _lose(self, reason: str) -> None:
        if self.lost.is_set():
            return
        self.reason = reason
        self.lost.set()
        logger.warning(
            "call %s: lease lost (%s); this worker stops acting on it",
            self.lease.call_id,
            reason,
            extra={"call_id": self.lease.call_id},
        )
        if self._on_lost is not None:
            try:
                self._on_lost(reason)
            except Exception:  # the loss is signalled (lost is set) whatever the callback does
                logger.exception(
                    "call %s: the lease's on_lost callback raised",
                    self.lease.call_id,
                    extra={"call_id": self.lease.call_id},
                )

    async def _keep(self) -> None:
        pause = self.renew_every
        while True:
            now = self._clock()
            if now >= self._valid_until:
                self._lose("no renewal was confirmed within the lease's ttl (storage down or slow)")
                return
            await asyncio.sleep(min(pause, self._valid_until - now))
            pause = self.renew_every / 4  # until a renewal succeeds: retry sooner, while the lease still runs
            sent = self._clock()
            if sent >= self._valid_until:
                continue  # the check above names why
            try:
                async with asyncio.timeout(self._valid_until - sent):
                    renewed = await self.leases.arenew(self.lease)
            except (LeaseUnavailable, TimeoutError) as exc:
                logger.info(
                    "call %s: lease renewal failed (%s); retrying",
                    self.lease.call_id,
                    type(exc).__name__,
                    extra={"call_id": self.lease.call_id},
                )
                continue
            except Exception as exc:  # a broken storage: stop acting now rather than when the validity runs out
                self._lose(f"the renewal raised {type(exc).__name__}")
                logger.exception(
                    "call %s: lease renewal raised", self.lease.call_id, extra={"call_id": self.lease.call_id}
                )
                return
            if not renewed:
                self._lose("the lease expired or another owner holds it")
                return
            self.renewals += 1
            self._valid_until = sent + self.lease.ttl * (1 - DRIFT)
            pause = self.renew_every

    def start(self) -> None:
        """Start renewing on the running loop (``async with`` does this)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._keep(), name=f"lease {self.lease.call_id}")

    async def stop(self, *, release: bool = True) -> None:
        """Stop renewing and, if ``release`` and the lease is still ours, give it up (so a standby need not wait
        for it to expire). A storage error on release is logged: the lease then expires by itself."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if release and not self.lost.is_set():
            self.reason = "released"  # not a loss: no warning, no on_lost; valid() is false from here on
            self.lost.set()
            try:
                await self.leases.arelease(self.lease)
            except LeaseUnavailable as exc:
                logger.warning(
                    "call %s: lease not released (%s): it expires by itself",
                    self.lease.call_id,
                    exc,
                    extra={"call_id": self.lease.call_id},
                )

    async def __aenter__(self) -> LeaseKeeper:
        self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()


async def atake_over(
    leases: CallLeases,
    call_id: str,
    owner: str,
    *,
    ttl: float = DEFAULT_TTL,
    poll: float | None = None,
    stop: asyncio.Event | None = None,
) -> Lease | None:
    """Stand by for a call: acquire its lease now, or as soon as its holder's expires (or is released). Polls
    every ``poll`` seconds (default ``ttl / 10``), sooner when the holder's lease ends sooner. ``None`` once
    ``stop`` is set. Storage errors are logged and polled through (a standby outlives a Redis restart)."""
    interval = poll if poll is not None else _checked_ttl(ttl) / 10
    if not interval > 0:
        raise ValueError("poll must be above 0 seconds")
    failing = False
    while stop is None or not stop.is_set():
        wait = interval
        try:
            lease = await leases.aacquire(call_id, owner, ttl)
            if lease is not None:
                return lease
            holder = await leases.aholder(call_id)
            if holder is not None:
                wait = min(interval, max(holder.expires_in, 0.001))
            failing = False
        except LeaseUnavailable as exc:
            if not failing:
                logger.warning(
                    "call %s: standby cannot reach the lease storage (%s); polling",
                    call_id,
                    exc,
                    extra={"call_id": call_id},
                )
            failing = True
        if stop is None:
            await asyncio.sleep(wait)
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await stop.wait()
    return None
