"""Standard Webhooks' published test vectors (copied into ``data/``) against our verifier: every valid one
verifies, every invalid one is refused with the reason it deserves; the reference library agrees on each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from realtime_service import WebhookVerificationError
from realtime_service.webhooks import verify

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "standard_webhooks_vectors.json").read_text("utf-8")
)["vectors"]


def test_the_vectors_cover_secrets_with_and_without_the_prefix() -> None:
    assert len(VECTORS) >= 35
    plain = [v for v in VECTORS if v["valid"] and not v["secret"].startswith("whsec_")]
    prefixed = [v for v in VECTORS if v["valid"] and v["secret"].startswith("whsec_")]
    assert len(plain) >= 5
    assert len(prefixed) >= 5


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['source'].split('/')[1]}:{v['name']}" for v in VECTORS])
def test_each_vector_verifies_or_is_refused_as_published(vector: dict[str, Any]) -> None:
    payload = vector["payload"].encode()
    if vector["valid"]:
        delivery = verify(payload, vector["headers"], vector["secret"], now=vector["now"])
        assert delivery.webhook_id == vector["headers"]["webhook-id"]
        assert delivery.timestamp == int(vector["headers"]["webhook-timestamp"])
    else:
        with pytest.raises(WebhookVerificationError) as caught:
            verify(payload, vector["headers"], vector["secret"], now=vector["now"])
        assert caught.value.reason == vector["reason"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["valid"]], ids=[v["name"] for v in VECTORS if v["valid"]])
def test_the_reference_library_signs_each_valid_vector_the_same(vector: dict[str, Any]) -> None:
    headers = vector["headers"]
    stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=UTC)
    expected = Webhook(vector["secret"]).sign(headers["webhook-id"], stamp, vector["payload"])
    assert expected in headers["webhook-signature"].split()
