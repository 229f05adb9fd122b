"""The session of a call started through ``/session``: the browser's query choices, the server's policy, and
the session each voice API takes.

The browser names what it may choose (``server.browser_fields``) as query parameters, since the body is the
SDP offer: ``POST /session?voice=cedar``. Each parameter appears at most once; ``model``, ``voice`` and
``instructions`` are plain text, ``tools`` and ``turn_detection`` JSON text (``turn_detection=null`` turns it
off), parsed as ``/token`` parses its body (:func:`~realtime_service.web.admission.bodies.parse_json`: strict, at most
64 levels deep, so no
browser's JSON can make validation recurse into a 500). ``ttl`` belongs to keys, not calls, and is refused.
The values then go through the same :class:`~realtime_service.web.routes.policy.SessionPolicy` as ``/token``'s JSON
body, and :class:`SessionTerms` are rendered as:

- ``realtime``: a GA realtime session (``{"type": "realtime", "model", "instructions", "tools", "audio": ...}``),
  the ``session`` part of ``POST /realtime/calls``;
- ``live``: a GPT-Live ``MediaSessionConfig`` (``{"model", "instructions", "audio": {"output": {"voice"}}}``),
  the model being the browser's choice, else ``server.live_model`` (``server.session.model`` if set, else
  ``gpt-live-1.1``). GPT-Live has no tools or turn detection of that shape; the settings refuse them. Under
  ``server.sideband`` the endpoint adds the server's ``delegation`` last: no query parameter names it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from realtime_service.redaction import shown_name

from ...admission.bodies import MAX_JSON_DEPTH, NestedTooDeeply, parse_json
from ..policy import PolicyError, SessionPolicy, SessionTerms

#: Query parameters a request may carry at most (anything beyond is not a browser choosing a voice).
MAX_QUERY_FIELDS = 8
_JSON_FIELDS = frozenset({"tools", "turn_detection"})


def query_choices(query: str) -> dict[str, Any]:
    """The browser's choices in ``query`` as the policy's JSON-like mapping, or :class:`PolicyError`."""
    if not query:
        return {}
    try:
        pairs = parse_qsl(
            query, keep_blank_values=True, strict_parsing=True, errors="strict", max_num_fields=MAX_QUERY_FIELDS
        )
    except ValueError as exc:  # malformed pairs, too many fields, percent-escapes that are not UTF-8
        reason = "has too many parameters" if "Max number" in str(exc) else "is not a valid query string"
        raise PolicyError("query", f"the query string {reason}", "invalid_query") from None
    choices: dict[str, Any] = {}
    for name, value in pairs:
        if name in choices:  # a name the browser chose: shown only if it looks like a field name
            shown = shown_name(name)
            raise PolicyError(shown, f"the parameter {shown!r} is given more than once", "duplicate_field")
        if name == "ttl":
            raise PolicyError(name, "a call has no key lifetime: 'ttl' applies to /token only", "unknown_field")
        if name in _JSON_FIELDS:
            try:
                choices[name] = parse_json(value)
            except NestedTooDeeply:
                raise PolicyError(
                    name, f"the parameter {name!r} is nested more than {MAX_JSON_DEPTH} levels deep", "invalid_json"
                ) from None
            except ValueError:
                raise PolicyError(name, f"the parameter {name!r} must be JSON text", "invalid_json") from None
        else:
            choices[name] = value
    return choices


def call_terms(policy: SessionPolicy, query: str) -> SessionTerms:
    """The session terms of one call: the server's defaults and the query's choices, under ``policy``."""
    return policy.terms(query_choices(query))


def realtime_session(terms: SessionTerms) -> dict[str, Any]:
    """The GA realtime session (``type: realtime``) for ``POST /realtime/calls``."""
    session: dict[str, Any] = terms.ga_body()["session"]
    return session


def live_session(terms: SessionTerms, live_model: str) -> dict[str, Any]:
    """The GPT-Live ``MediaSessionConfig`` for ``POST /live/sessions``."""
    model = terms.model if "model" in terms.chosen and terms.model is not None else live_model
    session: dict[str, Any] = {"model": model}
    if terms.instructions is not None:
        session["instructions"] = terms.instructions
    if terms.voice is not None:
        session["audio"] = {"output": {"voice": terms.voice}}
    return session
