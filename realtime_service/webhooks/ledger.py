"""Delivered at least once, decided once: a ledger of webhook deliveries, in memory or in Redis.

OpenAI redelivers a webhook until it gets a 2xx, so the same event can arrive again, or twice at once on two
workers. Each delivery first *claims* its key (``SET NX`` with a short TTL): the first deliverer wins, a
concurrent one sees ``in_progress`` (answer non-2xx: OpenAI comes back later). Once the call is decided the
claim is *recorded* (a long TTL): a redelivery sees ``decided`` and is answered 200 without acting again. A
decision whose upstream call failed in a retryable way *releases* the claim, so the redelivery may try again.
Claims carry a random token: only the holder can record or release its own claim (compare-and-set in Redis).

The storage is the token endpoint's rate-limit storage URL: ``memory://`` (one process) or ``redis://`` /
``rediss://`` / ``redis+unix://`` (shared by workers and hosts). Redis Cluster and Sentinel URLs are refused.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..errors import ConfigurationError, RealtimeServiceError
from .events import LiveTransportIncoming, RealtimeCallIncoming, WebhookEvent
from .settings import DEFAULT_CLAIM_TTL, DEFAULT_DECIDED_TTL
from .sip import sip_call_id

NAMESPACE = "realtime-phone-ledger"
#: How long a call key stays decided: long enough for the same call's other announcement (seconds apart), short
#: enough that a carrier's re-sent INVITE reusing a SIP Call-ID days later is not taken for the old call.
DEFAULT_CALL_TTL = 600
_CLAIMED = "claimed:"
_DECIDED = "decided:"
Status = Literal["claimed", "in_progress", "decided"]


class LedgerUnavailable(RealtimeServiceError):
    """The ledger's storage did not answer: nothing is decided (the endpoint answers 503, OpenAI redelivers)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to :meth:`DecisionLedger.claim`. ``outcome`` is what was recorded, when ``decided``."""

    key: str
    status: Status
    token: str | None = None
    outcome: str | None = None

    @property
    def won(self) -> bool:
        return self.status == "claimed"


class LedgerStore(Protocol):
    """Atomic operations on ``key -> value`` with expiry; values are ``claimed:<token>`` or ``decided:<outcome>``."""

    def add(self, key: str, value: str, ttl: float) -> str | None:
        """Set ``key`` if absent (returns ``None``), else return its current value."""

    def replace_if(self, key: str, expected: str, value: str, ttl: float) -> str | None:
        """Set ``key`` to ``value`` if it holds ``expected`` or nothing; return the value it held otherwise."""

    def delete_if(self, key: str, expected: str) -> bool:
        """Delete ``key`` if it holds ``expected``."""

    def get(self, key: str) -> str | None: ...

    def close(self) -> None: ...


class MemoryLedgerStore:
    """One process's ledger: a dict under a lock, entries expiring on a monotonic clock (injectable for tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sweep_every: int = 1024) -> None:
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sweep_every = sweep_every
        self._writes = 0

    def _current(self, key: str, now: float) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._entries[key]
            return None
        return entry[0]

    def _set(self, key: str, value: str, ttl: float, now: float) -> None:
        self._entries[key] = (value, now + ttl)
        self._writes += 1
        if self._writes % self._sweep_every == 0:  # bound memory: drop what has expired
            for stale in [k for k, (_, expires) in self._entries.items() if expires <= now]:
                del self._entries[stale]

    def add(self, key: str, value: str, ttl: float) -> str | None:
        with self._lock:
            now = self._clock()
            current = self._current(key, now)
            if current is None:
                self._set(key, value, ttl, now)
            return current

    def replace_if(self, key: str, expected: str, value: str, ttl: float) -> str | None:
        with self._lock:
            now = self._clock()
            current = self._current(key, now)
            if current is None or current == expected:
                self._set(key, value, ttl, now)
                return None
            return current

    def delete_if(self, key: str, expected: str) -> bool:
        with self._lock:
            if self._current(key, self._clock()) == expected:
                del self._entries[key]
                return True
            return False

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._current(key, self._clock())

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()


_REPLACE_IF = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return false
end
return current
"""
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLedgerStore:
    """The ledger in Redis (``SET NX PX`` to claim, Lua compare-and-set to record or release), shared by every
    worker and host that uses the same Redis."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                "a Redis ledger needs the redis package: pip install 'realtime-service[webhooks]'"
            ) from None
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
        )
        self._replace_if = self._client.register_script(_REPLACE_IF)
        self._delete_if = self._client.register_script(_DELETE_IF)

    def _run(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except self._errors as exc:
            raise LedgerUnavailable(f"webhook ledger storage: {type(exc).__name__}") from None

    def add(self, key: str, value: str, ttl: float) -> str | None:
        def attempt() -> str | None:
            for _ in range(5):  # the holder may expire between SET NX and GET: then try again
                if self._client.set(key, value, nx=True, px=max(1, int(ttl * 1000))):
                    return None
                current: str | None = self._client.get(key)
                if current is not None:
                    return current
            raise LedgerUnavailable("webhook ledger storage: the key kept expiring under SET NX")

        result: str | None = self._run(attempt)
        return result

    def replace_if(self, key: str, expected: str, value: str, ttl: float) -> str | None:
        args: list[str | int] = [expected, value, max(1, int(ttl * 1000))]
        result = self._run(lambda: self._replace_if(keys=[key], args=args))
        return result if isinstance(result, str) else None

    def delete_if(self, key: str, expected: str) -> bool:
        return bool(self._run(lambda: self._delete_if(keys=[key], args=[expected])))

    def get(self, key: str) -> str | None:
        result: str | None = self._run(lambda: self._client.get(key))
        return result

    def close(self) -> None:
        self._client.close()


def redis_url(storage_uri: str) -> str | None:
    """The ``redis-py`` URL for a ``server.rate_limit_storage`` URL, or ``None`` for ``memory://``: the one reading
    of the storage setting, shared by the ledger and the call leases (:mod:`realtime_service.sideband.ownership`)."""
    scheme = storage_uri.split("://", 1)[0].lower() if "://" in storage_uri else ""
    if scheme == "memory":
        return None
    if scheme in {"redis", "rediss"}:
        return storage_uri
    if scheme == "redis+unix":
        return "unix://" + storage_uri.split("://", 1)[1]
    if scheme in {"valkey", "valkeys"}:
        return storage_uri.replace(scheme, "redis" if scheme == "valkey" else "rediss", 1)
    raise ConfigurationError(
        "server.rate_limit_storage must be memory://, redis://, rediss://, redis+unix:// or valkey:// for the "
        f"webhook ledger and call leases, not a {scheme or 'schemeless'} URL (Redis Cluster and Sentinel are not "
        "supported)"
    )


def store_from_url(storage_uri: str) -> LedgerStore:
    """The store for the token endpoint's ``server.rate_limit_storage`` URL."""
    url = redis_url(storage_uri)
    return MemoryLedgerStore() if url is None else RedisLedgerStore(url)


