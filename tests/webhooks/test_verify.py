"""Signature checks over deliveries signed by ``standardwebhooks`` (the reference implementation)."""

from __future__ import annotations

import base64
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_service import WebhookVerificationError
from realtime_service.errors import ConfigurationError, RealtimeServiceError
from realtime_service.webhooks import (
    RealtimeCallIncoming,
    WebhookDelivery,
    WebhookVerifier,
    unwrap,
    verify,
)

from .conftest import NOW, OTHER_SECRET, SECRET, sign


def refusal(
    body: bytes, headers: dict[str, str], secret: object = SECRET, **kwargs: object
) -> WebhookVerificationError:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, headers, secret, now=kwargs.pop("now", NOW), **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_a_delivery_signed_by_the_reference_implementation_verifies(call_body: bytes) -> None:
    delivery = verify(call_body, sign(call_body), SECRET, now=NOW)
    assert delivery == WebhookDelivery("wh_685342e6c53c8190a1be43f081506c52", NOW)


def test_unwrap_returns_the_typed_event(call_body: bytes) -> None:
    event = unwrap(call_body, sign(call_body), SECRET, now=NOW)
    assert isinstance(event, RealtimeCallIncoming)
    assert event.call_id == "rtc_u1_9c6574da8b8a41a18da9308f4ad974ce"


def test_a_tampered_body_is_a_bad_signature(call_body: bytes) -> None:
    headers = sign(call_body)
    error = refusal(call_body.replace(b"rtc_u1", b"rtc_u2"), headers)
    assert error.reason == "bad_signature"
    assert "none of the 1 v1 signature(s) matches" in str(error)


def test_a_tampered_id_or_timestamp_is_a_bad_signature(call_body: bytes) -> None:
    headers = sign(call_body)
    assert refusal(call_body, {**headers, "webhook-id": "wh_other"}).reason == "bad_signature"
    assert refusal(call_body, {**headers, "webhook-timestamp": str(NOW - 1)}).reason == "bad_signature"


def test_the_wrong_secret_is_a_bad_signature(call_body: bytes) -> None:
    assert refusal(call_body, sign(call_body), OTHER_SECRET).reason == "bad_signature"


@pytest.mark.parametrize(
    ("offset", "reason"), [(-301, "stale"), (301, "future"), (-(10**6), "stale"), (10**6, "future")]
)
def test_timestamps_outside_the_tolerance_are_refused_both_ways(call_body: bytes, offset: int, reason: str) -> None:
    error = refusal(call_body, sign(call_body, timestamp=NOW + offset))
    assert error.reason == reason
    assert "300 s tolerated" in str(error)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_at_the_edges_of_the_tolerance_verify(call_body: bytes, offset: int) -> None:
    assert verify(call_body, sign(call_body, timestamp=NOW + offset), SECRET, now=NOW).timestamp == NOW + offset


def test_the_tolerance_is_configurable(call_body: bytes) -> None:
    headers = sign(call_body, timestamp=NOW - 100)
    assert refusal(call_body, headers, tolerance=60).reason == "stale"
    assert verify(call_body, headers, SECRET, tolerance=100, now=NOW).timestamp == NOW - 100


def test_the_clock_defaults_to_now(call_body: bytes) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(call_body, sign(call_body), SECRET)  # NOW is years ahead of the machine clock... or behind
    assert caught.value.reason in {"stale", "future"}


def test_a_negative_tolerance_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="tolerance"):
        WebhookVerifier(SECRET, tolerance=-1)


def test_rotated_secrets_verify_a_delivery_signed_with_either(call_body: bytes) -> None:
    for signed_with in (SECRET, OTHER_SECRET):
        headers = sign(call_body, signed_with)
        assert verify(call_body, headers, [OTHER_SECRET, SECRET], now=NOW).webhook_id
    assert refusal(call_body, sign(call_body, OTHER_SECRET), [SECRET]).reason == "bad_signature"


def test_any_of_several_signatures_may_match(call_body: bytes) -> None:
    good = sign(call_body)["webhook-signature"]
    bad = sign(call_body, OTHER_SECRET)["webhook-signature"]
    noise = "v2,abc v1,not-base64!! v1 ,x v1,"
    for header in (f"{bad} {good}", f"{good} {bad}", f"{noise} {good}", f"  {bad}   {good}  "):
        assert verify(call_body, {**sign(call_body), "webhook-signature": header}, SECRET, now=NOW)


