"""Phone calls: verify OpenAI's signed webhooks, read the typed events and their SIP headers, decide each call
once (router, decisions, deduplication). Framework-free: the HTTP endpoint is built on these pieces."""

from ..errors import WebhookVerificationError
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
from .masking import MaskingFilter, MaskingFormatter, mask_number, mask_text
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
from .verify import SECRET_VARIABLE, WebhookDelivery, WebhookVerifier, secrets_from, unwrap, verify

__all__ = [
    "SECRET_VARIABLE",
    "Address",
    "IncomingCall",
    "LiveCallIncoming",
    "LiveTransportConnected",
    "LiveTransportIncoming",
    "MaskingFilter",
    "MaskingFormatter",
    "RealtimeCallIncoming",
    "SipHeaders",
    "SipUri",
    "UnknownEvent",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookVerificationError",
    "WebhookVerifier",
    "address",
    "addresses",
    "called_number",
    "caller_number",
    "diversions",
    "mask_number",
    "mask_text",
    "parse_address",
    "parse_event",
    "parse_uri",
    "phone_number",
    "secrets_from",
    "sip_call_id",
    "unwrap",
    "verify",
]
