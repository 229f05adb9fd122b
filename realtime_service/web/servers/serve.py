"""``realtime-service serve``: the token endpoint, health checks and the demo page on a production server.

Flask runs on waitress, FastAPI on uvicorn (``server.framework`` or ``--framework``). Safe by default: it binds
loopback, and refuses a non-loopback address under ``server.auth: none`` unless ``server.allow_anonymous: true``
(then it warns). SIGTERM or Ctrl-C stops accepting, lets in-flight mints finish (``server.shutdown_timeout``),
then closes the container's resources. ``--emulator`` mints from an in-process loopback emulator, offline.
``--workers N`` runs N processes sharing the listening socket; their rate-limit budget is only shared through
Redis, so N > 1 needs ``server.rate_limit_storage: redis://...``.

Exit codes: 0 after a clean shutdown, 1 when a worker died, 2 for usage or configuration errors (a port that
cannot be bound included); errors are one line (the CLI's boundary, :mod:`realtime_service.cli_boundary`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from realtime_service.cli_boundary import CLIError, HelpFormatter, OneLineParser, exit_codes_epilog, port, run
from realtime_service.config import Settings, is_loopback, load_config_file
from realtime_service.errors import ConfigurationError
from realtime_service.redaction import SECRETS, install_log_redaction

from ...webhooks.masking import MaskingFilter
from ..adapters.asgi import FastRoutes, ProvidedRoute
from ..settings import FRAMEWORKS, ServerSettings, load_server_settings
from .containers import ServeContainer

EXIT_OK, EXIT_WORKER_DIED, EXIT_USAGE = 0, 1, 2
ADAPTERS = {
    "flask": "realtime_service.web.adapters.flask_blueprint",
    "fastapi": "realtime_service.web.adapters.fastapi_router",
}
REQUIREMENTS = {"flask": ("flask", "waitress"), "fastapi": ("fastapi", "uvicorn")}
#: The default of ``server.idle_timeout``: seconds an idle keep-alive connection stays open, on either server
#: (waitress ``channel_timeout``, uvicorn ``timeout_keep_alive``, whose own 5 s closed connections a client was
#: about to reuse).
IDLE_TIMEOUT = 30
#: ``server.rate_limit`` under ``--emulator`` when the config does not set it: the emulator bills nothing, so a
#: developer clicking around the demo page for a few minutes should not run out; still bounded. Calls follow it
#: unless ``server.call_rate_limit`` is set (each counted on its own).
EMULATOR_RATE_LIMIT = "60/minute;1000/day"
#: Set by a ``--workers`` supervisor for its workers: the inherited socket and config overrides (JSON).
WORKER_ENV = "_REALTIME_SERVICE_SERVE_WORKER"

logger = logging.getLogger("realtime_service.web")


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


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="realtime-service serve",
        description="Serve the ephemeral-key endpoint, health checks and the demo page.",
        epilog=exit_codes_epilog(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, loopback)")
    parser.add_argument("--port", type=port, default=8000, help="port to bind; 0 picks a free one (default: 8000)")
    parser.add_argument("--config", metavar="FILE", help="YAML with realtime: and server: sub-trees")
    parser.add_argument("--emulator", action="store_true", help="mint from an in-process loopback emulator (offline)")
    parser.add_argument(
        "--emulator-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="with --emulator, answer each mint after this delay, as a real upstream would",
    )
    parser.add_argument(
        "--emulator-record",
        metavar="FILE",
        help="with --emulator, write the calls and Live sessions it received (offer, session, states) to FILE "
        "as JSON when serve stops (for tests and for looking at what the browser sent)",
    )
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (default: 1)")
    parser.add_argument("--framework", choices=FRAMEWORKS, help="flask (waitress) or fastapi (uvicorn)")
    return parser


def load_config(path: str | None) -> dict[str, Any]:
    """The YAML file's ``realtime:`` and ``server:`` sub-trees (or its bare realtime keys): the one reader every
    command's ``--config`` shares, :func:`~realtime_service.config.load_config_file`."""
    if path is None:
        return {}
    try:
        return load_config_file(path)
    except ConfigurationError as exc:
        raise ServeError(str(exc)) from None


