"""``python -m realtime_service.emulator`` / ``realtime-service emulator``: serve in the foreground.

``realtime-service emulator ring URL --from +14155550100 --to +14155550199`` rings a local webhook endpoint instead
(see :mod:`.ring`): it serves the emulator (``--port``/``--api-key`` so the app can be pointed at it), posts one
signed incoming-call event, prints the call's final state and exits 0 when the call was decided (accepted, rejected,
referred or hung up), 1 when it timed out or its ``--script`` failed, 2 on a usage error (no
secret, a URL that is not plainly loopback), 3 when the app refused the webhook with an answer no redelivery changes
(``400 bad_signature``: the secrets differ; one line says so at once). Numbers are printed masked; the webhook
secret (``--secret``, better ``OPENAI_WEBHOOK_SECRET``: a command line is visible to other users) never.

Both take ``--script FILE``: a YAML conversation script (:mod:`.scripts`) every call plays once its socket attaches
(``ring`` then waits ``--timeout`` s after the accept for the app's sideband, follows the script to its end and
prints its outcome); a bad file is one line naming the file, the step and the field, and exit 2, before anything
binds.

Both run inside the CLI's one error boundary (:mod:`realtime_service.cli_boundary`): a port that cannot be bound
(in use, not 0..65535, a non-loopback address) is one line and exit 2, like every other usage error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType
from typing import Literal

from ..cli_boundary import EXIT_USAGE, CLIError, HelpFormatter, OneLineParser, exit_codes_epilog, port, run
from ..config import is_loopback
from .call_registry import DEFAULT_MAX_CALLS, DEFAULT_MAX_ENDED, DEFAULT_MAX_KEYS, ENDED, CallRecord
from .scripts import Dial, Script, load_script_file
from .server import DEFAULT_HISTORY, Emulator

#: ``emulator ring``'s exit code when the app refused the webhook for good (a 4xx such as ``400 bad_signature``).
EXIT_REFUSED = 3


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="realtime-service emulator",
        description="Run the OpenAI-compatible emulator on loopback until Ctrl-C. "
        "'realtime-service emulator ring URL --from ... --to ...' rings a local webhook app instead (ring --help).",
        epilog=exit_codes_epilog(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: %(default)s)")
    parser.add_argument("--port", type=port, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--api-key", default=None, help="key clients must send (default: a random sk-emulator-...)")
    parser.add_argument(
        "--beta-retired",
        action="store_true",
        help="answer the beta endpoints with beta_api_shape_disabled, as the real API does since 2026-05",
    )
    parser.add_argument(
        "--azure",
        action="store_true",
        help="speak Azure OpenAI's dialect: api-key header, /openai/v1/... and /openai/realtimeapi/... paths",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=None,
        metavar="N",
        help=f"keep the last N requests for inspection (default: {DEFAULT_HISTORY}); older ones are forgotten",
    )
    for flag, default, what in (
        ("--max-keys", DEFAULT_MAX_KEYS, "minted ek_ keys (expired ones are dropped anyway)"),
        ("--max-calls", DEFAULT_MAX_CALLS, "live calls and Live sessions"),
        ("--max-ended-calls", DEFAULT_MAX_ENDED, "ended calls and Live sessions"),
    ):
        parser.add_argument(
            flag,
            type=int,
            default=default,
            metavar="N",
            help=f"remember at most N {what}; oldest forgotten first (default: {default})",
        )
    parser.add_argument(
        "--webrtc",
        action="store_true",
        help="answer WebRTC offers with a real peer (the webrtc extra, aiortc): ICE, DTLS, audio and the "
        "oai-events data channel; without the extra the canned answer stays, and a warning says so",
    )
    parser.add_argument(
        "--webrtc-address",
        action="append",
        default=None,
        metavar="IP",
        help="with --webrtc: an address the peer may gather ICE candidates on (repeatable; default: every "
        "interface but 127.0.0.1)",
    )
    _script_flag(parser)
    return parser


def _script_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--script",
        metavar="FILE",
        default=None,
        help="a YAML conversation script every call plays once its socket attaches (docs/emulator-calls.md)",
    )


def _script(path: str | None, api: Literal["realtime", "live"] | None = None) -> Script | None:
    """The checked script of ``--script`` (a bad file is one line and exit 2, before anything binds)."""
    return None if path is None else load_script_file(path, api=api)


def _ring_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="realtime-service emulator ring",
        description="Ring a local webhook endpoint with a signed incoming-call event and print the call's outcome.",
        epilog=exit_codes_epilog(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("url", help="the app's webhook URL (loopback only), e.g. http://127.0.0.1:8000/webhooks/openai")
    parser.add_argument("--from", dest="caller", default="+14155550100", help="calling number (default: %(default)s)")
    parser.add_argument("--to", dest="callee", default="+14155550199", help="called number (default: %(default)s)")
    parser.add_argument("--secret", default=None, help="the webhook signing secret (default: $OPENAI_WEBHOOK_SECRET)")
    parser.add_argument("--live", action="store_true", help="ring as GPT-Live (live.transport.incoming)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for a decision, and with --script for the app's sideband (default: %(default)s)",
    )
    parser.add_argument("--deliveries", type=int, default=5, help="delivery attempts at most (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: %(default)s)")
    parser.add_argument("--port", type=port, default=0, help="port the emulator binds; 0 picks a free one")
    parser.add_argument("--api-key", default=None, help="key the app must send (default: a random sk-emulator-...)")
    _script_flag(parser)
    return parser


def started(emulator: Emulator) -> Emulator:
    """``emulator`` started, or a one-line :class:`CLIError` when its address cannot be bound (port in use, an
    address this host does not have): where the CLI binds, so ``emulator`` and ``emulator ring`` say it alike."""
    if not is_loopback(emulator.host):
        raise CLIError(f"--host {emulator.host}: the emulator binds loopback addresses only (127.0.0.0/8, ::1)")
    try:
        return emulator.start()
    except OverflowError:  # the Emulator class itself takes any int: the CLI's port type stops this first
        raise CLIError(f"cannot listen on {emulator.host}: the port must be 0..65535") from None
    except OSError as exc:
        where = f"[{emulator.host}]" if ":" in emulator.host else emulator.host
        raise CLIError(f"cannot listen on {where}:{emulator.port}: {exc.strerror or exc}") from None


def ring_main(argv: list[str]) -> int:
    """Serve the emulator, ring ``url`` once, print the outcome (masked), stop."""
    return run(lambda: _ring(argv), "realtime-service emulator ring")


def _ring(argv: list[str]) -> int:
    from ..webhooks.masking import mask_text
    from .ring import WebhookRefused, check_loopback, default_sip_headers

    args = _ring_parser().parse_args(argv)
    secret = args.secret or os.environ.get("OPENAI_WEBHOOK_SECRET")
    if not secret:
        raise CLIError("a webhook secret is needed: --secret or OPENAI_WEBHOOK_SECRET")
    if args.timeout <= 0:
        raise CLIError(f"--timeout must be more than 0 seconds, not {args.timeout}")
    if args.deliveries < 1:
        raise CLIError(f"--deliveries must be at least 1, not {args.deliveries}")
    try:
        check_loopback(args.url)  # before binding anything: a bad URL starts nothing (ring parses it the same way)
    except ValueError as error:
        raise CLIError(f"{args.url}: {error}") from None
    script = _script(args.script, "live" if args.live else "realtime")
    if script and isinstance(script[0], Dial):
        raise CLIError(
            f"{args.script}: script step 0 (dial): ring places an incoming call; dial is for outbound calls "
            "(POST /v1/live/sessions with a sip transport)"
        )
    with started(Emulator(args.api_key, args.host, args.port, script=script)) as emulator:
        print(f"emulator on {emulator.base_url}: the app must send its accept/reject/refer/hangup there", flush=True)
        print(f"export OPENAI_BASE_URL={emulator.base_url} OPENAI_API_KEY={emulator.api_key}", flush=True)
        print(f"ringing {mask_text(args.url)} from {mask_text(args.caller)} to {mask_text(args.callee)}", flush=True)
        try:
            record = emulator.ring(
                args.url,
                default_sip_headers(args.caller, args.callee),
                secret=secret,
                api="live" if args.live else "realtime",
                decide_within=args.timeout,
                max_deliveries=args.deliveries,
            )
        except WebhookRefused as refused:
            raise CLIError(mask_text(str(refused)), EXIT_REFUSED) from None
        except ValueError as error:
            raise CLIError(mask_text(str(error)), EXIT_USAGE) from None
        played = _play(emulator, record, args.timeout) if script else None
        if played is not None:
            record = played
    statuses = ", ".join("no answer" if status is None else str(status) for status in record.webhook_statuses)
    print(f"webhook deliveries: {record.webhook_deliveries} ({statuses})")
    detail = ""
    if record.decisions:
        last = record.decisions[-1]
        if last.action == "reject" and isinstance(last.body, dict):
            detail = f" (SIP {last.body.get('status_code', 603)})"
        elif last.action == "refer" and isinstance(last.body, dict):
            detail = f" (to {mask_text(str(last.body.get('target_uri', '')))})"
    print(f"call {record.id}: {record.state}{detail}")
    if script and record.state not in ("timed_out", "rejected", "referred"):
        print(f"script: {_script_outcome(record)}")
        if record.script_state is not None and record.script_state.status != "done":
            return 1
    return 1 if record.state == "timed_out" else 0


PLAY_LIMIT = 24 * 3600.0
"""Seconds ``ring --script`` follows a script that started: every step of the runner is bounded by its own
timeout, so this is only a backstop (Ctrl-C stops sooner)."""


def _play(emulator: Emulator, record: CallRecord, attach_within: float) -> CallRecord | None:
    """After an accept: wait ``attach_within`` s for the app's sideband to start the script, then for its end."""
    if record.state != "accepted":
        return None
    where = "/v1/live/sessions/{id}/attach" if record.api == "live" else "/v1/realtime?call_id=..."
    print(f"accepted: the script plays once the app attaches its sideband (GET {where})", flush=True)
    calls = emulator.calls
    started_or_ended = calls.wait_until(
        record.id, lambda r: r.script_state is not None or r.state in ENDED, timeout=attach_within
    )
    if started_or_ended.script_state is None:
        return started_or_ended
    return calls.wait_until(
        record.id,
        lambda r: r.script_state is not None and r.script_state.status in ("done", "failed"),
        timeout=PLAY_LIMIT,
    )


