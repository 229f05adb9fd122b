"""The server's own secrets as an upstream answer may spell them: what ``/token`` scrubs from a key's answer and
``/session`` refuses to pass on in an SDP answer (one list for both routes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from realtime_service.config import Settings
from realtime_service.errors import ConfigurationError

from ..admission.answers import dumps

#: Shorter values are not scrubbed (they would match ordinary text).
MIN_SECRET_LENGTH = 8


class KnownSecrets:
    """The secrets of a route's own settings: its bearer tokens and the service's API key (never a key just
    minted), each as written and as a JSON string spells it. The registry (``redaction.SECRETS``) holds them too,
    unless a host built the settings by hand; :func:`~realtime_service.redaction.scrub` checks both. Worked out
    on first use (``/readyz`` may be asked before the service's settings load), then kept."""

    def __init__(self, bearer_tokens: Mapping[str, str], realtime_settings: Callable[[], Settings]) -> None:
        self._bearer_tokens = bearer_tokens
        self._realtime_settings = realtime_settings
        self._forms: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"KnownSecrets({len(self._bearer_tokens)} bearer token(s), forms {'known' if self._forms else 'unread'})"

    def forms(self) -> tuple[str, ...]:
        if self._forms is None:
            known = [*self._bearer_tokens.values()]
            try:
                api_key = self._realtime_settings().api_key
            except ConfigurationError:
                api_key = None
            if api_key:
                known.append(api_key)
            self._forms = tuple(
                dict.fromkeys(
                    form
                    for secret in known
                    if len(secret) >= MIN_SECRET_LENGTH
                    for form in (secret, dumps(secret)[1:-1].decode())
                )
            )
        return self._forms
