"""Raw HTTP/1.1 over a loopback socket, for the tests that compare two servers' answers byte for byte (the
fast routes against the framework's own app, on uvicorn and on waitress)."""

from __future__ import annotations

import json
import socket
import time


def exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` (ending with ``Connection: close``) and read until the server closes (or 5 s pass). No
    half-close: uvicorn takes one for a client gone."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        chunks = []
        with_deadline = time.monotonic() + 5
        while time.monotonic() < with_deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def shape(body: bytes) -> object:
    """A JSON body's keys, two levels deep, or an SDP body's line types."""
    if body.startswith(b"v=0"):
        return sorted({line[:2] for line in body.split(b"\r\n") if line})
    decoded = json.loads(body)
    return sorted((key, sorted(value) if isinstance(value, dict) else None) for key, value in decoded.items())
