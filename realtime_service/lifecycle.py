"""Announced model shutdowns: one table, used to warn before a model stops working and to explain why it did.

A deployment configured today keeps minting until the model it names is shut down, and then every mint fails
with an error that says nothing about dates. So the service logs one WARNING per listed model per process when
a request names it (:func:`warn_if_retiring`), appends the date and replacement to an upstream error that names
a model past its date (:func:`shutdown_hint`), and ``realtime-service doctor`` checks configured models
against the table before going live.

Updating the table is one line per model. Sources are in each row (and in docs/model-lifecycle.md), not in
the lines printed or logged, which stay short: ``SDK`` is the official ``openai`` Python SDK 3.57's "Deprecated
values" blocks (the dates); a replacement marked ``third-party`` or ``ours`` is not confirmed on an OpenAI page.

A name that is neither on the table nor in :data:`CURRENT` is most likely a typo: :func:`unknown_model_note`
says so and suggests the closest known name, as a warning only (new models appear before this package knows
them; the API decides).
"""

from __future__ import annotations

import datetime as _dt
import difflib
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

#: Models the package knows with no shutdown announced (SDK 3.57's enums; ``gpt-realtime-translate`` per third
#: parties): Realtime, transcription, GPT-Live and translation.
CURRENT: tuple[str, ...] = (
    "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini",
    "gpt-realtime-2",
    "gpt-realtime-1.5",
    "gpt-realtime-mini-2025-10-06",
    "gpt-audio-1.5",
    "gpt-audio-mini-2025-10-06",
    "gpt-transcribe",
    "gpt-live-transcribe",
    "gpt-realtime-whisper",
    "gpt-live-1",
    "gpt-live-1.1",
    "gpt-realtime-translate",
)

#: Every model name the package knows: current ones and those on the table.
KNOWN: frozenset[str] = frozenset(CURRENT) | frozenset(BY_MODEL)

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
    """``gpt-realtime: shutdown announced for 2027-01-20; use gpt-realtime-2.1 instead`` (the source is in the
    docs' table, not in every line)."""
    past = row.date <= (today or _dt.date.today())
    when = f"shut down on {row.date.isoformat()}" if past else f"shutdown announced for {row.date.isoformat()}"
    return f"{row.model}: {when}; use {row.replacement} instead"


def closest_known(model: str) -> str | None:
    """The known model name closest to ``model`` (a typo's likely intent), or ``None`` when none is close."""
    current = difflib.get_close_matches(model, CURRENT, n=1, cutoff=0.75)
    matches = current or difflib.get_close_matches(model, sorted(KNOWN), n=1, cutoff=0.75)
    return matches[0] if matches else None


def unknown_model_note(model: str) -> str | None:
    """``None`` for a known model, else one short sentence saying it is unknown (and the closest known name):
    a warning to print, never a reason to refuse."""
    if model in KNOWN:
        return None
    closest = closest_known(model)
    hint = f"; did you mean {closest}?" if closest else ""
    return f"{model} is not a model this package knows{hint}"


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
