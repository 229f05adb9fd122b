"""The SDP offer check (byte for byte, field ``sdp`` named) and the answer builder, the latter proven in Chromium.

The browser test runs Debian's headless Chromium with its fake audio device: a real ``RTCPeerConnection`` makes
the offer (microphone track and an ``oai-events`` data channel), :func:`answer_for` answers it in Python, and
the browser's ``setRemoteDescription`` must accept the answer (``signalingState`` becomes ``stable``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import empty_page
from hypothesis import given
from hypothesis import strategies as st

from realtime_service.errors import RequestValidationError
from realtime_service.wire.sdp import MAX_OFFER_BYTES, answer_for, check_offer

# Recorded from headless Chromium 156 (fake audio device, an oai-events data channel).
OFFER = (Path(__file__).parent / "sdp" / "chromium_offer.sdp").read_bytes()


def _reason(offer: Any, **kwargs: Any) -> str:
    with pytest.raises(RequestValidationError) as caught:
        check_offer(offer, **kwargs)
    assert caught.value.fields == ["sdp"]
    return " ".join(caught.value.messages["sdp"])


# check_offer


def test_a_browser_offer_passes_unchanged_crlfs_and_all() -> None:
    assert b"\r\n" in OFFER
    assert check_offer(OFFER) == OFFER
    assert check_offer(OFFER.decode()) == OFFER


def test_an_lf_only_offer_is_accepted_and_not_converted() -> None:
    lf = OFFER.replace(b"\r\n", b"\n")
    assert check_offer(lf) == lf


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (b"", "must not be empty"),
        ("  \r\n ", "must not be empty"),
        (b"o=- 1 2 IN IP4 127.0.0.1\r\nv=0\r\nm=audio 9 RTP/AVP 0\r\n", "must start with the line 'v=0'"),
        (b"v=1\r\nm=audio 9 RTP/AVP 0\r\n", "must start with the line 'v=0'"),
        (b"v=0\r\ns=-\r\nm=video 9 RTP/AVP 96\r\n", "at least one audio media section"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\n\r\na=x\r\n", "line 3 is empty"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\nab\r\n", "mixes line endings"),
        (b"v=0\rm=audio 9 RTP/AVP 0\r", "bare CR"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\nhello\r\n", "line 3 is not of the form 'x=...'"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\na=\x00\r\n", "control characters"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\ns=\xff\r\n", "valid UTF-8"),
        ("v=0\r\nm=audio 9 RTP/AVP 0\r\ns=\ud800\r\n", "valid UTF-8"),
        (None, "must be a string or bytes, not NoneType"),
        ({"sdp": "v=0"}, "must be a string or bytes, not dict"),
    ],
)
def test_a_bad_offer_is_refused_with_the_field_and_the_reason(offer: Any, reason: str) -> None:
    assert reason in _reason(offer)


def test_the_size_cap_counts_bytes_and_is_configurable() -> None:
    assert "at most 100 are accepted" in _reason(OFFER, max_bytes=100)
    padded = OFFER + b"a=x-pad:" + b"p" * MAX_OFFER_BYTES + b"\r\n"
    assert f"at most {MAX_OFFER_BYTES}" in _reason(padded)
    assert check_offer(OFFER, max_bytes=len(OFFER)) == OFFER


def _passes_unchanged_or_names_sdp(offer: str | bytes, wire: bytes) -> None:
    fields: list[str] | None = None
    try:
        checked = check_offer(offer)
    except RequestValidationError as error:
        fields = error.fields
    if fields is None:
        assert checked == wire
    else:
        assert fields == ["sdp"]


@given(st.binary(max_size=400))
def test_arbitrary_bytes_pass_unchanged_or_raise_only_our_error(data: bytes) -> None:
    _passes_unchanged_or_names_sdp(data, data)


@given(st.text(max_size=300))
def test_arbitrary_text_passes_unchanged_or_raises_only_our_error(text: str) -> None:
    _passes_unchanged_or_names_sdp(text, text.encode("utf-8", "surrogatepass"))


_ATTRIBUTE = st.from_regex(r"\Aa=[a-z\-]{1,12}(:[ -~]{0,40})?\Z", fullmatch=True)


@given(st.lists(_ATTRIBUTE, max_size=20), st.sampled_from(["\r\n", "\n"]), st.booleans())
def test_valid_offers_round_trip_byte_for_byte(attributes: list[str], ending: str, terminated: bool) -> None:
    lines = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111", *attributes]
    text = ending.join(lines) + (ending if terminated else "")
    assert check_offer(text) == text.encode()
    assert check_offer(text.encode()) == text.encode()


# answer_for


def _lines(sdp: str) -> list[str]:
    assert sdp.endswith("\r\n")
    assert "\n" not in sdp.replace("\r\n", "")
    return sdp.split("\r\n")[:-1]


def test_the_answer_mirrors_the_offers_sections_mids_and_bundle() -> None:
    lines = _lines(answer_for(OFFER))
    assert lines[0] == "v=0"
    assert [line.split()[0] for line in lines if line.startswith("m=")] == ["m=audio", "m=application"]
    assert [line for line in lines if line.startswith("a=mid:")] == ["a=mid:0", "a=mid:1"]
    assert "a=group:BUNDLE 0 1" in lines
    assert "a=setup:active" in lines
    assert any(line.startswith("a=fingerprint:sha-256 ") and len(line.split()[1]) == 95 for line in lines)
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 111" in lines
    assert "a=rtpmap:111 opus/48000/2" in lines
    assert "m=application 9 UDP/DTLS/SCTP webrtc-datachannel" in lines
    assert "a=sctp-port:5000" in lines


def test_each_answer_has_its_own_ice_credentials_unlike_the_offer() -> None:
    def credentials(sdp: str) -> set[str]:
        return {line for line in sdp.splitlines() if line.startswith(("a=ice-ufrag:", "a=ice-pwd:"))}

    first, second = credentials(answer_for(OFFER)), credentials(answer_for(OFFER))
    assert len(first) == 2
    assert first.isdisjoint(second)
    assert first.isdisjoint(credentials(OFFER.decode()))


def test_g711_mu_law_is_picked_when_opus_is_not_offered_and_video_is_rejected() -> None:
    offer = (
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE a v\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 8 0\r\na=mid:a\r\na=setup:active\r\na=recvonly\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=rtpmap:96 VP8/90000\r\n"
    )
    lines = _lines(answer_for(offer))
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 0" in lines
    assert "a=rtpmap:0 PCMU/8000" in lines
    assert "a=setup:passive" in lines
    assert "a=sendonly" in lines
    assert "m=video 0 UDP/TLS/RTP/SAVPF 96" in lines
    assert "a=group:BUNDLE a" in lines


def test_answer_for_refuses_what_check_offer_refuses() -> None:
    with pytest.raises(RequestValidationError) as caught:
        answer_for("m=audio 9 RTP/AVP 0\r\n")
    assert caught.value.fields == ["sdp"]


# the browser


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The run's one Chromium (``tests/chromium.py``) on an empty loopback page, in a browser context of its own."""
    with empty_page() as url:
        browser.get(url)
        yield browser


