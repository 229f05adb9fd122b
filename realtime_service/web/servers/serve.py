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
import dataclasses
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from realtime_service.cli_boundary import CLIError, HelpFormatter, OneLineParser, exit_codes_epilog, port, run
from realtime_service.config import Settings, is_loopback, load_config_file
from realtime_service.errors import ConfigurationError
from realtime_service.observability import metrics
from realtime_service.redaction import SECRETS
from realtime_service.sideband.ownership import check_lease_storage

from ..settings import FRAMEWORKS, ServerSettings
from .containers import ServeContainer
from .logs import apply_log_settings, configure_logging
from .runners import ServeError, bind, check_framework, make_runner

EXIT_OK, EXIT_WORKER_DIED, EXIT_USAGE = 0, 1, 2
#: ``server.rate_limit`` under ``--emulator`` when the config does not set it: the emulator bills nothing, so a
#: developer clicking around the demo page for a few minutes should not run out; still bounded. Calls follow it
#: unless ``server.call_rate_limit`` is set (each counted on its own).
EMULATOR_RATE_LIMIT = "60/minute;1000/day"
#: Set by a ``--workers`` supervisor for its workers: the inherited socket and config overrides (JSON).
WORKER_ENV = "_REALTIME_SERVICE_SERVE_WORKER"
#: prometheus-client's multiprocess folder: ``serve --workers N`` makes a private one for its workers' metrics.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

logger = logging.getLogger("realtime_service.web")


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
    parser.add_argument(
        "--emulator-webrtc",
        action="store_true",
        help="with --emulator, answer calls with a real WebRTC peer (the webrtc extra, aiortc): the demo's call "
        "connects, with audio and the oai-events data channel",
    )
    parser.add_argument(
        "--emulator-webrtc-address",
        action="append",
        metavar="IP",
        help="with --emulator-webrtc, an address the peer may gather ICE candidates on (repeatable; default: every "
        "interface but 127.0.0.1)",
    )
    parser.add_argument(
        "--emulator-script",
        metavar="FILE",
        help="with --emulator, a YAML conversation script every call plays (docs/emulator-calls.md)",
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
            "peer_states": list(record.peer_states),
            "script_state": dataclasses.asdict(record.script_state) if record.script_state is not None else None,
            "client_events": [
                {"connection": event.connection, "event": event.event, "at": event.at} for event in record.client_events
            ],
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
    configure_logging()
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
    emulator_options = _emulator_options(args) if worker is None else {}
    config = load_config(args.config)
    with contextlib.ExitStack() as stack:
        if worker is not None:
            config["realtime"] = {**config.get("realtime", {}), **worker["realtime"]}
            config["server"] = {**config.get("server", {}), **worker.get("server", {})}
        elif args.emulator:
            from realtime_service.emulator import Emulator

            emulator = stack.enter_context(Emulator(**emulator_options))
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
        # how many processes share the storage: memory call leases are refused above one (sideband.ownership)
        container.token_server.workers.override(worker.get("workers", 1) if worker is not None else args.workers)
        peer = worker.get("emulator_peer") if worker is not None else (args.emulator_webrtc if args.emulator else None)
        container.token_server.emulator_peer.override(peer)
        stack.callback(container.shutdown_resources)
        settings = _check(container, args)
        framework = args.framework or settings.framework
        check_framework(framework)
        if worker is not None:
            sock = socket.socket(fileno=int(worker["fd"]))
        else:
            sock = stack.enter_context(bind(args.host, args.port))
        port = sock.getsockname()[1]
        folder = _start_metrics(stack, settings, worker, args.workers)  # listening before serve says it is
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
                sock,
                args,
                framework,
                overrides if args.emulator else {},
                budget,
                settings.shutdown_timeout,
                folder,
                peer,
            )
        runner = make_runner(container, framework, sock)
        _stand_by(container, settings)
        with _signals(runner.stop):
            runner.run()
        container.unwire()
        logger.info("stopped")
    return EXIT_OK


def _emulator_options(args: argparse.Namespace) -> dict[str, Any]:
    """``Emulator(...)``'s keyword arguments from the ``--emulator-*`` options; a misuse, a missing webrtc extra,
    a bad address or script is a :class:`ServeError` (one line, exit 2) before anything binds."""
    for flag, given in (("--emulator-webrtc", args.emulator_webrtc), ("--emulator-script", args.emulator_script)):
        if given and not args.emulator:
            raise ServeError(f"{flag} needs --emulator")
    if args.emulator_webrtc_address and not args.emulator_webrtc:
        raise ServeError("--emulator-webrtc-address needs --emulator-webrtc")
    options: dict[str, Any] = {}
    if args.emulator_webrtc:
        if importlib.util.find_spec("aiortc") is None:
            raise ServeError(
                "--emulator-webrtc needs the webrtc extra (aiortc): pip install 'realtime-service[webrtc]'"
            )
        from realtime_service.emulator.webrtc.gathering import checked

        try:
            checked(args.emulator_webrtc_address)
        except ValueError as exc:
            raise ServeError(f"--emulator-webrtc-address: {exc}") from None
        options.update(webrtc=True, webrtc_addresses=args.emulator_webrtc_address)
    if args.emulator_script:
        from realtime_service.emulator.scripts import load_script_file

        try:
            options["script"] = load_script_file(args.emulator_script)
        except ConfigurationError as exc:
            raise ServeError(str(exc)) from None
    return options


