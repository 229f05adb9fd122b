"""The servers ``serve`` runs an app on, and how it builds that app: waitress for Flask, uvicorn for FastAPI.

A :class:`Runner` serves one app on an already-bound socket until :meth:`~Runner.stop`, then lets in-flight
requests finish within ``server.shutdown_timeout``; :func:`make_runner` builds the app for a framework with the
fast routes in front (:mod:`..adapters.wsgi`, :mod:`..adapters.asgi`) and its runner; :class:`ServedApp` serves a
container in a thread of this process (what tests and host apps' own checks use). The command itself, its
options, workers and signals are :mod:`.serve`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol

from ..adapters.asgi import FastRoutes, ProvidedRoute
from ..settings import ServerSettings, load_server_settings

logger = logging.getLogger("realtime_service.web")

ADAPTERS = {
    "flask": "realtime_service.web.adapters.flask_blueprint",
    "fastapi": "realtime_service.web.adapters.fastapi_router",
}
REQUIREMENTS = {"flask": ("flask", "waitress"), "fastapi": ("fastapi", "uvicorn")}
#: The default of ``server.idle_timeout``: seconds an idle keep-alive connection stays open, on either server
#: (waitress ``channel_timeout``, uvicorn ``timeout_keep_alive``, whose own 5 s closed connections a client was
#: about to reuse).
IDLE_TIMEOUT = 30


class ServeError(Exception):
    """A reason not to start, for the user (exit 2)."""


class Runner(Protocol):
    """A server bound to a socket: ``run()`` blocks until ``stop()`` has drained it."""

    def run(self) -> None: ...

    def stop(self) -> None: ...

    def idle(self) -> bool:
        """No request is being handled (every one taken is answered and its access line written)."""
        ...


# -- waitress (Flask) ---------------------------------------------------------------------------------------


class _InFlight:
    """WSGI middleware counting requests between the call and the close of their response."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            self.count += 1
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self._done()
            raise
        return _Closing(result, self._done)

    def _done(self) -> None:
        with self._lock:
            self.count -= 1


class _Closing:
    def __init__(self, result: Iterable[bytes], done: Callable[[], None]) -> None:
        self._result = result
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if callable(close):
                close()
        finally:
            self._done()


class WaitressRunner:
    """waitress with a graceful stop, which waitress itself lacks: close the listener, wait until no request is
    running or queued and every response is flushed (at most ``shutdown_timeout``), then close the rest."""

    def __init__(
        self,
        app: Callable[..., Any],
        sock: socket.socket,
        *,
        shutdown_timeout: float,
        settings: ServerSettings | None = None,
        threads: int | None = None,
    ) -> None:
        from waitress.server import create_server  # type: ignore[import-untyped]

        from .waitress_guard import adjustments, guard_server

        if settings is None:  # a host app's own Flask app: the package's default limits
            settings = load_server_settings({"threads": threads} if threads else {}, {})

        self._app = _InFlight(app)
        self.server: Any = create_server(
            self._app,
            sockets=[sock],
            ident="realtime-service",
            clear_untrusted_proxy_headers=False,  # X-Forwarded-For is the endpoint's call (server.trust_forwarded)
            **adjustments(settings),
        )
        guard_server(self.server, settings)
        self._timeout = shutdown_timeout
        self._stopping = threading.Event()

    def run(self) -> None:
        self.server.run()

    def idle(self) -> bool:
        return self._app.count == 0

    def stop(self) -> None:
        if not self._stopping.is_set():
            self._stopping.set()
            threading.Thread(target=self._drain, name="waitress-drain", daemon=True).start()

    def _drain(self) -> None:
        from waitress import wasyncore  # type: ignore[import-untyped]

        server = self.server

        def close_listener() -> None:
            server.accepting = False
            wasyncore.dispatcher.close(server)  # the listener only (the server's own close() also ends the trigger)

        def close_everything() -> None:
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
            wasyncore.close_all(server._map)

        try:
            server.trigger.pull_trigger(close_listener)
            deadline = time.monotonic() + self._timeout
            while time.monotonic() < deadline and not self._drained():
                time.sleep(0.02)
            server.trigger.pull_trigger(close_everything)
        except OSError:
            pass  # the trigger is closed: the loop has ended already, there is nothing left to close

    def _drained(self) -> bool:
        from waitress.channel import HTTPChannel  # type: ignore[import-untyped]

        if self._app.count:
            return False
        channels = [c for c in list(self.server._map.values()) if isinstance(c, HTTPChannel)]
        return all(not c.requests and not c.total_outbufs_len for c in channels)


