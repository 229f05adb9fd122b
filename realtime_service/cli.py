"""``realtime-service``: mint a key from the command line, run the loopback emulator, serve the token endpoint,
or check a deployment (``doctor``, exit codes in :mod:`realtime_service.doctor`).

``create-call --sdp FILE|- [--live]`` hands an SDP offer to ``POST /realtime/calls`` (or GPT-Live's
``POST /live/sessions``) and prints the answer and the call or session id as JSON.

Exit codes: 0 success, 2 usage, configuration or validation error (nothing was sent), 3 the API answered with
an error status, 4 no answer (connection error or timeout), 5 the API's answer held no usable key.
Secrets are redacted in everything printed unless ``--show-secret`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from .containers import RealtimeContainer
from .errors import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    RealtimeServiceError,
    RequestValidationError,
    ResponseValidationError,
)
from .redaction import SECRETS, redact, scrub

EXIT_OK, EXIT_USAGE, EXIT_API, EXIT_CONNECTION, EXIT_RESPONSE = 0, 2, 3, 4, 5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime-service", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser(
        "create-session",
        help="mint a key with a beta-shaped request (bridged to /realtime/client_secrets unless api_shape: beta)",
    )
    _common_arguments(create)
    create.add_argument("--api-shape", choices=("ga", "beta"), help="override the config key api_shape")

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
    call.add_argument("--model", help="model, e.g. gpt-realtime-2 or (with --live, where it is required) gpt-live-1")
    call.add_argument("--voice", help="voice, e.g. marin")
    call.add_argument("--instructions", help="system instructions for the session")
    call.add_argument("--config", metavar="FILE", help="YAML config (the keys of config/realtime.yaml)")
    call.add_argument("--emulator", action="store_true", help="send to an in-process loopback emulator")

    commands.add_parser(
        "emulator", help="run the OpenAI-compatible emulator on loopback (--help for its options)", add_help=False
    )
    commands.add_parser("serve", help="serve the token endpoint and demo page (--help for its options)", add_help=False)
    commands.add_parser(
        "doctor", help="check a deployment before it goes live: models, key, webhooks, storage, hosts", add_help=False
    )
    return parser


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="Realtime model, e.g. gpt-realtime-2.1")
    parser.add_argument("--voice", help="voice, e.g. marin")
    parser.add_argument("--instructions", help="system instructions for the session")
    parser.add_argument("--request", metavar="FILE", help="JSON request body from FILE, or - for stdin")
    parser.add_argument("--config", metavar="FILE", help="YAML config (the keys of config/realtime.yaml)")
    parser.add_argument("--show-secret", action="store_true", help="print the ephemeral key unredacted")
    parser.add_argument("--emulator", action="store_true", help="mint from an in-process loopback emulator")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    SECRETS.add_environment(os.environ)  # nothing this command prints may show one, whatever fails first
    if argv and argv[0] == "emulator":
        from .emulator import main as emulator_main

        return emulator_main(argv[1:])
    if argv and argv[0] == "serve":
        from .web.serve import serve_main

        return serve_main(argv[1:])
    if argv and argv[0] == "doctor":
        from .doctor import doctor_main

        return doctor_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "create-call":
        return _create_call(args)
    return _mint(args)


def _fail(message: str, code: int) -> int:
    print(scrub(f"realtime-service: error: {message}"), file=sys.stderr)
    return code


def _mint(args: argparse.Namespace) -> int:
    try:
        request = _request_from(args)
        config = _config_from(args.config)
    except (OSError, ValueError, ConfigurationError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    if getattr(args, "api_shape", None):
        config["api_shape"] = args.api_shape
    try:
        with _container(config, emulator=args.emulator) as container:
            service = container.realtime_session_service()
            if args.command == "create-secret":
                response: Any = service.create_client_secret(_ga_request(request, args))
            else:
                response = service.create_realtime_session(_beta_request(request, args))
    except (RequestValidationError, ConfigurationError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except APIStatusError as exc:
        return _fail(str(exc), EXIT_API)
    except APIConnectionError as exc:
        return _fail(str(exc), EXIT_CONNECTION)
    except ResponseValidationError as exc:
        return _fail(str(exc), EXIT_RESPONSE)
    except RealtimeServiceError as exc:  # pragma: no cover - every subclass is handled above
        return _fail(str(exc), EXIT_API)
    body = response.to_dict()
    if not args.show_secret:
        _redact_secrets(body)
    print(scrub(json.dumps(body, indent=2)))  # --show-secret shows the minted key, never a server secret
    return EXIT_OK


def _create_call(args: argparse.Namespace) -> int:
    """``create-call``: one offer in, ``{"call_id"|"session_id", "request_id", "sdp"}`` out (nothing secret)."""
    try:
        if args.sdp == "-" and args.session == "-":
            raise ValueError("--sdp and --session cannot both read stdin")
        offer = sys.stdin.buffer.read() if args.sdp == "-" else Path(args.sdp).read_bytes()
        session = _session_from(args)
        config = _config_from(args.config)
    except (OSError, ValueError, ConfigurationError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        with _container(config, emulator=args.emulator) as container:
            service = container.realtime_session_service()
            if args.live:
                live = service.create_live_session(offer, session)
                printed: dict[str, Any] = {"session_id": live.session_id, "request_id": live.request_id}
                printed["sdp"] = live.sdp
            else:
                call = service.create_call(offer, session)
                printed = {"call_id": call.call_id, "request_id": call.request_id, "sdp": call.sdp}
    except (RequestValidationError, ConfigurationError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except APIStatusError as exc:
        return _fail(str(exc), EXIT_API)
    except APIConnectionError as exc:
        return _fail(str(exc), EXIT_CONNECTION)
    except ResponseValidationError as exc:
        return _fail(str(exc), EXIT_RESPONSE)
    except RealtimeServiceError as exc:  # pragma: no cover - every subclass is handled above
        return _fail(str(exc), EXIT_API)
    print(scrub(json.dumps(printed, indent=2)))
    return EXIT_OK


def _session_from(args: argparse.Namespace) -> dict[str, Any]:
    """The session from ``--session`` with the flags placed over it (``voice`` at ``audio.output.voice``); a
    Realtime session gets ``type: "realtime"`` unless it says otherwise."""
    session: dict[str, Any] = {}
    if args.session:
        text = sys.stdin.read() if args.session == "-" else Path(args.session).read_text(encoding="utf-8")
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("--session must hold a JSON object")
        session = loaded
    if not args.live:
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


def _request_from(args: argparse.Namespace) -> dict[str, Any]:
    if not args.request:
        return {}
    text = sys.stdin.read() if args.request == "-" else Path(args.request).read_text(encoding="utf-8")
    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise ValueError("--request must hold a JSON object")
    return loaded


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


def _config_from(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"{path} must hold a mapping of config keys")
    return loaded


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
