"""Values every API family's models and codecs share: :data:`NOT_GIVEN`, :func:`json_copy` and the JSON checks
:func:`utf8_encodable`, :func:`json_problem` and :func:`json_kind`.

They live here, below every family, so the wire machinery (fields, codecs, fast paths) needs no family module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import is_dataclass
from typing import Any, ClassVar, Final, Literal, final

from realtime_service.redaction import shown_name


@final
class NotGiven:
    """The type of :data:`NOT_GIVEN`: "this field was not given", as opposed to ``None`` ("send null").

    A singleton that is falsy, survives ``copy``/``deepcopy``/``pickle`` as itself, and prints as
    ``NOT_GIVEN`` so dataclass reprs stay readable.
    """

    _instance: ClassVar[NotGiven | None] = None
    __slots__ = ()

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __copy__(self) -> NotGiven:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> NotGiven:
        return self

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()


def json_copy(value: Any) -> Any:
    """Deep-copy JSON-shaped data (dicts, lists, tuples become lists); other values are returned as they are.

    Much faster than ``copy.deepcopy`` for parsed JSON, which is all it is meant for: a decode copies the body
    once, so this sits on the hot path.
    """
    cls = type(value)
    if cls is dict:
        return {key: item if type(item) in _SCALARS else json_copy(item) for key, item in value.items()}
    if cls is list:
        return [item if type(item) in _SCALARS else json_copy(item) for item in value]
    if cls in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_copy(item) for item in value]
    return value


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def utf8_encodable(text: str) -> bool:
    """Whether ``text`` can be sent as UTF-8 (a lone surrogate cannot)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_problem(value: Any, path: str = "") -> tuple[str, str] | None:
    """Where (dotted path, under ``path``) and why ``value`` is not JSON data, or ``None`` if it is. Too deep is a
    problem too. The keys on the way are shown by :func:`~realtime_service.redaction.shown_name` (a caller's key
    may be a secret), and only once a problem is found: checking a good value builds no path."""
    try:
        found = _json_problem(value)
    except RecursionError:
        return path, "nested too deeply."
    if found is None:
        return None
    where, why = found
    return (f"{path}.{where}" if path and where else path or where), why


def _json_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str):
        return None if utf8_encodable(value) else ("", "a lone surrogate is not UTF-8.")
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else ("", "NaN and infinities are not JSON.")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not utf8_encodable(key):
                return "", "object keys must be strings (of valid Unicode)."
            found = _json_problem(item)
            if found is not None:
                return _under(shown_name(key), found)
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _json_problem(item)
            if found is not None:
                return _under(str(index), found)
        return None
    return "", f"a {type(value).__name__} is not a JSON value."


def _under(step: str, found: tuple[str, str]) -> tuple[str, str]:
    where, why = found
    return (f"{step}.{where}" if where else step), why


def json_kind(value: Any) -> str | None:
    """``"string"``, ``"array"`` or ``"object"`` (a mapping or a dataclass instance) for ``value``, else ``None``."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping) or (is_dataclass(value) and not isinstance(value, type)):
        return "object"
    return None