def delayed_emulator_routes(emulator: Any, delay: float) -> None:
    """Make ``emulator`` answer every mint after ``delay`` seconds (each in its own connection thread)."""
    from realtime_service.emulator.server import DEFAULT_ROUTES

    for path in ("/realtime/client_secrets", "/realtime/sessions"):
        route = DEFAULT_ROUTES[path]["POST"]

        def handler(call: Any, _inner: Callable[[Any], Any] = route.handler) -> Any:
            time.sleep(delay)
            return _inner(call)

        emulator.add_route("POST", path, handler, beta=route.beta, auth=route.auth)


def write_call_records(emulator: Any, path: Path) -> None:
    """What ``emulator`` received for each call and Live session, as JSON (the offer base64-encoded, so its
    bytes, CRLFs included, survive exactly)."""
    import base64

    records = [
        {
            "id": record.id,
            "api": record.api,
            "state": record.state,
            "states": list(record.states),
            "encoding": record.encoding,
            "auth": record.auth,
            "session": record.session,
            "offer_base64": base64.b64encode(record.offer).decode("ascii") if record.offer is not None else None,
        }
        for record in emulator.calls.all()
    ]
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")


def check_exposure(host: str, settings: ServerSettings) -> None:
    """Refuse anonymous minting off loopback unless explicitly allowed; warn when it is."""
    if host in ("0.0.0.0", "::") and settings.allowed_hosts is None:  # noqa: S104 - comparing, not binding
        logger.warning(
            "listening on every address of this host but server.allowed_hosts is not set: only requests for "
            "localhost and the loopback addresses are answered (others get 421); list the names clients use"
        )
    if settings.auth != "none" or is_loopback(host):
        return
    if not settings.allow_anonymous:
        raise ServeError(
            f"refusing to serve on non-loopback {host} with server.auth: none (anyone who reaches it could mint "
            "keys on your account): set server.auth to bearer or hook, or server.allow_anonymous: true"
        )
    logger.warning(
        "serving on %s with server.auth: none and allow_anonymous: anyone who can reach it mints keys, limited "
        "only per address by server.rate_limit",
        host,
    )


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Every secret this process holds (API key, bearer tokens, webhook secrets, Redis password) comes out
    # redacted, whoever logs it (uvicorn, waitress, redis, a host's own code).
    install_log_redaction(handlers=logging.getLogger().handlers)
    # Phone numbers are personal data: whatever logs one through these handlers, it comes out masked.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
    # The access line already names the upstream request id; per-attempt lines only for retries and failures.
    logging.getLogger("realtime_service").setLevel(logging.WARNING)
    logging.getLogger("realtime_service.web").setLevel(logging.INFO)
    logging.getLogger("realtime_service.webhooks").setLevel(logging.INFO)


@contextlib.contextmanager
def _signals(on_stop: Callable[[], None]) -> Iterator[threading.Event]:
    stopped = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if not stopped.is_set():
            logger.info("received %s: finishing in-flight requests", signal.Signals(signum).name)
        stopped.set()
        on_stop()

    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return
    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_main(argv: list[str] | None = None) -> int:
    """Run ``serve`` with ``argv`` (default ``sys.argv[1:]``) inside the CLI's error boundary; returns the exit
    code."""
    return run(lambda: _serve_main(argv), "realtime-service serve")


def _serve_main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    SECRETS.add_environment(os.environ)
    _configure_logging()
    worker = json.loads(os.environ.pop(WORKER_ENV, "null") or "null")
    try:
        return _serve(args, worker)
    except ServeError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from None


