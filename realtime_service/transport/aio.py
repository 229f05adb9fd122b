"""The event-loop gateway: one attempt per :meth:`EventLoopGateway.asend` on the running loop, no thread hop.

Part of the ``fastapi`` extra (``pip install 'realtime-service[fastapi]'``); the core never imports this module.
``serve`` on FastAPI builds it (:func:`open_event_loop_gateway`); the service's awaitable calls then send on the
event loop, while its blocking calls (``send``) still go through the threaded
:class:`~realtime_service.transport.gateway.HttpGateway` it wraps.

It speaks HTTP/1.1 to the one origin of ``base_url`` over keep-alive connections of its own (``asyncio``
protocols; responses parsed by ``httptools``, the llhttp parser uvicorn and Node use), because a general client
spent a third of the served process's CPU per mint. It sends what the threaded gateway sends: the same fixed
headers with a request's own merged over them by the same code (:mod:`.headers`), no redirect followed, no
environment consulted per call, the same TLS settings, at most ``pool.maxsize`` connections, per-attempt
``(connect, read)`` timeouts, the attempt's whole ``budget``, and ``max_response_bytes`` counted as the
(decoded) body arrives. The request is written once and never resent; a
failure says ``request_sent=False`` only when no connection was made.

With proxies (configured, or from the environment) or a host-owned ``requests.Session``, the threaded gateway
is used instead: their behaviour is ``requests``', and this module does not reimplement it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import weakref
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import requests
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from ..config import Settings
from ..errors import APIConnectionError, APITimeoutError
from ..redaction import redact
from ..wire.controls import forbidden_character
from .gateway import HttpGateway, fixed_headers
from .headers import check_fixed_headers, merge_headers
from .seam import Gateway, HttpRequest, HttpResponse, partial_body

logger = logging.getLogger("realtime_service")

#: Every live gateway, so an ASGI lifespan can close the connections of its loop (:func:`aclose_loop_sessions`).
_GATEWAYS: weakref.WeakSet[EventLoopGateway] = weakref.WeakSet()
#: The most bytes an answer's status line and headers may take (``http.client`` allows 100 lines of 64 KiB; the
#: parser would buffer a header of any length, so the cap counts what arrives before the head ends).
MAX_HEAD_BYTES = 65536


class EventLoopGateway:
    """Sends on the running event loop (:meth:`asend`) through one connection pool per loop, created on that loop
    at its first attempt; :meth:`send` (blocking callers) goes to ``threaded``. Share one per process.

    Close with :meth:`aclose` on the loop (an ASGI lifespan's end) and :meth:`close` afterwards.
    """

    def __init__(self, settings: Settings, threaded: HttpGateway | None = None) -> None:
        api_key = settings.require_api_key()
        self._settings = settings
        self._threaded = threaded if threaded is not None else HttpGateway(settings)
        origin = urlsplit(self._threaded.url_for("/"))
        self._tls = origin.scheme == "https"
        self._host = origin.hostname or ""
        self._port = origin.port or (443 if self._tls else 80)
        self._prefix = origin.path.rstrip("/")
        self._ssl = _ssl_for(self._threaded.verify) if self._tls else None
        self._fixed = fixed_headers(settings, api_key)
        self._host_header = origin.netloc.rpartition("@")[2]
        self._head_tail = _header_lines(check_fixed_headers({"Host": self._host_header, **self._fixed}))
        self._timeout = (settings.timeout.connect, settings.timeout.read)
        self._max_bytes = settings.max_response_bytes
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}
        self._last: tuple[asyncio.AbstractEventLoop, _Pool] | None = None
        _GATEWAYS.add(self)

    def __repr__(self) -> str:
        return f"EventLoopGateway(base_url={self._settings.base_url!r}, api_key={redact(self._settings.api_key)!r})"

    def send(self, request: HttpRequest) -> HttpResponse:
        """One blocking attempt, through the threaded gateway (for the service's synchronous calls)."""
        return self._threaded.send(request)

    async def asend(self, request: HttpRequest) -> HttpResponse:
        """One attempt on the running loop: see :class:`~realtime_service.transport.seam.AsyncGateway`."""
        data = self._encode(request)
        connect, read = request.timeout or self._timeout
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        deadline = None if request.budget is None else loop.time() + request.budget
        pool = self._pool(loop)
        await pool.acquire(deadline)
        try:
            connection = pool.idle_connection()
            if connection is None:
                connection = pool.add(await self._connect(loop, connect, deadline))
            if deadline is not None and loop.time() >= deadline:  # spent waiting: not worth sending now
                raise APITimeoutError("Request timed out: total_timeout reached", request_sent=False)
            status, headers, content = await connection.exchange(data, read, deadline, self._max_bytes)
            if connection.reusable:
                pool.give_back(connection)
        finally:
            pool.slots.release()
        return HttpResponse(
            status_code=status, headers=headers, content=content, elapsed_ms=(time.perf_counter() - started) * 1000.0
        )

    def _encode(self, request: HttpRequest) -> bytes:
        """The request's bytes: request line, ``Host``, the fixed headers with the request's merged over them
        (:func:`~realtime_service.transport.headers.merge_headers`, as the threaded gateway merges them),
        ``Content-Length`` and the body."""
        target = self._prefix + request.path
        # No control character, space or tab: a lenient server splits the request line on them.
        if forbidden_character(target, ascii_only=True) is not None:
            raise ValueError("the request path must be printable ASCII without spaces")
        tail = self._head_tail
        if request.headers:
            tail = _header_lines({"Host": self._host_header, **merge_headers(self._fixed, request.headers)})
        head = f"{request.method} {target} HTTP/1.1\r\n".encode("ascii") + tail
        return head + b"Content-Length: %d\r\n\r\n" % len(request.body) + request.body

    async def _connect(self, loop: asyncio.AbstractEventLoop, connect: float, deadline: float | None) -> _Connection:
        """A new connection, within the connect timeout and what is left of the budget."""
        limit = connect if deadline is None else min(connect, deadline - loop.time())
        try:
            async with asyncio.timeout(max(limit, 0.0)):
                _, connection = await loop.create_connection(
                    _Connection,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl is not None else None,
                )
        except TimeoutError:
            if deadline is not None and loop.time() >= deadline:
                raise APITimeoutError("Request timed out: total_timeout reached", request_sent=False) from None
            raise APITimeoutError("Request timed out: ConnectTimeout", request_sent=False) from None
        except (OSError, ssl.SSLError) as exc:
            raise APIConnectionError(f"Connection error: {type(exc).__name__}", request_sent=False) from None
        return connection

    def _pool(self, loop: asyncio.AbstractEventLoop) -> _Pool:
        """This loop's pool, made on it at its first attempt."""
        last = self._last
        if last is not None and last[0] is loop:
            return last[1]
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _Pool(self._settings.pool_maxsize)
        self._last = (loop, pool)
        return pool

    async def aclose(self) -> None:
        """Close the running loop's pooled connections now."""
        loop = asyncio.get_running_loop()
        pool = self._pools.pop(loop, None)
        if self._last is not None and self._last[0] is loop:
            self._last = None
        if pool is not None:
            await _close(pool)

    def close(self) -> None:
        """Close what is left: pools of loops still open (a stopped loop's sockets went with it), then the
        threaded gateway's pool."""
        pools, self._pools, self._last = self._pools, {}, None
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, pool in pools.items():
            if loop.is_closed():
                continue
            if loop.is_running() and loop is not current:
                asyncio.run_coroutine_threadsafe(_close(pool), loop).result(timeout=5)
            elif current is None:
                loop.run_until_complete(_close(pool))
            else:
                pool.close()  # the sockets close once this caller yields to its loop
        self._threaded.close()


async def _close(pool: _Pool) -> None:
    pool.close()
    await asyncio.sleep(0)  # the transports' connection_lost runs, and their sockets close


class _Pool:
    """One loop's keep-alive connections: at most ``size`` in use at once (later attempts wait), idle ones reused
    newest first, and one the server closed never handed out."""

    def __init__(self, size: int) -> None:
        self.slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []
        self._all: weakref.WeakSet[_Connection] = weakref.WeakSet()

    async def acquire(self, deadline: float | None) -> None:
        """A slot: at once when one is free, else waited for until the budget's end."""
        if not self.slots.locked() or deadline is None:
            await self.slots.acquire()
            return
        try:
            async with asyncio.timeout_at(deadline):
                await self.slots.acquire()
        except TimeoutError:
            raise APITimeoutError("Request timed out: total_timeout reached", request_sent=False) from None

    def add(self, connection: _Connection) -> _Connection:
        self._all.add(connection)
        return connection

    def idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable:
                return connection
        return None

    def give_back(self, connection: _Connection) -> None:
        self._idle.append(connection)

    @property
    def open_connections(self) -> int:
        return sum(1 for connection in self._all if not connection.closed)

    def close(self) -> None:
        for connection in list(self._all):
            connection.close()
        self._idle.clear()


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one exchange at a time, its response parsed as the bytes arrive."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self._begin(0, 0.0, None)

    def _begin(self, limit: int, read: float, deadline: float | None) -> None:
        """The state of one exchange, fresh: nothing received, nothing failed."""
        self._limit, self._read, self._deadline = limit, read, deadline
        self._failure: APIConnectionError | None = None
        self._status = 0
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._head_bytes = 0
        self._decoder: Any = None
        self._complete = False
        self._answered = False
        self._keep_alive = False

    @property
    def reusable(self) -> bool:
        return not self.closed and self._waiter is None and self._transport is not None

    # -- the exchange -------------------------------------------------------------------------------------------

    async def exchange(
        self, data: bytes, read: float, deadline: float | None, limit: int
    ) -> tuple[int, dict[str, str], bytes]:
        """Write ``data`` once, then wait for the whole answer (``read`` between arrivals, ``deadline`` overall)."""
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._begin(limit, read, deadline)
        self._arm(loop)
        self._transport.write(data)
        try:
            await self._waiter
        except asyncio.CancelledError:
            self.close()  # never back to the pool mid-answer
            raise
        finally:
            self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._failure is not None:
            self.close()
            if self._answered:  # the head arrived, the body was lost: keep what came (what a create created)
                self._failure.headers = dict(self._headers)
                self._failure.partial_body = partial_body(self._chunks)
            raise self._failure from None
        if not self._keep_alive:
            self.close()
        content = b"".join(self._chunks)
        self._chunks = []
        return self._status, self._headers, content

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """(Re)start the timer: the read timeout from now, or the budget's end if that comes first."""
        if self._timer is not None:
            self._timer.cancel()
        when = loop.time() + self._read
        budget = self._deadline is not None and self._deadline <= when
        if budget:
            assert self._deadline is not None
            when = self._deadline
        self._timer = loop.call_at(when, self._timed_out, budget)

    def _timed_out(self, budget: bool) -> None:
        if self._complete:  # the answer won the race; its waiter has not run yet
            return
        if budget:
            where = " while reading the body" if self._answered else ""
            self._fail(APITimeoutError(f"Request timed out: total_timeout reached{where}"))
        else:
            self._fail(APITimeoutError("Request timed out: ReadTimeout"))

    def _fail(self, failure: APIConnectionError) -> None:
        if self._failure is None:
            self._failure = failure
        self._finish()

    def _finish(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- asyncio.Protocol ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._complete:  # bytes nobody asked for: the connection is not ours to reuse
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self._complete:
                self._fail(APIConnectionError(f"Connection error: {type(exc).__name__}"))
            self.close()
            return
        if not self._answered:  # every byte of this read belonged to the head (or an interim answer)
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(APIConnectionError(f"Response head exceeds {MAX_HEAD_BYTES} bytes"))
                self.close()
                return
        if not self._complete and self._failure is None and self._timer is not None:
            self._arm(asyncio.get_running_loop())

    def eof_received(self) -> bool | None:
        self._ended()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended()

    def _ended(self) -> None:
        """The server closed: a close-delimited body is complete, anything else was cut off."""
        self.closed = True
        if self._waiter is None or self._complete:
            return
        if self._answered and "content-length" not in self._headers and "transfer-encoding" not in self._headers:
            self._flush_decoder()
            self._complete = True
            self._finish()
        else:
            self._fail(APIConnectionError("Connection error: ServerDisconnectedError"))

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    # -- httptools callbacks ------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:  # a second, unsolicited response in the same bytes: stop, never merge it into this one
            raise _Unsolicited

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self._headers.get(key)
        self._headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self._headers = {}
            return
        self._answered = True
        self._status = status
        encoding = self._headers.get("content-encoding", "identity").strip().lower()
        self._decoder = _decoder(encoding)
        if self._decoder is None and _length(self._headers) > self._limit:
            self._too_large()

    def on_body(self, body: bytes) -> None:
        if self._failure is not None:
            return
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body, self._limit + 1 - self._size)
            except zlib.error:
                self._fail(APIConnectionError("Connection error: error"))
                return
            if self._decoder.unconsumed_tail:
                self._too_large()
                return
        self._size += len(body)
        if self._size > self._limit:
            self._too_large()
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if not self._answered:  # the end of an interim answer
            return
        if self._failure is None:
            self._flush_decoder()
        self._keep_alive = self._parser.should_keep_alive()  # read now: the parser resets for a next message
        self._complete = True
        self._finish()

    def _flush_decoder(self) -> None:
        if self._decoder is None or self._failure is not None:
            return
        try:
            tail = self._decoder.flush()
        except zlib.error:
            self._fail(APIConnectionError("Connection error: error"))
            return
        self._size += len(tail)
        if self._size > self._limit:
            self._too_large()
        else:
            self._chunks.append(tail)

    def _too_large(self) -> None:
        self._fail(APIConnectionError(f"Response body exceeds max_response_bytes ({self._limit})"))


async def aclose_loop_sessions() -> None:
    """Close every :class:`EventLoopGateway`'s connections on the running loop: what an ASGI lifespan runs at its
    end (whatever the container's gateway is overridden with meanwhile)."""
    for gateway in list(_GATEWAYS):
        await gateway.aclose()


def open_event_loop_gateway(settings: Settings, session: requests.Session | None = None) -> Iterator[Gateway]:
    """Resource initializer: an :class:`EventLoopGateway` over a threaded gateway, or the threaded gateway alone
    (with a warning) when proxies or a host-owned ``requests.Session`` are configured."""
    threaded = HttpGateway(settings, session)
    if threaded.proxies or session is not None:
        reason = "proxies are configured" if threaded.proxies else "a host requests.Session is configured"
        logger.warning("%s: the awaitable calls send through the requests gateway in worker threads", reason)
        gateway: HttpGateway | EventLoopGateway = threaded
    else:
        gateway = EventLoopGateway(settings, threaded)
    try:
        yield gateway
    finally:
        gateway.close()


class _Unsolicited(Exception):
    """Raised from the parser's callback to stop parsing bytes after the complete answer."""


def _header_lines(headers: Mapping[str, str]) -> bytes:
    """``Name: value\\r\\n`` lines of headers already checked (:mod:`.headers`: tokens, Latin-1 values without a
    control character), so none can split the head."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


def _ssl_for(verify: bool | str) -> ssl.SSLContext:
    """The TLS settings of the threaded gateway: ``False`` skips verification, a path is the CA bundle, ``True``
    is ``requests``' own bundle (certifi), so both gateways trust the same authorities."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH)


def _decoder(encoding: str) -> Any:
    """A ``zlib`` decompressor for ``gzip``/``deflate`` (zlib-wrapped or raw, as urllib3 accepts), else ``None``
    (identity, or an encoding we did not ask for: passed through undecoded, as the threaded gateway does)."""
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Deflate()
    return None


class _Deflate:
    """``deflate`` as servers send it: zlib-wrapped per the RFC, or raw (tried when the first chunk is not)."""

    def __init__(self) -> None:
        self._inner: Any = zlib.decompressobj()
        self._first = True

    @property
    def unconsumed_tail(self) -> bytes:
        tail: bytes = self._inner.unconsumed_tail
        return tail

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._first:
            self._first = False
            try:
                return bytes(self._inner.decompress(data, max_length))
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return bytes(self._inner.decompress(data, max_length))

    def flush(self) -> bytes:
        return bytes(self._inner.flush())


def _length(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get("content-length", "-1"))
    except ValueError:
        return -1
