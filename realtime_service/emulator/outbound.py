"""Outbound GPT-Live SIP calls: ``POST /v1/live/sessions`` with ``transport.type: "sip"``, and the emulated dial.

The request (voice-sip guide, ``?api=live``, "Place an outbound call"; not in the ``openai`` SDK 3.63 types,
SIDEBAND-NOTES 4.1 and 7.14)::

    {"session": MediaSessionConfig,
     "transport": {"type": "sip", "destination": "+14155550123",
                   "trunk": {"provider_url": "sips:sip.example.com:5061",
                             "auth": {"type": "digest", "username": "...", "password": "..."},
                             "caller_number": "+14155550100"}}}

answered ``200`` (the guide; the API reference says ``201``: UNCONFIRMED, clients should take any 2xx) with
``{"session": {"id": "live_..."}, "transport": {"type": "sip"}}``: no SDP, no trunk configuration. What the
emulator checks, as the guide states it: ``destination`` and ``caller_number`` are E.164 (a SIP URI destination
is refused), ``provider_url`` is ``sips:host[:port][;transport=tcp]`` with no userinfo, path, URI headers or
other parameters and no local host name or private, loopback, link-local, unspecified, multicast or broadcast
address literal (no address that is not public), the digest username and password are bounded and hold no CR,
LF or NUL; a body over 1 MiB is a ``413`` (status and code UNCONFIRMED). Each 400 names its ``param`` and never
quotes a number or a credential.
The trunk configuration is not kept anywhere (nor is the number dialled): only the session.

The dial: the session is recorded ``dialing`` (a sideband can attach at once) and ``transport.ringing`` is
published on it at once; after the ringing time the callee answers (``transport.answered``, the session becomes
``accepted``, its script plays as an accepted inbound call's) or the call fails (``transport.failed`` with
``error.type: "call_error"``, then the session ends ``failed`` and its sidebands get ``session.closed`` with
reason ``remote_hangup``). The script's first step says which (``dial``, :mod:`.scripts`); without one the callee
answers after :data:`~.scripts.DEFAULT_RINGING` s. Every ``transport.*`` event carries ``session_id`` and is
kept for the 3 s replay (:mod:`.live_events`), so a sideband attached a little late still sees it. The ringing
time is measured on the emulator's clock (tests may pin it and step it).
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .call_registry import CallRecord, CallRegistry, CallState, UnknownCall
from .live_events import LiveEvents
from .replies import Reply
from .scripts import Dial, Script
from .validation import Object, String, variant

MAX_BODY_BYTES = 1 << 20
"""The guide's body limit for an outbound SIP request."""
POLL = 0.05
"""Seconds the dialer sleeps at most between looks at the clock (a pinned clock moves only when a test says)."""
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_PROVIDER = re.compile(r"sips:(?P<host>\[[^\]]*\]|[^:;\[\]]+)(?::(?P<port>[0-9]{1,5}))?(?P<params>;.*)?", re.IGNORECASE)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
_CONTROL = frozenset("\r\n\0")

SIP_TRANSPORT = variant(
    "sip",
    {
        "destination": String(),
        "trunk": Object(
            {
                "provider_url": String(),
                "auth": variant(
                    "digest", {"username": String(), "password": String()}, required=("type", "username", "password")
                ),
                "caller_number": String(),
            },
            required=frozenset({"provider_url", "auth", "caller_number"}),
        ),
    },
    required=("type", "destination", "trunk"),
)
"""The ``transport`` of an outbound call, field by field (the checks on the values are :func:`transport_problem`)."""


def too_large(body: bytes) -> Reply | None:
    """The ``413`` for an outbound request over the guide's 1 MiB, or ``None``."""
    if len(body) <= MAX_BODY_BYTES:
        return None
    return Reply.error(
        413,
        f"The request body is {len(body)} bytes; an outbound SIP request is at most {MAX_BODY_BYTES} bytes (1 MiB).",
        param=None,
        code="request_too_large",
    )


def _invalid(param: str, message: str) -> Reply:
    return Reply.error(400, f"Invalid '{param}': {message}", param=param, code="invalid_value")


def _number_problem(param: str, value: str) -> Reply | None:
    if _E164.fullmatch(value):
        return None
    if value.lower().startswith(("sip:", "sips:")):
        return _invalid(param, "SIP URI destinations are not supported; give a phone number in E.164 format.")
    return _invalid(param, "expected a phone number in E.164 format (+, a country code, at most 15 digits).")


def _host_problem(host: str) -> str | None:
    """Why ``host`` (a provider endpoint's host) is refused, or ``None``."""
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else None
    try:
        address = ipaddress.ip_address(literal if literal is not None else host)
    except ValueError:
        if literal is not None:
            return "the bracketed host is not an IPv6 address"
        if ":" in host:
            return "IPv6 addresses must be bracketed"
        name = host.rstrip(".").lower()
        labels = name.split(".")
        if not name or not all(_HOST_LABEL.fullmatch(label) for label in labels):
            return "the host is not a valid host name"
        if len(labels) < 2 or name == "localhost" or name.endswith(_LOCAL_SUFFIXES):
            return "local host names are not allowed"
        if all(label.isdigit() for label in labels):
            return "the host is not a valid IP address"
        return None
    if literal is None and address.version == 6:
        return "IPv6 addresses must be bracketed"
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    judged = mapped if mapped is not None else address  # ::ffff:127.0.0.1 is 127.0.0.1
    if not judged.is_global or judged.is_multicast:  # the guide's list, and every other non-public range too
        return "private, loopback, link-local, unspecified, multicast and broadcast addresses are not allowed"
    return None


