"""What the emulator's route families share, below both them and the server that installs them.

The request as received (:class:`RecordedRequest`), what a handler gets (:class:`Call`), an endpoint
(:class:`Route`) and :class:`Core`, the part of an emulator a route family may use. Each route family is one
module with an ``install(core)`` function (:data:`RouteFamily`; ``calls``, ``live_sessions``, and the WebSocket
families to come), listed in :mod:`.families`. A family imports this module and never :mod:`.server`, not even
for type checking: the server imports the families, so that would be an import circle
(``tests/test_layout.py`` fails on one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .call_registry import CallRegistry
from .replies import Reply


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as received. ``headers`` has lower-case names; ``json`` is ``None`` unless the body parsed."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes
    query: str = ""


@dataclass(frozen=True, slots=True)
class Call:
    """What an endpoint handler gets: the request, its JSON object body (do not mutate), and the time."""

    request: RecordedRequest
    body: dict[str, Any]
    now: float


Handler = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint. ``beta`` endpoints answer ``beta_api_shape_disabled`` when the emulator is beta-retired.

    ``json_body=False``: the handler takes any body (multipart, ``application/sdp``) and parses it itself
    (``Call.body`` is then the JSON object if there is one, else ``{}``). ``azure=False``: not served in
    Azure mode (the path does not exist there). A path may hold ``{name}`` segments (one segment each).
    """

    handler: Handler
    beta: bool = False
    auth: bool = True
    json_body: bool = True
    azure: bool = True


class Core(Protocol):
    """The emulator as a route family sees it (:class:`~realtime_service.emulator.Emulator` is one).

    Only what the families use, so a family cannot come to depend on the HTTP server's workings; a new family
    that needs more adds it here, and the type checker then holds the emulator to it.
    """

    @property
    def azure(self) -> bool:
        """Serving Azure OpenAI's dialect (its paths, its ``api-key`` auth) instead of OpenAI's."""
        ...

    @property
    def running(self) -> bool:
        """Started and not stopped: its routes answer."""
        ...

    @property
    def calls(self) -> CallRegistry:
        """The calls and Live sessions created or rung, and the ``ek_`` keys minted."""
        ...

    def add_route(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        beta: bool = False,
        auth: bool = True,
        json_body: bool = True,
        azure: bool = True,
    ) -> None:
        """Serve ``method path`` (under ``/v1``) with ``handler``; see :class:`Route` for the flags."""
        ...

    def route(self, method: str, path: str) -> Route | None:
        """The route serving ``method path``, if any (to wrap it)."""
        ...

    def authorize(self, request: RecordedRequest) -> Reply | None:
        """The 401 for a request without the emulator's API key (in its mode's header), or ``None``."""
        ...


RouteFamily = Callable[[Core], None]
"""A route family's ``install``: registers its routes (and any hook on another family's route) on a core."""
