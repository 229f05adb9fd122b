"""Opening a call's sideband WebSocket with the service's own settings, and keeping its key out of every log.

The URL comes from the configured ``base_url`` (``http`` becomes ``ws``, ``https`` ``wss``): a Realtime call's
``/realtime?call_id=<id>`` and a GPT-Live session's ``/live/sessions/{id}/attach`` (SIDEBAND-NOTES §1). Azure
documents no Realtime ``?call_id=`` sideband (SIDEBAND-NOTES §1/§2.1, CALLS-LIVE-NOTES §5), so asking for one is
a :class:`~realtime_service.errors.ConfigurationError` before anything connects; its Live attach path is
``/openai/v1/live/sessions/{id}/attach``.

The ``websockets`` client logs the handshake's request headers, ``Authorization`` included, at DEBUG. Every
socket opened here logs through :data:`SOCKET_LOGGER`, whose filter masks auth header lines and scrubs every
registered secret (:data:`realtime_service.redaction.SECRETS`, the key registered on open), whatever level or
handler a host configures.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ..errors import ConfigurationError
from ..redaction import SECRETS, SocketLogFilter

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from ..config import Settings

#: Realtime and Live ids are short tokens (``rtc_...``, ``live_...``); anything else is refused before connecting.
_ID = re.compile(r"[A-Za-z0-9_-]{1,256}")
#: Keepalive pings (the ``websockets`` defaults, stated: a dead peer is noticed within ~40 s).
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
#: The largest message accepted (a server event with a large tool-arguments string fits; the SDK's Live queue is
#: 2 MiB) and how many unread messages are buffered before the socket stops reading (backpressure).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_QUEUE = 64
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
#: The ``websockets`` options a caller may change (``socket_options``); the headers, logger and proxy are ours.
TUNABLE = frozenset({"ping_interval", "ping_timeout", "max_size", "max_queue", "open_timeout", "close_timeout"})
#: The logger every sideband socket logs through (handshake, frames, keepalive), filtered by :class:`SocketLogFilter`.
SOCKET_LOGGER = logging.getLogger("realtime_service.sideband.socket")
if not any(isinstance(each, SocketLogFilter) for each in SOCKET_LOGGER.filters):
    SOCKET_LOGGER.addFilter(SocketLogFilter())


@dataclass(frozen=True, slots=True)
class SidebandTarget:
    """Where a sideband connects and with which headers. ``repr`` shows the URL only, never the headers."""

    url: str
    headers: dict[str, str] = field(repr=False)


def websocket_base(base_url: str) -> str:
    """``base_url`` with ``http`` made ``ws`` and ``https`` ``wss`` (no trailing slash)."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ConfigurationError(f"base_url must be an http(s) URL with a host to open a sideband, not {base_url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


def _check_id(ident: str, what: str) -> str:
    if not isinstance(ident, str) or not _ID.fullmatch(ident):
        raise ConfigurationError(f"{what} must be 1-256 characters of letters, digits, '_' or '-'")
    return ident


def realtime_sideband_url(base_url: str, call_id: str, *, provider: str = "openai") -> str:
    """``ws(s)://.../realtime?call_id=<id>``; Azure has none documented (:class:`ConfigurationError`)."""
    if provider == "azure":
        raise ConfigurationError(
            "Azure OpenAI documents no Realtime sideband (?call_id=) (SIDEBAND-NOTES 2.1, CALLS-LIVE-NOTES 5): "
            "control an Azure call from its own connection, or use a GPT-Live session"
        )
    _check_id(call_id, "call_id")
    return f"{websocket_base(base_url)}/realtime?{urlencode({'call_id': call_id})}"


def live_sideband_url(base_url: str, session_id: str, *, provider: str = "openai", graceful_close: bool = False) -> str:
    """``ws(s)://.../live/sessions/{id}/attach`` (Azure: ``/openai/v1/live/sessions/{id}/attach``)."""
    _check_id(session_id, "session_id")
    base = websocket_base(base_url)
    if provider == "azure":
        base = base.removesuffix("/openai/v1").removesuffix("/openai") + "/openai/v1"
    query = "?graceful_close=true" if graceful_close else ""
    return f"{base}/live/sessions/{quote(session_id, safe='')}/attach{query}"


def sideband_headers(settings: Settings) -> dict[str, str]:
    """The key (``Authorization: Bearer`` or Azure's ``api-key``) and ``OpenAI-Organization``/``OpenAI-Project``
    when configured, the same connection headers the REST calls send. The key is registered for scrubbing."""
    key = settings.require_api_key()
    SECRETS.add(key)
    headers = {"api-key": key} if settings.auth_scheme == "api-key" else {"Authorization": f"Bearer {key}"}
    if settings.organization:
        headers["OpenAI-Organization"] = settings.organization
    if settings.project:
        headers["OpenAI-Project"] = settings.project
    return headers


def realtime_target(settings: Settings, call_id: str) -> SidebandTarget:
    """Where a Realtime call's sideband connects (raises before connecting on Azure)."""
    url = realtime_sideband_url(settings.base_url, call_id, provider=settings.provider)
    return SidebandTarget(url, sideband_headers(settings))


def live_target(settings: Settings, session_id: str, *, graceful_close: bool = False) -> SidebandTarget:
    """Where a GPT-Live session's sideband connects."""
    url = live_sideband_url(settings.base_url, session_id, provider=settings.provider, graceful_close=graceful_close)
    return SidebandTarget(url, sideband_headers(settings))


async def open_socket(target: SidebandTarget, **options: Any) -> ClientConnection:
    """Open ``target`` with keepalive pings, bounded frames and queue, no proxy lookup and :data:`SOCKET_LOGGER`.

    ``options`` override the :data:`TUNABLE` settings (anything else is a ``ConfigurationError``: the auth
    headers and the redacting logger are not negotiable). Raises what ``websockets`` raises: a refused handshake
    is ``websockets.exceptions.InvalidStatus`` (its response carries the status)."""
    unknown = sorted(set(options) - TUNABLE)
    if unknown:
        raise ConfigurationError(f"socket_options may only set {sorted(TUNABLE)}, not {unknown}")
    from websockets.asyncio.client import connect  # the sideband extra

    settings: dict[str, Any] = {
        "additional_headers": target.headers,
        "ping_interval": PING_INTERVAL,
        "ping_timeout": PING_TIMEOUT,
        "max_size": MAX_MESSAGE_BYTES,
        "max_queue": MAX_QUEUE,
        "open_timeout": OPEN_TIMEOUT,
        "close_timeout": CLOSE_TIMEOUT,
        "compression": None,
        "proxy": None,
        "logger": SOCKET_LOGGER,
        "user_agent_header": "realtime-service-sideband",
    }
    settings.update(options)
    return await connect(target.url, **settings)
