"""``realtime-service``: mint ephemeral keys and start calls from the command line, run the loopback emulator,
serve the token endpoint, and check a deployment before it goes live.

Every command runs inside one error boundary (:mod:`.cli_boundary`): an error is one line on stderr and a
documented exit code (the table is in ``--help`` and docs/getting-started.md), never a traceback or a secret.
``create-session`` prints the GA answer (``value``, ``expires_at``, ``session``) unless the beta shape is asked
for (``--beta-output``, or ``--api-shape beta`` for the retired endpoint, which answers only that shape).
``create-call --sdp FILE|- [--live]`` hands an SDP offer to ``POST /realtime/calls`` (or GPT-Live's
``POST /live/sessions``) and prints the answer and the call or session id as JSON. ``dial NUMBER --trunk ...``
places an outbound GPT-Live phone call through a SIP trunk and prints its session id; ``--wait`` follows it on
its sideband (ringing, then answered or failed), numbers masked. Secrets are redacted in
everything printed unless ``--show-secret`` is given; a model the package does not know is a warning, not a
refusal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ._version import __version__
from .cli_boundary import (
    DEBUG_VARIABLE,
    EXIT_CONNECTION,
    EXIT_FAILED,
    EXIT_OK,
    CLIError,
    HelpFormatter,
    OneLineParser,
    exit_codes_epilog,
    run,
)
from .config import Settings, load_config_file, load_mapping
from .containers import RealtimeContainer
from .errors import APIConnectionError
from .lifecycle import models_in, unknown_model_note
from .redaction import SECRETS, redact, scrub

T = TypeVar("T")
PROG = "realtime-service"
#: The subcommands this module runs itself.
MINTING = ("create-session", "create-secret", "create-call", "dial")
#: ``dial --wait``'s default: the API rings for at most 3 minutes (voice-sip guide), plus the attach.
DIAL_WAIT_SECONDS = 200.0
#: The subcommands that parse their own arguments (their parsers live with them; ``--help`` passes through).
DELEGATED = {
    "emulator": "run the OpenAI-compatible emulator on loopback, or ring a webhook app (--help for its options)",
    "serve": "serve the token endpoint, signaling, phone webhook and demo page (--help for its options)",
    "doctor": "check a deployment before it goes live: models, key, webhooks, storage, hosts (--help)",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: every subcommand is listed here (docs/getting-started.md's table is checked
    against it)."""
    parser = OneLineParser(
        prog=PROG,
        description="Mint OpenAI Realtime ephemeral keys and start calls from the command line, run the "
        "loopback emulator, serve the token endpoint, or check a deployment. "
        "'realtime-service COMMAND --help' shows a command's options.",
        epilog=exit_codes_epilog(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help=f"show the traceback of an unexpected error (or {DEBUG_VARIABLE}=1)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser(
        "create-session",
        help="mint a key from a beta-shaped request (bridged to POST /realtime/client_secrets); print the GA answer",
    )
    _common_arguments(create)
    create.add_argument("--api-shape", choices=("ga", "beta"), help="override the config key api_shape")
    create.add_argument(
        "--beta-output",
        action="store_true",
        help="print the answer in the retired beta shape (client_secret.value, voice at the top), for old scripts",
    )

    secret = commands.add_parser("create-secret", help="mint a key with a GA request (POST /realtime/client_secrets)")
    _common_arguments(secret)
    secret.add_argument(
        "--session-type", choices=("realtime", "transcription"), help="session.type (default: realtime)"
    )
    secret.add_argument("--ttl", type=int, metavar="SECONDS", help="key lifetime, 10..7200 (API default 600)")

    call = commands.add_parser(
        "create-call",
        help="send a WebRTC SDP offer (POST /realtime/calls, or /live/sessions with --live); print answer and id",
    )
    call.add_argument("--sdp", required=True, metavar="FILE", help="the SDP offer from FILE, or - for stdin")
    call.add_argument("--live", action="store_true", help="start a GPT-Live session (POST /live/sessions)")
    call.add_argument("--session", metavar="FILE", help="the session as JSON from FILE, or - for stdin")
    call.add_argument("--model", help="model, e.g. gpt-realtime-2.1 or (with --live, where it is required) gpt-live-1")
    call.add_argument("--voice", help="voice, e.g. marin")
    call.add_argument("--instructions", help="system instructions for the session")
    _config_argument(call)
    call.add_argument("--emulator", action="store_true", help="send to an in-process loopback emulator")

    _dial_parser(commands)

    for name, text in DELEGATED.items():
        commands.add_parser(name, help=text, add_help=False)
    return parser


def _dial_parser(commands: Any) -> None:
    dial = commands.add_parser(
        "dial",
        help="place an outbound GPT-Live phone call through your SIP trunk (POST /live/sessions); print its session "
        "id, and with --wait follow it to answered or failed",
        description="Place an outbound GPT-Live phone call through your SIP trunk and print its session id. The "
        "call is sent once: it is retried only if the connection was never made (a phone must never ring twice). "
        "With --wait: exit 0 once answered, 1 if it failed, was not answered or ended first.",
        epilog=exit_codes_epilog(),
        formatter_class=HelpFormatter,
    )
    dial.add_argument("destination", metavar="NUMBER", help="the number to call, E.164 (+14155550123)")
    dial.add_argument("--trunk", required=True, metavar="URL", help="your SIP trunk: sips:host[:port][;transport=tcp]")
    dial.add_argument("--trunk-user", required=True, metavar="USER", help="the trunk's digest username")
    dial.add_argument(
        "--trunk-password-env",
        required=True,
        metavar="VAR",
        help="the environment variable holding the trunk's digest password (never given on the command line)",
    )
    dial.add_argument("--caller-number", required=True, metavar="NUMBER", help="the number the callee sees, E.164")
    dial.add_argument("--model", help="the GPT-Live model (default: --session's, else gpt-live-1)")
    dial.add_argument("--instructions", help="what the model should do on the call")
    dial.add_argument("--voice", help="voice, e.g. marin")
    dial.add_argument("--session", metavar="FILE", help="the session (MediaSessionConfig) as JSON from FILE, or -")
    _config_argument(dial)
    dial.add_argument("--emulator", action="store_true", help="call through an in-process loopback emulator")
    dial.add_argument(
        "--wait",
        action="store_true",
        help="attach the call's sideband and print ringing, then answered or failed (needs the sideband extra)",
    )
    dial.add_argument(
        "--timeout",
        type=float,
        default=DIAL_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"with --wait: give up waiting for an answer after this long (default {DIAL_WAIT_SECONDS:g})",
    )


def subcommand_names(parser: argparse.ArgumentParser | None = None) -> list[str]:
    """The subcommands ``parser`` (default: :func:`build_parser`'s) accepts, in order: what the docs' commands
    table must list."""
    for action in (parser or build_parser())._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config: a file of config/*.yaml (its realtime: keys are used) or bare realtime keys",
    )


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="Realtime model, e.g. gpt-realtime-2.1")
    parser.add_argument("--voice", help="voice, e.g. marin")
    parser.add_argument("--instructions", help="system instructions for the session")
    parser.add_argument("--request", metavar="FILE", help="JSON request body from FILE, or - for stdin")
    _config_argument(parser)
    parser.add_argument("--show-secret", action="store_true", help="print the ephemeral key unredacted")
    parser.add_argument("--emulator", action="store_true", help="mint from an in-process loopback emulator")


def main(argv: Sequence[str] | None = None) -> int:
    """The ``realtime-service`` console script: every subcommand runs inside the one error boundary."""
    args = list(sys.argv[1:] if argv is None else argv)
    SECRETS.add_environment(os.environ)  # nothing this command prints may show one, whatever fails first
    while args and args[0] == "--debug":
        args.pop(0)
        os.environ[DEBUG_VARIABLE] = "1"  # the delegated commands' own boundaries (and serve's workers) see it
    named = args and args[0] in (*DELEGATED, *MINTING)
    prog = f"{PROG} {args[0]}" if named else PROG
    return run(lambda: _dispatch(args), prog)


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "emulator":
        from .emulator import main as emulator_main

        return emulator_main(argv[1:])
    if argv and argv[0] == "serve":
        from .web.servers.serve import serve_main

        return serve_main(argv[1:])
    if argv and argv[0] == "doctor":
        from .doctor import doctor_main

        return doctor_main(argv[1:])
    if argv and argv[0] == "dial":
        from .webhooks.masking import mask_text

        try:  # the numbers are on this command line: an argparse error may quote one back
            args = build_parser().parse_args(argv)
        except CLIError as exc:
            raise CLIError(mask_text(str(exc)), exc.code) from None
        _configure_logging()
        return _dial(args)
    args = build_parser().parse_args(argv)
    _configure_logging()
    if args.command == "create-call":
        return _create_call(args)
    return _mint(args)


class _LowerLevel(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"


def _configure_logging() -> None:
    """The service's warnings (a retiring model, a dropped beta field) as one short stderr line each."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_LowerLevel())
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def _warn_unknown_models(body: Any) -> None:
    """A model the package does not know is most likely a typo: say so, suggest the closest, send anyway."""
    for model in dict.fromkeys(models_in(body)):
        note = unknown_model_note(model)
        if note:
            _warn(f"{note} (sending it anyway: the API decides)")


def _mint(args: argparse.Namespace) -> int:
    request = load_mapping(args.request, syntax="JSON", option="--request") if args.request else {}
    config = _realtime_config(args.config)
    if getattr(args, "api_shape", None):
        config["api_shape"] = args.api_shape
    with _container(config, emulator=args.emulator) as container:
        service = container.realtime_session_service()
        settings: Settings = container.settings()
        if args.command == "create-secret":
            ga = _ga_request(request, args)
            _warn_unknown_models(ga)
            response: Any = _sending(settings, "client_secrets", lambda: service.create_client_secret(ga))
        else:
            beta = _beta_request(request, args)
            _warn_unknown_models(beta)
            if settings.api_shape == "beta" or args.beta_output:
                operation = "sessions" if settings.api_shape == "beta" else "client_secrets"
                response = _sending(settings, operation, lambda: service.create_realtime_session(beta))
            else:
                # The same request the bridge sends for create_realtime_session, answered in the GA shape.
                bridged = service.bridge.to_ga(service.codec("beta").encode(beta))
                response = _sending(settings, "client_secrets", lambda: service.create_client_secret(bridged))
    body = response.to_dict()
    if not args.show_secret:
        _redact_secrets(body)
    print(scrub(json.dumps(body, indent=2)))  # --show-secret shows the minted key, never a server secret
    return EXIT_OK


def _sending(settings: Settings, operation: str, send: Callable[[], T]) -> T:
    """``send()``, with a connection error naming the URL it went to (never credentials or a query)."""
    try:
        return send()
    except APIConnectionError as exc:
        url = settings.base_url + settings.paths.get(operation, "")
        raise CLIError(f"{exc} (POST {url})", EXIT_CONNECTION) from None


def _create_call(args: argparse.Namespace) -> int:
    """``create-call``: one offer in, ``{"call_id"|"session_id", "request_id", "sdp"}`` out (nothing secret)."""
    if args.sdp == "-" and args.session == "-":
        raise CLIError("--sdp and --session cannot both read stdin")
    try:
        offer = sys.stdin.buffer.read() if args.sdp == "-" else Path(args.sdp).read_bytes()
    except OSError as exc:
        raise CLIError(f"--sdp: cannot read {args.sdp}: {exc.strerror or type(exc).__name__}") from None
    session = _session_from(args)
    config = _realtime_config(args.config)
    _warn_unknown_models(session)
    with _container(config, emulator=args.emulator) as container:
        service = container.realtime_session_service()
        settings: Settings = container.settings()
        if args.live:
            live = _sending(settings, "live_sessions", lambda: service.create_live_session(offer, session))
            printed: dict[str, Any] = {"session_id": live.session_id, "request_id": live.request_id}
            printed["sdp"] = live.sdp
        else:
            call = _sending(settings, "calls", lambda: service.create_call(offer, session))
            printed = {"call_id": call.call_id, "request_id": call.request_id, "sdp": call.sdp}
    print(scrub(json.dumps(printed, indent=2)))
    return EXIT_OK


def _dial(args: argparse.Namespace) -> int:
    """``dial``: place the call once, print its session id; with ``--wait``, follow it on its sideband."""
    from .errors import APIStatusError
    from .webhooks.masking import mask_number

    variable = args.trunk_password_env
    password = os.environ.get(variable)
    if not password:
        raise CLIError(
            f"--trunk-password-env: the environment variable {variable} is {'empty' if password == '' else 'not set'}"
        )
    SECRETS.add(password)  # nothing printed from here on can show it
    if args.wait:
        _sideband_or_usage_error()  # before the call is placed: a phone must not ring for a command that then fails
    if not 0 < args.timeout <= 3600:
        raise CLIError("--timeout must be more than 0 and at most 3600 seconds")
    session = _session_from(args, live=True)
    session.setdefault("model", "gpt-live-1")
    trunk = {
        "provider_url": args.trunk,
        "auth": {"type": "digest", "username": args.trunk_user, "password": password},
        "caller_number": args.caller_number,
    }
    shown = mask_number(args.destination)
    _warn_unknown_models(session)
    with _container(_realtime_config(args.config), emulator=args.emulator) as container:
        service = container.realtime_session_service()
        settings: Settings = container.settings()
        try:
            call = service.create_outbound_live_call(session, destination=args.destination, trunk=trunk)
        except (APIConnectionError, APIStatusError) as exc:
            raise _placing_failed(exc, settings) from None
        print(f"session_id: {call.session_id}", flush=True)
        print(f"calling: {shown}", flush=True)
        if not args.wait:
            return EXIT_OK
        return _follow(settings, call.session_id, shown, args.timeout, service.hangup_live_session)


def _sideband_or_usage_error() -> None:
    try:
        import websockets  # noqa: F401
    except ImportError:
        raise CLIError("--wait needs the sideband extra: pip install 'realtime-service[sideband]'") from None


def _placing_failed(exc: Exception, settings: Settings) -> CLIError:
    """The one line for a call that failed to be placed: whether it may ring anyway (never retried), and the
    session it named if a cut answer did."""
    from .cli_boundary import EXIT_API
    from .errors import APIStatusError
    from .live.sessions import session_id_in_partial
    from .webhooks.masking import mask_text

    code = EXIT_CONNECTION if isinstance(exc, APIConnectionError) else EXIT_API
    line = mask_text(str(exc))
    if isinstance(exc, APIConnectionError) and not exc.request_sent:
        url = settings.base_url + settings.paths.get("live_outbound_calls", "")
        return CLIError(f"{line} (POST {url}; no call was placed)", code)
    # a 503 too: a proxy may answer it after the API placed the call (RetryRule.UNREACHED_ONLY)
    if isinstance(exc, APIConnectionError) or (isinstance(exc, APIStatusError) and exc.status_code >= 500):
        named = session_id_in_partial(getattr(exc, "partial_body", b""))
        where = f": session {named}" if named else ""
        return CLIError(f"{line}; the call may have been placed{where} (not retried, so it rings at most once)", code)
    return CLIError(line, code)


def _follow(settings: Settings, session_id: str, shown: str, timeout: float, hang_up: Callable[[str], object]) -> int:
    """``--wait``: attach and print each step; 0 once answered, 1 otherwise. A call still ringing when the
    wait ends (``--timeout``, Ctrl-C) is hung up: nobody is watching it any more."""
    import asyncio

    from .errors import NotFoundError
    from .sideband.connection import live_target
    from .sideband.dial_watch import DialEvent, watch_dial
    from .webhooks.masking import mask_text

    def show(event: DialEvent) -> None:
        detail = ": ".join(part for part in (event.code, event.message) if part)
        print(mask_text(f"{event.outcome}: {shown}" + (f" ({detail})" if detail else "")), flush=True)

    target = live_target(settings, session_id)  # the one sideband URL and header builder (Azure's path included)
    try:
        outcome = asyncio.run(watch_dial(target.url, target.headers, timeout=timeout, on_event=show))
    except NotFoundError:  # it failed (or was hung up) before the sideband attached: the session is gone
        print(f"ended: {shown} (the session ended before its sideband attached: the call failed or was hung up)")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _hang_up_unwatched(hang_up, session_id)
        raise
    if outcome.outcome == "timeout":
        print(f"timeout: {shown} not answered within {timeout:g} s: hanging up", flush=True)
        _hang_up_unwatched(hang_up, session_id)
    return EXIT_OK if outcome.outcome == "answered" else EXIT_FAILED


def _hang_up_unwatched(hang_up: Callable[[str], object], session_id: str) -> None:
    """Hang up a call the command stops watching; a failure is a warning naming the session (to end by hand)."""
    from .errors import APIStatusError

    try:
        hang_up(session_id)
    except APIStatusError as exc:
        if exc.status_code != 404:  # 404: it has ended already
            _warn(f"could not hang up {session_id} ({exc.status_code}): end it by hand")
    except APIConnectionError as exc:
        _warn(f"could not hang up {session_id} ({type(exc).__name__}): end it by hand")


def _session_from(args: argparse.Namespace, *, live: bool = False) -> dict[str, Any]:
    """The session from ``--session`` with the flags placed over it (``voice`` at ``audio.output.voice``); a
    Realtime session gets ``type: "realtime"`` unless it says otherwise."""
    session = load_mapping(args.session, syntax="JSON", option="--session") if args.session else {}
    if not (live or args.live):
        session.setdefault("type", "realtime")
    for name in ("model", "instructions"):
        if getattr(args, name) is not None:
            session[name] = getattr(args, name)
    if args.voice is not None:
        _place(session, ("audio", "output", "voice"), args.voice)
    return session


def _redact_secrets(body: dict[str, Any]) -> None:
    """Redact the minted key wherever the operation puts it: ``value`` (GA) or ``client_secret.value`` (beta)."""
    for holder in (body, body.get("client_secret")):
        if isinstance(holder, dict) and isinstance(holder.get("value"), str):
            holder["value"] = redact(holder["value"])


def _beta_request(request: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Flags win over the request file, under their beta names."""
    for name in ("model", "voice", "instructions"):
        if getattr(args, name) is not None:
            request[name] = getattr(args, name)
    return request


def _ga_request(request: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Flags win over the request file, at their GA places (``voice`` is ``session.audio.output.voice``).

    Where the file holds something other than an object on the way, the flag is not placed and validation
    names that field instead.
    """
    if args.session_type is not None:
        _place(request, ("session", "type"), args.session_type)
    session = request.setdefault("session", {})
    if isinstance(session, dict):
        session.setdefault("type", "realtime")
    for name in ("model", "instructions"):
        if getattr(args, name) is not None:
            _place(request, ("session", name), getattr(args, name))
    if args.voice is not None:
        _place(request, ("session", "audio", "output", "voice"), args.voice)
    if args.ttl is not None:
        request["expires_after"] = {"anchor": "created_at", "seconds": args.ttl}
    return request


def _place(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node: Any = body
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node[path[-1]] = value


def _realtime_config(path: str | None) -> dict[str, Any]:
    """The ``realtime`` keys of ``--config`` (either layout, :func:`~realtime_service.config.load_config_file`);
    a ``server:`` section is ``serve``'s and ``doctor``'s, not used by the minting commands."""
    return load_config_file(path)["realtime"] if path is not None else {}


@contextlib.contextmanager
def _container(config: dict[str, Any], *, emulator: bool) -> Iterator[RealtimeContainer]:
    with contextlib.ExitStack() as stack:
        container = RealtimeContainer()
        if emulator:
            from .emulator import Emulator

            running = stack.enter_context(Emulator())
            config = {**config, "api_key": running.api_key, "base_url": running.base_url}
        container.config.from_dict(config)
        stack.callback(container.shutdown_resources)
        yield container


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