def _start_metrics(
    stack: contextlib.ExitStack, settings: ServerSettings, worker: Mapping[str, Any] | None, workers: int
) -> str | None:
    """``server.metrics``: one process counts and serves them itself; a ``--workers`` supervisor makes a private
    multiprocess folder (returned, for its workers' environment) and serves the workers' sum; a worker counts
    into that folder. Off: nothing is imported."""
    if settings.metrics is None:
        return None
    routes = {settings.path: "token", settings.session_path: "session", "/healthz": "healthz", "/readyz": "readyz"}
    routes.update({settings.phone.path: "phone", "/": "demo"})
    if worker is not None:
        metrics.enable()  # into the supervisor's folder: its environment names it
        metrics.name_routes(routes)
        return None
    folder = None
    if workers > 1:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="realtime-service-metrics-"))
    else:
        os.environ.pop(MULTIPROCESS_ENV, None)  # one process: its own registry, whatever the environment said
        metrics.enable()
        metrics.name_routes(routes)
    address, port_ = settings.metrics.address, settings.metrics.port
    try:
        stack.callback(metrics.serve_metrics(address, port_, folder))
    except OSError as exc:
        raise ServeError(f"cannot listen on {address}:{port_} (server.metrics): {exc.strerror or exc}") from None
    stack.callback(metrics.disable)
    logger.info("metrics on http://%s:%d/metrics", _url_host(address), port_)
    return folder


def _stand_by(container: ServeContainer, settings: ServerSettings) -> None:
    """With a toolbox configured and Redis leases, this worker stands by to take over the calls of a worker
    that died (:meth:`~realtime_service.sideband.attacher.CallAttacher.stand_by`; memory leases: no-op)."""
    if settings.phone.tools is not None or settings.sideband is not None:
        container.token_server.call_attacher().stand_by()


def _check(container: ServeContainer, args: argparse.Namespace) -> ServerSettings:
    """Fail fast on anything that would make every request fail."""
    try:
        settings: ServerSettings = container.token_server.server_settings()
        apply_log_settings(settings.log_format, settings.log_level)  # before anything else is logged
        _realtime_settings(container).require_api_key()
        container.token_server.token_endpoint().minter  # noqa: B018 - builds the service
        container.token_server.phone_endpoint()
        if settings.phone.tools is not None:  # import the toolbox now, and refuse per-worker (memory) leases
            container.token_server.call_router()
        for name, on in (("server.phone.tools", settings.phone.tools), ("server.sideband", settings.sideband)):
            if on is None:
                continue
            check_lease_storage(settings.rate_limit_storage, workers=args.workers)
            if importlib.util.find_spec("websockets") is None:
                raise ConfigurationError(
                    f"{name} attaches calls' sidebands, which needs the sideband extra: "
                    "pip install 'realtime-service[sideband]'"
                )
        if settings.metrics is not None and not metrics.available():
            raise ConfigurationError(
                f"server.metrics needs the metrics extra (prometheus-client): pip install '{metrics.EXTRA}'"
            )
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
    metrics_folder: str | None = None,
    emulator_peer: bool | None = None,
) -> int:
    """Run ``args.workers`` worker processes on the inherited socket; forward SIGTERM/SIGINT and wait for them.
    ``overrides`` and ``server`` are the ``realtime:`` and ``server:`` keys ``--emulator`` set (the workers run
    without it: the supervisor's emulator serves them all). ``metrics_folder``: the workers' prometheus-client
    multiprocess folder (each dead worker is marked so there)."""
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    inherited = {
        "fd": fd,
        "realtime": overrides,
        "server": server,
        "workers": args.workers,
        "emulator_peer": emulator_peer,
    }
    env = {**os.environ, WORKER_ENV: json.dumps(inherited)}
    if metrics_folder is not None:
        env[MULTIPROCESS_ENV] = metrics_folder
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
        if metrics_folder is not None:
            metrics.worker_exited(child.pid, metrics_folder)
    return EXIT_OK if stopped.is_set() else EXIT_WORKER_DIED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(serve_main())
