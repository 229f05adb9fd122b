"""Which operation mints the key: the one seam between the endpoint and the service's API surface.

Under ``api_shape: ga`` with a service that has ``create_client_secret`` (``POST /realtime/client_secrets``),
the endpoint sends the GA body and returns the GA answer (``value``, ``expires_at``, ``session``) unchanged, as
OpenAI's own browser samples read it. Otherwise it calls ``create_realtime_session`` with the beta body (which
the service itself bridges to the GA endpoint under ``api_shape: ga``) and returns that answer
(``client_secret.value``/``expires_at`` plus the session). Either way the browser receives exactly what the
configured operation returned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


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