_MAKE_OFFER = """
const done = arguments[arguments.length - 1];
(async () => {
  try {
    const pc = new RTCPeerConnection();
    const stream = await navigator.mediaDevices.getUserMedia({audio: true});
    pc.addTrack(stream.getAudioTracks()[0], stream);
    if (arguments[0]) pc.addTransceiver('video');
    pc.createDataChannel('oai-events');
    await pc.setLocalDescription(await pc.createOffer());
    window.pc = pc;
    done(pc.localDescription.sdp);
  } catch (e) { done('ERROR ' + e); }
})();
"""
_APPLY_ANSWER = """
const done = arguments[arguments.length - 1];
window.pc.setRemoteDescription({type: 'answer', sdp: arguments[0]})
  .then(() => done(window.pc.signalingState), (e) => done('ERROR ' + e));
"""


@pytest.mark.parametrize("with_video", [False, True], ids=["audio+datachannel", "audio+video+datachannel"])
def test_chromium_accepts_the_answer_for_its_own_offer(page: Any, with_video: bool) -> None:
    offer = page.execute_async_script(_MAKE_OFFER, with_video)
    assert not offer.startswith("ERROR"), offer
    assert "m=audio" in offer
    assert "webrtc-datachannel" in offer
    assert check_offer(offer) == offer.encode()
    answer = answer_for(offer)
    assert page.execute_async_script(_APPLY_ANSWER, answer) == "stable"


