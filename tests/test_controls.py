"""One definition of a control character for every check in the package (:mod:`realtime_service.wire.controls`),
and each check that uses it, over all the characters it must refuse: an SDP offer, a SIP/tel transfer target, the
event-loop gateway's header names and values and request target, the route paths and CORS origins in the
settings, and the model and voice names a browser may choose."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_service.errors import ConfigurationError, RequestValidationError
from realtime_service.transport.headers import merge_headers
from realtime_service.web.routes.policy import PolicyError, SessionPolicy
from realtime_service.web.settings import SessionDefaults, load_server_settings
from realtime_service.wire.controls import forbidden_character, is_control
from realtime_service.wire.sdp import check_offer
from realtime_service.wire.sip import check_target_uri

#: Every character the package calls a control character: C0, DEL, C1 (NEL and CSI among them), U+2028, U+2029.
CONTROLS = [chr(code) for code in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]]
controls = st.sampled_from(CONTROLS)
#: What an ASCII grammar (SDP, SIP, tel) refuses besides: any non-ASCII character, and whitespace.
non_ascii = st.characters(min_codepoint=0x80, exclude_categories=["Cs"])
unicode_space = st.sampled_from(["\u00a0", "\u1680", "\u2000", "\u2007", "\u200b", "\u202f", "\u3000", "\ufeff"])
OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
)


def inserted(value: str, char: str, where: int) -> str:
    at = 1 + where % (len(value) - 1)  # never first: the checks see the character, not a missing prefix
    return value[:at] + char + value[at:]


def test_the_class_is_exactly_c0_del_c1_and_the_unicode_separators() -> None:
    assert [chr(code) for code in range(0x110000) if chr(code) in CONTROLS] == CONTROLS
    assert all(is_control(char) for char in CONTROLS)
    assert not any(is_control(chr(code)) for code in range(0x110000) if chr(code) not in CONTROLS)
    assert forbidden_character("ok\u0085") == "U+0085"
    assert forbidden_character("tab\there", allow="\t") is None
    assert forbidden_character("é \u00a0") is None  # not a control: only an ASCII grammar refuses them
    assert forbidden_character("é", ascii_only=True) == "U+00E9"
    assert forbidden_character("a b", ascii_only=True) == "U+0020"
    assert forbidden_character("a b", allow=" ", ascii_only=True) is None
    assert forbidden_character("!~", ascii_only=True) is None


@given(st.text(max_size=40))
def test_forbidden_character_agrees_with_is_control(text: str) -> None:
    first = next((char for char in text if is_control(char)), None)
    assert forbidden_character(text) == (None if first is None else f"U+{ord(first):04X}")


# -- every check that uses it --------------------------------------------------------------------------------


def _refused_offer(offer: str) -> bool:
    fields: list[str] = []
    try:
        check_offer(offer)
    except RequestValidationError as error:
        fields = error.fields
    assert fields in ([], ["sdp"])
    return fields == ["sdp"]


@given(st.one_of(controls.filter(lambda c: c not in "\r\n"), non_ascii, unicode_space, st.just("\t")), st.integers(0))
def test_an_offer_with_a_control_non_ascii_or_tab_is_refused(char: str, where: int) -> None:
    assert not _refused_offer(OFFER)
    assert _refused_offer(inserted(OFFER, char, where))


@settings(max_examples=200)
@given(st.one_of(controls, non_ascii, unicode_space, st.just(" ")), st.integers(0))
def test_a_transfer_target_with_a_control_space_or_non_ascii_is_refused(char: str, where: int) -> None:
    for target in ("tel:+14155550123", "sip:agent@example.com;transport=tls"):
        assert check_target_uri(target) == target
        with pytest.raises(RequestValidationError) as caught:
            check_target_uri(inserted(target, char, where))
        assert caught.value.fields == ["target_uri"]
        assert "4155550123" not in str(caught.value)  # never echoed: it may be a caller's number


@given(controls.filter(lambda c: c != "\t"), st.integers(0))
def test_a_header_value_with_a_control_is_refused_by_both_gateways(char: str, where: int) -> None:
    """Both gateways merge a request's headers through :func:`merge_headers` (wire tests: test_extra_headers)."""
    assert merge_headers({}, {"X-Trace": "abc\tdef"}) == {"X-Trace": "abc\tdef"}
    with pytest.raises(ValueError, match="the value of header 'X-Trace' must be Latin-1 text without control"):
        merge_headers({}, {"X-Trace": inserted("abcdef", char, where)})


@given(st.one_of(controls, non_ascii, st.just(" ")), st.integers(0))
def test_a_header_name_with_a_control_space_or_non_ascii_is_refused(char: str, where: int) -> None:
    with pytest.raises(ValueError, match="a header name must be an HTTP token"):
        merge_headers({}, {inserted("X-Trace", char, where): "1"})


def _server(**server: Any) -> Any:
    return load_server_settings({"auth": "none", **server}, {})


@given(st.one_of(controls, non_ascii, st.just(" ")), st.integers(0), st.sampled_from(["path", "session_path"]))
def test_a_route_path_with_a_control_space_or_non_ascii_is_refused(char: str, where: int, key: str) -> None:
    assert _server(**{key: "/voice/start"}) is not None
    with pytest.raises(ConfigurationError, match=f"server.{key}"):
        _server(**{key: inserted("/voice/start", char, where)})


@given(controls, st.integers(0), st.sampled_from(["model", "voice"]))
def test_a_browser_chosen_name_with_a_control_is_refused(char: str, where: int, field: str) -> None:
    defaults = SessionDefaults(None, None, None, None, None, False, 600)
    policy = SessionPolicy(defaults, frozenset({"model", "voice"}), 600)
    assert policy.terms({field: "cedar"}).chosen == {field}
    with pytest.raises(PolicyError) as caught:
        policy.terms({field: inserted("cedar", char, where)})
    assert caught.value.field == field


@given(st.one_of(controls, non_ascii, st.just(" ")), st.integers(0))
def test_a_cors_origin_with_a_control_space_or_non_ascii_is_refused(char: str, where: int) -> None:
    assert _server(cors_origins=["https://app.example"]).cors_origins == {"https://app.example"}
    origin = "https://" + inserted("app.example", char, where)
    with pytest.raises(ConfigurationError, match=r"server\.cors_origins"):
        _server(cors_origins=[origin])
