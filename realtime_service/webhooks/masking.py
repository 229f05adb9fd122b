"""Phone numbers are personal data: show them masked (``+1415*******``) wherever text may be logged or printed.

This is the package's one masking function: the emulator's ``ring``, the webhook logger, the events', SIP
headers' and decisions' ``repr`` and ``serve``'s log handlers all go through :func:`mask_text`.
"""

from __future__ import annotations

import logging
import re

#: What may stand between two digits of one number: white space, ``-`` ``.`` ``/`` parentheses, the Unicode
#: dashes and minus, and their %-escapes (``%20`` in a SIP URI). Up to three in a row (``) - ``).
_SEPARATOR = r"(?:[\s\-./()\u2010-\u2015\u2212]|%2[0dDeEfF89])"
#: A phone-number-like run: at least 7 digits (any script's), optionally led by ``+`` (or ``%2B``), separators
#: between them. Not inside a longer word (``rtc_1234567`` stays).
_NUMBER = re.compile(rf"(?:(?<=%2B)|(?<=%2b)|(?<![0-9A-Za-z_]))\+?\d(?:{_SEPARATOR}{{0,3}}\d){{6,}}")
#: Inside a match: a %-escape (kept as it is) or one digit.
_TOKEN = re.compile(r"%[0-9A-Fa-f]{2}|\d")
#: Digits shown at most (the country and area code, say); every other digit of the number is starred.
SHOWN_DIGITS = 4


def mask_number(number: str) -> str:
    """``number`` with every digit but its first four starred, and at least four starred whatever its length.

    Separators are kept where they are: ``+1 (415) 555-0100`` -> ``+1 (415) ***-****``. So no run of more than
    four of the number's digits is ever shown, however it is written, and masking twice changes nothing.
    """
    digits = sum(1 for token in _TOKEN.findall(number) if token.isdigit())
    shown = max(0, min(SHOWN_DIGITS, digits - SHOWN_DIGITS))
    seen = 0

    def star(match: re.Match[str]) -> str:
        nonlocal seen
        token = match.group(0)
        if not token.isdigit():
            return token
        seen += 1
        return token if seen <= shown else "*"

    return _TOKEN.sub(star, number)


def mask_text(text: str) -> str:
    """``text`` with every phone-number-like run masked by :func:`mask_number` (errs towards masking)."""
    return _NUMBER.sub(lambda match: mask_number(match.group(0)), text)


class MaskingFilter(logging.Filter):
    """A logging filter that masks phone numbers in a record's message (its format arguments included).

    Attach it to a handler (``handler.addFilter(MaskingFilter())``) so every record that handler writes is
    masked, or to a logger for the records logged on that logger itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler, which reports it
            return True
        record.msg = mask_text(message)
        record.args = None
        return True


class MaskingFormatter(logging.Formatter):
    """A formatter whose whole output (message, traceback, stack) has phone numbers masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


#: The logger this package writes call handling to; it masks what is logged on it (so callers of it pass numbers
#: as they are and they come out masked once).
logger = logging.getLogger("realtime_service.webhooks")
logger.addFilter(MaskingFilter())