def _hashed(kind: str, value: str) -> str:
    """A bounded storage key: the value (untrusted, up to kilobytes) hashed."""
    return f"{NAMESPACE}:{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"


def webhook_key(webhook_id: str) -> str:
    """The ledger key of one delivery (``webhook-id`` stays the same across OpenAI's redeliveries)."""
    return _hashed("webhook", webhook_id)


def call_key(event: WebhookEvent) -> str | None:
    """The ledger key of the pending *call* an incoming-call event announces, or ``None`` for other events.

    The same pending SIP call may be announced as ``realtime.call.incoming`` (``call_id``, ``rtc_...``) and
    ``live.transport.incoming`` (``session_id``, ``live_...``), and no field of the envelope is documented to
    correlate them (UNCONFIRMED; the old ``rtc_`` -> ``live_`` conversion was withdrawn from the docs). Both carry
    the INVITE's headers, so the key is its SIP ``Call-ID`` header. Without one, the key falls back to the event's
    own id: the two announcements are then *not* recognised as one call.
    """
    if not isinstance(event, RealtimeCallIncoming | LiveTransportIncoming):
        return None
    sip_id = sip_call_id(event)
    if sip_id is not None:
        return _hashed("sip-call", sip_id)
    own = event.call_id if isinstance(event, RealtimeCallIncoming) else event.session_id
    return _hashed("call", own)


class DecisionLedger:
    """Claim, record, release: see the module docstring. ``claim_ttl`` must exceed the longest a decision may
    take (the endpoint's bounded answer time), or a slow decider's claim lapses and a redelivery acts too."""

    def __init__(
        self,
        store: LedgerStore | None = None,
        *,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
        decided_ttl: float = DEFAULT_DECIDED_TTL,
        call_ttl: float = DEFAULT_CALL_TTL,
    ) -> None:
        if not 0 < claim_ttl <= decided_ttl or call_ttl <= 0:
            raise ConfigurationError("ledger TTLs must be positive, and claim_ttl at most decided_ttl")
        self.store: LedgerStore = store if store is not None else MemoryLedgerStore()
        self.claim_ttl = claim_ttl
        self.decided_ttl = decided_ttl
        self.call_ttl = call_ttl

    @classmethod
    def from_url(cls, storage_uri: str, **ttls: float) -> DecisionLedger:
        return cls(store_from_url(storage_uri), **ttls)

    def claim(self, key: str) -> Claim:
        """Claim ``key`` for this deliverer: ``claimed`` (go on, then record or release), ``in_progress``
        (another deliverer holds it) or ``decided`` (answer 200, do nothing)."""
        token = secrets.token_hex(16)
        current = self.store.add(key, _CLAIMED + token, self.claim_ttl)
        if current is None:
            return Claim(key, "claimed", token)
        if current.startswith(_DECIDED):
            return Claim(key, "decided", outcome=current[len(_DECIDED) :])
        return Claim(key, "in_progress")

    def _held(self, claim: Claim) -> str:
        if claim.status != "claimed" or claim.token is None:
            raise ValueError(f"only a won claim can be recorded or released, not one {claim.status}")
        return _CLAIMED + claim.token

    def record(self, claim: Claim, outcome: str, *, ttl: float | None = None) -> bool:
        """Mark the claimed key decided with ``outcome`` (``accepted``, ``rejected:486``...). ``False`` when the
        claim had lapsed and someone else holds or decided the key (it is then left as they set it)."""
        held = self._held(claim)
        return self.store.replace_if(claim.key, held, _DECIDED + outcome, ttl or self.decided_ttl) is None

    def release(self, claim: Claim) -> bool:
        """Give the claim up (a retryable failure): the next delivery may decide. ``False`` if it had lapsed."""
        return self.store.delete_if(claim.key, self._held(claim))

    def state(self, key: str) -> Claim | None:
        """What the ledger holds for ``key`` (``None``: nothing); for inspection and tests."""
        current = self.store.get(key)
        if current is None:
            return None
        if current.startswith(_DECIDED):
            return Claim(key, "decided", outcome=current[len(_DECIDED) :])
        return Claim(key, "in_progress")

    def close(self) -> None:
        self.store.close()