# control characters, non-ASCII, line endings and the size boundary (issue 20)


def _padded_to(size: int) -> bytes:
    """The browser's offer with one attribute line padding it to exactly ``size`` bytes."""
    head = OFFER + b"a=x-pad:"
    return head + b"p" * (size - len(head) - 2) + b"\r\n"


@pytest.mark.parametrize(
    "char",
    ["\u0085", "\u009b", "\u0080", "\u009f", "\u2028", "\u2029", "\u00a0", "\u00e9", "\ufeff", "\t", "\x7f", "\x1b"],
)
def test_an_offer_holding_a_control_non_ascii_or_tab_is_refused_naming_it(char: str) -> None:
    offer = OFFER.decode() + f"a=x-note:one{char}two\r\n"
    reason = _reason(offer)
    assert f"U+{ord(char):04X}" in reason
    assert "printable ASCII" in reason
    assert _reason(offer.encode()) == reason  # the same whether the offer comes as text or as bytes


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (OFFER.replace(b"a=rtcp-mux\r\n", b"a=rtcp-mux\ra=x\r\n", 1), "mixes line endings"),  # a bare CR in CRLF
        (OFFER.replace(b"\r\n", b"\n\r\n", 1), "mixes line endings"),
        (OFFER + b"\r", "mixes line endings"),
        (OFFER.replace(b"\r\n", b"\n") + b"a=x\r", "bare CR"),
        (OFFER + b"a=x\x7f\r\n", "U+007F"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\ns=\xc2\x85\r\n", "U+0085"),  # NEL as UTF-8 bytes
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\ns=\xc2\x9b31m\r\n", "U+009B"),  # CSI as UTF-8 bytes
    ],
)
def test_line_ending_and_control_tricks_are_refused(offer: bytes, reason: str) -> None:
    assert b"a=rtcp-mux\r\n" in OFFER
    assert reason in _reason(offer)


def test_an_offer_of_exactly_64_kib_is_accepted_and_one_byte_more_refused() -> None:
    exact = _padded_to(MAX_OFFER_BYTES)
    assert MAX_OFFER_BYTES == 64 * 1024
    assert len(exact) == MAX_OFFER_BYTES
    assert check_offer(exact) == exact
    over = _padded_to(MAX_OFFER_BYTES + 1)
    assert _reason(over) == f"is {MAX_OFFER_BYTES + 1} bytes; at most {MAX_OFFER_BYTES} are accepted"


def test_spaces_inside_lines_are_what_an_sdp_is_made_of() -> None:
    assert b" " in OFFER
    offer = OFFER + b"a=x-note: several  spaces \r\n"
    assert check_offer(offer) == offer


