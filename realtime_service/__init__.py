"""Mint OpenAI Realtime ephemeral keys from a server: dependency-injected, retrying, typed."""

from typing import TYPE_CHECKING, Any

from . import lazy_wiring  # noqa: F401  (first: before anything imports dependency_injector)
from ._version import __version__
from .beta.models import (
    NOT_GIVEN,
    ClientSecret,
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateRequest,
    RealtimeTranscriptionSessionCreateResponse,
)
from .containers import RealtimeContainer
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RealtimeServiceError,
    RequestValidationError,
    ResponseValidationError,
    UnprocessableEntityError,
    WebhookVerificationError,
)
from .ga.calls import CallCreateResult
from .ga.models import (
    ClientSecretCreateRequest,
    ClientSecretCreateResponse,
    RealtimeSessionConfig,
    TranscriptionSessionConfig,
    TranslationClientSecretCreateRequest,
    TranslationClientSecretCreateResponse,
)
from .live.sessions import LiveSessionCreateResult
from .retry import RetryPolicy
from .service import RealtimeSessionService

if TYPE_CHECKING:
    from .live.models import LiveSessionConfig


def __getattr__(name: str) -> Any:
    """``LiveSessionConfig`` is imported on first use: its dataclasses are a cold start's cost for a family
    a process may never use."""
    if name == "LiveSessionConfig":
        from .live.models import LiveSessionConfig

        return LiveSessionConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CallCreateResult",
    "ClientSecret",
    "ClientSecretCreateRequest",
    "ClientSecretCreateResponse",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "LiveSessionConfig",
    "LiveSessionCreateResult",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RealtimeContainer",
    "RealtimeServiceError",
    "RealtimeSessionConfig",
    "RealtimeSessionCreateRequest",
    "RealtimeSessionCreateResponse",
    "RealtimeSessionService",
    "RealtimeTranscriptionSessionCreateRequest",
    "RealtimeTranscriptionSessionCreateResponse",
    "RequestValidationError",
    "ResponseValidationError",
    "RetryPolicy",
    "TranscriptionSessionConfig",
    "TranslationClientSecretCreateRequest",
    "TranslationClientSecretCreateResponse",
    "UnprocessableEntityError",
    "WebhookVerificationError",
    "__version__",
]
