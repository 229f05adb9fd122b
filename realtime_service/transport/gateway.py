"""The HTTP gateway: one pooled ``requests`` session, one attempt per :meth:`HttpGateway.send`.

The hot path skips ``Session.request``: headers are built once, proxy and CA settings are resolved from the
environment once at construction. That avoids the per-call environment lookup (which also lets a ``~/.netrc``
entry replace our ``Authorization`` header) and never follows a redirect.

Each call then goes one of two ways. Through a plain :class:`~requests.adapters.HTTPAdapter` that retries nothing
and with no proxy for the base URL (the default), it goes straight to the adapter's urllib3 pool, whose key and TLS
settings ``requests`` computed once (``build_connection_pool_key_attributes``; ``cert_verify`` still runs per
call): no ``PreparedRequest``, no ``requests.Response``, no per-call URL parsing or proxy selection, about 15-20 %
of the gateway's CPU per send (``bench/bench_gateway.py``). Through a proxy, a host's adapter
subclass or a host's adapter that retries, it goes through ``HTTPAdapter.send`` as it always did. Both ways send
the same request and raise the same errors (urllib3's are renamed as ``requests`` names them).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlencode

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import select_proxy
from urllib3.connectionpool import HTTPConnectionPool

from .._version import __version__
from ..config import Settings
from ..errors import APIConnectionError, APITimeoutError, ConfigurationError
from ..redaction import redact
from .headers import check_fixed_headers, merge_headers
from .seam import HttpRequest, HttpResponse, partial_body

#: How many request paths keep their URL cached: the fixed ones, not one per call id (``/realtime/calls/{id}``).
URL_CACHE_SIZE = 64

USER_AGENT = f"realtime-service/{__version__} (python {platform.python_version()}; requests {requests.__version__})"


class HttpGateway:
    """Sends requests to the configured base URL. Thread-safe: share one per process.

    ``session`` may be a host-owned :class:`requests.Session` (its mounted adapters are used); the gateway
    closes only a session it created itself.
    """

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        api_key = settings.require_api_key()
        self._settings = settings
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._session.trust_env = False
        if self._owns_session:
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=settings.pool_maxsize, max_retries=0)
            self._session.mount("https://", adapter)
            self._session.mount("http://", adapter)
        self._adapter = self._session.get_adapter(settings.base_url)
        self._proxies = dict(settings.proxies) if settings.proxies is not None else _environment_proxies(settings)
        self._verify: bool | str = settings.verify if settings.verify is not None else _environment_ca_bundle()
        self._timeout = (settings.timeout.connect, settings.timeout.read)
        self._max_bytes = settings.max_response_bytes
        headers = fixed_headers(settings, api_key)
        self._headers = headers
        self._query = f"?{urlencode({'api-version': settings.api_version})}" if settings.api_version else ""
        self._urls: dict[str, tuple[str, str]] = {}
        self._default_timeout = urllib3.Timeout(connect=settings.timeout.connect, read=settings.timeout.read)
        self._pool_key = _direct_pool_key(self._adapter, settings.base_url, self._proxies, self._verify)

    def __repr__(self) -> str:
        return f"HttpGateway(base_url={self._settings.base_url!r}, api_key={redact(self._settings.api_key)!r})"

    @property
    def proxies(self) -> dict[str, str]:
        """The proxies every attempt goes through (configured, else from the environment at construction)."""
        return self._proxies

    @property
    def verify(self) -> bool | str:
        """TLS verification: ``True``, ``False`` or a CA bundle path (configured, else from the environment)."""
        return self._verify

    @property
    def direct(self) -> bool:
        """Whether attempts go straight to the adapter's urllib3 pool (see the module's docstring)."""
        return self._pool_key is not None

    def url_for(self, path: str) -> str:
        return self._url_and_target(path)[0]

    def _url_and_target(self, path: str) -> tuple[str, str]:
        """The absolute URL of ``path`` and its request target (path and query, as ``requests`` sends it)."""
        known = self._urls.get(path)
        if known is None:
            url = self._settings.base_url + path + self._query
            known = (url, _request_target(url))
            if len(self._urls) < URL_CACHE_SIZE:
                self._urls[path] = known
        return known

    def send(self, request: HttpRequest) -> HttpResponse:
        url, target = self._url_and_target(request.path)
        # merged and checked as the event-loop gateway does (:mod:`.headers`), before anything is sent
        headers = self._request_headers(request)
        started = time.perf_counter()
        raw: urllib3.BaseHTTPResponse | None = None
        chunks: list[bytes] = []
        try:
            if self._pool_key is not None:
                raw = self._open_direct(request, headers, target, self._pool_key, url)
            else:
                raw = self._open_via_adapter(request, headers, url)
            with _closing(raw):
                ends = started + request.budget if request.budget is not None else None
                content = self._read_body(raw, ends, chunks)
        except APIConnectionError as exc:  # the size cap or the budget, while reading the body
            _with_head(exc, raw, chunks)
            raise
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError) as exc:
            failure: APIConnectionError = APITimeoutError(
                f"Request timed out: {type(exc).__name__}", request_sent=_sent(exc)
            )
            raise _with_head(failure, raw, chunks) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            failure = APIConnectionError(f"Connection error: {type(exc).__name__}", request_sent=_sent(exc))
            raise _with_head(failure, raw, chunks) from None
        return HttpResponse(
            status_code=raw.status,
            headers=_lower_headers(raw),
            content=content,
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
        )

    def _request_headers(self, request: HttpRequest) -> Mapping[str, str]:
        """The fixed headers, the request's merged over them (:func:`.headers.merge_headers`: checked, whatever
        their case) and the body's exact length."""
        if not request.headers:  # the fixed headers hold no Content-Length: a plain dict is the same mapping
            return {**self._headers, "Content-Length": str(len(request.body))}
        headers = CaseInsensitiveDict(merge_headers(self._headers, request.headers))
        headers["Content-Length"] = str(len(request.body))
        return headers

    def _open_via_adapter(
        self, request: HttpRequest, headers: Mapping[str, str], url: str
    ) -> urllib3.BaseHTTPResponse:
        """Send through ``HTTPAdapter.send`` (proxies, a host's adapter subclass or retries); the body unread."""
        prepared = requests.PreparedRequest()
        prepared.method = request.method
        prepared.url = url
        prepared.headers = CaseInsensitiveDict(headers)
        prepared.body = request.body
        response = self._adapter.send(
            prepared,
            stream=True,
            timeout=request.timeout or self._timeout,
            verify=self._verify,
            proxies=self._proxies,
        )
        raw: urllib3.BaseHTTPResponse = response.raw
        return raw

    def _open_direct(
        self, request: HttpRequest, headers: Mapping[str, str], target: str, key: _PoolKey, url: str
    ) -> urllib3.BaseHTTPResponse:
        """Send on the adapter's urllib3 pool as ``HTTPAdapter.send`` would (same pool, TLS settings, target,
        headers, timeouts; no redirect, no retry, body unread), raising the exceptions it would raise."""
        host, pool_kwargs = key
        timeout = self._default_timeout if request.timeout is None else _timeout(request.timeout)
        adapter = self._adapter
        assert isinstance(adapter, HTTPAdapter)  # _direct_pool_key gave a key only for one
        try:
            pool: HTTPConnectionPool = adapter.poolmanager.connection_from_host(**host, pool_kwargs=pool_kwargs)
        except urllib3.exceptions.LocationValueError as exc:
            raise requests.exceptions.InvalidURL(exc) from None
        # outside the try: its OSError is raised as HTTPAdapter.send raises it
        adapter.cert_verify(pool, url, self._verify, None)  # type: ignore[no-untyped-call]
        try:
            return pool.urlopen(
                method=request.method,
                url=target,
                body=request.body,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                retries=False,
                timeout=timeout,
                chunked=False,
            )
        except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError too: test it first
            raise requests.exceptions.ConnectionError(exc) from None
        except urllib3.exceptions.ConnectTimeoutError as exc:
            raise requests.exceptions.ConnectTimeout(exc) from None
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ReadTimeout(exc) from None
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from None
        except urllib3.exceptions.InvalidHeader as exc:
            raise requests.exceptions.InvalidHeader(exc) from None
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ClosedPoolError, OSError) as exc:
            raise requests.exceptions.ConnectionError(exc) from None

    def _read_body(self, raw: urllib3.BaseHTTPResponse, ends: float | None, chunks: list[bytes]) -> bytes:
        """Read the whole (decoded) body as it arrives, refusing one larger than ``max_response_bytes`` before
        buffering it and giving up when the attempt's budget ends (``perf_counter`` time ``ends``).

        An uncompressed body whose ``Content-Length`` already exceeds the cap is refused before a byte is read;
        a compressed one (its length says nothing of the decoded size) is counted as it decodes. ``chunks``
        collects what arrived, which is all a caller has when the rest is lost."""
        if _declared_length(raw) > self._max_bytes:
            raise APIConnectionError(f"Response body exceeds max_response_bytes ({self._max_bytes})")
        size = 0
        while chunk := raw.read1(65536, decode_content=True):
            size += len(chunk)
            if size > self._max_bytes:
                raise APIConnectionError(f"Response body exceeds max_response_bytes ({self._max_bytes})")
            if ends is not None and time.perf_counter() > ends:
                raise APITimeoutError("Request timed out: total_timeout reached while reading the body")
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Close the pooled connections now (of a session the gateway owns).

        ``Session.close()`` alone only forgets urllib3's pools, which close their sockets when garbage collected;
        after a failed attempt a pool sits in a reference cycle (the exception's traceback holds its frames), so
        its keep-alive sockets would stay open until the cyclic collector ran.
        """
        if self._owns_session:
            for adapter in {id(a): a for a in self._session.adapters.values()}.values():
                if isinstance(adapter, HTTPAdapter):
                    _close_pools(adapter.poolmanager)
                    for proxy_manager in list(adapter.proxy_manager.values()):
                        _close_pools(proxy_manager)
            self._session.close()


def fixed_headers(settings: Settings, api_key: str) -> dict[str, str]:
    """The headers every attempt sends (auth, media types, encodings, user agent, organization, project), each
    checked as a request's own are (:mod:`.headers`), so a bad setting fails when the gateway is built."""
    headers = {
        **({"api-key": api_key} if settings.auth_scheme == "api-key" else {"Authorization": f"Bearer {api_key}"}),
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate",
        "User-Agent": USER_AGENT,
        "Connection": "keep-alive",
    }
    if settings.organization:
        headers["OpenAI-Organization"] = settings.organization
    if settings.project:
        headers["OpenAI-Project"] = settings.project
    return check_fixed_headers(headers)


#: What picks the adapter's urllib3 pool: host parameters (scheme, host, port) and the TLS pool keywords.
_PoolKey = tuple[dict[str, object], dict[str, object]]


def _direct_pool_key(adapter: object, base_url: str, proxies: dict[str, str], verify: bool | str) -> _PoolKey | None:
    """The pool key ``requests`` would compute for the base URL, or ``None`` when attempts must go through
    ``HTTPAdapter.send``: a proxy applies, the adapter is a subclass (it may override any step) or it retries, or
    ``requests`` is older than 2.32.3, which made the pool key public (``build_connection_pool_key_attributes``)."""
    if type(adapter) is not HTTPAdapter or adapter.max_retries.total != 0:
        return None
    if select_proxy(base_url, proxies):
        return None
    pool_key_of = getattr(adapter, "build_connection_pool_key_attributes", None)
    if pool_key_of is None:
        return None
    prepared = requests.PreparedRequest()
    prepared.url = base_url
    host, pool_kwargs = pool_key_of(prepared, verify, None)
    return dict(host), dict(pool_kwargs)


def _request_target(url: str) -> str:
    """The path and query ``requests`` sends for ``url`` (``PreparedRequest.path_url``)."""
    prepared = requests.PreparedRequest()
    prepared.url = url
    return prepared.path_url


def _timeout(timeout: tuple[float, float]) -> urllib3.Timeout:
    connect, read = timeout
    return urllib3.Timeout(connect=connect, read=read)


def _lower_headers(raw: urllib3.BaseHTTPResponse) -> dict[str, str]:
    """The answer's headers with lower-case names, repeated ones joined by ", " (as ``requests`` joins them)."""
    return {key.lower(): value for key, value in raw.headers.itermerged()}


@contextmanager
def _closing(raw: urllib3.BaseHTTPResponse) -> Iterator[None]:
    """Return the connection to the pool on success, drop it on any failure mid-body."""
    try:
        yield
    except BaseException:
        raw.close()
        raise
    finally:
        raw.release_conn()


def _close_pools(manager: urllib3.PoolManager) -> None:
    """Close every pool of ``manager``: idle connections at once, checked-out ones when they come back."""
    pools = manager.pools
    for key in pools.keys():  # noqa: SIM118 - a locked copy; iterating the container itself raises
        pool = pools.get(key)
        if pool is not None:
            pool.close()


def _with_head(
    failure: APIConnectionError, raw: urllib3.BaseHTTPResponse | None, chunks: list[bytes]
) -> APIConnectionError:
    """``failure`` with the head and the body bytes of the answer it lost (the only trace of what a create
    created)."""
    if raw is not None:
        failure.headers = _lower_headers(raw)
        failure.partial_body = partial_body(chunks)
    return failure


def _sent(exc: BaseException) -> bool:
    """Whether the request may have reached the server: ``False`` only when the connection was never made."""
    if isinstance(exc, requests.exceptions.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return False  # NewConnectionError is a ConnectTimeoutError too
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # requests wraps urllib3's MaxRetryError, which holds the cause
    return not isinstance(reason, urllib3.exceptions.NewConnectionError)


def _declared_length(raw: urllib3.BaseHTTPResponse) -> int:
    """The ``Content-Length`` of an uncompressed body, or -1 when it is absent, invalid or compressed."""
    headers = raw.headers
    if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return -1
    try:
        return int(headers.get("content-length", "-1"))
    except ValueError:
        return -1


def _environment_proxies(settings: Settings) -> dict[str, str]:
    """Proxies for the base URL from ``HTTPS_PROXY``/``NO_PROXY`` and friends, looked up once."""
    return dict(requests.utils.get_environ_proxies(settings.base_url))


def _environment_ca_bundle() -> bool | str:
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and not os.path.exists(bundle):
        raise ConfigurationError(f"CA bundle from the environment does not exist: {bundle}")
    return bundle or True


def open_gateway(settings: Settings, session: requests.Session | None = None) -> Iterator[HttpGateway]:
    """Resource initializer for the container: yields a gateway and closes it on ``shutdown_resources()``."""
    gateway = HttpGateway(settings, session)
    try:
        yield gateway
    finally:
        gateway.close()