# -- uvicorn (FastAPI) --------------------------------------------------------------------------------------


class UvicornRunner:
    """uvicorn, whose own shutdown already drains: stop accepting, finish in-flight requests, run the lifespan end."""

    def __init__(
        self, app: Any, sock: socket.socket, *, shutdown_timeout: float, settings: ServerSettings | None = None
    ) -> None:
        import uvicorn

        from .uvicorn_guard import guarded_protocol

        if settings is None:
            settings = load_server_settings({}, {})
        config = uvicorn.Config(
            app,
            http=guarded_protocol(settings),
            h11_max_incomplete_event_size=settings.max_header_bytes,  # the h11 parser's bound on a head
            backlog=2048,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(max(1, shutdown_timeout)),
            timeout_keep_alive=max(1, round(settings.idle_timeout)),
            server_header=False,
            proxy_headers=False,  # X-Forwarded-For is the endpoint's call (server.trust_forwarded), not uvicorn's
        )
        self.server = uvicorn.Server(config)
        self._sock = sock

    def run(self) -> None:
        self.server.run(sockets=[self._sock])

    def idle(self) -> bool:
        return not self.server.server_state.tasks  # the fast routes log after answering, inside the task

    def stop(self) -> None:
        self.server.should_exit = True


# -- building -----------------------------------------------------------------------------------------------


def check_framework(framework: str) -> None:
    missing = [name for name in REQUIREMENTS[framework] if importlib.util.find_spec(name) is None]
    if missing:
        raise ServeError(
            f"the {framework} server needs {', '.join(missing)}: pip install 'realtime-service[{framework}]'"
        )


def make_runner(container: Any, framework: str, sock: socket.socket) -> Runner:
    """Wire the adapter module to ``container`` (a :class:`ServeContainer`, or any container that nests the
    token server as ``token_server``) and put its app on ``sock``."""
    check_framework(framework)
    settings: ServerSettings = container.token_server.server_settings()
    module = importlib.import_module(ADAPTERS[framework])
    container.wire(modules=[module])
    bound = str(sock.getsockname()[0])
    container.token_server.token_endpoint().hosts.allow(bound)
    container.token_server.phone_endpoint().hosts.allow(bound)
    # The phone webhook is served only with a signing secret (else every delivery would be refused): off, a 404.
    phone_path = settings.phone.path if settings.phone.webhook_secrets else None
    raise_file_limit(settings.connection_limit)
    if framework == "flask":
        app = module.create_flask_app(
            settings.path, demo=settings.demo, session_path=settings.session_path, phone_path=phone_path
        )
        served = flask_fast_routes(container, settings, app)  # the hot routes skip Flask's layers (see .wsgi)
        return WaitressRunner(served, sock, settings=settings, shutdown_timeout=settings.shutdown_timeout)
    closers = use_event_loop_gateway(container.token_server.realtime)
    app = module.create_fastapi_app(
        container.token_server.token_endpoint,  # the provider: an override after start answers 404/405/421 too
        settings.path,
        demo=settings.demo,
        threads=settings.threads,
        session_path=settings.session_path,
        phone_path=phone_path,
        on_shutdown=closers,
    )
    # The hot routes skip FastAPI's layers (see .asgi), their endpoints asked of the providers at each request as
    # the app's routes ask them (an override after start reaches both); everything else is the app above.
    routes = {settings.path: ProvidedRoute(container.token_server.token_endpoint)}
    if settings.session_path is not None:
        routes[settings.session_path] = ProvidedRoute(container.token_server.signaling_endpoint)
    return UvicornRunner(FastRoutes(app, routes), sock, shutdown_timeout=settings.shutdown_timeout, settings=settings)


