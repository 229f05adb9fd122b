"""Values every API family's models and codecs share: :data:`NOT_GIVEN` and :func:`json_copy`.

They live here, below every family, so the wire machinery (fields, codecs, fast paths) needs no family module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, Literal, final


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
