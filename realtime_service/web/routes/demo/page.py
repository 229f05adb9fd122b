"""The demo page served by ``serve`` at ``/``: plain HTML, one small script, one stylesheet, no build step.

The files ship as package data in ``static/`` beside this module (the favicon too: ``<link rel="icon">``
points there, so browsers do not ask for ``/favicon.ico``). ``/demo-config.json`` tells the page where the token
endpoint is, what the browser may choose, the two budgets, and what the upstream is: a real one (only then does
the page offer the WebRTC call to ``<base_url>/realtime/calls`` with the key) or the loopback emulator, and
whether a real WebRTC peer stands behind the emulator's answers (``serve --emulator --emulator-webrtc``) or the
answer is signaling only, so the page can say what a call there can and cannot do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from importlib import resources
from urllib.parse import urlsplit

from realtime_service.config import Settings, is_loopback
from realtime_service.errors import ConfigurationError

from ...admission.accesslog import log_access
from ...admission.answers import error_answer
from ...messages import WebRequest, WebResponse
from ...settings import ServerSettings

ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "demo.js": "text/javascript; charset=utf-8",
    "demo.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
VOICES = ("marin", "cedar", "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse")


class DemoAssets:
    """Reads the page's files once and serves them with a strict Content-Security-Policy."""

    def __init__(
        self, settings: ServerSettings, realtime_settings: Callable[[], Settings], emulator_peer: bool | None = None
    ) -> None:
        self._settings = settings
        self._emulator_peer = emulator_peer
        self._realtime_settings = realtime_settings
        folder = resources.files(__package__ or "realtime_service.web.routes.demo").joinpath("static")
        self._files = {name: folder.joinpath(name).read_bytes() for name in ASSETS}

    def _calls_url(self) -> str | None:
        """``<base_url>/realtime/calls`` when the upstream is OpenAI over https, else ``None`` (offline)."""
        try:
            settings = self._realtime_settings()
        except ConfigurationError:
            return None
        if settings.provider != "openai" or not settings.base_url.startswith("https://"):
            return None
        return settings.base_url + "/realtime/calls"

    def _upstream(self) -> str:
        """``emulator`` for a loopback upstream (``serve --emulator``: signaling only, no audio), else the
        provider (``openai``, ``azure``), or ``unconfigured``."""
        try:
            settings = self._realtime_settings()
        except ConfigurationError:
            return "unconfigured"
        return "emulator" if is_loopback(urlsplit(settings.base_url).hostname or "") else settings.provider

    def _headers(self, content_type: str) -> list[tuple[str, str]]:
        calls = self._calls_url()
        connect = "'self'" + (f" {urlsplit(calls).scheme}://{urlsplit(calls).netloc}" if calls else "")
        policy = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
            f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        return [
            ("Content-Type", content_type),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy", policy),
        ]

    def asset(self, request: WebRequest, name: str) -> WebResponse:
        """``/`` (``index.html``) or ``/static/<name>``; 404 for anything else."""
        started = time.perf_counter()
        body = self._files.get(name)
        if body is None or name not in ASSETS:
            response = error_answer(404, "Not found.", "invalid_request_error", "not_found")
        else:
            response = WebResponse(200, self._headers(ASSETS[name]), body)
        log_access(request, response, started)
        return response

    def config(self, request: WebRequest) -> WebResponse:
        """``/demo-config.json``: what the page needs to know; nothing secret."""
        started = time.perf_counter()
        settings = self._settings
        payload = {
            "token_path": settings.path,
            "auth": settings.auth,
            "browser_fields": sorted(settings.browser_fields),
            "voice": settings.session.voice,
            "voices": list(VOICES),
            "max_ttl": settings.max_ttl,
            "ttl": settings.session.ttl,
            "calls_url": self._calls_url(),
            "upstream": self._upstream(),
            # serve --emulator: whether a real WebRTC peer answers calls (--emulator-webrtc); None: not known
            "emulator_peer": self._emulator_peer,
            "budgets": {"keys": settings.rate_limit, "calls": settings.call_rate_limit},
            "session_path": settings.session_path,
            "voice_api": settings.voice_api,
        }
        body = json.dumps(payload).encode()
        response = WebResponse(200, self._headers("application/json"), body)
        log_access(request, response, started)
        return response
