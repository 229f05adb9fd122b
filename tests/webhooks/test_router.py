"""The config router and server.phone: accept with the configured session, 603 without, 486 for spent callers
(memory and a real Redis, the token endpoint's storage URLs)."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from realtime_service.errors import ConfigurationError
from realtime_service.webhooks import (
    Accept,
    CallerLimitUnavailable,
    CallerRateLimiter,
    ConfigRouter,
    Ignore,
    Reject,
    WebhookVerificationError,
    load_phone_settings,
    parse_event,
)

from .conftest import NOW, OTHER_SECRET, SECRET, body_of, incoming_call, live_incoming, sign

THIRD_SECRET = "whsec_" + base64.b64encode(b"c" * 24 + b"rotation-secret-three").decode()

SESSION = {"model": "gpt-realtime-2", "instructions": "You answer the phone for Example Inc."}


def call_from(number: str, **kwargs: Any) -> Any:
    headers = [{"name": "From", "value": f"<sip:{number}@carrier.example>;tag=1"}]
    return parse_event(body_of(incoming_call(sip_headers=headers, **kwargs)))


def settings(**phone: Any) -> Any:
    return load_phone_settings({"webhook_secret": SECRET, **phone}, environ={})


def test_without_a_session_every_call_is_declined() -> None:
    router = ConfigRouter.from_settings(settings())
    assert router.route(parse_event(body_of(incoming_call()))) == Reject(603)
    assert router.route(parse_event(body_of(live_incoming()))) == Reject(603)


def test_with_a_session_calls_are_accepted_with_it_and_type_realtime() -> None:
    router = ConfigRouter.from_settings(settings(session=SESSION))
    decision = router.route(parse_event(body_of(incoming_call())))
    assert decision == Accept({**SESSION, "type": "realtime"})


def test_the_other_apis_announcement_of_the_call_is_ignored() -> None:
    realtime = ConfigRouter.from_settings(settings(session=SESSION))
    live = ConfigRouter.from_settings(settings(session={"type": "live", "model": "gpt-live-1"}))
    assert realtime.route(parse_event(body_of(live_incoming()))) == Ignore()
    assert live.route(parse_event(body_of(incoming_call()))) == Ignore()
    assert live.route(parse_event(body_of(live_incoming()))) == Accept({"type": "live", "model": "gpt-live-1"})


def test_events_that_are_not_calls_are_ignored() -> None:
    router = ConfigRouter.from_settings(settings())
    connected = {"id": "evt_1", "type": "live.transport.connected", "data": {"session_id": "live_1"}}
    assert router.route(parse_event(body_of(connected))) == Ignore()
    assert router.route(parse_event(b'{"type": "response.done"}')) == Ignore()


def spend(router: ConfigRouter, number: str, times: int) -> list[Any]:
    return [router.route(call_from(number)) for _ in range(times)]


def test_a_caller_over_the_rate_limit_gets_486_others_do_not(caplog: pytest.LogCaptureFixture) -> None:
    router = ConfigRouter.from_settings(settings(session=SESSION, rate_limit="2/hour"))
    with caplog.at_level(logging.INFO, logger="realtime_service.webhooks"):
        assert [type(d) for d in spend(router, "+14155550100", 3)] == [Accept, Accept, Reject]
    assert router.route(call_from("+14155550100")) == Reject(486)
    assert isinstance(router.route(call_from("+14155550199")), Accept)
    assert "+1415*******" in caplog.text
    assert "+14155550100" not in caplog.text


def test_anonymous_callers_share_one_budget() -> None:
    router = ConfigRouter.from_settings(settings(session=SESSION, rate_limit="1/hour"))
    assert isinstance(router.route(call_from("anonymous")), Accept)
    assert router.route(call_from("hidden")) == Reject(486)


def test_refused_calls_do_not_spend_the_longer_window() -> None:
    limiter = CallerRateLimiter("1/minute;3/day")
    assert limiter.hit("+1") is None
    assert limiter.hit("+1") is not None
    assert limiter.hit("+1") is not None
    stats = limiter.strategy.get_window_stats(limiter.items[1], "realtime-phone", "+1")
    assert stats.remaining == 2


def test_phone_budgets_are_shared_through_redis(redis_url: str) -> None:
    phone = settings(session=SESSION, rate_limit="2/hour")
    first = ConfigRouter.from_settings(phone, storage_uri=redis_url)
    second = ConfigRouter.from_settings(phone, storage_uri=redis_url)
    assert isinstance(first.route(call_from("+14155550100")), Accept)
    assert isinstance(second.route(call_from("+14155550100")), Accept)
    assert first.route(call_from("+14155550100")) == Reject(486)
    assert second.route(call_from("+14155550100")) == Reject(486)


def test_an_unreachable_limit_storage_is_not_a_decision() -> None:
    port_nobody_listens_on = "redis://127.0.0.1:9/0"
    router = ConfigRouter.from_settings(
        settings(session=SESSION, rate_limit="2/hour"), storage_uri=port_nobody_listens_on
    )
    with pytest.raises(CallerLimitUnavailable):
        router.route(call_from("+14155550100"))


# -- server.phone ------------------------------------------------------------------------------------------


def test_phone_settings_defaults_and_secret_from_the_environment() -> None:
    phone = load_phone_settings(None, environ={"OPENAI_WEBHOOK_SECRET": f"{SECRET} {OTHER_SECRET}"})
    assert (phone.path, phone.tolerance, phone.session, phone.rate_limit) == ("/webhooks/openai", 300, None, None)
    assert phone.webhook_secrets == (SECRET, OTHER_SECRET)
    assert SECRET not in repr(phone)
    verifier = phone.verifier()
    body = body_of(incoming_call())
    for secret in (SECRET, OTHER_SECRET):  # both secrets of the rotation check out; a third does not
        assert verifier.verify(body, sign(body, secret), now=NOW).timestamp == NOW
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body, sign(body, THIRD_SECRET), now=NOW)


def test_an_explicit_secret_list_wins_over_the_environment() -> None:
    phone = load_phone_settings({"webhook_secret": [OTHER_SECRET]}, environ={"OPENAI_WEBHOOK_SECRET": SECRET})
    assert phone.webhook_secrets == (OTHER_SECRET,)


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ({"nope": 1}, "unknown config key 'server.phone.nope'"),
        ({"path": "webhooks"}, "server.phone.path"),
        ({"rate_limit": "lots"}, "server.phone.rate_limit 'lots' does not parse"),
        ({"rate_limit": 5}, "server.phone.rate_limit"),
        ({"session": "gpt-realtime"}, "server.phone.session"),
        ({"session": {"type": "beta"}}, "server.phone.session.type"),
        ({"tolerance": -1}, "server.phone.tolerance"),
        ({"claim_ttl": 0}, "server.phone.claim_ttl"),
        ({"webhook_secret": 42}, "server.phone.webhook_secret"),
        ({"webhook_secret": "whsec_not base64"}, "webhook secret #1 is not base64 after whsec_"),
        ({"webhook_secret": ["whsec_" + "A" * 32, "whsec_"]}, "webhook secret #2 is not base64 after whsec_"),
    ],
)
def test_bad_phone_settings_name_the_key(phone: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_phone_settings(phone, environ={})
    assert message in str(caught.value)
    assert "not-whsec" not in str(caught.value)


def test_rate_limit_off_is_no_limit() -> None:
    assert settings(rate_limit="off").rate_limit is None
    assert settings(rate_limit=False).rate_limit is None


def test_no_secret_anywhere_fails_when_the_verifier_is_built() -> None:
    phone = load_phone_settings({}, environ={})
    with pytest.raises(ConfigurationError, match="OPENAI_WEBHOOK_SECRET"):
        phone.verifier()


def test_the_verifier_from_settings_checks_with_their_tolerance() -> None:
    body = body_of(incoming_call())
    verifier = settings(tolerance=10).verifier()
    assert verifier.verify(body, sign(body), now=NOW + 10).webhook_id == sign(body)["webhook-id"]
    with pytest.raises(ValueError, match="stale"):
        verifier.verify(body, sign(body), now=NOW + 11)