def test_signatures_of_other_versions_or_junk_are_ignored_not_a_crash(call_body: bytes) -> None:
    good = sign(call_body)["webhook-signature"].partition(",")[2]
    for header in (
        "v1a," + good,
        good,
        "v1;" + good,
        "garbage",
        "v1," + good[:-4],
        "v1," + good + "AAAA",
        "xv1," + good,
    ):
        error = refusal(call_body, {**sign(call_body), "webhook-signature": header})
        assert error.reason == "bad_signature", header
    assert refusal(call_body, {**sign(call_body), "webhook-signature": " , ,"}).reason == "missing_header"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_header_is_named(call_body: bytes, missing: str) -> None:
    headers = {key: value for key, value in sign(call_body).items() if key != missing}
    error = refusal(call_body, headers)
    assert error.reason == "missing_header"
    assert str(error).endswith(f"missing header(s): {missing}")


def test_an_empty_header_counts_as_missing(call_body: bytes) -> None:
    error = refusal(call_body, {**sign(call_body), "webhook-id": "  "})
    assert error.reason == "missing_header"


def test_no_headers_at_all_names_all_three(call_body: bytes) -> None:
    assert "webhook-id, webhook-timestamp, webhook-signature" in str(refusal(call_body, {}))


def test_header_names_match_case_insensitively(call_body: bytes) -> None:
    headers = {
        key.upper() if index % 2 else key.title(): value for index, (key, value) in enumerate(sign(call_body).items())
    }
    assert verify(call_body, headers, SECRET, now=NOW)


def test_werkzeug_and_starlette_headers_work_and_repeated_signatures_are_all_tried(call_body: bytes) -> None:
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    starlette = pytest.importorskip("starlette.datastructures")
    signed = sign(call_body)
    bad = sign(call_body, OTHER_SECRET)["webhook-signature"]
    pairs = [(k, v) for k, v in signed.items() if k != "webhook-signature"]
    pairs += [("Webhook-Signature", bad), ("webhook-signature", signed["webhook-signature"])]
    assert verify(call_body, werkzeug.Headers(pairs), SECRET, now=NOW)
    raw = [(k.lower().encode(), v.encode()) for k, v in pairs]
    assert verify(call_body, starlette.Headers(raw=raw), SECRET, now=NOW)


def test_a_repeated_id_with_different_values_is_malformed(call_body: bytes) -> None:
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    headers = werkzeug.Headers([*list(sign(call_body).items()), ("webhook-id", "wh_second")])
    error = refusal(call_body, headers)
    assert error.reason == "malformed"
    assert "webhook-id header is repeated" in str(error)


@pytest.mark.parametrize("stamp", ["1780000000.5", "-5", "1e9", "nan", "0x10", "", "12345678901234", "١٧٨"])
def test_a_timestamp_that_is_not_whole_seconds_is_malformed_or_missing(call_body: bytes, stamp: str) -> None:
    error = refusal(call_body, {**sign(call_body), "webhook-timestamp": stamp})
    assert error.reason == ("missing_header" if not stamp else "malformed")


@pytest.mark.parametrize("webhook_id", ["wh with space", "wh_\u00e9", "x" * 257, "wh_\x00"])
def test_an_id_that_cannot_be_a_storage_key_is_malformed(call_body: bytes, webhook_id: str) -> None:
    error = refusal(call_body, {**sign(call_body), "webhook-id": webhook_id})
    assert error.reason == "malformed"


def test_an_oversized_signature_header_is_malformed(call_body: bytes) -> None:
    error = refusal(call_body, {**sign(call_body), "webhook-signature": "v1,AAAA " * 2000})
    assert error.reason == "malformed"


def test_a_body_that_is_not_utf8_is_malformed() -> None:
    body = b'{"type": "\xff"}'
    headers = sign("x")
    assert refusal(body, headers).reason == "malformed"


def test_a_str_payload_verifies_like_its_utf8_bytes() -> None:
    text = '{"type":"x","data":{"caller":"Zoë"}}'
    assert verify(text, sign(text), SECRET, now=NOW) == verify(text.encode(), sign(text), SECRET, now=NOW)


