"""A worker process for the cross-process dedupe test: handles the same deliveries as its twin, against one Redis.

``python race_worker.py REDIS_URL CALLS``: waits for its twin (a counter in Redis), then pushes every delivery
(each call announced twice, as realtime.call.incoming and live.transport.incoming, each announcement delivered
twice) through a CallDesk whose act appends to a Redis list. Prints one JSON line of outcomes.
"""

from __future__ import annotations

import json
import sys
import time

import redis

from realtime_service.webhooks import Accept, CallDesk, DecisionLedger, WebhookDelivery, parse_event


def main(url: str, calls: int) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    desk = CallDesk(
        DecisionLedger.from_url(url),
        lambda event: Accept({"type": "realtime"}),
        lambda event, decision: client.rpush("acted", event.id),
    )
    client.incr("ready")
    deadline = time.monotonic() + 30
    while int(client.get("ready") or 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    results: dict[str, int] = {}
    for index in range(calls):
        sip = [{"name": "Call-ID", "value": f"call-{index}@carrier"}, {"name": "From", "value": "<tel:+14155550100>"}]
        for kind, ident in (("realtime.call.incoming", "call_id"), ("live.transport.incoming", "session_id")):
            body = {"id": f"evt_{kind}_{index}", "type": kind, "data": {ident: f"id_{index}", "sip_headers": sip}}
            event = parse_event(json.dumps(body))
            for _ in range(2):  # OpenAI's redelivery
                outcome = desk.handle(WebhookDelivery(f"wh_{kind}_{index}", 0), event)
                result = outcome.result.split(":")[0]
                results[result] = results.get(result, 0) + 1
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