def _serve(args: argparse.Namespace, worker: Mapping[str, Any] | None) -> int:
    if args.workers < 1:
        raise ServeError("--workers must be at least 1")
    if args.emulator_delay and not args.emulator:
        raise ServeError("--emulator-delay needs --emulator")
    if args.emulator_record and not args.emulator:
        raise ServeError("--emulator-record needs --emulator")
    if args.emulator_record and args.workers > 1:
        raise ServeError("--emulator-record needs one worker")
    config = load_config(args.config)
    with contextlib.ExitStack() as stack:
        if worker is not None:
            config["realtime"] = {**config.get("realtime", {}), **worker["realtime"]}
            config["server"] = {**config.get("server", {}), **worker.get("server", {})}
        elif args.emulator:
            from realtime_service.emulator import Emulator

            emulator = stack.enter_context(Emulator())
            if args.emulator_delay > 0:
                delayed_emulator_routes(emulator, args.emulator_delay)
            if args.emulator_record:
                stack.callback(write_call_records, emulator, Path(args.emulator_record))
            config["realtime"] = {
                **config.get("realtime", {}),
                "api_key": emulator.api_key,
                "base_url": emulator.base_url,
            }
            config.setdefault("server", {}).setdefault("rate_limit", EMULATOR_RATE_LIMIT)
        container = ServeContainer()
        container.config.from_dict(config)
        stack.callback(container.shutdown_resources)
        settings = _check(container, args)
        framework = args.framework or settings.framework
        check_framework(framework)
        if worker is not None:
            sock = socket.socket(fileno=int(worker["fd"]))
        else:
            sock = stack.enter_context(bind(args.host, args.port))
        port = sock.getsockname()[1]
        if worker is None:
            upstream = "emulator" if args.emulator else _realtime_settings(container).base_url
            print(
                f"realtime-service serve: listening on http://{_url_host(args.host)}:{port}/ ({framework}, "
                f"signaling {settings.session_path or 'off'} -> {settings.voice_api}, "
                f"auth {settings.auth}, {args.workers} worker(s), rate limits keys "
                f"{settings.rate_limit or 'off'} calls {settings.call_rate_limit or 'off'}, upstream {upstream}, "
                "phone webhook "
                f"{settings.phone.path if settings.phone.webhook_secrets else 'off: no webhook secret'})",
                flush=True,
            )
        if args.workers > 1 and worker is None:
            overrides = {k: v for k, v in config.get("realtime", {}).items() if k in {"api_key", "base_url"}}
            budget = {"rate_limit": config["server"]["rate_limit"]} if args.emulator else {}
            return _supervise(
                sock, args, framework, overrides if args.emulator else {}, budget, settings.shutdown_timeout
            )
        runner = make_runner(container, framework, sock)
        with _signals(runner.stop):
            runner.run()
        container.unwire()
        logger.info("stopped")
    return EXIT_OK


def _check(container: ServeContainer, args: argparse.Namespace) -> ServerSettings:
    """Fail fast on anything that would make every request fail."""
    try:
        settings: ServerSettings = container.token_server.server_settings()
        _realtime_settings(container).require_api_key()
        container.token_server.token_endpoint().minter  # noqa: B018 - builds the service
        container.token_server.phone_endpoint()
        limiter = container.token_server.rate_limiter()
    except ConfigurationError as exc:
        raise ServeError(str(exc)) from None
    check_exposure(args.host, settings)
    if args.workers > 1 and limiter.in_memory and (settings.rate_limit or settings.call_rate_limit):
        raise ServeError(
            f"--workers {args.workers} with in-memory rate limits would give each worker its own budget: "
            "set server.rate_limit_storage: redis://... (or use one worker)"
        )
    if args.workers > 1 and settings.storage_is_memory and settings.phone.webhook_secrets:
        raise ServeError(
            f"--workers {args.workers} with in-memory storage would give each worker its own webhook ledger, so a "
            "redelivery racing on two workers could accept a call twice: set server.rate_limit_storage: "
            "redis://... (or use one worker)"
        )
    if not limiter.check():
        raise ServeError("the rate-limit storage does not answer (server.rate_limit_storage)")
    return settings


def _realtime_settings(container: ServeContainer) -> Settings:
    settings: Settings = container.token_server.realtime.settings()  # type: ignore[attr-defined]
    return settings


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _supervise(
    sock: socket.socket,
    args: argparse.Namespace,
    framework: str,
    overrides: dict[str, Any],
    server: dict[str, Any],
    timeout: float,
) -> int:
    """Run ``args.workers`` worker processes on the inherited socket; forward SIGTERM/SIGINT and wait for them.
    ``overrides`` and ``server`` are the ``realtime:`` and ``server:`` keys ``--emulator`` set (the workers run
    without it: the supervisor's emulator serves them all)."""
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    env = {**os.environ, WORKER_ENV: json.dumps({"fd": fd, "realtime": overrides, "server": server})}
    command = [sys.executable, "-m", "realtime_service.web", "--host", args.host, "--port", str(args.port)]
    command += ["--framework", framework] + (["--config", args.config] if args.config else [])
    children = [subprocess.Popen(command, pass_fds=[fd], env=env) for _ in range(args.workers)]  # noqa: S603
    with _signals(lambda: None) as stopped:
        while not stopped.wait(0.2):
            if any(child.poll() is not None for child in children):
                logger.error("a worker exited unexpectedly: stopping the others")
                break
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout + 5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return EXIT_OK if stopped.is_set() else EXIT_WORKER_DIED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(serve_main())
