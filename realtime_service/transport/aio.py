"""The event-loop gateway: one attempt per :meth:`AioHttpGateway.asend` on an ``aiohttp`` session, no thread hop.

Part of the ``fastapi`` extra (``pip install 'realtime-service[fastapi]'``); the core never imports this module.
``serve`` on FastAPI builds it (:func:`open_event_loop_gateway`); the service's awaitable calls then send on the
event loop, while its blocking calls (``send``) still go through the threaded
:class:`~realtime_service.transport.gateway.HttpGateway` it wraps. It sends what that gateway sends: the same
fixed headers, no redirect followed, no environment consulted per call (``trust_env=False``), the same TLS
settings, ``pool.maxsize`` connections, per-attempt ``(connect, read)`` timeouts, the attempt's whole ``budget``
and ``max_response_bytes`` counted as the (decoded) body arrives.

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
from collections.abc import Iterator
from typing import Any

import aiohttp
import requests
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from ..config import Settings
from ..errors import APIConnectionError, APITimeoutError
from ..redaction import redact
from .gateway import HttpGateway, fixed_headers
from .seam import Gateway, HttpRequest, HttpResponse

logger = logging.getLogger("realtime_service")

#: A connect timeout (aiohttp 3.10+); 3.9 raises a plain ``ServerTimeoutError`` whose message says "Connection".
_CONNECT_TIMEOUT: tuple[type[BaseException], ...] = (
    (aiohttp.ConnectionTimeoutError,) if hasattr(aiohttp, "ConnectionTimeoutError") else ()
)
_CHUNK = 65536
#: Every live gateway, so an ASGI lifespan can close the sessions of its loop (:func:`aclose_loop_sessions`).
_GATEWAYS: weakref.WeakSet[AioHttpGateway] = weakref.WeakSet()


class AioHttpGateway:
    """Sends on the running event loop (:meth:`asend`) through one ``aiohttp.ClientSession`` per loop, created on
    that loop at its first attempt; :meth:`send` (blocking callers) goes to ``threaded``. Share one per process.

    Close with :meth:`aclose` on the loop (an ASGI lifespan's end) and :meth:`close` afterwards.
    """

    def __init__(self, settings: Settings, threaded: HttpGateway | None = None) -> None:
        api_key = settings.require_api_key()
        self._settings = settings
        self._threaded = threaded if threaded is not None else HttpGateway(settings)
        self._headers = fixed_headers(settings, api_key)
        self._ssl = _ssl_for(self._threaded.verify)
        self._timeout = (settings.timeout.connect, settings.timeout.read)
        self._max_bytes = settings.max_response_bytes
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._last: tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession] | None = None
        _GATEWAYS.add(self)

    def __repr__(self) -> str:
        return f"AioHttpGateway(base_url={self._settings.base_url!r}, api_key={redact(self._settings.api_key)!r})"

    def send(self, request: HttpRequest) -> HttpResponse:
        """One blocking attempt, through the threaded gateway (for the service's synchronous calls)."""
        return self._threaded.send(request)

    async def asend(self, request: HttpRequest) -> HttpResponse:
        """One attempt on the running loop: see :class:`~realtime_service.transport.seam.AsyncGateway`."""
        session = self._session()
        connect, read = request.timeout or self._timeout
        timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect, sock_read=read)
        headers = self._headers
        if request.headers:
            headers = {**headers, **request.headers}
        started = time.perf_counter()
        answered = False
        try:
            async with asyncio.timeout(request.budget):
                async with session.request(
                    request.method,
                    self._threaded.url_for(request.path),
                    data=request.body,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                    ssl=self._ssl,
                ) as response:
                    answered = True
                    try:
                        content = await self._read_body(response)
                    except BaseException:
                        response.close()  # never back to the pool with an unread body
                        raise
        except TimeoutError as exc:
            if not isinstance(exc, aiohttp.ServerTimeoutError):  # the budget's asyncio.timeout
                where = " while reading the body" if answered else ""
                raise APITimeoutError(f"Request timed out: total_timeout reached{where}") from None
            raise APITimeoutError(f"Request timed out: {type(exc).__name__}", request_sent=_sent(exc)) from None
        except (aiohttp.ClientError, OSError, zlib.error) as exc:
            raise APIConnectionError(f"Connection error: {type(exc).__name__}", request_sent=_sent(exc)) from None
        return HttpResponse(
            status_code=response.status,
            headers={key.lower(): value for key, value in response.headers.items()},
            content=content,
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
        )

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole body, decoded (gzip, deflate), refused as soon as it exceeds ``max_response_bytes``.

        The session does not decompress (``auto_decompress=False``): decoding here with ``max_length`` bounds
        what one compressed chunk may inflate to. An uncompressed body whose ``Content-Length`` already exceeds
        the cap is refused before a byte is read."""
        limit = self._max_bytes
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        decoder = _decoder(encoding)
        if decoder is None and _length(response) > limit:
            raise APIConnectionError(f"Response body exceeds max_response_bytes ({limit})")
        chunks: list[bytes] = []
        size = 0
        stream = response.content
        while raw := await stream.read(_CHUNK):
            if decoder is not None:
                raw = decoder.decompress(raw, limit + 1 - size)
                if decoder.unconsumed_tail:
                    raise APIConnectionError(f"Response body exceeds max_response_bytes ({limit})")
            size += len(raw)
            if size > limit:
                raise APIConnectionError(f"Response body exceeds max_response_bytes ({limit})")
            chunks.append(raw)
        if decoder is not None:
            tail = decoder.flush()
            size += len(tail)
            if size > limit:
                raise APIConnectionError(f"Response body exceeds max_response_bytes ({limit})")
            chunks.append(tail)
        return b"".join(chunks)

    def _session(self) -> aiohttp.ClientSession:
        """This loop's session, created on it at its first attempt."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop:
            return last[1]
        session = self._sessions.get(loop)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self._settings.pool_maxsize, ssl=self._ssl)
            session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # proxies and netrc from the environment: never (the threaded gateway's rule)
                auto_decompress=False,  # decoded in _read_body, under the byte cap
                cookie_jar=aiohttp.DummyCookieJar(),  # the threaded gateway keeps no cookies either
            )
            self._sessions[loop] = session
        self._last = (loop, session)
        return session

    async def aclose(self) -> None:
        """Close the running loop's session (its pooled connections) now."""
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        if self._last is not None and self._last[0] is loop:
            self._last = None
        if session is not None:
            await session.close()

    def close(self) -> None:
        """Close what is left: sessions of loops still open (a stopped loop's sockets went with it), then the
        threaded gateway's pool."""
        sessions, self._sessions, self._last = self._sessions, {}, None
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, session in sessions.items():
            if session.closed or loop.is_closed():
                continue
            if loop is current:
                loop.create_task(session.close())  # closed once this caller yields to the loop
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=5)
            elif current is None:
                loop.run_until_complete(session.close())
        self._threaded.close()


