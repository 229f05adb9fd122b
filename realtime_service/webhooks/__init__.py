"""Phone calls: verify OpenAI's signed webhooks, read the typed events and their SIP headers, decide each call
once (router, decisions, deduplication). Framework-free: the HTTP endpoint is built on these pieces."""

from ..errors import WebhookVerificationError
from .actions import aservice_act, operation_for, service_act
from .callers import CallerLimiter, CallerLimitUnavailable, CallerRateLimiter
from .decisions import Accept, CallRouter, Decision, Ignore, Refer, Reject, adecide, decide
from .desk import CallDesk, Outcome, default_retryable
from .events import (
    IncomingCall,
    LiveCallIncoming,
    LiveTransportConnected,
    LiveTransportIncoming,
    RealtimeCallIncoming,
    UnknownEvent,
    WebhookEvent,
    parse_event,
)
from .ledger import (
    Claim,
    DecisionLedger,
    LedgerUnavailable,
    MemoryLedgerStore,
    RedisLedgerStore,
    call_key,
    store_from_url,
    webhook_key,
)
from .masking import MaskingFilter, MaskingFormatter, mask_number, mask_text
from .router import ConfigRouter
from .settings import PhoneSettings, load_phone_settings
from .sip import (
    Address,
    SipHeaders,
    SipUri,
    address,
    addresses,
    called_number,
    caller_number,
    diversions,
    parse_address,
    parse_uri,
    phone_number,
    sip_call_id,
)
from .targets import check_target_uri
from .verify import SECRET_VARIABLE, WebhookDelivery, WebhookVerifier, secrets_from, unwrap, verify

__all__ = [
    "SECRET_VARIABLE",
    "Accept",
    "Address",
    "CallDesk",
    "CallRouter",
    "CallerLimitUnavailable",
    "CallerLimiter",
    "CallerRateLimiter",
    "Claim",
    "ConfigRouter",
    "Decision",
    "DecisionLedger",
    "Ignore",
    "IncomingCall",
    "LedgerUnavailable",
    "LiveCallIncoming",
    "LiveTransportConnected",
    "LiveTransportIncoming",
    "MaskingFilter",
    "MaskingFormatter",
    "MemoryLedgerStore",
    "Outcome",
    "PhoneSettings",
    "RealtimeCallIncoming",
    "RedisLedgerStore",
    "Refer",
    "Reject",
    "SipHeaders",
    "SipUri",
    "UnknownEvent",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookVerificationError",
    "WebhookVerifier",
    "address",
    "addresses",
    "adecide",
    "aservice_act",
    "call_key",
    "called_number",
    "caller_number",
    "check_target_uri",
    "decide",
    "default_retryable",
    "diversions",
    "load_phone_settings",
    "mask_number",
    "mask_text",
    "operation_for",
    "parse_address",
    "parse_event",
    "parse_uri",
    "phone_number",
    "secrets_from",
    "service_act",
    "sip_call_id",
    "store_from_url",
    "unwrap",
    "verify",
    "webhook_key",
]
