"""The phone webhook under ``serve`` as a process: what a new user runs (configure, ring, see it accepted), and
two worker processes sharing a real redis-server deciding a racing redelivery once."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.emulator.faults import Fault

from .conftest import FRAMEWORKS, config_file, require

SECRET = "whsec_" + base64.b64encode(b"phone-serve-test-secret-0000001").decode()
SESSION = {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "You answer for Example Ltd."}
PATH = "/webhooks/openai"


def signed(body: bytes, webhook_id: str) -> dict[str, str]:
    now = datetime.now(tz=UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(webhook_id, now, body.decode()),
        "content-type": "application/json",
    }


def incoming(call_id: str) -> bytes:
    event = {
        "object": "event",
        "id": "evt_" + call_id,
        "type": "realtime.call.incoming",
        "created_at": int(time.time()),
        "data": {"call_id": call_id, "sip_headers": [{"name": "From", "value": "<sip:+14155550100@example.com>"}]},
    }
    return json.dumps(event).encode()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_new_user_configures_serve_rings_it_and_sees_the_call_accepted(
    start: Any, tmp_path: Path, emulator: Emulator, framework: str
) -> None:
    require(framework)
    config = config_file(tmp_path, emulator, phone={"webhook_secret": SECRET, "session": SESSION})
    served = start("--config", config, "--framework", framework)
    record = emulator.ring(served.url + PATH, secret=SECRET, decide_within=20)
    assert record.state == "accepted"
    assert [(d.action, d.body) for d in record.decisions] == [("accept", SESSION)]
    assert served.stop() == 0
    log = served.stderr
    assert f"POST {PATH} -> 200" in log
    assert "accepted" in log
    assert SECRET not in log
    assert emulator.api_key not in log


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_two_workers_sharing_redis_decide_a_racing_redelivery_once(
    start: Any, tmp_path: Path, emulator: Emulator, redis_url: str, framework: str
) -> None:
    require(framework)
    config = config_file(
        tmp_path,
        emulator,
        rate_limit_storage=redis_url,
        phone={"webhook_secret": SECRET, "session": SESSION, "rate_limit": "100/hour"},
    )
    served = start("--config", config, "--framework", framework, "--workers", "2")
    call_id = f"rtc_race{time.monotonic_ns():x}"
    emulator.calls.add(CallRecord(id=call_id, api="realtime", transport="sip", state="pending", created_at=time.time()))
    body = incoming(call_id)
    emulator.enqueue(Fault.delay(0.5))  # the winner's accept is slow: the others arrive while it decides
    # 12 deliveries with one webhook-id (OpenAI redelivering) and 4 more under ids of their own (the same call
    # announced again), all at once over fresh connections.
    deliveries = [signed(body, "wh_same")] * 12 + [signed(body, f"wh_other{n}") for n in range(4)]

    def post(headers: dict[str, str]) -> tuple[int, Any]:
        with requests.Session() as session:
            response = session.post(served.url + PATH, data=body, headers=headers, timeout=20)
            return response.status_code, response.json()

    with ThreadPoolExecutor(len(deliveries)) as pool:
        answers = list(pool.map(post, deliveries))
    statuses = sorted(status for status, _ in answers)
    assert set(statuses) <= {200, 409}
    assert [answer for _, answer in answers].count({"result": "accepted"}) == 1
    record = emulator.calls.get(call_id)
    assert record is not None
    assert [d.action for d in record.decisions] == ["accept"]
    # Redeliveries after the decision: 200, still no second accept.
    again = requests.post(served.url + PATH, data=body, headers=signed(body, "wh_same"), timeout=20)
    # Either no-op answer is the documented 200 (the webhook id was decided, or its call was, by a racing worker
    # that recorded the call key first); what matters is that no second accept went out.
    assert again.status_code == 200
    assert again.json()["result"] in {"already_decided:accepted", "duplicate"}
    assert [d.action for d in emulator.calls.get(call_id).decisions] == ["accept"]  # type: ignore[union-attr]
    assert served.stop() == 0


def test_two_workers_with_in_memory_storage_are_refused_when_the_phone_is_on(
    start: Any, tmp_path: Path, emulator: Emulator
) -> None:
    import subprocess
    import sys

    config = config_file(tmp_path, emulator, rate_limit="off", phone={"webhook_secret": SECRET, "session": SESSION})
    done = subprocess.run(
        [sys.executable, "-m", "realtime_service.web", "--port", "0", "--config", config, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "webhook ledger" in done.stderr
    assert "rate_limit_storage" in done.stderr
