"""``python -m realtime_service.emulator`` / ``realtime-service emulator``: serve in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .server import DEFAULT_HISTORY, Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realtime-service emulator",
        description="Run the OpenAI-compatible emulator on loopback until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; print the base URL and the environment a client needs.

    The key printed is the emulator's own, not anyone's secret.
    """
    args = _parser().parse_args(argv)
    if args.history is not None and args.history < 0:
        _parser().error("--history must be >= 0")
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        # SIGINT too: a handler that sets the event cannot interrupt start-up or shutdown the way a
        # KeyboardInterrupt raised at an arbitrary line can.
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    emulator = Emulator(
        args.api_key, args.host, args.port, beta_retired=args.beta_retired, azure=args.azure, history=args.history
    )
    with emulator:
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
