"""The HTTP gateway: one pooled ``requests`` session, one attempt per :meth:`HttpGateway.send`.

The hot path skips ``Session.request``: headers are built once, proxy and CA settings are resolved from the
environment once at construction, and each call sends a prepared request straight through the mounted adapter.
That avoids the per-call environment lookup (which also lets a ``~/.netrc`` entry replace our ``Authorization``
header) and never follows a redirect.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from .._version import __version__
from ..config import Settings
from ..errors import APIConnectionError, APITimeoutError, ConfigurationError
from ..redaction import redact
from .headers import check_fixed_headers, merge_headers
from .seam import HttpRequest, HttpResponse, partial_body

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
        self._urls: dict[str, str] = {}

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

    def url_for(self, path: str) -> str:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self._settings.base_url + path + self._query
        return url

    def send(self, request: HttpRequest) -> HttpResponse:
        prepared = requests.PreparedRequest()
        prepared.method = request.method
        prepared.url = self.url_for(request.path)
        # merged and checked as the event-loop gateway does (:mod:`.headers`), before anything is sent
        headers = CaseInsensitiveDict(
            merge_headers(self._headers, request.headers) if request.headers else self._headers
        )
        headers["Content-Length"] = str(len(request.body))
        prepared.headers = headers
        prepared.body = request.body
        started = time.perf_counter()
        response: requests.Response | None = None
        chunks: list[bytes] = []
        try:
            response = self._adapter.send(
                prepared,
                stream=True,
                timeout=request.timeout or self._timeout,
                verify=self._verify,
                proxies=self._proxies,
            )
            with _closing(response):
                ends = started + request.budget if request.budget is not None else None
                content = self._read_body(response.raw, ends, chunks)
        except APIConnectionError as exc:  # the size cap or the budget, while reading the body
            _with_head(exc, response, chunks)
            raise
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError) as exc:
            failure: APIConnectionError = APITimeoutError(
                f"Request timed out: {type(exc).__name__}", request_sent=_sent(exc)
            )
            raise _with_head(failure, response, chunks) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            failure = APIConnectionError(f"Connection error: {type(exc).__name__}", request_sent=_sent(exc))
            raise _with_head(failure, response, chunks) from None
        return HttpResponse(
            status_code=response.status_code,
            headers={key.lower(): value for key, value in response.headers.items()},
            content=content,
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
        )

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


@contextmanager
def _closing(response: requests.Response) -> Iterator[None]:
    """Return the connection to the pool on success, drop it on any failure mid-body."""
    try:
        yield
    except BaseException:
        response.raw.close()
        raise
    finally:
        response.raw.release_conn()


def _close_pools(manager: urllib3.PoolManager) -> None:
    """Close every pool of ``manager``: idle connections at once, checked-out ones when they come back."""
    pools = manager.pools
    for key in pools.keys():  # noqa: SIM118 - a locked copy; iterating the container itself raises
        pool = pools.get(key)
        if pool is not None:
            pool.close()


def _with_head(
    failure: APIConnectionError, response: requests.Response | None, chunks: list[bytes]
) -> APIConnectionError:
    """``failure`` with the head and the body bytes of the answer it lost (the only trace of what a create
    created)."""
    if response is not None:
        failure.headers = {key.lower(): value for key, value in response.headers.items()}
        failure.partial_body = partial_body(chunks)
    return failure


def _sent(exc: BaseException) -> bool:
    """Whether the request may have reached the server: ``False`` only when the connection was never made."""
    if isinstance(exc, requests.exceptions.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # requests wraps urllib3's MaxRetryError, which holds the cause
    return not isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError)


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
