"""The one masking function: no run of more than four of a number's digits survives, whatever the separators,
and no other masking code exists in the package (every printer and logger goes through ``mask_text``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_service.webhooks.masking import SHOWN_DIGITS, mask_number, mask_text

PACKAGE = Path(__file__).resolve().parents[2] / "realtime_service"
SEPARATORS = [" ", "-", ".", "/", "(", ")", "\u00a0", "\u2011", "\u2013", "\u2212", "\t", "%20", "%2D", "%2d"]
#: What may stand around a number in a log line or a SIP header (no letters or digits: glued to a word, a digit
#: run is an id such as ``rtc_1234567`` and stays).
CONTEXT = st.text(alphabet=" <>:;@=,\"'[]{}!?#&*+|~^$", max_size=8)


def _digits(text: str) -> str:
    return "".join(ch for ch in re.sub(r"%[0-9A-Fa-f]{2}", "", text) if ch.isdigit())


def number_with_separators(draw: st.DrawFn) -> tuple[str, str]:
    digits = draw(
        st.text(alphabet=st.sampled_from("0123456789\u0660\u0661\u0662\u0663\u0969"), min_size=7, max_size=20)
    )
    parts = [draw(st.sampled_from(["", "+", "%2B"]))]
    for index, digit in enumerate(digits):
        if index:
            parts.append("".join(draw(st.lists(st.sampled_from(SEPARATORS), max_size=3))))
        parts.append(digit)
    return digits, "".join(parts)


@settings(max_examples=500, deadline=None)
@given(data=st.data(), before=CONTEXT, after=CONTEXT)
def test_no_run_of_more_than_four_digits_of_a_number_survives_whatever_the_separators(
    data: st.DataObject, before: str, after: str
) -> None:
    digits, written = number_with_separators(data.draw)
    masked = mask_text(f"{before}{written}{after}")
    shown = _digits(masked)  # separators ignored: digits that survive on either side of one count as a run
    for start in range(len(digits) - SHOWN_DIGITS):
        assert digits[start : start + SHOWN_DIGITS + 1] not in shown, (written, masked)
    assert len(shown) <= SHOWN_DIGITS
    assert mask_text(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+1 (415) 555-0142", "+1 (415) ***-****"),
        ("+1-415-555-0199", "+1-415-***-****"),
        ("+1234567890123456", "+1234************"),
        ("+12345678901234567890", "+1234****************"),
        ("tel:+1%20415%20555%200142", "tel:+1%20415%20***%20****"),
        ("+1 - 415 - 555 - 0142", "+1 - 415 - *** - ****"),
        ("\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0660\u0660", "\u0661\u0664\u0661\u0665*******"),
        ("5550142", "555****"),
        ("rtc_1234567890", "rtc_1234567890"),
    ],
)
def test_separators_long_numbers_escapes_and_other_scripts(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_mask_number_hides_at_least_four_digits_of_a_short_one() -> None:
    assert mask_number("5550142") == "555****"
    assert mask_number("15550142") == "1555****"
    assert mask_number("+1 (415)") == "+* (***)"


def test_the_package_has_no_other_masking_code() -> None:
    """Every place that prints or logs a number calls ``mask_text``: no second pattern, no ``****`` built elsewhere."""
    suspicious = re.compile(r"\*\*\*\*|\\d\{7|mask_numbers|def mask_|\[:-4\]|\[-4:\]")
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "masking.py":
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if suspicious.search(code) and "redact" not in path.name:
                found.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert found == []


def test_a_record_with_a_broken_format_string_is_let_through_for_its_handler_to_report() -> None:
    import logging

    from realtime_service.webhooks.masking import MaskingFilter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "call %s from %s", ("only one",), None)
    assert MaskingFilter().filter(record) is True
    assert (record.msg, record.args) == ("call %s from %s", ("only one",))
    good = logging.LogRecord("x", logging.INFO, __file__, 1, "call from %s", ("+14155550100",), None)
    assert MaskingFilter().filter(good) is True
    assert good.getMessage() == "call from +1415*******"