def flask_fast_routes(container: Any, settings: ServerSettings, app: Callable[..., Any]) -> Callable[..., Any]:
    """``app`` behind the WSGI fast path (:mod:`..adapters.wsgi`): ``POST``/``OPTIONS`` to the token and signaling
    paths go straight to their endpoints, with the answers the blueprint gives; everything else to Flask."""
    from ..adapters.wsgi import FastRoutes as WsgiFastRoutes
    from ..adapters.wsgi import Route as WsgiRoute

    # The providers themselves, asked per request as the blueprint's @inject asks them: an override applies at once.
    routes = {settings.path: WsgiRoute(container.token_server.token_endpoint)}
    if settings.session_path is not None:
        routes[settings.session_path] = WsgiRoute(container.token_server.signaling_endpoint)
    return WsgiFastRoutes(app, routes)


def use_event_loop_gateway(realtime: Any) -> tuple[Callable[[], Awaitable[None]], ...]:
    """Make ``realtime``'s gateway (a :class:`~realtime_service.containers.RealtimeContainer`'s) send the awaitable
    calls on the event loop (``httptools``, the ``fastapi`` extra); returns what the app's lifespan runs at its
    end to close the loop's connections. Without ``httptools`` it says so and the attempts stay in worker threads."""
    if importlib.util.find_spec("httptools") is None:
        logger.warning(
            "httptools is not installed: mints send from worker threads (pip install 'realtime-service[fastapi]')"
        )
        return ()
    if not realtime.event_loop_gateway():
        realtime.event_loop_gateway.override(True)
        realtime.gateway.shutdown()  # one built already (a readiness check) is threaded: the next call builds anew
    from realtime_service.transport.aio import aclose_loop_sessions

    return (aclose_loop_sessions,)


def raise_file_limit(connections: int) -> None:
    """Raise this process's open-file limit towards ``connections`` plus room for everything else (each
    connection is a file descriptor), up to the hard limit; warn when even that is short."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    wanted = connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < wanted:
        logger.warning(
            "the open-file limit (%d) is below server.connection_limit (%d) + 256: raise it (ulimit -n)",
            soft,
            connections,
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then (else Nagle adds ~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OverflowError:  # a port outside 0..65535 (the command line's port type refuses it first)
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: the port must be 0..65535") from None
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(1024)
    return sock


class ServedApp:
    """The real server in a background thread of this process, on loopback: for tests and benchmarks.

    ``with ServedApp(container, "flask") as served: requests.post(served.url + "/token")``; leaving the block
    stops it gracefully and shuts the container's resources down. ``container`` nests the token server as
    ``token_server`` (a :class:`ServeContainer` or a host's own container).
    """

    def __init__(self, container: Any, framework: str = "flask", host: str = "127.0.0.1") -> None:
        self.container = container
        self.framework = framework
        self._sock = bind(host, 0)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._runner = make_runner(container, framework, self._sock)
        self._thread = threading.Thread(target=self._runner.run, name=f"served-{framework}", daemon=True)

    def start(self) -> ServedApp:
        self._thread.start()
        return self

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until every request the server took is handled to the end: a client can have its answer before
        the server has written the access line (FastAPI's fast routes answer first), so a test reading the
        log right after a response settles first."""
        deadline = time.monotonic() + timeout
        while not self._runner.idle():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"requests still running after {timeout} s")
            time.sleep(0.001)

    def stop(self, timeout: float = 10.0) -> None:
        self._runner.stop()
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._sock.close()
        self.container.unwire()
        self.container.shutdown_resources()

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the command --------------------------------------------------------------------------------------------
