"""The package's one definition of a control character, for every value it sends or checks: an SDP offer, a SIP
or tel transfer target, an HTTP header or request target, a route path or CORS origin in the settings, a model
or voice name.

"No control characters" used to be a different character class in each of those places, all of them ASCII-only:
U+0085 (NEL), U+009B (CSI) or U+2028 passed, and a reader that takes them for a line end or a terminal command
(a SIP stack, a log viewer, a terminal) would split or rewrite the value. :func:`forbidden_character` refuses C0
(U+0000-U+001F), DEL, C1 (U+0080-U+009F, NEL included) and the Unicode line and paragraph separators everywhere;
a value with a strict ASCII grammar (SDP, SIP and tel URIs, header names, request targets) is refused any
non-ASCII character and any whitespace the grammar does not allow.
"""

from __future__ import annotations

import functools
import re

#: Always refused, unless a grammar allows one of them (a tab in a header value, a line end in an SDP).
CONTROL_RANGES = ((0x00, 0x1F), (0x7F, 0x9F), (0x2028, 0x2029))


def is_control(char: str) -> bool:
    """Whether one character is a control character in this package's sense (C0, DEL, C1, U+2028, U+2029)."""
    code = ord(char)
    return any(low <= code <= high for low, high in CONTROL_RANGES)


@functools.lru_cache(maxsize=32)
def _pattern(allow: str, ascii_only: bool) -> re.Pattern[str]:
    allowed = "".join(re.escape(char) for char in sorted(set(allow)))
    if ascii_only:  # printable ASCII (no space) and what the grammar allows
        return re.compile(f"[^!-~{allowed}]")
    forbidden = "".join(
        re.escape(chr(code)) for low, high in CONTROL_RANGES for code in range(low, high + 1) if chr(code) not in allow
    )
    return re.compile(f"[{forbidden}]")


def forbidden_character(text: str, *, allow: str = "", ascii_only: bool = False) -> str | None:
    """The first character of ``text`` that may not be sent, as ``U+XXXX`` (safe to put in a message: the value
    itself may be personal data), or ``None`` when there is none.

    Refused: every control character (:func:`is_control`) not in ``allow``. With ``ascii_only`` (an ASCII
    grammar): everything but printable ASCII ``!``-``~`` and the characters in ``allow`` (``" "`` where the
    grammar separates fields with spaces), so also every non-ASCII character and every other whitespace.
    """
    found = _pattern(allow, ascii_only).search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"
