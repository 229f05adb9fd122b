"""Announced model shutdowns: one table, used to warn before a model stops working and to explain why it did.

A deployment configured today keeps minting until the model it names is shut down, and then every mint fails
with an error that says nothing about dates. So the service logs one WARNING per listed model per process when
a request names it (:func:`warn_if_retiring`), appends the date and replacement to an upstream error that names
a model past its date (:func:`shutdown_hint`), and ``realtime-service doctor`` checks configured models
against the table before going live.

Updating the table is one line per model. Sources are in each row: ``SDK`` is the official ``openai`` Python
SDK 3.57's "Deprecated values" blocks (the dates); a replacement marked ``third-party`` or ``ours`` is not
confirmed on an OpenAI page (see docs/configuration.md, "Model lifecycle").
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("realtime_service.lifecycle")


@dataclass(frozen=True, slots=True)
class Shutdown:
    """One model's announced shutdown: after ``date`` the API refuses it; ``replacement`` is what to use."""

    model: str
    date: _dt.date
    replacement: str
    source: str


_SDK_RT = "SDK 3.57 realtime model enum, deprecated block; replacement per Retell notice (third-party)"
_SDK_AUDIO = "SDK 3.57 realtime model enum, deprecated block; no replacement announced (ours: current SDK enum)"
_SDK_STT = "SDK 3.57 transcription enum, deprecated block; replacement per developersdigest.tech (third-party)"
_PREVIEW = "reported by modelcostwatch.com (third-party); replacement ours (current SDK enum)"
_D = _dt.date.fromisoformat

#: Every announced shutdown of a model this package can send, one line per model.
SHUTDOWNS: tuple[Shutdown, ...] = (
    Shutdown("gpt-realtime", _D("2027-01-20"), "gpt-realtime-2.1", _SDK_RT),
    Shutdown("gpt-realtime-2025-08-28", _D("2027-01-20"), "gpt-realtime-2.1", _SDK_RT),
    Shutdown("gpt-realtime-mini", _D("2027-01-20"), "gpt-realtime-2.1-mini", _SDK_RT),
    Shutdown("gpt-realtime-mini-2025-12-15", _D("2027-01-20"), "gpt-realtime-2.1-mini", _SDK_RT),
    Shutdown("gpt-audio-mini", _D("2027-01-20"), "gpt-realtime-2.1-mini", _SDK_AUDIO),
    Shutdown("gpt-audio-mini-2025-12-15", _D("2027-01-20"), "gpt-realtime-2.1-mini", _SDK_AUDIO),
    Shutdown("whisper-1", _D("2027-02-26"), "gpt-live-transcribe or gpt-transcribe", _SDK_STT),
    Shutdown("gpt-4o-transcribe", _D("2027-02-26"), "gpt-live-transcribe or gpt-transcribe", _SDK_STT),
    Shutdown("gpt-4o-transcribe-diarize", _D("2027-02-26"), "gpt-live-transcribe or gpt-transcribe", _SDK_STT),
    Shutdown("gpt-4o-mini-transcribe", _D("2027-02-26"), "gpt-live-transcribe or gpt-transcribe", _SDK_STT),
    Shutdown("gpt-4o-mini-transcribe-2025-12-15", _D("2027-02-26"), "gpt-live-transcribe or gpt-transcribe", _SDK_STT),
    Shutdown("gpt-4o-realtime-preview", _D("2026-05-07"), "gpt-realtime-2.1", _PREVIEW),
    Shutdown("gpt-4o-realtime-preview-2024-10-01", _D("2026-05-07"), "gpt-realtime-2.1", _PREVIEW),
    Shutdown("gpt-4o-realtime-preview-2024-12-17", _D("2026-05-07"), "gpt-realtime-2.1", _PREVIEW),
    Shutdown("gpt-4o-realtime-preview-2025-06-03", _D("2026-05-07"), "gpt-realtime-2.1", _PREVIEW),
    Shutdown("gpt-4o-mini-realtime-preview", _D("2026-05-07"), "gpt-realtime-2.1-mini", _PREVIEW),
    Shutdown("gpt-4o-mini-realtime-preview-2024-12-17", _D("2026-05-07"), "gpt-realtime-2.1-mini", _PREVIEW),
)

BY_MODEL: Mapping[str, Shutdown] = {row.model: row for row in SHUTDOWNS}

# Longest names first, so "gpt-realtime-mini-2025-12-15" in a message is not read as "gpt-realtime".
_NAMED = re.compile(
    r"(?<![\w.-])(" + "|".join(re.escape(m) for m in sorted(BY_MODEL, key=len, reverse=True)) + r")(?![\w.-])"
)

_warned: set[str] = set()
_warned_lock = threading.Lock()


def shutdown_of(model: str) -> Shutdown | None:
    """The announced shutdown of ``model``, or ``None`` when none is announced."""
    return BY_MODEL.get(model)


def describe(row: Shutdown, today: _dt.date | None = None) -> str:
    """``gpt-realtime: shutdown announced for 2027-01-20; use gpt-realtime-2.1 instead (source: ...)``."""
    past = row.date <= (today or _dt.date.today())
    when = f"shut down on {row.date.isoformat()}" if past else f"shutdown announced for {row.date.isoformat()}"
    return f"{row.model}: {when}; use {row.replacement} instead (source: {row.source})"


def models_in(body: Any) -> list[str]:
    """Every string under a ``model`` key anywhere in a JSON request body (session, transcription, ...)."""
    found: list[str] = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "model" and isinstance(value, str):
                    found.append(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, dict | list))
    return found


def warn_if_retiring(body: Any) -> None:
    """Log one WARNING per listed model per process when a request body names it (then stay quiet)."""
    for model in models_in(body):
        row = BY_MODEL.get(model)
        if row is None or model in _warned:
            continue
        with _warned_lock:
            if model in _warned:
                continue
            _warned.add(model)
        logger.warning("request names %s", describe(row), extra={"model": model, "shutdown_date": row.date.isoformat()})


def shutdown_hint(message: str, today: _dt.date | None = None) -> str:
    """A sentence to append to an upstream error whose text names a model past its shutdown date, else ``""``."""
    day = today or _dt.date.today()
    rows = [BY_MODEL[m] for m in dict.fromkeys(_NAMED.findall(message)) if BY_MODEL[m].date <= day]
    return "".join(f" Model {describe(row, day)}." for row in rows)


def _forget_warnings() -> None:
    """Tests only: make the next request naming a listed model warn again."""
    with _warned_lock:
        _warned.clear()