def _script_outcome(record: CallRecord) -> str:
    state = record.script_state
    if state is None:
        return "never played: no sideband attached to the call within --timeout"
    if state.status == "failed":
        from ..webhooks.masking import mask_text

        return mask_text(f"failed at step {state.step} ({state.step_name}): {state.reason}")
    return state.status


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; print the base URL and the environment a client needs.

    The key printed is the emulator's own, not anyone's secret. ``ring ...`` rings instead (:func:`ring_main`).
    """
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "ring":
        return ring_main(argv[1:])
    return run(lambda: _serve(argv), "realtime-service emulator")


def _serve(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.history is not None and args.history < 0:
        raise CLIError(f"--history must be >= 0, not {args.history}")
    for flag, bound in (
        ("--max-keys", args.max_keys),
        ("--max-calls", args.max_calls),
        ("--max-ended-calls", args.max_ended_calls),
    ):
        if bound < 1:
            raise CLIError(f"{flag} must be >= 1, not {bound}")
    if args.webrtc_address and not args.webrtc:
        raise CLIError("--webrtc-address needs --webrtc")
    try:
        emulator = Emulator(
            args.api_key,
            args.host,
            args.port,
            beta_retired=args.beta_retired,
            azure=args.azure,
            history=args.history,
            max_keys=args.max_keys,
            max_calls=args.max_calls,
            max_ended_calls=args.max_ended_calls,
            script=_script(args.script),
            webrtc=args.webrtc,
            webrtc_addresses=args.webrtc_address,
        )
    except ValueError as error:  # a --webrtc-address that is not an IP address
        raise CLIError(str(error)) from None
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        # SIGINT too: a handler that sets the event cannot interrupt start-up or shutdown the way a
        # KeyboardInterrupt raised at an arbitrary line can.
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    with started(emulator):
        if args.azure:
            print(f"Azure OpenAI emulator listening on {emulator.azure_endpoint} (Ctrl-C to stop)", flush=True)
            print(
                f"export AZURE_OPENAI_ENDPOINT={emulator.azure_endpoint} AZURE_OPENAI_API_KEY={emulator.api_key}",
                flush=True,
            )
        else:
            print(f"OpenAI emulator listening on {emulator.base_url} (Ctrl-C to stop)", flush=True)
            print(f"export OPENAI_BASE_URL={emulator.base_url} OPENAI_API_KEY={emulator.api_key}", flush=True)
        while not stop.wait(1.0):
            pass
    print("emulator stopped", file=sys.stderr, flush=True)
    return 0
