"""SIP header helpers over real-shaped and arbitrary (hypothesis) input: they read what they can, never raise."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_service.webhooks import (
    MaskingFilter,
    MaskingFormatter,
    SipHeaders,
    address,
    called_number,
    caller_number,
    diversions,
    mask_number,
    mask_text,
    parse_address,
    parse_event,
    parse_uri,
    phone_number,
    sip_call_id,
)
from realtime_service.webhooks.sip import split_list

from .conftest import body_of, incoming_call


def headers(*pairs: tuple[str, str]) -> SipHeaders:
    return SipHeaders(pairs)


def test_from_to_call_id_and_diversion_of_an_incoming_call() -> None:
    event = parse_event(body_of(incoming_call()))
    assert caller_number(event) == "+14155550100"
    assert called_number(event) == "+18005550199"
    assert sip_call_id(event) == "a84b4c76e66710@pc33.example.com"
    (diverted,) = diversions(event)
    assert (diverted.number, diverted.param("reason")) == ("+14155550111", "unconditional")
    sender = address(event, "From")
    assert sender is not None
    assert (sender.display_name, sender.uri.host, sender.param("tag")) == ("Alice Example", "203.0.113.5", "as12f")
    assert sender.uri.params == (("user", "phone"),)


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ('"Alice" <sip:+14155550100@host>;tag=1', "+14155550100"),
        ("<sip:+14155550100@host:5061;transport=tls>", "+14155550100"),
        ("Bob <sips:14155550100@host>", "14155550100"),
        ("sip:+14155550100@host;tag=1", "+14155550100"),
        ("<tel:+1-415-555-0100;phone-context=example.com>", "+14155550100"),
        ("tel:+1(415)555.0100", "+14155550100"),
        ("<sip:+14155550100;npdi;rn=+14155550000@host;user=phone>", "+14155550100"),
        ("<sip:%2B14155550100@host>", "+14155550100"),
        ('"Quoted \\" <sip:+19999999999@x>" <sip:+14155550100@host>', "+14155550100"),
        ("<sip:+14155550100:password@host>", "+14155550100"),
        ("<SIP:+14155550100@HOST>", "+14155550100"),
        ('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=x', None),
        ("<sip:alice@example.com>", None),
        ("<http://+14155550100@host>", None),
        ("<sip:+1415@>", "+1415"),
        ("<sip:12@host>", None),
        ("<sip:", None),
        ("", None),
        ("<<<>>>;;;==", None),
    ],
)
def test_numbers_are_read_from_the_usual_forms(value: str, number: str | None) -> None:
    assert parse_address(value).number == number


def test_the_caller_prefers_the_carriers_asserted_identity() -> None:
    spoofable = ("From", "<sip:+19995550000@evil.example>")
    asserted = ("P-Asserted-Identity", '"Carrier" <sip:+14155550100@carrier>, <tel:+14155550100>')
    assert caller_number(headers(spoofable, asserted)) == "+14155550100"
    assert caller_number(headers(spoofable)) == "+19995550000"
    assert caller_number(headers(("From", "<sip:anonymous@anonymous.invalid>"))) is None
    assert caller_number(headers()) is None


def test_compact_header_names_are_read() -> None:
    compact = headers(("f", "<sip:+14155550100@h>"), ("t", "<tel:+18005550199>"), ("i", " abc@host "))
    assert (caller_number(compact), called_number(compact), sip_call_id(compact)) == (
        "+14155550100",
        "+18005550199",
        "abc@host",
    )


def test_list_headers_split_only_at_top_level_commas() -> None:
    assert split_list('"Doe, John" <sip:a@b>, <sip:c@d;x=1,2>, , tel:+1') == [
        '"Doe, John" <sip:a@b>',
        "<sip:c@d;x=1,2>",
        "tel:+1",
    ]
    diverted = diversions(headers(("Diversion", "<sip:+14155550111@a>;reason=busy, <tel:+14155550122>")))
    assert [d.number for d in diverted] == ["+14155550111", "+14155550122"]


def test_parse_uri_splits_sip_and_tel() -> None:
    uri = parse_uri("sips:+14155550100@sip.example.com:5061;transport=tls?Subject=x")
    assert (uri.scheme, uri.user, uri.host, uri.params) == (
        "sips",
        "+14155550100",
        "sip.example.com:5061",
        (("transport", "tls"),),
    )
    assert parse_uri("mailto:a@b").number is None
    assert parse_uri("no scheme").scheme is None


def test_phone_number_drops_visual_separators_only() -> None:
    assert phone_number(" +1 (415) 555-0100 ") == "+14155550100"
    assert phone_number("+1415abc") is None
    assert phone_number("١٤١٥٥٥٥٠١٠٠") is None  # Arabic-Indic digits are not a dialable number here


def test_huge_values_are_cut_not_scanned_forever() -> None:
    value = "<sip:+14155550100@" + "h" * 1_000_000 + ">"
    assert parse_address(value).number == "+14155550100"


# -- property tests ----------------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
sipish = st.text(alphabet='<>"\\;:=,@+-.() \t\r\nsiptel%2B0123456789abc', max_size=200)


@settings(max_examples=400, deadline=None)
@given(st.one_of(text, sipish))
def test_arbitrary_header_values_never_crash_the_parsers(value: str) -> None:
    parsed = parse_address(value)
    assert parsed.number is None or phone_number(parsed.number) == parsed.number
    assert isinstance(parse_uri(value).uri, str)
    assert all(isinstance(part, str) and part for part in split_list(value))
    pairs = headers(("From", value), ("P-Asserted-Identity", value), ("Call-ID", value), ("Diversion", value))
    number = caller_number(pairs)
    assert number is None or number.lstrip("+").isdigit()
    assert called_number(pairs) is None
    assert sip_call_id(pairs) in {None, value.strip()[:4096]}
    assert isinstance(diversions(pairs), tuple)
    assert isinstance(repr(pairs), str)
    assert isinstance(mask_text(value), str)


@settings(max_examples=200, deadline=None)
@given(
    display=st.text(alphabet=st.characters(codec="utf-8", exclude_characters='"\\'), max_size=30),
    number=st.from_regex(r"\+?[1-9][0-9]{6,14}", fullmatch=True),
    host=st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
    tag=st.from_regex(r"[A-Za-z0-9]{1,10}", fullmatch=True),
    scheme=st.sampled_from(["sip", "sips", "SIP"]),
)
def test_a_well_formed_name_addr_always_yields_its_number(
    display: str, number: str, host: str, tag: str, scheme: str
) -> None:
    parsed = parse_address(f'"{display}" <{scheme}:{number}@{host};user=phone>;tag={tag}')
    assert parsed.display_name == display
    assert parsed.number == number
    assert parsed.uri.host == host
    assert parsed.param("tag") == tag


@settings(max_examples=200, deadline=None)
@given(number=st.from_regex(r"\+?[0-9]{7,15}", fullmatch=True), before=text, after=text)
def test_masked_text_never_shows_a_number_whole(number: str, before: str, after: str) -> None:
    for glue in (" ", "*", "-"):
        masked = mask_text(f"{before}{glue}{number}{glue}{after}")
        assert f"{glue}{number}{glue}" not in masked
    # Glued to nothing, the number is only a number when a word character does not lead it (``rtc_1234567`` is an
    # id) and a digit does not follow it (``12345678901`` is one longer number, masked at its own end).
    if not re.search(r"[0-9A-Za-z_]\Z", before) and not re.match(r"\d", after):
        masked = mask_text(f"{before}{number}{after}")  # masking keeps the length: the number is where it was
        assert masked[len(before) : len(before) + len(number)] != number


# -- masking -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+14155550100", "+1415*******"),
        ("14155550100", "1415*******"),
        ("+1 (415) 555-0100", "+1 (415) ***-****"),
        ("5550100", "555****"),
        ("1234", "****"),
        ("12", "**"),
        ("", ""),
        ("anonymous", "anonymous"),
    ],
)
def test_mask_number(number: str, masked: str) -> None:
    assert mask_number(number) == masked


def test_mask_text_masks_numbers_in_uris_and_prose_but_not_ids() -> None:
    line = 'call rtc_1234567890 from "A" <sip:+14155550100@h>, tel:+1-415-555-0111, %2B14155550122 ext 42'
    assert mask_text(line) == (
        'call rtc_1234567890 from "A" <sip:+1415*******@h>, tel:+1-415-***-****, %2B1415******* ext 42'
    )


def test_the_logging_helpers_mask_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.webhooks.masking")
    shared_formatter = caplog.handler.formatter  # caplog.handler is pytest's, shared by every test: put it back
    caplog.handler.addFilter(MaskingFilter())
    caplog.handler.setFormatter(MaskingFormatter("%(message)s"))
    try:
        logger.warning("call from %s", "+14155550100")
        try:
            raise ValueError("bad caller +14155550111")
        except ValueError:
            logger.exception("refused <sip:+14155550122@h>")
        assert "+14155550100" not in caplog.text
        assert "+1415*******" in caplog.text
        formatted = caplog.handler.format(caplog.records[-1])
    finally:
        caplog.handler.filters.clear()
        caplog.handler.setFormatter(shared_formatter)
    assert "+14155550111" not in formatted
    assert "bad caller +1415*******" in formatted
    assert "+14155550122" not in formatted


@pytest.mark.parametrize(
    ("text", "masked"),
    [(" 0000000 0000", " 0000*** ****"), ("call 4155550100 2026", "call 4155****** ****")],
    ids=["found-by-hypothesis", "number-then-year"],
)
def test_a_number_followed_by_other_digits_is_masked_with_them(text: str, masked: str) -> None:
    """The pattern joins them into one run; masking only the run's last four once showed the number whole."""
    assert mask_text(text) == masked
