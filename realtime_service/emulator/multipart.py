"""A strict, byte-exact ``multipart/form-data`` reader for ``POST /realtime/calls``.

Written here rather than taken from ``email`` or ``cgi`` because those normalise line endings inside a
part, and the point of the emulator is to show whether the SDP offer arrived byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE)
_NAME = re.compile(r'(?:^|;)\s*name="([^"]*)"', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    content_type: str | None
    data: bytes


class MultipartError(ValueError):
    """The body is not well-formed ``multipart/form-data``; the message says where."""


def boundary_of(content_type: str) -> str | None:
    match = _BOUNDARY.search(content_type)
    return (match.group(1) or match.group(2)) if match else None


def parse(body: bytes, boundary: str) -> list[Part]:
    """The parts in order. Part data is exactly the bytes between its headers and the next delimiter."""
    delimiter = b"--" + boundary.encode("latin-1")
    if not body.startswith(delimiter):
        raise MultipartError("the body does not start with the boundary")
    parts: list[Part] = []
    position = len(delimiter)
    while True:
        if body.startswith(b"--", position):
            return parts  # the close delimiter; an epilogue after it is ignored
        if not body.startswith(b"\r\n", position):
            raise MultipartError("a boundary is not followed by CRLF")
        header_end = body.find(b"\r\n\r\n", position + 2)
        if header_end < 0:
            raise MultipartError("a part has no end of headers")
        headers = _headers(body[position + 2 : header_end])
        next_delimiter = body.find(b"\r\n" + delimiter, header_end + 4)
        if next_delimiter < 0:
            raise MultipartError("the last part is not closed by the boundary")
        disposition = headers.get("content-disposition", "")
        name = _NAME.search(disposition)
        if not disposition.lower().startswith("form-data") or name is None:
            raise MultipartError("a part has no Content-Disposition: form-data; name=...")
        parts.append(Part(name.group(1), headers.get("content-type"), body[header_end + 4 : next_delimiter]))
        position = next_delimiter + 2 + len(delimiter)


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n") if block else []:
        name, colon, value = line.partition(b":")
        if not colon:
            raise MultipartError("a part header has no colon")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers
