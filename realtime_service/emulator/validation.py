"""A small declarative validator, written independently of the client's marshmallow schemas.

The emulator must reject what the real API rejects without sharing code with the client, so a test that
sends the same body to both cross-checks them. A schema is a tree of the spec objects below; :func:`validate`
returns the first :class:`Issue` (the real API reports one problem per request) or ``None``.

Error wording follows the real API (``Unknown parameter: 'voise'.``, ``Invalid type for 'x': expected a
decimal, but got a string instead.``). Paths are dotted, array items indexed: ``tools[0].name``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation failure, mapped 1:1 onto OpenAI's error body (``param``, ``code``, ``message``)."""

    param: str | None
    code: str
    message: str


class Spec(Protocol):
    """A node of a schema table."""

    @property
    def expected(self) -> str:
        """How an error message names the accepted type ("a string", "an integer or 'inf'")."""
        ...

    def matches_type(self, value: object) -> bool:
        """Whether ``value`` has this spec's JSON type (used to pick an :class:`AnyOf` branch)."""
        ...

    def check(self, value: object, path: str) -> Issue | None: ...


def json_type_name(value: object) -> str:
    """The real API's name for the JSON type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "an unknown type"


def _type_issue(spec: Spec, value: object, path: str) -> Issue:
    return Issue(
        path,
        "invalid_type",
        f"Invalid type for '{path}': expected {spec.expected}, but got {json_type_name(value)} instead.",
    )


def _unknown_issue(param: str) -> Issue:
    return Issue(param, "unknown_parameter", f"Unknown parameter: '{param}'.")


def _missing_issue(param: str) -> Issue:
    return Issue(param, "missing_required_parameter", f"Missing required parameter: '{param}'.")


def _enum_issue(path: str, value: object, values: Sequence[str | int]) -> Issue:
    shown = f"'{value}'" if isinstance(value, str) else str(value)
    return Issue(path, "invalid_value", f"Invalid value: {shown}. Supported values are: {_quoted_list(values)}.")


def _quoted_list(values: Sequence[str | int]) -> str:
    quoted = [f"'{v}'" if isinstance(v, str) else str(v) for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _fmt(number: float) -> str:
    return repr(number) if isinstance(number, float) else str(number)


def _is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc) and not any(c.isspace() for c in value)


@dataclass(frozen=True, slots=True)
class String:
    """Any string; with ``pattern``, one in which it is found (JSON Schema semantics: anchor it yourself);
    with ``url``, an absolute URL (``format: uri``: a scheme, a host, no whitespace)."""

    expected: str = "a string"
    pattern: re.Pattern[str] | None = None
    url: bool = False

    def matches_type(self, value: object) -> bool:
        return isinstance(value, str)

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, str):
            return _type_issue(self, value, path)
        if self.pattern is not None and self.pattern.search(value) is None:
            return Issue(
                path,
                "invalid_value",
                f"Invalid '{path}': string does not match pattern. Expected a string that matches the pattern "
                f"'{self.pattern.pattern}'.",
            )
        if self.url and not _is_url(value):
            return Issue(
                path,
                "invalid_value",
                f"Invalid '{path}': expected a valid URL, but got a value with an invalid format.",
            )
        return None


@dataclass(frozen=True, slots=True)
class Enum:
    """A string from a fixed set; or an integer, given integers (``Enum((24000,), "an integer")``).

    The JSON type must be the values' own: ``true`` is not ``1``, ``"24000"`` is not ``24000``.
    """

    values: tuple[str, ...] | tuple[int, ...]
    expected: str = "a string"

    def matches_type(self, value: object) -> bool:
        return type(value) is type(self.values[0])

    def check(self, value: object, path: str) -> Issue | None:
        if type(value) is not type(self.values[0]):
            return _type_issue(self, value, path)
        if value not in self.values:
            return _enum_issue(path, value, self.values)
        return None


@dataclass(frozen=True, slots=True)
class Boolean:
    """``true`` or ``false`` only: 0 and 1 are integers, not booleans."""

    expected: str = "a boolean"

    def matches_type(self, value: object) -> bool:
        return isinstance(value, bool)

    def check(self, value: object, path: str) -> Issue | None:
        return None if isinstance(value, bool) else _type_issue(self, value, path)


def _range_issue(path: str, kind: str, value: float, minimum: float | None, maximum: float | None) -> Issue | None:
    if minimum is not None and value < minimum:
        return Issue(
            path,
            "invalid_value",
            f"Invalid '{path}': {kind} below minimum value. Expected a value >= {_fmt(minimum)}, "
            f"but got {_fmt(value)} instead.",
        )
    if maximum is not None and value > maximum:
        return Issue(
            path,
            "invalid_value",
            f"Invalid '{path}': {kind} above maximum value. Expected a value <= {_fmt(maximum)}, "
            f"but got {_fmt(value)} instead.",
        )
    return None


@dataclass(frozen=True, slots=True)
class Integer:
    """A JSON integer, inclusive bounds. Booleans and decimals (even ``300.0``) are rejected."""

    minimum: int | None = None
    maximum: int | None = None
    expected: str = "an integer"

    def matches_type(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return _type_issue(self, value, path)
        return _range_issue(path, "integer", value, self.minimum, self.maximum)


@dataclass(frozen=True, slots=True)
class Number:
    """A JSON number (integer or decimal), inclusive bounds. Booleans are rejected."""

    minimum: float | None = None
    maximum: float | None = None
    expected: str = "a decimal"

    def matches_type(self, value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    def check(self, value: object, path: str) -> Issue | None:
        if not self.matches_type(value):
            return _type_issue(self, value, path)
        assert isinstance(value, int | float)
        if isinstance(value, float) and not math.isfinite(value):
            return Issue(path, "invalid_value", f"Invalid '{path}': expected a finite number.")
        return _range_issue(path, "decimal", value, self.minimum, self.maximum)


@dataclass(frozen=True, slots=True)
class FreeObject:
    """Any JSON object, contents unchecked (a JSON Schema, tracing metadata)."""

    expected: str = "an object"

    def matches_type(self, value: object) -> bool:
        return isinstance(value, dict)

    def check(self, value: object, path: str) -> Issue | None:
        return None if isinstance(value, dict) else _type_issue(self, value, path)


@dataclass(frozen=True, slots=True)
class Array:
    """A JSON array whose items all match ``items``, with optional length bounds."""

    items: Spec
    expected: str = "an array"
    min_items: int = 0
    max_items: int | None = None

    def matches_type(self, value: object) -> bool:
        return isinstance(value, list)

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, list):
            return _type_issue(self, value, path)
        if len(value) < self.min_items:
            problem, got = ("empty array", "an empty array") if not value else ("array too short", "a shorter one")
            return Issue(
                path,
                "empty_array" if not value else "array_below_min_length",
                f"Invalid '{path}': {problem}. Expected an array with minimum length {self.min_items}, "
                f"but got {got} instead.",
            )
        if self.max_items is not None and len(value) > self.max_items:
            return Issue(
                path,
                "array_above_max_length",
                f"Invalid '{path}': array too long. Expected an array with maximum length {self.max_items}, "
                f"but got an array with length {len(value)} instead.",
            )
        for index, item in enumerate(value):
            issue = self.items.check(item, f"{path}[{index}]")
            if issue is not None:
                return issue
        return None


@dataclass(frozen=True, slots=True)
class Object:
    """A JSON object with known keys. Unknown keys are rejected, as the real API does.

    Checks run in this order: unknown keys (in the body's order), missing required keys, then each present
    field in table order.
    """

    fields: Mapping[str, Spec]
    required: frozenset[str] = field(default_factory=frozenset)
    expected: str = "an object"

    def matches_type(self, value: object) -> bool:
        return isinstance(value, dict)

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, dict):
            return _type_issue(self, value, path)
        prefix = f"{path}." if path else ""
        for key in value:
            if key not in self.fields:
                return _unknown_issue(f"{prefix}{key}")
        for key in sorted(self.required):
            if key not in value:
                return _missing_issue(f"{prefix}{key}")
        for key, spec in self.fields.items():
            if key in value:
                issue = spec.check(value[key], f"{prefix}{key}")
                if issue is not None:
                    return issue
        return None


@dataclass(frozen=True, slots=True)
class MapOf:
    """A JSON object with any keys whose values all match ``values`` (MCP headers, prompt variables)."""

    values: Spec
    expected: str = "an object"

    def matches_type(self, value: object) -> bool:
        return isinstance(value, dict)

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, dict):
            return _type_issue(self, value, path)
        for key, item in value.items():
            issue = self.values.check(item, f"{path}.{key}")
            if issue is not None:
                return issue
        return None


@dataclass(frozen=True, slots=True)
class Tagged:
    """An object whose string ``key`` picks its schema: OpenAI's discriminated unions (tools, turn detection,
    the session of a client secret). Without the key, ``default`` names the variant, or the key is required.

    The tag is checked first, so ``{"type": "bogus", "x": 1}`` is an invalid value, not an unknown parameter.
    Each variant should list ``key`` among its fields (see :func:`variant`).
    """

    key: str
    variants: Mapping[str, Spec]
    default: str | None = None
    expected: str = "an object"

    def matches_type(self, value: object) -> bool:
        return isinstance(value, dict)

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, dict):
            return _type_issue(self, value, path)
        param = f"{path}.{self.key}" if path else self.key
        if self.key not in value:
            if self.default is None:
                return _missing_issue(param)
            return self.variants[self.default].check(value, path)
        tag = value[self.key]
        chosen = self.variants.get(tag) if isinstance(tag, str) else None
        if chosen is None:
            return Enum(tuple(self.variants)).check(tag, param)
        return chosen.check(value, path)


def variant(
    tag: str, fields: Mapping[str, Spec] | None = None, *, required: Sequence[str] = (), key: str = "type"
) -> Object:
    """One branch of a :class:`Tagged` union: an :class:`Object` whose ``key`` is the constant ``tag``."""
    return Object({key: Enum((tag,)), **(fields or {})}, required=frozenset(required))


@dataclass(frozen=True, slots=True)
class Nullable:
    """``null`` or whatever ``inner`` accepts (``null`` switches a feature off)."""

    inner: Spec

    @property
    def expected(self) -> str:
        return f"{self.inner.expected} or null"

    def matches_type(self, value: object) -> bool:
        return value is None or self.inner.matches_type(value)

    def check(self, value: object, path: str) -> Issue | None:
        if value is None:
            return None
        if not self.inner.matches_type(value):
            return _type_issue(self, value, path)
        return self.inner.check(value, path)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """One of several alternatives, chosen by JSON type so the error names the branch the caller meant.

    ``4097`` for ``integer | "inf"`` gets the integer's range error, ``1.5`` gets a type error naming both.
    """

    alternatives: tuple[Spec, ...]
    expected: str

    def matches_type(self, value: object) -> bool:
        return any(alt.matches_type(value) for alt in self.alternatives)

    def check(self, value: object, path: str) -> Issue | None:
        for alt in self.alternatives:
            if alt.matches_type(value):
                return alt.check(value, path)
        return _type_issue(self, value, path)


def validate(schema: Spec, body: object) -> Issue | None:
    """The first problem with ``body`` against ``schema``, or ``None`` when it is valid."""
    return schema.check(body, "")
