"""Scripted conversations: what the caller and the model do on an emulated call, step by step.

A script is a list of steps, the same in Python and YAML. Each step is a one-key mapping ``{name: value}`` (or,
for the steps whose value may be left out, the bare name: ``"hangup"``). The step names are the contract:

=================== ============================================================================================
``caller``          the caller says this (text): input transcript events; or ``{text, wait_for_speech?,
                    timeout?}``: on a call with a WebRTC peer, first wait for the caller's speech to stop
``model_says``      an assistant turn with its transcript (text)
``model_calls``     ``{name, arguments, call_id?}``: a function call, streamed as the API streams it
``expect_output``   ``{call_id?, timeout?, output?}``: wait for the app's ``function_call_output`` of that call
                    (the last ``model_calls`` unless named) and the ``response.create`` after it
``delegate``        ``{id?}``: GPT-Live only: a client delegation (``session.delegation.created``)
``expect_commentary`` ``{delegation_id?, timeout?, contains?}``: GPT-Live only: wait for the app's
                    ``session.commentary.append`` for that delegation (the last ``delegate`` unless named)
``dtmf``            keys the caller presses (``0-9 * # A-D``)
``wait``            seconds to wait
``drop``            the socket closes abnormally (to test reconnects); the call goes on
``replay``          ``{seconds?}``: re-send the events of the last seconds (3 by default) with their ``event_id``\\ s
``hangup``          the caller hangs up (the last step)
``dial``            GPT-Live outbound calls only, the first step: how the dialled phone answers:
                    ``answered`` / ``failed`` or ``{outcome?, ringing?, code?, message?}`` (:mod:`.outbound`)
=================== ============================================================================================

:func:`load_script` checks a list (or YAML text) once and returns a tuple of frozen step objects, equal whichever
form it came in; a mistake is a :class:`ScriptError` naming the step's index and field. Bounds keep a script
file from being a way to exhaust the emulator: at most :data:`MAX_STEPS` steps, texts of :data:`MAX_TEXT`
characters, waits and timeouts of an hour, files of :data:`MAX_SCRIPT_BYTES`. How a script is played is
:mod:`.script_runner`; this module knows nothing of sockets.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from ..errors import ConfigurationError

MAX_STEPS = 10_000
MAX_TEXT = 100_000
"""Characters in one ``caller`` / ``model_says`` text, one ``arguments`` or one expected output."""
MAX_SECONDS = 3600.0
"""The longest ``wait``, ``timeout`` or ``replay`` window."""
MAX_SCRIPT_BYTES = 1 << 20
DEFAULT_TIMEOUT = 10.0
"""Seconds an ``expect_*`` step waits when the script does not say."""
DEFAULT_REPLAY_SECONDS = 3.0
"""GPT-Live's documented replay window on attach (SIDEBAND-NOTES 3.4)."""
DEFAULT_RINGING = 0.5
"""Seconds an outbound call rings before its outcome when the script does not say (no ``dial`` step: answered)."""
MAX_RINGING = 180.0
"""The longest ``ringing``: GPT-Live's outbound ringing limit (3 minutes, the voice-sip guide)."""
DEFAULT_FAILURE = ("busy", "The callee is busy.")
"""``transport.failed``'s ``error.code`` and ``message`` for ``dial: failed`` when the script does not say."""
_FAILURE_CODE = re.compile(r"[a-z0-9_]{1,64}")
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,512}")
_DTMF = re.compile(r"[0-9A-D*#]{1,64}")

Api = Literal["realtime", "live"]


