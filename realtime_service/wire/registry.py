"""Which codec encodes each request model, for the models' ``to_dict()``.

A model cannot import its codec (the codec imports the model: an import circle), and importing codecs up front
would make every cold start pay for marshmallow. So the service layer registers each family's codec factory on
the family's request classes, and ``to_dict()`` looks it up here, building the codec on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Encoder(Protocol):
    def encode(self, request: Any) -> dict[str, Any]: ...


def register_encoder(model: type[Any], codec: Callable[[], Encoder]) -> None:
    """Name the zero-argument factory of the codec that encodes ``model``."""
    _ENCODERS[model] = codec


def encode_registered(request: Any) -> dict[str, Any]:
    """The validated JSON body of ``request``, by the codec registered for its class."""
    codec = _ENCODERS.get(type(request))
    if codec is None:
        raise TypeError(f"no codec is registered for {type(request).__name__}; import realtime_service first")
    return codec().encode(request)


_ENCODERS: dict[type[Any], Callable[[], Encoder]] = {}