@pytest.mark.parametrize(
    "secret",
    ["", "whsec_", "whsec_not base64!", "whsec_QUJD=Q", "whsec_====", "\ud800", b"raw-bytes", None, [], [SECRET, 42]],
)
def test_a_secret_of_the_wrong_format_is_bad_secret(call_body: bytes, secret: object) -> None:
    error = refusal(call_body, sign(call_body), secret)
    assert error.reason == "bad_secret"
    assert isinstance(error, RealtimeServiceError)
    assert isinstance(error, ValueError)


def test_without_a_secret_the_environment_is_read(call_body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", f"{OTHER_SECRET}, {SECRET}")
    assert verify(call_body, sign(call_body), now=NOW)
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
    error = refusal(call_body, sign(call_body), None)
    assert error.reason == "bad_secret"
    assert "OPENAI_WEBHOOK_SECRET" in str(error)
    assert "server.phone.webhook_secret" in str(error)


def test_a_verifier_built_once_checks_many_deliveries_and_hides_its_secrets(call_body: bytes) -> None:
    verifier = WebhookVerifier([SECRET, OTHER_SECRET], tolerance=60)
    assert verifier.verify(call_body, sign(call_body, OTHER_SECRET), now=NOW)
    assert isinstance(verifier.unwrap(call_body, sign(call_body), now=NOW), RealtimeCallIncoming)
    assert repr(verifier) == "WebhookVerifier(secrets=2, tolerance=60)"


def test_a_malformed_body_with_a_good_signature_is_malformed() -> None:
    for body in (b"not json", b"[1, 2]", b'{"no": "type"}', b'{"type": "x", "n": NaN}', b"[" * 100_000):
        with pytest.raises(WebhookVerificationError) as caught:
            unwrap(body, sign(body), SECRET, now=NOW)
        assert caught.value.reason == "malformed", body[:20]


def test_the_body_is_not_parsed_before_its_signature_checks_out() -> None:
    body = b"not json"
    with pytest.raises(WebhookVerificationError) as caught:
        unwrap(body, sign(b"other"), SECRET, now=NOW)
    assert caught.value.reason == "bad_signature"


def test_no_secret_or_signature_appears_in_any_error_str_repr_or_log(
    call_body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    headers = sign(call_body)
    signature = headers["webhook-signature"].partition(",")[2]
    raw_key = base64.b64decode(SECRET[6:]).decode()
    cases = [
        (call_body + b" ", headers, SECRET),
        (call_body, headers, OTHER_SECRET),
        (call_body, {**headers, "webhook-timestamp": str(NOW - 999)}, SECRET),
        (call_body, headers, SECRET[:-2] + "!!"),
        (call_body, headers, SECRET.replace("whsec_", "") + "x"),
        (call_body, headers, [OTHER_SECRET, "sk-not-a-webhook-secret-0123456789"]),
        (b"\xff", headers, SECRET),
    ]
    logger = logging.getLogger("test.webhooks")
    texts = []
    for body, hdrs, secret in cases:
        with pytest.raises(WebhookVerificationError) as caught:
            verify(body, hdrs, secret, now=NOW)
        logger.exception("refused")
        texts += [str(caught.value), repr(caught.value), repr(caught.value.args)]
    texts.append(caplog.text)
    for text in texts:
        for secret in (SECRET, SECRET[6:], OTHER_SECRET[6:], raw_key, signature, "sk-not-a-webhook-secret"):
            assert secret not in text


def test_the_official_sdk_accepts_and_refuses_the_same_deliveries(call_body: bytes) -> None:
    openai = pytest.importorskip("openai", reason="openai SDK not installed: the cross-check is UNTESTED")
    client = openai.OpenAI(api_key="sk-test", webhook_secret=SECRET, base_url="http://127.0.0.1:9")
    if not hasattr(client.webhooks, "unwrap"):
        pytest.skip("this openai SDK has no client.webhooks.unwrap: the cross-check is UNTESTED")
    import time

    now = int(time.time())
    headers = sign(call_body, timestamp=now)
    sdk_event = client.webhooks.unwrap(call_body, headers)
    ours = unwrap(call_body, headers, SECRET)
    assert isinstance(ours, RealtimeCallIncoming)
    assert sdk_event.type == ours.type
    assert sdk_event.data.call_id == ours.call_id
    assert [(h.name, h.value) for h in sdk_event.data.sip_headers] == list(ours.sip_headers)
    several = {
        **headers,
        "webhook-signature": sign(call_body, OTHER_SECRET, timestamp=now)["webhook-signature"]
        + " "
        + headers["webhook-signature"],
    }
    client.webhooks.verify_signature(call_body, several)
    assert verify(call_body, several, SECRET)
    refused = [
        (call_body + b" ", headers),
        (call_body, sign(call_body, timestamp=now - 301)),
        (call_body, sign(call_body, timestamp=now + 301)),
        (call_body, sign(call_body, OTHER_SECRET, timestamp=now)),
    ]
    for body, hdrs in refused:
        with pytest.raises(ValueError):  # the SDK's InvalidWebhookSignatureError is a ValueError
            client.webhooks.verify_signature(body, hdrs)
        with pytest.raises(WebhookVerificationError):
            verify(body, hdrs, SECRET)


def test_verification_needs_neither_limits_nor_redis() -> None:
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['limits'] = None; sys.modules['redis'] = None\n"
        "import realtime_service.webhooks as w\n"
        "from realtime_service.errors import ConfigurationError\n"
        "assert w.DecisionLedger().claim('k').won\n"
        "try:\n"
        "    w.load_phone_settings({'rate_limit': '5/hour'}, {})\n"
        "except ConfigurationError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "server.phone.rate_limit needs the limits package" in done.stdout


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=200),
    webhook_id=st.text(max_size=40),
    stamp=st.one_of(st.text(max_size=15), st.integers(NOW - 400, NOW + 400).map(str)),
    signature=st.one_of(
        st.text(max_size=120),
        st.lists(st.binary(min_size=30, max_size=34), max_size=3).map(
            lambda sigs: " ".join("v1," + base64.b64encode(s).decode() for s in sigs)
        ),
    ),
)
def test_arbitrary_deliveries_raise_only_our_error(body: bytes, webhook_id: str, stamp: str, signature: str) -> None:
    headers = {"webhook-id": webhook_id, "webhook-timestamp": stamp, "webhook-signature": signature}
    with pytest.raises(WebhookVerificationError) as caught:
        unwrap(body, headers, SECRET, now=NOW)
    assert caught.value.reason in {"missing_header", "stale", "future", "bad_signature", "malformed"}


