"""Mint OpenAI Realtime ephemeral keys from a server: dependency-injected, retrying, typed."""

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
from .ga.models import (
    ClientSecretCreateRequest,
    ClientSecretCreateResponse,
    RealtimeSessionConfig,
    TranscriptionSessionConfig,
    TranslationClientSecretCreateRequest,
    TranslationClientSecretCreateResponse,
)
from .retry import RetryPolicy
from .service import RealtimeSessionService

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientSecret",
    "ClientSecretCreateRequest",
    "ClientSecretCreateResponse",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
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