async def aclose_loop_sessions() -> None:
    """Close every :class:`AioHttpGateway`'s session on the running loop: what an ASGI lifespan runs at its end
    (whatever the container's gateway is overridden with meanwhile)."""
    for gateway in list(_GATEWAYS):
        await gateway.aclose()


def open_event_loop_gateway(settings: Settings, session: requests.Session | None = None) -> Iterator[Gateway]:
    """Resource initializer: an :class:`AioHttpGateway` over a threaded gateway, or the threaded gateway alone
    (with a warning) when proxies or a host-owned ``requests.Session`` are configured."""
    threaded = HttpGateway(settings, session)
    if threaded.proxies or session is not None:
        reason = "proxies are configured" if threaded.proxies else "a host requests.Session is configured"
        logger.warning("%s: the awaitable calls send through the requests gateway in worker threads", reason)
        gateway: HttpGateway | AioHttpGateway = threaded
    else:
        gateway = AioHttpGateway(settings, threaded)
    try:
        yield gateway
    finally:
        gateway.close()


def _ssl_for(verify: bool | str) -> ssl.SSLContext | bool:
    """The TLS settings of the threaded gateway: ``False`` skips verification, a path is the CA bundle, ``True``
    is ``requests``' own bundle (certifi), so both gateways trust the same authorities."""
    if verify is False:
        return False
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


def _length(response: aiohttp.ClientResponse) -> int:
    try:
        return int(response.headers.get("content-length", "-1"))
    except ValueError:
        return -1


def _sent(exc: BaseException) -> bool:
    """Whether the request may have reached the server: ``False`` only when the connection was never made."""
    if isinstance(exc, (aiohttp.ClientConnectorError, *_CONNECT_TIMEOUT)):
        return False
    return not (type(exc) is aiohttp.ServerTimeoutError and str(exc).startswith("Connection timeout"))