@settings(max_examples=200, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=300), st.from_regex(r'\{"type": ?"[a-z.]{1,30}"(, "id": "evt_[0-9]{1,5}")?\}', fullmatch=True)
    )
)
def test_any_correctly_signed_body_unwraps_or_is_malformed(text: str) -> None:
    reasons: list[str] = []
    try:
        event = unwrap(text.encode(), sign(text), SECRET, now=NOW)
    except WebhookVerificationError as error:
        reasons.append(error.reason)
    else:
        assert isinstance(event.type, str)
    assert reasons in ([], ["malformed"])


# -- pinned by mutation testing (docs/reliability.md, "Mutation score: security modules") -----------------------


def test_an_explicit_environ_is_the_only_environment_read(call_body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    with pytest.raises(WebhookVerificationError) as caught:
        WebhookVerifier(None, environ={})
    assert caught.value.reason == "bad_secret"
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
    verifier = WebhookVerifier(None, environ={"OPENAI_WEBHOOK_SECRET": SECRET})
    assert verifier.verify(call_body, sign(call_body), now=NOW).timestamp == NOW


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "webhook secret #1 is not a non-empty string"),
        (b"x", "webhook secret #1 is not a non-empty string"),
        ("whsec_AB=", "webhook secret #1 is not base64 after whsec_"),
        ("whsec_ABCD=", "webhook secret #1 is not base64 after whsec_"),
        ("\ud800", "webhook secret #1 is not valid text"),
    ],
)
def test_each_bad_secret_is_named_by_its_position(call_body: bytes, secret: object, message: str) -> None:
    error = refusal(call_body, sign(call_body), secret)
    assert str(error) == f"webhook refused (bad_secret): {message}"
    second = refusal(call_body, sign(call_body), [SECRET, secret])
    assert str(second) == f"webhook refused (bad_secret): {message.replace('#1', '#2')}"


def test_secret_keys_reads_a_plain_secret_both_ways_and_a_prefixed_one_once() -> None:
    from realtime_service.webhooks.verify import secret_keys

    assert secret_keys("whsec_QUJD") == (b"ABC",)
    assert secret_keys("QUJD") == (b"ABC", b"QUJD")
    assert secret_keys("plain-text") == (b"plain-text",)  # not base64: its bytes only
    with pytest.raises(WebhookVerificationError, match="webhook secret #1 is"):
        secret_keys("")  # the first, when no position is given


