"""Turning secrets into something safe to print."""

from __future__ import annotations

from typing import Any


def redact(secret: str | None) -> str:
    """Show a secret as ``ek_...abcd``: its prefix up to the first ``_``/``-`` and its last four characters.

    Short secrets are hidden entirely, so redaction never reveals most of a key.
    """
    if not secret:
        return "<none>"
    if len(secret) < 12:
        return "***"
    cut = max(secret.find("_"), secret.find("-"))
    prefix = secret[: cut + 1] if 0 < cut < 8 else ""
    return f"{prefix}...{secret[-4:]}"


def scrub_json(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` (parsed JSON) with every secret in any string, key or value, redacted."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, list):
        return [scrub_json(item, secrets) for item in value]
    if isinstance(value, dict):
        return {scrub(key, secrets): scrub_json(item, secrets) for key, item in value.items()}
    return value


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every occurrence of each secret in ``text`` with its redacted form."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, redact(secret))
    return text
