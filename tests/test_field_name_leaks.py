"""No validation error echoes a key the caller chose (issue 22).

A secret pasted as a key (``{"sk-proj-...": 1}``), anywhere in a request, is an unknown field or a map key that
some error must point at. Every codec (GA, translation, calls, beta, transcription, Live, Live accept) names it
through :func:`~realtime_service.redaction.shown_name`: by its length, never by any of its characters. Checked
here for the exception (``str``, ``repr``, ``messages``, the formatted traceback a log would show); the CLI's
error line is in ``test_cli_errors.py`` and the ``/token`` answer in ``token_server/test_token_field_names.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import string
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from ga_samples import FULL_DATACLASS, UNKNOWN_NESTED, with_field
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_service.beta.schemas import BetaSessionCodec, TranscriptionSessionCodec
from realtime_service.errors import RequestValidationError
from realtime_service.ga.schemas import CallSessionCodec, ClientSecretCodec, TranslationCodec
from realtime_service.live.schemas import LiveSessionCodec
from realtime_service.redaction import shown_name
from realtime_service.wire.values import json_problem

#: The kinds of secret a developer might paste: API keys, minted keys, webhook secrets, bare tokens.
PREFIXES = ("sk-", "sk-proj-", "sk-svcacct-", "ek_", "whsec_", "Bearer_", "")
#: Runs of at most four letters, each closed by a digit: every 10-character run of a key drawn from it holds a
#: digit, so finding one in a message can only mean the key leaked (no English word of a message matches).
CHUNK = st.tuples(st.text(string.ascii_letters + "-_", max_size=4), st.sampled_from(string.digits)).map("".join)
SECRET_KEYS = st.builds(
    lambda prefix, chunks: prefix + "".join(chunks), st.sampled_from(PREFIXES), st.lists(CHUNK, min_size=4)
).filter(lambda key: len(key) >= 12)
RUN = 10


def runs(key: str) -> set[str]:
    """The key and each of its 10-character runs."""
    return {key, *(key[start : start + RUN] for start in range(len(key) - RUN + 1))}


def texts_of(exc: BaseException) -> str:
    """Everything an exception shows: its message, repr, messages, and the whole chain as a log would print it."""
    shown = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, RequestValidationError):
        shown += [json.dumps(exc.messages), repr(exc.messages), " ".join(exc.fields)]
    return "\n".join(shown)


def assert_never_echoed(key: str, attempt: Callable[[], object]) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        attempt()
    text = texts_of(caught.value)
    assert [run for run in runs(key) if run in text] == [], text
    return caught.value


def parents() -> list[str]:
    """Every object of the full GA request that an unknown key can be added to (``""``: the top)."""
    return sorted({path.rpartition(".")[0] for path in UNKNOWN_NESTED} | {""})


def placed(parent: str, key: str, value: Any = 1) -> dict[str, Any]:
    return with_field(f"{parent}.{key}" if parent else key, value)


GA = ClientSecretCodec()


@settings(max_examples=40, deadline=None)
@given(key=SECRET_KEYS, parent=st.sampled_from(parents()))
def test_a_secret_as_an_unknown_ga_field_is_named_by_its_length(key: str, parent: str) -> None:
    body = placed(parent, key)
    error = assert_never_echoed(key, lambda: GA.load_request(body))
    expected = f"{parent}.{shown_name(key)}" if parent else shown_name(key)
    assert error.messages == {expected: ["Unknown field."]}
    assert shown_name(key) == f"<name of {len(key)} characters>"
    assert_never_echoed(key, lambda: GA.encode(body))


MAP_AND_OBJECT_PLACES: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("an MCP header name", lambda key: with_field("session.tools.1.headers", {key: 5})),
    ("a prompt variable name", lambda key: with_field("session.prompt.variables", {key: 5})),
    ("a key deep in a tool's parameters", lambda key: with_field("session.tools.0.parameters", {"a": {key: math.nan}})),
]


@settings(max_examples=25, deadline=None)
@given(key=SECRET_KEYS, place=st.sampled_from(MAP_AND_OBJECT_PLACES))
def test_a_secret_as_a_map_key_or_a_json_object_key_is_never_echoed(
    key: str, place: tuple[str, Callable[[str], dict[str, Any]]]
) -> None:
    assert_never_echoed(key, lambda: GA.load_request(place[1](key)))


@settings(max_examples=25, deadline=None)
@given(key=SECRET_KEYS, nested=st.booleans())
def test_a_secret_as_a_key_of_a_dataclass_extra_is_never_echoed(key: str, nested: bool) -> None:
    extra = {"custom": {key: math.nan}} if nested else {key: math.nan}
    request = dataclasses.replace(FULL_DATACLASS, session=dataclasses.replace(FULL_DATACLASS.session, extra=extra))
    error = assert_never_echoed(key, lambda: GA.encode(request))
    assert error.fields == (["session.extra.custom"] if nested else [f"session.extra.{shown_name(key)}"])


BETA, TRANSCRIPTION, TRANSLATION = BetaSessionCodec(), TranscriptionSessionCodec(), TranslationCodec()
CALLS, LIVE = CallSessionCodec(), LiveSessionCodec()
LIVE_SESSION = {"type": "live", "model": "gpt-live"}
#: Each codec, with a secret key at its top and one level down.
OTHER_CODECS: list[tuple[str, Callable[[str], object]]] = [
    ("beta", lambda key: BETA.load_request({"voice": "alloy", key: 1})),
    ("beta nested", lambda key: BETA.load_request({"turn_detection": {"type": "server_vad", key: 1}})),
    ("beta tool parameters", lambda key: BETA.load_request({"tools": [{"name": "f", "parameters": {key: math.inf}}]})),
    ("transcription", lambda key: TRANSCRIPTION.load_request({key: 1})),
    ("translation", lambda key: TRANSLATION.load_request({key: 1})),
    ("translation nested", lambda key: TRANSLATION.load_request({"session": {"model": "m", key: 1}})),
    ("calls", lambda key: CALLS.encode({"type": "realtime", key: 1})),
    ("calls nested", lambda key: CALLS.encode({"type": "realtime", "audio": {"output": {key: 1}}})),
    ("live", lambda key: LIVE.encode_session({**LIVE_SESSION, key: 1})),
    ("live nested", lambda key: LIVE.encode_session({**LIVE_SESSION, "audio": {"output": {key: 1}}})),
    ("live accept", lambda key: LIVE.encode_accept({**LIVE_SESSION, key: 1})),
]


@settings(max_examples=15, deadline=None)
@given(key=SECRET_KEYS)
@pytest.mark.parametrize("attempt", [attempt for _, attempt in OTHER_CODECS], ids=[name for name, _ in OTHER_CODECS])
def test_no_codec_echoes_a_secret_key(attempt: Callable[[str], object], key: str) -> None:
    error = assert_never_echoed(key, lambda: attempt(key))
    assert shown_name(key) in json.dumps(error.messages), error.messages  # named, by its length


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("voice", "voice"),
        ("input_audio_transcription", "input_audio_transcription"),
        ("", ""),
        (3, "3"),
        ("Voice", "<name of 5 characters>"),
        ("voice2", "<name of 6 characters>"),
        ("x" * 32, "x" * 32),
        ("x" * 33, "<name of 33 characters>"),
        ("sk-proj-abc", "<name of 11 characters>"),
        ("ek_" + "a" * 32, "<name of 35 characters>"),
        ("__proto__", "<name of 9 characters>"),
        ("voice\n", "<name of 6 characters>"),
        (True, "<bool name>"),
        (("a",), "<tuple name>"),
    ],
)
def test_only_a_name_shaped_like_an_api_field_is_shown(name: object, shown: str) -> None:
    assert shown_name(name) == shown


def test_a_typo_of_a_field_is_still_named() -> None:
    with pytest.raises(RequestValidationError) as caught:
        GA.load_request(with_field("session.voise", "marin"))
    assert caught.value.messages == {"session.voise": ["Unknown field."]}


def test_json_problem_names_keys_safely_and_keeps_its_prefix() -> None:
    assert json_problem({"ok": [1, {"sk-proj-0123456789": math.nan}]}, "extra") == (
        "extra.ok.1.<name of 18 characters>",
        "NaN and infinities are not JSON.",
    )
    assert json_problem({"a": 1}) is None
    assert json_problem(math.nan, "x") == ("x", "NaN and infinities are not JSON.")