@pytest.mark.parametrize("tolerance", [True, -1, 10**9, float("nan"), "300"])
def test_a_tolerance_that_is_not_seconds_from_0_to_1e9_is_refused(tolerance: object) -> None:
    with pytest.raises(ConfigurationError, match="webhook tolerance must be a number of seconds"):
        WebhookVerifier(SECRET, tolerance=tolerance)  # type: ignore[arg-type]


def test_a_zero_tolerance_accepts_only_the_current_second_and_the_largest_is_accepted(call_body: bytes) -> None:
    assert verify(call_body, sign(call_body), SECRET, tolerance=0, now=NOW).timestamp == NOW
    assert refusal(call_body, sign(call_body, timestamp=NOW - 1), tolerance=0).reason == "stale"
    assert WebhookVerifier(SECRET, tolerance=10**9 - 1).tolerance == 10**9 - 1


def test_unwrap_passes_its_tolerance_on(call_body: bytes) -> None:
    headers = sign(call_body, timestamp=NOW - 100)
    with pytest.raises(WebhookVerificationError) as caught:
        unwrap(call_body, headers, SECRET, tolerance=10, now=NOW)
    assert caught.value.reason == "stale"
    assert isinstance(unwrap(call_body, headers, SECRET, tolerance=100, now=NOW), RealtimeCallIncoming)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-id": "x" * 257}, "the webhook-id header is not printable ASCII of at most 256 characters"),
        ({"webhook-timestamp": "+1780000000"}, "the webhook-timestamp header is not whole Unix seconds"),
        ({"webhook-timestamp": str(NOW + 360)}, "the webhook-timestamp is 360 s ahead, more than the 300 s tolerated"),
        ({"webhook-timestamp": str(NOW - 360)}, "the webhook-timestamp is 360 s old, more than the 300 s tolerated"),
        ({"webhook-signature": "v1,A " * 1640}, "the webhook-signature header is longer than 8192 characters"),
        ({"webhook-signature": "v2,abc"}, "the webhook-signature header holds no v1 signature"),
        ({"webhook-id": b"wh_1"}, "the webhook-id header is not text"),
        ({"webhook-id": "wh_1, wh_2"}, "the webhook-id header is repeated with different values"),
    ],
)
def test_each_refusal_says_why_in_words(call_body: bytes, change: dict[str, object], message: str) -> None:
    error = refusal(call_body, {**sign(call_body), **change})  # type: ignore[dict-item]
    assert str(error).endswith(message)
    assert error.reason in ("malformed", "future", "stale", "bad_signature")


def test_the_limits_are_inclusive(call_body: bytes) -> None:
    longest = "w" * 256
    assert verify(call_body, sign(call_body, webhook_id=longest), SECRET, now=NOW).webhook_id == longest
    good = sign(call_body)["webhook-signature"]
    padded = good + " " + "x" * (8192 - len(good) - 1)  # exactly the limit (junk entries are ignored): still read
    assert len(padded) == 8192
    assert verify(call_body, {**sign(call_body), "webhook-signature": padded}, SECRET, now=NOW)


def test_a_body_that_is_not_utf8_says_so(call_body: bytes) -> None:
    assert str(refusal(b"\xff", sign(call_body))).endswith("the body is not UTF-8")


def test_only_http_white_space_is_trimmed_and_header_names_are_taken_as_given(call_body: bytes) -> None:
    headers = sign(call_body)
    for around in ("\u00a0", "\x0b", "\x1c", "\u2003"):
        error = refusal(call_body, {**headers, "webhook-timestamp": around + headers["webhook-timestamp"]})
        assert error.reason == "malformed", repr(around)
    assert verify(call_body, {**headers, "webhook-timestamp": f" \t{NOW}\t "}, SECRET, now=NOW)
    renamed = {("webhook-id " if key == "webhook-id" else key): value for key, value in headers.items()}
    assert refusal(call_body, renamed).reason == "missing_header"


@pytest.mark.parametrize(
    "stamp", ["+{now}", " {now}x", "1_780_000_000", "\u0661\u0667\u0668\u0660\u0660\u0660\u0660\u0660\u0660\u0660"]
)
def test_a_timestamp_int_would_take_is_malformed_even_signed_as_sent(call_body: bytes, stamp: str) -> None:
    from realtime_service.webhooks.verify import secret_keys, signature_of

    text = stamp.format(now=NOW)
    signature = "v1," + signature_of(secret_keys(SECRET)[0], "wh_1", text, call_body)
    headers = {"webhook-id": "wh_1", "webhook-timestamp": text, "webhook-signature": signature}
    assert refusal(call_body, headers).reason == "malformed"


