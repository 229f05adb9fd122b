"""How bytes move: the :class:`Gateway` seam (one attempt in, one answer out) and its ``requests`` implementation
in :mod:`realtime_service.transport.gateway`. The seam's types are re-exported here."""

from .seam import AsyncGateway, Gateway, HttpRequest, HttpResponse

__all__ = ["AsyncGateway", "Gateway", "HttpRequest", "HttpResponse"]
