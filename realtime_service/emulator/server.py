"""The emulator: an OpenAI-compatible HTTP server on loopback, run in a background thread.

Used by tests, benchmarks and the CLI's offline mode, so it aims to be faithful where clients can tell
(status codes, error bodies, headers, keep-alive) and cheap per request (a benchmark drives thousands of
sequential calls through it). Endpoints live in a route table: see :meth:`Emulator.add_route`. The calls and
Live sessions are route families over :mod:`.core` (:mod:`.families` lists them), installed on each emulator;
this module is the HTTP server and the route table they plug into, and nothing below it imports it.

``Emulator(azure=True)`` speaks Azure OpenAI's dialect instead, for the same route table:

- auth is the ``api-key: <key>`` header; ``Authorization: Bearer`` (an Entra ID token, not emulated) is a 401;
- paths: the v1 surface ``/openai/v1/<OpenAI path>`` (``api-version`` optional) and the classic preview
  layout of :data:`AZURE_CLASSIC_ROUTES` (``/openai/realtimeapi/sessions`` and ``.../transcription_sessions``,
  ``api-version`` required);
- errors of Azure's own front door have Azure's shape, ``{"error": {"code": "404", "message": ...}}``
  (no ``type``/``param``): an unknown path, and a classic path without ``api-version``, are
  ``404 Resource not found`` as on the real service (not a 400); a bad key is ``401`` with code ``"401"``.
  Errors from the endpoints themselves (validation, ``beta_api_shape_disabled``) keep OpenAI's shape, as
  Azure passes them through. Answers also carry an ``apim-request-id`` header.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import hmac
import http
import json
import re
import secrets
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from ..redaction import redact
from .call_audio import CallAudio
from .call_registry import DEFAULT_MAX_CALLS, DEFAULT_MAX_ENDED, DEFAULT_MAX_KEYS, CallRecord, CallRegistry, UnknownCall
from .client_secrets import create_client_secret
from .core import Call, Driver, Handler, Peers, RecordedRequest, Route, SocketRoute, SocketSession
from .data_channels import sessions
from .families import install_route_families
from .faults import Fault, FaultQueue
from .live_events import LiveEvents
from .replies import Reply
from .scripted_calls import ScriptedCalls
from .scripts import load_script
from .sessions import create_session
from .socket_faults import SocketFault
from .sockets import missing_extra, raw_headers, serve_websocket, wants_upgrade
from .transcription_sessions import create_transcription_session
from .translations import create_translation_client_secret
from .validation import json_type_name

if TYPE_CHECKING:
    from socketserver import _RequestType

    from .webrtc.host import PeerHost

OPENAI_VERSION = "2020-10-01"
BETA_RETIRED_MESSAGE = (
    "The Realtime API beta shape has been disabled for this endpoint. "
    "Use the GA interface instead: POST /v1/realtime/client_secrets."
)
_MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
_BAD_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)
_AZURE_KEY_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource."
)
_AZURE_ENTRA_MESSAGE = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), "
    "or have expired."
)
_STREAM_CHUNK = b"x" * 65536
_JOIN_TIMEOUT = 5.0
#: Requests an :class:`Emulator` keeps for inspection unless told otherwise (about 4 KB each).
DEFAULT_HISTORY = 1000


def _create(endpoint: Callable[[dict[str, Any], float], Reply]) -> Handler:
    """A handler for an endpoint function of the JSON body and the time."""

    def handle(call: Call) -> Reply:
        return endpoint(call.body, call.now)

    return handle


# path under /v1 -> method -> route. Add an endpoint here (or at runtime with Emulator.add_route).
DEFAULT_ROUTES: Mapping[str, Mapping[str, Route]] = {
    "/realtime/sessions": {"POST": Route(_create(create_session), beta=True)},
    "/realtime/transcription_sessions": {"POST": Route(_create(create_transcription_session), beta=True)},
    "/realtime/client_secrets": {"POST": Route(_create(create_client_secret))},
    "/realtime/translations/client_secrets": {"POST": Route(_create(create_translation_client_secret))},
}

# Azure mode: the classic (preview) paths, each serving a route of the table above; they need api-version.
AZURE_CLASSIC_ROUTES: Mapping[str, str] = {
    "/openai/realtimeapi/sessions": "/realtime/sessions",
    "/openai/realtimeapi/transcription_sessions": "/realtime/transcription_sessions",
}
AZURE_V1_PREFIX = "/openai/v1"


def _azure_error(status: int, message: str) -> Reply:
    return Reply.json(status, {"error": {"code": str(status), "message": message}})


_AZURE_NOT_FOUND = _azure_error(404, "Resource not found")
_AZURE_BAD_KEY = _azure_error(401, _AZURE_KEY_MESSAGE)
_AZURE_NO_ENTRA = _azure_error(401, _AZURE_ENTRA_MESSAGE)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError; nesting too deep to parse
        return None


class _Server(ThreadingHTTPServer):
    """Thread per connection, sockets tracked so :meth:`Emulator.stop` can close idle keep-alive ones."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._to_reset: set[socket.socket] = set()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = self.socket.accept()
        # Without TCP_NODELAY, Nagle plus delayed ACK add ~40 ms to every keep-alive call.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def process_request(self, request: _RequestType, client_address: Any) -> None:
        assert isinstance(request, socket.socket)
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="emulator-connection", daemon=True
        )
        with self._lock:
            if self.stopping.is_set():
                request.close()
                return
            self._connections.add(request)
            self._handler_threads.add(thread)
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._connections.discard(request)
                self._handler_threads.discard(threading.current_thread())

    def mark_reset(self, conn: socket.socket) -> None:
        """Close ``conn`` with an RST instead of a FIN once its handler returns."""
        with self._lock:
            self._to_reset.add(conn)

    def shutdown_request(self, request: _RequestType) -> None:
        assert isinstance(request, socket.socket)
        with self._lock:
            reset = request in self._to_reset
            self._to_reset.discard(request)
        if not reset:
            super().shutdown_request(request)
            return
        # No shutdown(SHUT_WR) first: it would send a FIN before the RST and the client would see a clean EOF.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        request.close()

    def handle_error(self, request: _RequestType, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away, or stop() closed the socket: nothing to report
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Wake every handler blocked on an idle keep-alive socket so its thread ends."""
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def join_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._handler_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, records it, applies the next fault or routes it, and writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "openai-emulator"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Silent: a line per request on stderr would dominate the benchmark's cost."""

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute of the class

        def __getattr__(self, name: str) -> Any:
            """Any other method (TRACE, QUERY, one made up) is routed too: a known path answers OpenAI's JSON 405
            with ``Allow``, an unknown one 404, instead of http.server's 501 HTML page."""
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

    def _handle(self) -> None:
        started = time.perf_counter()
        emulator = self.server.emulator
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._send(Reply.error(400, "Could not read the request body."), None, started)
            return
        target = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=target.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            json=_parse_json(body),
            body=body,
            query=target.query,
        )
        emulator._record(request)
        upgrade = wants_upgrade(request.method, request.headers)
        fault = emulator._next_fault(request)
        if fault is None:
            if upgrade:
                self._upgrade(request, started)
            else:
                self._send(emulator._dispatch(request), None, started)
            return
        if fault.delay_s > 0 and self.server.stopping.wait(fault.delay_s):
            self.close_connection = True
            return
        if fault.action != "respond":
            self.close_connection = True
            if fault.action == "reset":
                self.server.mark_reset(self.connection)
            return
        if fault.status_code is None:
            if upgrade:  # a socket's handshake: only the delay applies (there is no body to deliver oddly)
                self._upgrade(request, started)
                return
            reply = emulator._dispatch(request)
        else:
            reply = Reply(fault.status_code, fault.body or b"", content_type=fault.content_type)
        self._send(reply, fault, started)

    def _upgrade(self, request: RecordedRequest, started: float) -> None:
        """A WebSocket request: the route refuses it (an HTTP answer) or the socket is a WebSocket from now on."""
        self.close_connection = True
        accepted = self.server.emulator._dispatch_socket(request)
        if isinstance(accepted, Reply):
            self._send(accepted, None, started)
            return
        route, session = accepted
        serve_websocket(
            self.connection,
            self.rfile,
            self.path,
            raw_headers(self.headers.items()),
            session,
            max_message_bytes=route.max_message_bytes,
            stopping=self.server.stopping,
            subprotocols=route.subprotocols,
        )

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("content-length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        if size < 0:
            return None
        body = self.rfile.read(size)
        return body if len(body) == size else None

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                return None
            parts.append(chunk)
            self.rfile.readline(3)

    def _send(self, reply: Reply, fault: Fault | None, started: float) -> None:
        body = reply.body
        headers = {
            "content-type": reply.content_type,
            "x-request-id": "req_" + secrets.token_hex(16),
            "openai-version": OPENAI_VERSION,
            "openai-processing-ms": str(int((time.perf_counter() - started) * 1000)),
        }
        if self.server.emulator.azure:
            headers["apim-request-id"] = str(uuid.uuid4())
        headers.update(reply.headers)
        stream_size: int | None = None
        trickle_s: float | None = None
        length = len(body)
        if fault is not None:
            headers.update(fault.headers)
            if fault.compress:
                body = gzip.compress(body, mtime=0)
                headers["content-encoding"] = "gzip"
            length = len(body)
            stream_size, trickle_s = fault.stream_size, fault.trickle_s
            if stream_size is not None:
                length = stream_size
            if fault.truncate_to is not None:
                keep = len(body) // 2 if fault.truncate_to < 0 else fault.truncate_to
                length = max(len(body), keep + 1)  # always promise more than is sent
                body = body[:keep]
                self.close_connection = True
            if fault.reset_after:
                self.close_connection = True
                self.server.mark_reset(self.connection)
        headers["content-length"] = str(length)
        if self.close_connection:
            headers["connection"] = "close"
        try:
            phrase = http.HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Unknown"
        head = f"HTTP/1.1 {reply.status} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head_bytes = head.encode("latin-1") + b"\r\n"
        if self.command == "HEAD":
            self.wfile.write(head_bytes)
        elif stream_size is not None:
            self.wfile.write(head_bytes)
            self._stream_json(stream_size)
        elif trickle_s is not None:
            self.wfile.write(head_bytes)
            for index in range(len(body)):
                if self.server.stopping.wait(trickle_s):
                    self.close_connection = True
                    return
                self.wfile.write(body[index : index + 1])
        else:
            self.wfile.write(head_bytes + body)

    def _stream_json(self, size: int) -> None:
        prefix, suffix = b'{"object": "realtime.session", "padding": "', b'"}'
        if size < len(prefix) + len(suffix):
            self.wfile.write((b"{}" + b" " * size)[:size] if size >= 2 else b" " * size)
            return
        self.wfile.write(prefix)
        remaining = size - len(prefix) - len(suffix)
        while remaining > 0:
            chunk = _STREAM_CHUNK if remaining >= len(_STREAM_CHUNK) else _STREAM_CHUNK[:remaining]
            self.wfile.write(chunk)
            remaining -= len(chunk)
        self.wfile.write(suffix)


class Emulator:
    """An OpenAI-compatible server on loopback with recorded requests and scripted faults.

    ``with Emulator() as emu:`` or ``start()``/``stop()``. Point a client at ``emu.base_url`` with
    ``emu.api_key``. ``beta_retired`` may also be flipped on a running emulator. ``clock`` gives the time used
    for ``expires_at`` (tests may pin it). ``azure=True`` serves Azure OpenAI's paths and auth instead (see the
    module docstring); point an Azure client at ``emu.azure_endpoint``.

    Faults come from the queue (:meth:`enqueue`), consumed in arrival order whoever sends the request. When
    many threads share one emulator and each request must get *its own* fault, set ``fault_rule``: a function
    of the :class:`RecordedRequest` (a header naming the call, say) returning a :class:`Fault` or ``None``,
    consulted when the queue is empty. It runs on the emulator's handler threads, so it must be thread-safe.
    Faults on a call's open sockets (delayed, duplicated, dropped server events) are :meth:`enqueue_socket`'s.

    ``history`` bounds how many requests :attr:`requests` keeps (the newest; :data:`DEFAULT_HISTORY` unless
    given, ``None`` for no bound): an emulator left running must not grow without limit.
    :attr:`received` counts every request ever recorded. For the same reason ``max_keys`` bounds the minted
    ``ek_`` keys it remembers (expired ones are dropped anyway), ``max_calls`` the live calls and Live sessions
    and ``max_ended_calls`` the ended ones it keeps (see :class:`CallRegistry`); the oldest go first.

    ``script`` (steps or YAML text, :mod:`.scripts`) is what every new call's caller and model do once its socket
    attaches; :meth:`script_call` sets one call's. Without either a call is a quiet caller.

    ``webrtc=True`` (the ``webrtc`` extra) answers WebRTC offers with a real peer (:mod:`.webrtc`, :attr:`peers`):
    off by default, because a peer binds UDP sockets on every address it gathers on, which tests may do only in a
    network namespace of their own; ``webrtc_addresses`` limits those addresses (``ValueError`` for one that is
    not an IP address). Without ``aiortc`` the canned answer stays, and one warning says so.
    """

    def __init__(
        self,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        beta_retired: bool = False,
        clock: Callable[[], float] = time.time,
        azure: bool = False,
        fault_rule: Callable[[RecordedRequest], Fault | None] | None = None,
        history: int | None = None,
        max_keys: int = DEFAULT_MAX_KEYS,
        max_calls: int = DEFAULT_MAX_CALLS,
        max_ended_calls: int = DEFAULT_MAX_ENDED,
        script: Sequence[Any] | str | None = None,
        webrtc: bool = False,
        webrtc_addresses: Sequence[str] | None = None,
    ) -> None:
        if history is None:
            history = DEFAULT_HISTORY
        elif history < 0:
            raise ValueError("history must be >= 0")
        self.api_key = api_key if api_key else "sk-emulator-" + secrets.token_hex(16)
        self.fault_rule = fault_rule
        self.host = host
        self.beta_retired = beta_retired
        self.azure = azure
        self._port = port
        self._clock = clock
        self._routes: dict[str, dict[str, Route]] = {path: dict(methods) for path, methods in DEFAULT_ROUTES.items()}
        self._templates: list[tuple[re.Pattern[str], str]] = []
        self._socket_routes: dict[str, SocketRoute] = {}
        self._socket_templates: list[tuple[re.Pattern[str], str]] = []
        self.on_sideband: Driver | None = None
        """When set, drives every sideband that attaches (and every primary socket's new session) from then on,
        on a thread of its own (the script runner's hook); unset, a socket plays the call's script or is a quiet
        conversation (docs/emulator-calls.md, "Sockets")."""
        self.calls = CallRegistry(clock, max_keys=max_keys, max_calls=max_calls, max_ended_calls=max_ended_calls)
        """Calls and Live sessions this emulator created or rang, with their offers, sessions and states."""
        self.calls.default_script = load_script(script)  # every new call's script (:mod:`.scripts`); () is quiet
        self.live_events = LiveEvents(self.calls)
        """Each Live session's replay buffer and attached sidebands (:mod:`.live_events`)."""
        self._scripted_calls = ScriptedCalls(self.calls, self._audio_for)
        self._peers: PeerHost | None = None
        if webrtc:  # off by default: a real peer binds UDP sockets on every interface it may gather on
            from .webrtc import load

            self._peers = load(self.calls, sessions(self), webrtc_addresses)
        install_route_families(self)
        self._faults = FaultQueue()
        self._requests: collections.deque[RecordedRequest] = collections.deque(maxlen=history)
        self._received = 0
        self._requests_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread. A restarted emulator reuses its previous port."""
        if self._server is not None:
            return self
        server = _Server((self.host, self._port), self)
        self._port = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"emulator:{self._port}", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection (idle keep-alive ones too) and join the threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join(_JOIN_TIMEOUT)
        server.join_handlers(_JOIN_TIMEOUT)
        if self._peers is not None:
            self._peers.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("the emulator has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what OPENAI_BASE_URL should be (OpenAI mode)."""
        return self.azure_endpoint + "/v1"

    @property
    def azure_endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: what AZURE_OPENAI_ENDPOINT should be (Azure mode)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # scripting and inspection

    def enqueue(self, *faults: Fault, times: int = 1) -> None:
        """Queue ``faults`` (the whole sequence, ``times`` times), consumed one per request in order; all or none:
        :class:`~.faults.TooManyFaults` beyond :data:`~.faults.MAX_PENDING_FAULTS` pending."""
        if times < 0:
            raise ValueError("times must be >= 0")
        self._faults.extend(faults, times)

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    def enqueue_socket(self, *faults: SocketFault, call_id: str | None = None) -> None:
        """Queue socket faults (:class:`~.socket_faults.SocketFault`): for ``call_id``'s sockets, the ones
        attached now and any that attach later, or, without ``call_id``, for the next socket that attaches to any
        call (it takes them all). Each acts on the server events it matches, then is used up; what it did goes
        on the call's record (``CallRecord.socket_faults``). All or none: :class:`~.call_registry.UnknownCall`
        for an unknown call, ``ValueError`` for one that has ended and
        :class:`~.socket_faults.TooManySocketFaults` beyond :data:`~.socket_faults.MAX_PENDING` pending."""
        if call_id is None:
            self.calls.socket_faults.add(faults)
        else:
            self.calls.queue_socket_faults(call_id, faults)

    @property
    def pending_socket_faults(self) -> int:
        """Socket faults queued and not yet used up (or claimed by a socket), all calls together."""
        return self.calls.socket_faults.pending()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    @property
    def received(self) -> int:
        """How many requests were recorded since the start (or the last :meth:`clear`), history bound or not."""
        with self._requests_lock:
            return self._received

    def clear(self) -> None:
        """Forget recorded requests and drop faults (socket faults too) not yet consumed, so each test starts
        clean."""
        with self._requests_lock:
            self._requests.clear()
            self._received = 0
        self._faults.clear()
        self.calls.socket_faults.clear()

    def add_route(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        beta: bool = False,
        auth: bool = True,
        json_body: bool = True,
        azure: bool = True,
    ) -> None:
        """Serve ``method path`` (path under ``/v1``, e.g. ``/realtime/client_secrets``) with ``handler``.

        The emulator does routing (404/405), auth (401), the beta-retired switch and JSON-object parsing
        (400) before ``handler`` runs; the handler validates its own fields and builds the :class:`Reply`.
        In Azure mode the route is served under ``/openai/v1`` instead. See :class:`Route` for the flags.
        """
        if path not in self._routes and "{" in path:
            pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(path))
            self._templates.append((re.compile(pattern + r"\Z"), path))
        self._routes.setdefault(path, {})[method.upper()] = Route(
            handler, beta=beta, auth=auth, json_body=json_body, azure=azure
        )

    def add_socket_route(self, path: str, route: SocketRoute) -> None:
        """Serve WebSocket upgrades of ``GET path`` (under ``/v1``; may hold ``{name}`` segments) with ``route``.

        The emulator does routing (404), the ``sideband`` extra's presence (501) and auth (401) before the
        route's handler decides the handshake."""
        if path not in self._socket_routes and "{" in path:
            pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(path))
            self._socket_templates.append((re.compile(pattern + r"\Z"), path))
        self._socket_routes[path] = route

    def route(self, method: str, path: str) -> Route | None:
        """The route serving ``method path`` (a path as given to :meth:`add_route`), if any."""
        return self._routes.get(path, {}).get(method.upper())

    def socket_route(self, path: str) -> SocketRoute | None:
        """The socket route registered for ``path`` (as given to :meth:`add_socket_route`), if any."""
        return self._socket_routes.get(path)

    def driver_for(self, call_id: str, *, own: bool = False) -> tuple[Driver | None, bool]:
        """See :meth:`.core.Core.driver_for`."""
        if self.on_sideband is not None:
            return self.on_sideband, False
        driver = self._scripted_calls.driver(call_id, own=own)
        return driver, driver is not None

    def _audio_for(self, call_id: str) -> CallAudio | None:
        """The audio of ``call_id``'s WebRTC peer, if it has one (a script speaks and listens through it)."""
        return self._peers.audio(call_id) if self._peers is not None else None

    @property
    def peers(self) -> Peers | None:
        """The real WebRTC peers answering ``POST /realtime/calls`` (``webrtc=True`` with ``aiortc``
        installed), or ``None``: the canned SDP answer (docs/emulator-calls.md, "WebRTC peer")."""
        return self._peers

    def ring(
        self,
        webhook_url: str,
        sip_headers: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
        *,
        secret: str | None = None,
        api: Literal["realtime", "live"] = "realtime",
        decide_within: float = 30.0,
        max_deliveries: int = 5,
        first_retry_after: float = 0.5,
        sip_media_security: str | None = "srtp",
    ) -> CallRecord:
        """Ring ``webhook_url`` (loopback only) with a signed incoming-call event and return the call's record
        once it is decided, hung up or timed out; see :func:`realtime_service.emulator.ring.ring`."""
        from .ring import ring

        return ring(
            self,
            webhook_url,
            sip_headers,
            secret=secret,
            api=api,
            decide_within=decide_within,
            max_deliveries=max_deliveries,
            first_retry_after=first_retry_after,
            sip_media_security=sip_media_security,
        )

    def script_call(self, call_id: str, script: Sequence[Any] | str) -> CallRecord:
        """Set one call's script (steps or YAML text, checked for the call's API) before its socket attaches;
        :class:`~.scripts.ScriptError` for a bad script, :class:`~.call_registry.UnknownCall` for an unknown id."""
        record = self.calls.get(call_id)
        if record is None:
            raise UnknownCall(call_id)
        steps = load_script(script, api=record.api)
        return self.calls.update(call_id, lambda current: replace(current, script=steps))

    @property
    def routes(self) -> list[tuple[str, str]]:
        return sorted((method, path) for path, methods in self._routes.items() for method in methods)

    # request pipeline (called from the handler threads)

    def _next_fault(self, request: RecordedRequest) -> Fault | None:
        fault = self._faults.pop()
        if fault is None and self.fault_rule is not None:
            fault = self.fault_rule(request)
        return fault

    def _record(self, request: RecordedRequest) -> None:
        with self._requests_lock:
            self._requests.append(request)
            self._received += 1

    def _dispatch(self, request: RecordedRequest) -> Reply:
        if self.azure:
            return self._dispatch_azure(request)
        methods = self._lookup(request.path[3:]) if request.path.startswith("/v1/") else None
        if methods is None:
            return Reply.error(404, f"Invalid URL ({request.method} {request.path})")
        return self._serve(request, methods)

    def _dispatch_azure(self, request: RecordedRequest) -> Reply:
        path = request.path
        route_path: str | None
        if path.startswith(AZURE_V1_PREFIX + "/"):
            route_path = path[len(AZURE_V1_PREFIX) :]
        elif parse_qs(request.query).get("api-version"):
            route_path = AZURE_CLASSIC_ROUTES.get(path)
        else:
            route_path = None  # Azure answers a missing api-version with a 404, as for an unknown path
        methods = self._lookup(route_path) if route_path is not None else None
        if methods is not None:
            methods = {method: route for method, route in methods.items() if route.azure}
        if not methods:
            return _AZURE_NOT_FOUND
        return self._serve(request, methods)

    def _dispatch_socket(self, request: RecordedRequest) -> Reply | tuple[SocketRoute, SocketSession]:
        """The refusal of a WebSocket request, or its route and the session that will run on it."""
        prefix = AZURE_V1_PREFIX if self.azure else "/v1"
        path = request.path[len(prefix) :] if request.path.startswith(prefix + "/") else None
        route = self._socket_route(path) if path is not None else None
        if route is not None and self.azure and not route.azure:
            route = None
        if route is None and self.azure and parse_qs(request.query).get("api-version"):
            classic = [r for r in self._socket_routes.values() if r.azure_path is not None]
            route = next((r for r in classic if r.azure_path == request.path.rstrip("/")), None)
        if route is None:
            return _AZURE_NOT_FOUND if self.azure else Reply.error(404, f"Invalid URL (GET {request.path})")
        missing = missing_extra()
        if missing is not None:
            return missing
        if route.auth:
            refusal = self.authorize(request)
            if refusal is not None:
                return refusal
        try:
            answer = route.handler(Call(request, {}, self._clock()))
        except Exception:
            traceback.print_exc()
            return Reply.error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                type="server_error",
            )
        return answer if isinstance(answer, Reply) else (route, answer)

    def _socket_route(self, path: str) -> SocketRoute | None:
        route = self._socket_routes.get(path)
        if route is None:
            for pattern, template in self._socket_templates:
                if pattern.match(path):
                    return self._socket_routes[template]
        return route

    def _lookup(self, path: str) -> dict[str, Route] | None:
        methods = self._routes.get(path)
        if methods is None:
            for pattern, template in self._templates:
                if pattern.match(path):
                    return self._routes[template]
        return methods

    def authorize(self, request: RecordedRequest) -> Reply | None:
        """The 401 for a request without this emulator's key (in this mode's header), or ``None``."""
        if self.azure:
            return self._check_azure_auth(request.headers)
        return self._check_auth(request.headers.get("authorization"))

    def _serve(self, request: RecordedRequest, methods: dict[str, Route]) -> Reply:
        route = methods.get(request.method)
        if route is None:
            return Reply.error(
                405,
                f"Not allowed to {request.method} on {request.path}. "
                "(HINT: Perhaps you meant to use a different HTTP method?)",
                headers={"allow": ", ".join(sorted(methods))},
            )
        if route.auth:
            refusal = self.authorize(request)
            if refusal is not None:
                return refusal
        if route.beta and self.beta_retired:
            return Reply.error(400, BETA_RETIRED_MESSAGE, code="beta_api_shape_disabled")
        if route.json_body and not isinstance(request.json, dict):
            return self._body_refusal(request)
        body = request.json if isinstance(request.json, dict) else {}
        try:
            return route.handler(Call(request, body, self._clock()))
        except Exception:
            traceback.print_exc()
            return Reply.error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                type="server_error",
            )

    def _check_auth(self, authorization: str | None) -> Reply | None:
        scheme, _, key = (authorization or "").strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return Reply.error(401, _MISSING_KEY_MESSAGE, code="invalid_api_key")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return Reply.error(
                401,
                f"Incorrect API key provided: {redact(key)}. "
                "You can find your API key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        return None

    def _check_azure_auth(self, headers: dict[str, str]) -> Reply | None:
        key = headers.get("api-key", "").strip()
        if not key and headers.get("authorization"):
            return _AZURE_NO_ENTRA  # Entra ID bearer tokens are not emulated
        if not key or not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return _AZURE_BAD_KEY
        return None

    @staticmethod
    def _body_refusal(request: RecordedRequest) -> Reply:
        if request.json is None and request.body.strip() != b"null":
            return Reply.error(400, _BAD_JSON_MESSAGE)
        return Reply.error(
            400,
            f"Invalid type for 'body': expected an object, but got {json_type_name(request.json)} instead.",
            code="invalid_type",
        )