def test_the_timestamp_is_signed_as_sent_not_as_its_number(call_body: bytes) -> None:
    """``0<now>`` over a signature for ``<now>`` is refused; over one for ``0<now>`` it verifies (the SDK agrees)."""
    from realtime_service.webhooks.verify import secret_keys, signature_of

    key = secret_keys(SECRET)[0]
    for signed_text, sent, ok in ((str(NOW), f"0{NOW}", False), (f"0{NOW}", f"0{NOW}", True)):
        headers = {"webhook-id": "wh_1", "webhook-timestamp": sent}
        headers["webhook-signature"] = "v1," + signature_of(key, "wh_1", signed_text, call_body)
        if ok:
            assert verify(call_body, headers, SECRET, now=NOW).timestamp == NOW
        else:
            assert refusal(call_body, headers).reason == "bad_signature"


def test_the_official_sdk_agrees_on_the_timestamp_text(call_body: bytes) -> None:
    openai = pytest.importorskip("openai", reason="openai SDK not installed: the cross-check is UNTESTED")
    import time

    from realtime_service.webhooks.verify import secret_keys, signature_of

    client = openai.OpenAI(api_key="sk-test", webhook_secret=SECRET, base_url="http://127.0.0.1:9")
    now = int(time.time())
    key = secret_keys(SECRET)[0]
    for signed_text, sent in ((str(now), f"0{now}"), (f"0{now}", f"0{now}")):
        headers = {"webhook-id": "wh_1", "webhook-timestamp": sent}
        headers["webhook-signature"] = "v1," + signature_of(key, "wh_1", signed_text, call_body)
        try:
            client.webhooks.verify_signature(call_body, headers)
            sdk = True
        except ValueError:
            sdk = False
        try:
            verify(call_body, headers, SECRET)
            ours = True
        except WebhookVerificationError:
            ours = False
        assert (signed_text, ours) == (signed_text, sdk)


@pytest.mark.parametrize("joiner", [", ", ",", " , "])
def test_comma_joined_repeats_read_like_separate_lines(call_body: bytes, joiner: str) -> None:
    good = sign(call_body)
    bad = sign(call_body, OTHER_SECRET)["webhook-signature"]
    for signatures in ((good["webhook-signature"], bad), (bad, good["webhook-signature"])):
        headers = {**good, "webhook-signature": joiner.join(signatures)}
        assert verify(call_body, headers, SECRET, now=NOW).webhook_id == good["webhook-id"]
    same = {**good, "webhook-id": joiner.join([good["webhook-id"]] * 2)}
    assert verify(call_body, same, SECRET, now=NOW).webhook_id == good["webhook-id"]
    other = {**good, "webhook-timestamp": joiner.join([good["webhook-timestamp"], str(NOW + 1)])}
    assert refusal(call_body, other).reason == "malformed"


def test_a_non_canonical_base64_signature_is_not_the_signature(call_body: bytes) -> None:
    """The signature is compared as its base64 text, as the references do: other padding bits do not match."""
    good = sign(call_body)["webhook-signature"]
    assert good.endswith("=")
    last = good[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sibling = alphabet[alphabet.index(last) ^ 1]  # same 4 data bits, another padding bit
    assert refusal(call_body, {**sign(call_body), "webhook-signature": good[:-2] + sibling + "="}).reason == (
        "bad_signature"
    )


def test_a_verifier_a_host_app_builds_itself_registers_its_secrets_for_redaction() -> None:
    """Not only ``server.phone``: every secret a verifier holds is redacted wherever the package scrubs."""
    from realtime_service.redaction import scrub

    key = base64.b64encode(b"host-app-own-verifier-secret-0042").decode()
    rotated = "whsec_" + base64.b64encode(b"host-app-rotated-verifier-secret-7").decode()
    line = f"upstream said: bad secret {key} (rotated {rotated})"
    assert scrub(line) == line  # not known before the verifier is built
    WebhookVerifier([key, rotated])
    scrubbed = scrub(line)
    assert key not in scrubbed
    assert rotated not in scrubbed
    assert rotated.removeprefix("whsec_") not in scrubbed