# exact refusals and the answer's details (what mutation testing found unpinned)


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (b" \r\n", "must not be empty"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\ns=\xff\r\n", "must be valid UTF-8 text"),
        ("v=0\r\nm=audio 9 RTP/AVP 0\r\ns=\ud800\r\n", "must be valid UTF-8 text (it holds a lone surrogate)"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\na=x\r\n", "mixes line endings: use CRLF throughout"),
        (b"v=0\rm=audio 9 RTP/AVP 0\n", "has a bare CR line ending: use CRLF"),
        (b"s=-\r\nv=0\r\nm=audio 9 RTP/AVP 0\r\n", "must start with the line 'v=0'"),
        (b"v=0\r\ns=-\r\n", "must have at least one audio media section ('m=audio ...')"),
        (b"v=0\r\nm=audio 9 RTP/AVP 0\r\n\r\n", "line 3 is empty"),
        (
            b"v=0\r\nm=audio 9 RTP/AVP 0\r\na=\x01\r\n",
            "must be printable ASCII lines: no control characters, tabs or non-ASCII text (U+0001)",
        ),
        (42, "must be a string or bytes, not int"),
    ],
)
def test_each_refusal_says_exactly_why(offer: Any, reason: str) -> None:
    assert _reason(offer) == reason


def _offer(*lines: str) -> str:
    return "\r\n".join(["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", *lines]) + "\r\n"


def test_the_answer_copies_the_chosen_codecs_fmtp_and_the_data_channel_settings() -> None:
    lines = _lines(answer_for(OFFER))
    assert "a=fmtp:111 minptime=10;useinbandfec=1" in lines
    assert "a=fmtp:63 111/111" not in lines  # only the chosen codec's
    assert "a=max-message-size:262144" in lines
    assert "a=msid-semantic: WMS *" in lines
    assert "a=sendrecv" in lines
    offer = _offer(
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10; useinbandfec=1",  # a space inside the parameters: they are kept whole
        "m=application 9 DTLS/SCTP 5000 5001",
        "a=sctpmap:5000 webrtc-datachannel 1024",
        "a=max-message-size:65536",
    )
    lines = _lines(answer_for(offer))
    assert "a=fmtp:111 minptime=10; useinbandfec=1" in lines
    assert "m=application 9 DTLS/SCTP 5000 5001" in lines
    assert "a=sctpmap:5000 webrtc-datachannel 1024" in lines
    assert "a=max-message-size:65536" in lines
    assert not any(line.startswith("a=group:") for line in lines)  # no BUNDLE offered, none answered
    lines = _lines(answer_for(_offer("m=audio 9 RTP/AVP 0", "a=mid:a", "m=application 9 UDP/DTLS/SCTP x", "a=mid:d")))
    assert [line for line in lines if line.startswith("a=mid:")] == ["a=mid:a", "a=mid:d"]
    assert not any(line.startswith("a=group:") for line in lines)  # mids, but no BUNDLE offered: none answered


def test_a_section_without_a_direction_anywhere_is_sendrecv() -> None:
    lines = _lines(answer_for(_offer("m=audio 9 RTP/AVP 0")))
    assert lines[-1] == "a=rtpmap:0 PCMU/8000"
    assert "a=sendrecv" in lines


def test_only_an_application_section_over_sctp_is_a_data_channel() -> None:
    lines = _lines(answer_for(_offer("m=audio 9 RTP/AVP 0", "m=video 9 UDP/DTLS/SCTP webrtc-datachannel")))
    assert "m=video 0 UDP/DTLS/SCTP webrtc-datachannel" in lines
    assert not any(line.startswith("m=application") for line in lines)


def test_a_data_channel_without_formats_gets_the_webrtc_one_and_the_default_message_size() -> None:
    lines = _lines(answer_for(_offer("m=audio 9 UDP/TLS/RTP/SAVPF 0", "m=application 9 UDP/DTLS/SCTP", "a=mid:d")))
    assert "m=application 9 UDP/DTLS/SCTP webrtc-datachannel" in lines
    assert "a=max-message-size:262144" in lines


def test_static_payload_types_are_read_without_an_rtpmap() -> None:
    lines = _lines(answer_for(_offer("m=audio 9 RTP/AVP 8")))
    assert "m=audio 9 RTP/AVP 8" in lines
    assert "a=rtpmap:8 PCMA/8000" in lines