class ScriptError(ConfigurationError):
    """A script that cannot be played: ``index`` is the step's position (from 0, ``None`` for the script as a
    whole), ``field`` the offending field (``None`` for the step itself)."""

    def __init__(self, message: str, index: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


@dataclass(frozen=True, slots=True)
class Caller:
    """``wait_for_speech``: on a call with a WebRTC peer, the step waits (up to ``timeout``) for a turn of the
    caller's real speech (the peer's VAD) and transcribes it as ``text``; elsewhere it plays as without."""

    text: str
    wait_for_speech: bool = False
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class ModelSays:
    text: str


@dataclass(frozen=True, slots=True)
class ModelCalls:
    """``arguments`` is the JSON text streamed (a mapping in the script is dumped compactly, a string kept)."""

    name: str
    arguments: str
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ExpectOutput:
    """``call_id`` ``None``: the last ``model_calls`` before it. ``output`` ``None``: any output will do."""

    call_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    output: str | None = None


@dataclass(frozen=True, slots=True)
class ExpectSideband:
    """A sideband (a server's second connection) is attached to the call before the script goes on: on a WebRTC
    call the caller's own connection plays the script, and a server's tool must hear the call it answers."""

    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class Delegate:
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ExpectCommentary:
    delegation_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    contains: str | None = None


@dataclass(frozen=True, slots=True)
class Dtmf:
    keys: str


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


@dataclass(frozen=True, slots=True)
class Drop:
    pass


@dataclass(frozen=True, slots=True)
class Replay:
    seconds: float = DEFAULT_REPLAY_SECONDS


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Dial:
    """How an outbound call's callee answers: after ``ringing`` seconds, ``answered`` or ``failed`` with
    ``transport.failed``'s ``code`` and ``message``."""

    outcome: Literal["answered", "failed"] = "answered"
    ringing: float = DEFAULT_RINGING
    code: str | None = None
    message: str | None = None


Step = (
    Caller
    | ModelSays
    | ModelCalls
    | ExpectOutput
    | ExpectSideband
    | Delegate
    | ExpectCommentary
    | Dtmf
    | Wait
    | Drop
    | Replay
    | Hangup
    | Dial
)
Script = tuple[Step, ...]

STEP_NAMES: dict[type[Any], str] = {
    Caller: "caller",
    ModelSays: "model_says",
    ModelCalls: "model_calls",
    ExpectOutput: "expect_output",
    ExpectSideband: "expect_sideband",
    Delegate: "delegate",
    ExpectCommentary: "expect_commentary",
    Dtmf: "dtmf",
    Wait: "wait",
    Drop: "drop",
    Replay: "replay",
    Hangup: "hangup",
    Dial: "dial",
}
LIVE_ONLY = frozenset({"delegate", "expect_commentary", "dial"})
"""Steps with no Realtime counterpart (client delegation and outbound SIP calls are GPT-Live's)."""


def step_name(step: Step) -> str:
    return STEP_NAMES[type(step)]


# -- checking one step ------------------------------------------------------------------------------------------


class _Fields:
    """The mapping value of one step, read field by field so every complaint names its step and field."""

    def __init__(self, index: int, name: str, value: Any, allowed: tuple[str, ...]) -> None:
        self.index, self.name = index, name
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.fail(None, f"must be a mapping with {', '.join(allowed)}, not {_kind(value)}")
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            self.fail(unknown[0], f"unknown field (allowed: {', '.join(allowed)})")
        self.value: Mapping[Any, Any] = value

    def fail(self, field: str | None, message: str) -> Any:
        where = f"script step {self.index} ({self.name})" + (f": {field}" if field else "")
        raise ScriptError(f"{where}: {message}", self.index, field)

    def text(self, field: str, *, required: bool = False) -> str | None:
        value = self.value.get(field)
        if value is None:
            return self.fail(field, "is required") if required else None
        return _text(value, lambda message: self.fail(field, message))

    def ident(self, field: str) -> str | None:
        value = self.value.get(field)
        if value is None:
            return None
        if not isinstance(value, str) or not _ID.fullmatch(value):
            self.fail(field, "must be an id of 1-512 letters, digits and _ . : - characters")
        return str(value)

    def seconds(self, field: str, default: float) -> float:
        value = self.value.get(field)
        return default if value is None else _seconds(value, lambda message: self.fail(field, message), positive=True)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _text(value: Any, fail: Callable[[str], Any]) -> str:
    if not isinstance(value, str):
        fail(f"must be a string, not {_kind(value)}")
    if not value.strip():
        fail("must not be empty")
    if len(value) > MAX_TEXT:
        fail(f"is longer than {MAX_TEXT} characters")
    return str(value)


def _seconds(value: Any, fail: Callable[[str], Any], *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(f"must be a number of seconds, not {_kind(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0) or number > MAX_SECONDS:
        low = "more than 0" if positive else "0"
        fail(f"must be {low} to {MAX_SECONDS:g} seconds, not {value!r}")
    return number


def _arguments(fields: _Fields) -> str:
    value = fields.value.get("arguments", {})
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            fields.fail("arguments", f"is longer than {MAX_TEXT} characters")
        try:
            parsed = json.loads(value)
        except ValueError:
            return str(fields.fail("arguments", "must be a JSON object (a mapping, or its JSON text)"))
        if not isinstance(parsed, dict):
            fields.fail("arguments", f"must be a JSON object, not {_kind(parsed)}")
        return value
    if not isinstance(value, Mapping):
        fields.fail("arguments", f"must be a mapping (or its JSON text), not {_kind(value)}")
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return str(fields.fail("arguments", f"must hold JSON values only ({exc})"))
    if len(text) > MAX_TEXT:
        fields.fail("arguments", f"is longer than {MAX_TEXT} characters")
    return text


def _expected_output(fields: _Fields) -> str | None:
    value = fields.value.get("output")
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return str(fields.fail("output", f"must be a string or JSON values ({exc})"))


def _step(index: int, raw: Any) -> Step:
    if isinstance(raw, str):
        name, value = raw, None
    elif isinstance(raw, Mapping) and len(raw) == 1:
        [(name, value)] = raw.items()
    else:
        shown = f"a mapping with {len(raw)} keys" if isinstance(raw, Mapping) else _kind(raw)
        raise ScriptError(f"script step {index}: must be one {{name: value}} mapping, not {shown}", index)
    if name not in STEP_NAMES.values():
        known = ", ".join(STEP_NAMES.values())
        raise ScriptError(f"script step {index}: unknown step {str(name)[:64]!r} (known: {known})", index)

    def fail(message: str) -> Any:
        raise ScriptError(f"script step {index} ({name}): {message}", index)

    if name == "caller" and isinstance(value, Mapping):
        fields = _Fields(index, name, value, ("text", "wait_for_speech", "timeout"))
        wait = fields.value.get("wait_for_speech", False)
        if not isinstance(wait, bool):
            fields.fail("wait_for_speech", f"must be true or false, not {_kind(wait)}")
        text = fields.text("text", required=True)
        return Caller(str(text), bool(wait), fields.seconds("timeout", DEFAULT_TIMEOUT))
    if name in ("caller", "model_says"):
        if value is None:
            fail("needs the text said")
        text = _text(value, fail)
        return Caller(text) if name == "caller" else ModelSays(text)
    if name == "dtmf":
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # YAML reads "dtmf: 1" as a number
        if not isinstance(value, str) or not _DTMF.fullmatch(value):
            fail("must be 1-64 keys of 0-9 A-D * #")
        return Dtmf(str(value))
    if name == "wait":
        return Wait(_seconds(value, fail, positive=False))
    if name in ("drop", "hangup"):
        if value not in (None, {}):
            fail("takes no value")
        return Drop() if name == "drop" else Hangup()
    if name == "model_calls":
        fields = _Fields(index, name, value, ("name", "arguments", "call_id"))
        function = fields.value.get("name")
        if not isinstance(function, str) or not _FUNCTION_NAME.fullmatch(function):
            fields.fail("name", "is required: a function name of 1-64 letters, digits, _ and -")
        return ModelCalls(str(function), _arguments(fields), fields.ident("call_id"))
    if name == "expect_output":
        fields = _Fields(index, name, value, ("call_id", "timeout", "output"))
        return ExpectOutput(
            fields.ident("call_id"), fields.seconds("timeout", DEFAULT_TIMEOUT), _expected_output(fields)
        )
    if name == "expect_sideband":
        fields = _Fields(index, name, value, ("timeout",))
        return ExpectSideband(fields.seconds("timeout", DEFAULT_TIMEOUT))
    if name == "delegate":
        fields = _Fields(index, name, value, ("id",))
        return Delegate(fields.ident("id"))
    if name == "expect_commentary":
        fields = _Fields(index, name, value, ("delegation_id", "timeout", "contains"))
        return ExpectCommentary(
            fields.ident("delegation_id"), fields.seconds("timeout", DEFAULT_TIMEOUT), fields.text("contains")
        )
    if name == "dial":
        return _dial(index, value)
    fields = _Fields(index, name, value, ("seconds",))  # replay
    return Replay(fields.seconds("seconds", DEFAULT_REPLAY_SECONDS))


def _dial(index: int, value: Any) -> Dial:
    """``dial``, ``dial: answered``, ``dial: failed`` or ``dial: {outcome?, ringing?, code?, message?}``."""
    if isinstance(value, str):
        value = {"outcome": value}
    fields = _Fields(index, "dial", value, ("outcome", "ringing", "code", "message"))
    outcome = fields.value.get("outcome", "answered")
    if outcome not in ("answered", "failed"):
        fields.fail("outcome", f"must be answered or failed, not {str(outcome)[:64]!r}")
    ringing = fields.value.get("ringing")
    seconds = DEFAULT_RINGING
    if ringing is not None:
        seconds = _seconds(ringing, lambda message: fields.fail("ringing", message), positive=False)
        if seconds > MAX_RINGING:
            fields.fail("ringing", f"must be 0 to {MAX_RINGING:g} seconds (the API's ringing limit), not {ringing!r}")
    code, message = fields.value.get("code"), fields.text("message")
    if outcome == "answered":
        for field in ("code", "message"):
            if fields.value.get(field) is not None:
                fields.fail(field, "only a failed dial has one (outcome: failed)")
        return Dial("answered", seconds)
    if code is not None and (not isinstance(code, str) or not _FAILURE_CODE.fullmatch(code)):
        fields.fail("code", "must be a code of 1-64 lower-case letters, digits and _ (busy, no_answer...)")
    return Dial("failed", seconds, code or DEFAULT_FAILURE[0], message or DEFAULT_FAILURE[1])


# -- checking the whole script ----------------------------------------------------------------------------------


def _check_sequence(steps: Script) -> None:
    """What no single step shows: ids unique, an ``expect_*`` with something to expect, ``hangup`` last."""
    call_ids: set[str] = set()
    delegation_ids: set[str] = set()
    calls = delegations = 0
    for index, step in enumerate(steps):
        name = step_name(step)
        if isinstance(step, ModelCalls):
            calls += 1
            if step.call_id is not None:
                if step.call_id in call_ids:
                    raise ScriptError(
                        f"script step {index} ({name}): call_id {step.call_id!r} is used twice", index, "call_id"
                    )
                call_ids.add(step.call_id)
        elif isinstance(step, Delegate):
            delegations += 1
            if step.id is not None:
                if step.id in delegation_ids:
                    raise ScriptError(f"script step {index} ({name}): id {step.id!r} is used twice", index, "id")
                delegation_ids.add(step.id)
        elif isinstance(step, ExpectOutput):
            if step.call_id is None and not calls:
                raise ScriptError(f"script step {index} ({name}): no model_calls before it to expect", index)
            if step.call_id is not None and step.call_id not in call_ids:
                raise ScriptError(
                    f"script step {index} ({name}): call_id {step.call_id!r} is no model_calls before it",
                    index,
                    "call_id",
                )
        elif isinstance(step, ExpectCommentary):
            if step.delegation_id is None and not delegations:
                raise ScriptError(f"script step {index} ({name}): no delegate before it to expect", index)
            if step.delegation_id is not None and step.delegation_id not in delegation_ids:
                raise ScriptError(
                    f"script step {index} ({name}): delegation_id {step.delegation_id!r} is no delegate before it",
                    index,
                    "delegation_id",
                )
        elif isinstance(step, Hangup) and index != len(steps) - 1:
            raise ScriptError(f"script step {index + 1} ({step_name(steps[index + 1])}): comes after hangup", index + 1)
        elif isinstance(step, Dial):
            if index != 0:
                raise ScriptError(f"script step {index} ({name}): only the first step can dial", index)
            if step.outcome == "failed" and len(steps) > 1:
                raise ScriptError(
                    f"script step 1 ({step_name(steps[1])}): comes after a failed dial (the call never connects)", 1
                )


def _checked(raw: Any) -> Step | None:
    """``raw`` when it is a step object already (a checked script passed again), else ``None``."""
    return raw if isinstance(raw, Step) else None


def load_script(source: Any, *, api: Api | None = None) -> Script:
    """A checked script from a list of steps, a script already checked, or YAML text (``str``).

    With ``api``, also refuse the steps that protocol cannot play (``delegate`` and ``expect_commentary`` on a
    Realtime call). Raises :class:`ScriptError` (a ``ConfigurationError``) naming the step and field.
    """
    if isinstance(source, str):
        source = _parse_yaml(source, "script")
    if source is None:
        source = []
    if isinstance(source, Mapping) or not isinstance(source, list | tuple):
        raise ScriptError(f"script: must be a list of steps, not {_kind(source)}")
    if len(source) > MAX_STEPS:
        raise ScriptError(f"script: more than {MAX_STEPS} steps")
    steps: Script = tuple(_checked(raw) or _step(index, raw) for index, raw in enumerate(source))
    _check_sequence(steps)
    if api is not None:
        check_api(steps, api)
    return steps


def check_api(steps: Script, api: Api) -> None:
    """Refuse the first step ``api`` has no counterpart for."""
    if api == "realtime":
        for index, step in enumerate(steps):
            if step_name(step) in LIVE_ONLY:
                why = "outbound SIP calls" if isinstance(step, Dial) else "client delegation"
                name = step_name(step)
                raise ScriptError(f"script step {index} ({name}): GPT-Live only ({why}), not on Realtime", index)


class _ScriptLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, refusing aliases: ``*name`` repeats a subtree by reference, so a small file
    of nested aliases would expand exponentially when a step's ``arguments`` are dumped to JSON."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a script", mark)
        return super().compose_node(parent, index)


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_ScriptLoader)  # noqa: S506 - a SafeLoader that also refuses aliases
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ScriptError(f"{where}: not valid YAML{at}: {problem}") from None


def load_script_file(path: str | Path, *, api: Api | None = None) -> Script:
    """A checked script from a YAML file; every problem (unreadable, too big, bad YAML, a bad step) is one
    :class:`ScriptError` line that starts with the file's name, so the CLI prints it and exits 2."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read the script: {exc.strerror or exc}") from None
    if len(data) > MAX_SCRIPT_BYTES:
        raise ScriptError(f"{path}: a script file is at most {MAX_SCRIPT_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScriptError(f"{path}: not UTF-8 text") from None
    try:
        return load_script(_parse_yaml(text, str(path)), api=api)
    except ScriptError as exc:
        message = str(exc)
        if message.startswith(str(path)):
            raise
        raise ScriptError(f"{path}: {message}", exc.index, exc.field) from None


# -- the outcome ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptState:
    """Where a call's script is: ``pending`` (not started), ``playing`` step ``step``, ``done``, or ``failed`` at
    ``step`` (its ``step_name``) because of ``reason``."""

    status: Literal["pending", "playing", "done", "failed"]
    step: int | None = None
    step_name: str | None = None
    reason: str | None = None
