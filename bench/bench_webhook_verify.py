"""Why ``realtime_service.webhooks`` wraps ``standardwebhooks.Webhook`` instead of calling its ``verify``.

Two measurements, printed (ratios, not absolute times):

1. Robustness: hostile deliveries fed to ``standardwebhooks.Webhook.verify`` and to our ``verify``; for each, the
   exception each one raises. Ours always raises ``WebhookVerificationError`` (one class, with a reason); the
   reference raises other exceptions on some inputs, which an endpoint would answer with a 500.
2. Cost: median time per verification of a valid delivery, ours vs ``Webhook.verify``, with one secret and with
   two (a rotation: ours tries both, the reference takes one). Rounds interleave the two.

Usage::

    pip install -e '.[webhooks]' && python bench/bench_webhook_verify.py [--calls 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from standardwebhooks import Webhook

from realtime_service.webhooks import WebhookVerificationError, WebhookVerifier

SECRET = "whsec_" + base64.b64encode(b"bench-secret-0123456789abcdef").decode()
OTHER = "whsec_" + base64.b64encode(b"bench-secret-other-0123456789").decode()


def signed(body: str, secret: str = SECRET) -> dict[str, str]:
    now = int(time.time())
    signature = Webhook(secret).sign("wh_bench", datetime.fromtimestamp(now, tz=UTC), body)
    return {"webhook-id": "wh_bench", "webhook-timestamp": str(now), "webhook-signature": signature}


def outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except Exception as exc:
        return type(exc).__name__
    return "accepted"


def robustness() -> None:
    body = json.dumps({"id": "evt_1", "type": "realtime.call.incoming", "data": {"call_id": "rtc_1"}})
    good = signed(body)
    now = int(time.time())
    cases = {
        "valid": (body.encode(), good),
        "signature entry without a comma": (
            body.encode(),
            {**good, "webhook-signature": "v1" + good["webhook-signature"][3:]},
        ),
        "signature entry with bad base64": (body.encode(), {**good, "webhook-signature": "v1,@@@"}),
        "fractional timestamp": (body.encode(), {**good, "webhook-timestamp": f"{now}.9"}),
        "body not UTF-8": (b"\xff\xfe", good),
        "valid signature, body not JSON": (b"not json", signed("not json")),
    }
    reference = Webhook(SECRET)
    ours = WebhookVerifier(SECRET)
    print(f"{'case':40} {'standardwebhooks.verify':28} ours")
    for name, (payload, headers) in cases.items():
        theirs = outcome(lambda p=payload, h=headers: reference.verify(p, h))
        try:
            ours.unwrap(payload, headers)
            mine = "accepted"
        except WebhookVerificationError as exc:
            mine = f"WebhookVerificationError({exc.reason})"
        print(f"{name:40} {theirs:28} {mine}")


def cost(calls: int, rounds: int) -> None:
    body = json.dumps({"type": "realtime.call.incoming", "data": {"call_id": "rtc_1", "sip_headers": []}}).encode()
    headers = signed(body.decode())
    rotated = signed(body.decode(), OTHER)  # signed with the second secret: ours tries the first, then it
    reference = Webhook(SECRET)
    reference_other = Webhook(OTHER)
    one = WebhookVerifier(SECRET)
    two = WebhookVerifier([SECRET, OTHER])
    runs: dict[str, Callable[[], object]] = {
        "standardwebhooks Webhook.verify (1 secret)": lambda: reference.verify(body, headers, json_parse=False),
        "ours, 1 secret": lambda: one.verify(body, headers),
        "standardwebhooks, 2nd secret after a miss": lambda: _either(reference, reference_other, body, rotated),
        "ours, 2 secrets (signed with the 2nd)": lambda: two.verify(body, rotated),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(calls):
                run()
            times[name].append((time.perf_counter() - start) / calls * 1e6)
    base = statistics.median(times["standardwebhooks Webhook.verify (1 secret)"])
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:45} {median:7.1f} us/call  x{median / base:.2f}")


def _either(first: Webhook, second: Webhook, body: bytes, headers: dict[str, str]) -> object:
    try:
        return first.verify(body, headers, json_parse=False)
    except Exception:
        return second.verify(body, headers, json_parse=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    robustness()
    print()
    cost(args.calls, args.rounds)


if __name__ == "__main__":
    main()
