"""Where a call may be transferred: :func:`check_target_uri` lives in :mod:`realtime_service.wire.sip` (so call
control needs no extra); re-exported here for the webhooks package's users."""

from ..wire.sip import MAX_TARGET_URI_LENGTH, SCHEMES, check_target_uri

__all__ = ["MAX_TARGET_URI_LENGTH", "SCHEMES", "check_target_uri"]
