"""Phone numbers are personal data: show them masked (``+1415555****``) wherever text may be logged."""

from __future__ import annotations

import logging
import re

#: A phone-number-like run: at least 7 digits, optionally led by ``+`` (or ``%2B``), with visual separators
#: (``-``, ``.``, space, parentheses) between digits. Not inside a longer word (``rtc_1234567`` stays). Masking
#: twice masks more (``+1415555****`` -> ``+141********``): text for our logger is passed unmasked, it masks.
_NUMBER = re.compile(r"(?:(?<=%2B)|(?<=%2b)|(?<![0-9A-Za-z_]))\+?\d(?:[-. ()]{0,2}\d){6,}")
_DIGIT = re.compile(r"\d")
#: A run of digits long enough to be a number on its own (the pattern's 7), inside a longer match.
_WHOLE = re.compile(r"\d{7,}")
MASKED_DIGITS = 4


def mask_number(number: str) -> str:
    """``number`` with its last four digits replaced by ``*`` (all of them when it has four or fewer).

    Separators are kept where they are: ``+1 (415) 555-0100`` -> ``+1 (415) 555-****``. A run of seven or more
    digits inside it loses its own last four too, so a number followed by other digits (``4155550100 2026``) is
    never shown whole.
    """
    positions = [match.start() for match in _DIGIT.finditer(number)]
    hidden = set(positions[-MASKED_DIGITS:])
    for run in _WHOLE.finditer(number):
        hidden.update(range(run.end() - MASKED_DIGITS, run.end()))
    return "".join("*" if index in hidden else char for index, char in enumerate(number))


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
