"""SDP for WebRTC signaling: check a browser's offer before it is sent, and build an answer a browser accepts.

:func:`check_offer` runs before ``POST /realtime/calls`` or ``POST /live/sessions``: both are billable, so a
request that cannot work is refused here, with the field named ``sdp``. It never rewrites the offer: the
browser's bytes, CRLFs included, are what goes upstream (CALLS-LIVE-NOTES 1.7, gotcha 7).

:func:`answer_for` is what the emulator answers: an SDP answer valid for the offer (same media sections in the
same order with the same mids, its own ICE credentials and DTLS fingerprint, a BUNDLE group over the accepted
sections, codecs picked from the offer), enough for a browser's ``setRemoteDescription``. It carries no ICE
candidates: no media will flow, the answer is for signaling only.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from ..errors import RequestValidationError
from .controls import forbidden_character

MAX_OFFER_BYTES = 64 * 1024
"""A browser's offer is 3-8 KB (more with many candidates); anything far larger is not an offer."""

_FIELD = "sdp"
_LINE = re.compile(r"^[a-z]=")
#: An SDP is printable ASCII lines (RFC 8866's text fields may be UTF-8, a browser's offer never is): fields are
#: separated by spaces, lines end in CRLF (or LF throughout); no tab, no other whitespace, no control character.
_SDP_ALLOWS = " \r\n"
# Codecs the voice APIs speak, in order of preference: Opus, then G.711 (what SIP trunks use).
_AUDIO_CODECS = ("opus", "pcmu", "pcma")
_ICE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _refuse(reason: str) -> RequestValidationError:
    return RequestValidationError({_FIELD: [reason]})


def check_offer(sdp: str | bytes, max_bytes: int = MAX_OFFER_BYTES) -> bytes:
    """The offer as the UTF-8 bytes to send, unchanged, or :class:`RequestValidationError` naming ``sdp``.

    Checks: a string or bytes, not blank, at most ``max_bytes``, printable ASCII and spaces (no control character,
    tab or non-ASCII text: :func:`~.controls.forbidden_character`), one line ending throughout (CRLF as browsers
    send it, or LF) and no bare CR, no empty line, every line ``x=...``, ``v=0`` first, and at least one
    ``m=audio`` section.
    """
    if isinstance(sdp, str):
        try:
            raw = sdp.encode()
        except UnicodeEncodeError:
            raise _refuse("must be valid UTF-8 text (it holds a lone surrogate)") from None
    elif isinstance(sdp, bytes | bytearray):
        raw = bytes(sdp)
    else:
        raise _refuse(f"must be a string or bytes, not {type(sdp).__name__}")
    if not raw.strip():
        raise _refuse("must not be empty")
    if len(raw) > max_bytes:
        raise _refuse(f"is {len(raw)} bytes; at most {max_bytes} are accepted")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise _refuse("must be valid UTF-8 text") from None
    forbidden = forbidden_character(text, allow=_SDP_ALLOWS, ascii_only=True)
    if forbidden is not None:
        raise _refuse(f"must be printable ASCII lines: no control characters, tabs or non-ASCII text ({forbidden})")
    crlf = "\r\n" in text
    if crlf:
        if "\r" in text.replace("\r\n", "") or "\n" in text.replace("\r\n", ""):
            raise _refuse("mixes line endings: use CRLF throughout")
        lines = text.split("\r\n")
    else:
        if "\r" in text:
            raise _refuse("has a bare CR line ending: use CRLF")
        lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the terminator of the last line
    for number, line in enumerate(lines, start=1):
        if not _LINE.match(line):
            shown = "empty" if not line else "not of the form 'x=...'"
            raise _refuse(f"line {number} is {shown}")
    if lines[0] != "v=0":
        raise _refuse("must start with the line 'v=0'")
    if not any(line.startswith("m=audio ") for line in lines):
        raise _refuse("must have at least one audio media section ('m=audio ...')")
    return raw


@dataclass(slots=True)
class _Media:
    kind: str
    proto: str
    formats: list[str]
    attributes: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.attributes if key == name]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None


def _attribute(value: str) -> tuple[str, str]:
    name, _, rest = value.partition(":")
    return name, rest


def _parse(text: str) -> tuple[list[tuple[str, str]], list[_Media]]:
    session: list[tuple[str, str]] = []
    media: list[_Media] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 3:
                # Which line, not what it says: an offer is the caller's text, quoted nowhere.
                raise _refuse(f"has a malformed media line (m= line {len(media) + 1}: media, port and protocol needed)")
            media.append(_Media(parts[0], parts[2], parts[3:]))
        elif kind == "a":
            (media[-1].attributes if media else session).append(_attribute(value))
    return session, media