def _provider_problem(url: str) -> Reply | None:
    param = "transport.trunk.provider_url"
    if not url.lower().startswith("sips:"):
        return _invalid(param, "expected a sips: URI (TLS signaling is required; plaintext sip: is not supported).")
    if "@" in url:
        return _invalid(param, "do not include userinfo (credentials go in transport.trunk.auth).")
    if any(mark in url for mark in "/?#") or any(c.isspace() for c in url):
        return _invalid(param, "do not include a path, URI headers or white space.")
    address = url[len("sips:") :].split(";", 1)[0]
    if address.count(":") > 1 and not address.startswith("["):
        return _invalid(param, "IPv6 addresses must be bracketed.")
    match = _PROVIDER.fullmatch(url)
    if match is None:
        return _invalid(param, "expected sips:host[:port][;transport=tcp].")
    params = match.group("params")
    if params is not None and params.lower() != ";transport=tcp":
        return _invalid(param, "the only URI parameter allowed is ;transport=tcp.")
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return _invalid(param, "the port must be 1 to 65535.")
    why = _host_problem(match.group("host"))
    return None if why is None else _invalid(param, why + ".")


def _credential_problem(param: str, value: str, limit: int, *, blank_ok: bool) -> Reply | None:
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        return _invalid(param, f"at most {limit} bytes.")
    if _CONTROL & set(value):
        return _invalid(param, "must not contain CR, LF or NUL.")
    if not blank_ok and not value.strip():
        return _invalid(param, "must contain a non-whitespace character.")
    return None


def transport_problem(transport: dict[str, Any]) -> Reply | None:
    """The 400 for the first value the API would refuse in a ``transport`` :data:`SIP_TRANSPORT` accepted."""
    trunk, auth = transport["trunk"], transport["trunk"]["auth"]
    return (
        _number_problem("transport.destination", transport["destination"])
        or _provider_problem(trunk["provider_url"])
        or _credential_problem("transport.trunk.auth.username", auth["username"], 256, blank_ok=False)
        or _credential_problem("transport.trunk.auth.password", auth["password"], 4096, blank_ok=True)
        or _number_problem("transport.trunk.caller_number", trunk["caller_number"])
    )


def dial_of(script: Script | None) -> Dial:
    """How the callee answers: the script's first step when it is a ``dial``, else answer after a short ring."""
    if script and isinstance(script[0], Dial):
        return script[0]
    return Dial()


class Dialer:
    """Rings each outbound session and, on the emulator's clock, answers it or fails it (one thread for all,
    alive only while some session rings; its queue is bounded by the registry's ``max_calls``)."""

    def __init__(self, calls: CallRegistry, events: LiveEvents, running: Callable[[], bool]) -> None:
        self._calls, self._events, self._running = calls, events, running
        self._changed = threading.Condition()
        self._due: list[tuple[float, int, str]] = []  # a heap of (when the ringing ends, order, session id)
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def dial(self, record: CallRecord) -> None:
        """Start ringing ``record`` (just added, ``dialing``): ``transport.ringing`` now, the outcome later."""
        self._events.of(record.id).publish({"type": "transport.ringing", "session_id": record.id})
        self._schedule(record.id, record.created_at + dial_of(record.script).ringing)

    def _schedule(self, session_id: str, due: float) -> None:
        with self._changed:
            heapq.heappush(self._due, (due, next(self._order), session_id))
            if len(self._due) > 2 * self._calls.max_calls:  # sessions forgotten or hung up meanwhile: drop them
                self._due = [entry for entry in self._due if self._ringing(entry[2])]
                heapq.heapify(self._due)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="emulator-dialer", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def _ringing(self, session_id: str) -> bool:
        record = self._calls.get(session_id)
        return record is not None and record.state == "dialing"

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._due or not self._running():
                    self._due, self._thread = [], None
                    return
                due, _, session_id = self._due[0]
                wait = due - self._calls.now()
                if wait > 0:
                    self._changed.wait(min(wait, POLL))
                    continue
                heapq.heappop(self._due)
            self._settle(session_id)

    def _settle(self, session_id: str) -> None:
        """The ringing time is over: answer or fail as the session's script says now (a script set after the
        creation may have lengthened the ringing: then ring on)."""
        record = self._calls.get(session_id)
        if record is None or record.state != "dialing":
            return  # forgotten (the registry's bounds) or hung up while ringing
        dial = dial_of(record.script)
        due = record.created_at + dial.ringing
        if self._calls.now() < due:
            self._schedule(session_id, due)
            return
        events = self._events.of(session_id)
        if dial.outcome == "answered":
            events.publish({"type": "transport.answered", "session_id": session_id})
            self._move(session_id, "accepted")
            return
        error = {"type": "call_error", "code": dial.code, "message": dial.message}
        events.publish({"type": "transport.failed", "session_id": session_id, "error": error})
        self._move(session_id, "failed")

    def _move(self, session_id: str, state: CallState) -> None:
        """``dialing`` -> ``state``, unless a hang-up came first (then the hang-up stands)."""
        with contextlib.suppress(UnknownCall):  # forgotten meanwhile: nothing left to move
            self._calls.update(session_id, lambda r: replace(r, state=state) if r.state == "dialing" else r)
