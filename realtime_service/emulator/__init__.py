"""An OpenAI-compatible HTTP server on loopback with scripted faults, for tests, benchmarks and offline use.

Standard library only, and its request validation is written independently of the client's schemas so that
tests can cross-check the two.
"""

from .cli import main
from .faults import Fault, http_date
from .replies import Reply
from .server import Call, Emulator, RecordedRequest, Route

__all__ = ["Call", "Emulator", "Fault", "RecordedRequest", "Reply", "Route", "http_date", "main"]