def test_an_rtpmap_is_split_at_its_first_space() -> None:
    lines = _lines(answer_for(_offer("m=audio 9 RTP/AVP 111", "a=rtpmap:111 opus/48000/2 x")))
    assert "a=rtpmap:111 opus/48000/2 x" in lines


def test_sections_without_a_usable_codec_are_rejected_in_place_and_the_rest_answered() -> None:
    offer = _offer(
        "a=group:BUNDLE a v b",
        "a=setup:active",  # session level: every section without its own takes it
        "a=sendonly",
        "m=audio 9 UDP/TLS/RTP/SAVPF 9",
        "a=rtpmap:9 G722/8000",
        "a=mid:a",
        "m=video 9 UDP/TLS/RTP/SAVPF 0 97",  # a video section offering payload 0 is still not audio
        "a=mid:v",
        "m=video 9 RTP/AVP",
        "m=audio 9 UDP/TLS/RTP/SAVPF 0",
        "a=mid:b",
    )
    text = answer_for(offer)
    sections = text.split("\r\nm=")[1:]
    assert [section.split("\r\n")[0] for section in sections] == [
        "audio 0 UDP/TLS/RTP/SAVPF 9",
        "video 0 UDP/TLS/RTP/SAVPF 0",
        "video 0 RTP/AVP 0",
        "audio 9 UDP/TLS/RTP/SAVPF 0",
    ]
    assert sections[0].split("\r\n") == ["audio 0 UDP/TLS/RTP/SAVPF 9", "c=IN IP4 0.0.0.0", "a=mid:a", "a=inactive"]
    assert "a=mid:v" in sections[1].split("\r\n")
    assert "a=mid:" not in sections[2]
    last = sections[3].split("\r\n")
    assert "a=setup:passive" in last
    assert "a=recvonly" in last
    assert "a=group:BUNDLE b" in _lines(text)


def test_ice_credentials_are_ice_characters_of_the_sizes_rfc_8839_asks() -> None:
    lines = _lines(answer_for(OFFER))
    ufrag = next(line for line in lines if line.startswith("a=ice-ufrag:")).partition(":")[2]
    pwd = next(line for line in lines if line.startswith("a=ice-pwd:")).partition(":")[2]
    assert len(ufrag) == 8
    assert len(pwd) == 24
    assert set(ufrag + pwd) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@pytest.mark.parametrize(("drawn", "session_id"), [("lowest", 1), ("highest", 2**62)])
def test_the_session_id_runs_from_1_to_2_to_the_62(
    monkeypatch: pytest.MonkeyPatch, drawn: str, session_id: int
) -> None:
    """Positive (RFC 8866 asks for a numeric id; 0 is a value some stacks take for "unset") and well inside a
    signed 64-bit integer, which browsers parse it into. The draw is pinned to each end of its range."""
    import realtime_service.wire.sdp as sdp

    asked: list[int] = []

    def randbelow(bound: int) -> int:
        asked.append(bound)
        return 0 if drawn == "lowest" else bound - 1

    monkeypatch.setattr(sdp.secrets, "randbelow", randbelow)
    assert _lines(answer_for(OFFER))[1] == f"o=- {session_id} 2 IN IP4 127.0.0.1"
    assert asked == [2**62]


def test_a_malformed_media_line_is_refused_by_the_answer_builder() -> None:
    with pytest.raises(RequestValidationError) as caught:
        answer_for(_offer("m=audio 9 RTP/AVP 0", "m="))
    assert caught.value.messages == {"sdp": ["has a malformed media line (m= line 2: media, port and protocol needed)"]}
    with pytest.raises(RequestValidationError) as caught:
        answer_for(_offer("m=audio 9"))
    assert caught.value.messages == {"sdp": ["has a malformed media line (m= line 1: media, port and protocol needed)"]}
    lines = _lines(answer_for(_offer("m=audio 9 RTP/AVP 0", "m=video 9 RTP/AVP")))
    assert "m=video 0 RTP/AVP 0" in lines
