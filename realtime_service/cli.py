"""``realtime-service``: mint a key from the command line, or run the loopback emulator.

Exit codes: 0 success, 2 usage, configuration or validation error (nothing was sent), 3 the API answered with
an error status, 4 no answer (connection error or timeout), 5 the API's answer was not a valid session.
Secrets are redacted in everything printed unless ``--show-secret`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
from .redaction import redact

EXIT_OK, EXIT_USAGE, EXIT_API, EXIT_CONNECTION, EXIT_RESPONSE = 0, 2, 3, 4, 5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime-service", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-session", help="mint an ephemeral key (POST /realtime/sessions)")
    create.add_argument("--model", help="Realtime model, e.g. gpt-4o-realtime-preview")
    create.add_argument("--voice", help="voice, e.g. marin")
    create.add_argument("--instructions", help="system instructions for the session")
    create.add_argument("--request", metavar="FILE", help="JSON request body from FILE, or - for stdin")
    create.add_argument("--config", metavar="FILE", help="YAML config (the keys of config/realtime.yaml)")
    create.add_argument("--show-secret", action="store_true", help="print the ephemeral key unredacted")
    create.add_argument("--emulator", action="store_true", help="mint from an in-process loopback emulator")

    emulator = commands.add_parser("emulator", help="run the OpenAI-compatible emulator on loopback")
    emulator.add_argument("--port", type=int, default=0)
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--api-key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        from .emulator import main as emulator_main

        forwarded = ["--port", str(args.port), "--host", args.host]
        if args.api_key:
            forwarded += ["--api-key", args.api_key]
        return emulator_main(forwarded)
    return _create_session(args)


def _fail(message: str, code: int) -> int:
    print(f"realtime-service: error: {message}", file=sys.stderr)
    return code


def _create_session(args: argparse.Namespace) -> int:
    try:
        request = _request_from(args)
        config = _config_from(args.config)
    except (OSError, ValueError, ConfigurationError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        with _container(config, emulator=args.emulator) as container:
            response = container.realtime_session_service().create_realtime_session(request)
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
    secret = body.get("client_secret")
    if not args.show_secret and isinstance(secret, dict) and isinstance(secret.get("value"), str):
        secret["value"] = redact(secret["value"])
    print(json.dumps(body, indent=2))
    return EXIT_OK


def _request_from(args: argparse.Namespace) -> dict[str, Any]:
    request: dict[str, Any] = {}
    if args.request:
        text = sys.stdin.read() if args.request == "-" else Path(args.request).read_text(encoding="utf-8")
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("--request must hold a JSON object")
        request.update(loaded)
    for name in ("model", "voice", "instructions"):
        if getattr(args, name) is not None:
            request[name] = getattr(args, name)
    return request


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