def _token(size: int) -> str:
    """``size`` ICE characters from one read of the system's randomness: a ``secrets.choice`` per character (one
    ``os.urandom`` each) was a quarter of the emulator's CPU per call. The low ``size`` base-62 digits of a
    uniform ``8 * (size + 8)``-bit number are uniform to within ``62**size / 2**(8 * (size + 8))``."""
    number = int.from_bytes(secrets.token_bytes(size + 8))
    chars = []
    for _ in range(size):
        number, index = divmod(number, len(_ICE_CHARS))
        chars.append(_ICE_CHARS[index])
    return "".join(chars)


def _fingerprint() -> str:
    return ":".join(f"{byte:02X}" for byte in secrets.token_bytes(32))


def _answer_setup(offered: str | None) -> str:
    """Offer ``actpass`` (what browsers send) or ``passive``: we take ``active``; offer ``active``: ``passive``."""
    return "passive" if offered == "active" else "active"


_DIRECTIONS = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


def _direction(section: _Media, session: list[tuple[str, str]]) -> str:
    for source in (section.attributes, session):
        for key, _ in source:
            if key in _DIRECTIONS:
                return _DIRECTIONS[key]
    return "sendrecv"


def _audio_codec(section: _Media) -> tuple[str, str, str | None] | None:
    """The offered payload type, rtpmap and fmtp of the preferred codec, or ``None`` if none is spoken."""
    maps: dict[str, str] = {}
    for value in section.values("rtpmap"):
        payload, _, encoding = value.partition(" ")
        maps[payload] = encoding
    fmtps = {value.partition(" ")[0]: value.partition(" ")[2] for value in section.values("fmtp")}
    static = {"0": "PCMU/8000", "8": "PCMA/8000"}
    for codec in _AUDIO_CODECS:
        for payload in section.formats:
            found = maps.get(payload) or static.get(payload)
            if found and found.split("/")[0].lower() == codec:
                return payload, found, fmtps.get(payload)
    return None


def _rejected(section: _Media, mid: str | None) -> list[str]:
    first = section.formats[0] if section.formats else "0"
    lines = [f"m={section.kind} 0 {section.proto} {first}", "c=IN IP4 0.0.0.0"]
    if mid is not None:
        lines.append(f"a=mid:{mid}")
    lines.append("a=inactive")
    return lines


def answer_for(offer: str | bytes) -> str:
    """An SDP answer (CRLF lines) for a checked offer: audio gets a codec from the offer, a data channel is
    accepted, anything else (video) is rejected with port 0. Raises :class:`RequestValidationError` for an
    offer :func:`check_offer` refuses."""
    text = check_offer(offer).decode()
    session, media = _parse(text)
    ufrag, pwd, fingerprint = _token(8), _token(24), _fingerprint()
    bundled_offer = any(value.split()[:1] == ["BUNDLE"] for key, value in session if key == "group")
    sections: list[list[str]] = []
    accepted_mids: list[str] = []
    for section in media:
        mid = section.first("mid")
        transport = [
            "c=IN IP4 0.0.0.0",
            f"a=ice-ufrag:{ufrag}",
            f"a=ice-pwd:{pwd}",
            f"a=fingerprint:sha-256 {fingerprint}",
            f"a=setup:{_answer_setup(section.first('setup') or _session_setup(session))}",
        ]
        if mid is not None:
            transport.append(f"a=mid:{mid}")
        if section.kind == "audio" and "RTP" in section.proto:
            codec = _audio_codec(section)
            if codec is None:
                sections.append(_rejected(section, mid))
                continue
            payload, encoding, fmtp = codec
            lines = [f"m=audio 9 {section.proto} {payload}", *transport, _direction_line(section, session)]
            lines += ["a=rtcp-mux", f"a=rtpmap:{payload} {encoding}"]
            if fmtp:
                lines.append(f"a=fmtp:{payload} {fmtp}")
        elif section.kind == "application" and "SCTP" in section.proto:
            formats = " ".join(section.formats) or "webrtc-datachannel"
            lines = [f"m=application 9 {section.proto} {formats}", *transport]
            sctp_port = section.first("sctp-port")
            if sctp_port is not None:
                lines.append(f"a=sctp-port:{sctp_port}")
            for sctpmap in section.values("sctpmap"):
                lines.append(f"a=sctpmap:{sctpmap}")
            lines.append(f"a=max-message-size:{section.first('max-message-size') or '262144'}")
        else:
            sections.append(_rejected(section, mid))
            continue
        if mid is not None:
            accepted_mids.append(mid)
        sections.append(lines)
    head = ["v=0", f"o=- {secrets.randbelow(2**62) + 1} 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
    if bundled_offer and accepted_mids:
        head.append("a=group:BUNDLE " + " ".join(accepted_mids))
    head.append("a=msid-semantic: WMS *")
    return "\r\n".join(head + [line for lines in sections for line in lines]) + "\r\n"


def _session_setup(session: list[tuple[str, str]]) -> str | None:
    return next((value for key, value in session if key == "setup"), None)


def _direction_line(section: _Media, session: list[tuple[str, str]]) -> str:
    return "a=" + _direction(section, session)
