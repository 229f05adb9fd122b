"""What an offer must be before the emulator makes a WebRTC peer for it (plain text checks, no ``aiortc``).

A peer costs sockets and an ICE agent per unbundled media section, and ``aiortc`` parses whatever it is given:
an offer with hundreds of sections, or megabytes of attributes, would cost that much before any refusal. So
the offer is read here first, in time linear in its size (bounded by :data:`MAX_OFFER_BYTES`), and refused
with the reason named. ``aiortc`` also accepts an offer without a DTLS fingerprint (it cannot then check the
remote certificate) and one without a data channel section (no ``oai-events``): both are refused here too.
"""

from __future__ import annotations

MAX_OFFER_BYTES = 64 * 1024
"""A browser's offer is a few KiB (Chromium's: about 3 KiB with audio and a data channel)."""
MAX_MEDIA_SECTIONS = 8
"""Audio, the data channel and a few more a page may add (video, a second audio): beyond that, no browser."""


def offer_refusal(offer: bytes) -> str | None:
    """Why the emulator makes no peer for ``offer`` (already UTF-8 text starting with ``v=0``), or ``None``."""
    if len(offer) > MAX_OFFER_BYTES:
        return f"it is {len(offer)} bytes; the emulator's WebRTC peer takes offers up to {MAX_OFFER_BYTES} bytes"
    lines = offer.decode("utf-8", "replace").splitlines()
    sections = [line for line in lines if line.startswith("m=")]
    if len(sections) > MAX_MEDIA_SECTIONS:
        return f"it has {len(sections)} media sections; at most {MAX_MEDIA_SECTIONS} are taken"
    if not any(line.startswith("a=fingerprint:") and len(line.split()) >= 2 for line in lines):
        return "it has no DTLS fingerprint (a=fingerprint), so the peer's certificate could not be checked"
    if not any(_is_data_channel(section) for section in sections):
        return (
            "it has no data channel section (m=application ... UDP/DTLS/SCTP webrtc-datachannel) for the "
            "oai-events channel"
        )
    return None


def _is_data_channel(section: str) -> bool:
    """``m=application <port> UDP/DTLS/SCTP webrtc-datachannel`` (or the older ``DTLS/SCTP <port>``)."""
    fields = section[2:].split()
    return len(fields) >= 3 and fields[0] == "application" and fields[2].upper().endswith("DTLS/SCTP")
