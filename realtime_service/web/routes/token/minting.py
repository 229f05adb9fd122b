"""Which operation mints the key: the one seam between the endpoint and the service's API surface.

Under ``api_shape: ga`` with a service that has ``create_client_secret`` (``POST /realtime/client_secrets``),
the endpoint sends the GA body and returns the GA answer (``value``, ``expires_at``, ``session``) unchanged, as
OpenAI's own browser samples read it. Otherwise it calls ``create_realtime_session`` with the beta body (which
the service itself bridges to the GA endpoint under ``api_shape: ga``) and returns that answer
(``client_secret.value``/``expires_at`` plus the session). Either way the browser receives the documented fields
of that answer and nothing else (:func:`browser_body`): a field the upstream (or a proxy) adds never reaches it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

from realtime_service.beta.models import ClientSecret, RealtimeSessionCreateResponse
from realtime_service.ga.models import ClientSecretCreateResponse, RealtimeSessionResponse, TranscriptionSessionResponse


@dataclass(frozen=True, slots=True)
class Minter:
    """A bound minting operation. ``shape`` names the body it takes (``"ga"`` or ``"beta"``); results have
    ``to_dict()`` and, where known, ``request_id``."""

    operation: str
    shape: str
    call: Callable[[dict[str, Any]], Any]
    acall: Callable[[dict[str, Any]], Awaitable[Any]]


def choose_minter(service: Any, api_shape: str) -> Minter:
    """The minting operation for ``service`` under ``api_shape`` (checked at run time, so a service that gains
    the GA operation is used through it without touching the endpoint)."""
    if api_shape == "ga" and hasattr(service, "create_client_secret") and hasattr(service, "acreate_client_secret"):
        return Minter("create_client_secret", "ga", service.create_client_secret, service.acreate_client_secret)
    return Minter("create_realtime_session", "beta", service.create_realtime_session, service.acreate_realtime_session)


def _declared(model: type) -> frozenset[str]:
    """The JSON fields a response model documents (its typed attributes, not the bookkeeping ones)."""
    return frozenset(f.name for f in fields(model)) - {"request_id", "invalid_fields", "_raw", "extra"}


#: The fields of a mint answer the browser receives, per shape (top level), and inside its nested objects.
BROWSER_FIELDS: dict[str, frozenset[str]] = {
    "ga": _declared(ClientSecretCreateResponse),
    "beta": _declared(RealtimeSessionCreateResponse),
}
CLIENT_SECRET_FIELDS = _declared(ClientSecret)
SESSION_FIELDS: dict[str, frozenset[str]] = {
    "realtime": _declared(RealtimeSessionResponse),
    "transcription": _declared(TranscriptionSessionResponse),
}


def browser_body(answer: dict[str, Any], shape: str) -> dict[str, Any]:
    """What the browser gets of a mint ``answer`` (``to_dict()``) under ``shape``: only the fields documented for
    it, at the top level, in ``client_secret`` and in ``session`` (whose fields depend on its ``type``)."""
    body = {name: value for name, value in answer.items() if name in BROWSER_FIELDS[shape]}
    secret = body.get("client_secret")
    if isinstance(secret, dict):
        body["client_secret"] = {name: value for name, value in secret.items() if name in CLIENT_SECRET_FIELDS}
    session = body.get("session")
    if isinstance(session, dict):
        allowed = SESSION_FIELDS.get(str(session.get("type")), frozenset({"type", "id", "object", "expires_at"}))
        body["session"] = {name: value for name, value in session.items() if name in allowed}
    return body
