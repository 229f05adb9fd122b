"""The GA mint codecs that a first call needs, defined without marshmallow: :class:`ClientSecretCodec` validates,
encodes and reads a mint from the generated plans (:mod:`realtime_service.ga._generated.plans`) and builds its
marshmallow schemas only when one must have its say: an input the plans are not sure of, an error message to
write, an answer to read leniently. Its public home is :mod:`realtime_service.ga.schemas`, which re-exports it
and hands it the schema classes (this module cannot import them: the schemas module imports it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from realtime_service.ga.models import (
    ClientSecretCreateRequest,
    ClientSecretCreateResponse,
    ReadOnlyJson,
)
from realtime_service.wire.codec import OperationCodec, Req, Resp
from realtime_service.wire.plans import Planned
from realtime_service.wire.values import NOT_GIVEN

if TYPE_CHECKING:
    from marshmallow import Schema

    from realtime_service.wire.fields import ModelSchema

#: ``(request schema class, response schema class)`` of ``POST /realtime/client_secrets``, or a zero-argument
#: callable returning them (importing them): what :class:`ClientSecretCodec` builds when it must.
SchemaSource = Callable[[], tuple[Callable[[], "ModelSchema"], Callable[[], "Schema"]]]

_registered: list[SchemaSource] = []


def provide_schemas(source: SchemaSource) -> None:
    """Register where the client-secret schemas come from (called once by :mod:`realtime_service.ga.schemas`)."""
    _registered[:] = [source]


def _registered_source() -> tuple[Callable[[], ModelSchema], Callable[[], Schema]]:
    if not _registered:
        raise RuntimeError(
            "ClientSecretCodec needs its schemas: import it from realtime_service.ga.schemas, or pass schemas="
        )
    return _registered[0]()


class _GACodec(OperationCodec[Req, Resp]):
    """A GA mint operation: ``session.extra`` goes into the ``session`` object, only ``value`` and
    ``expires_at`` of the answer must be valid, and a session that cannot be typed is kept read-only."""

    def __init__(
        self,
        request_schema: ModelSchema | Planned,
        response_schema: Schema | Planned,
        response_model: type[Resp],
    ) -> None:
        super().__init__(
            request_schema,
            response_schema,
            response_model,
            required=("value", "expires_at"),
            deep=True,
            nested_extras=("session",),
        )

    def _complete(self, attributes: dict[str, Any], raw: dict[str, Any]) -> None:
        session = raw.get("session")
        if attributes["session"] is NOT_GIVEN and isinstance(session, Mapping):
            attributes["session"] = ReadOnlyJson(session)


class ClientSecretCodec(_GACodec[ClientSecretCreateRequest, ClientSecretCreateResponse]):
    """``POST /realtime/client_secrets``: :class:`ClientSecretCreateRequest` in, :class:`ClientSecretCreateResponse`
    out. Build one and share it (thread-safe).

    Only :class:`~realtime_service.errors.RequestValidationError` leaves ``load_request``/``encode`` and only
    :class:`~realtime_service.errors.ResponseValidationError` leaves ``decode``, whatever the input.

    ``decode`` raises (carrying ``request_id``) unless ``value`` is a non-empty string and ``expires_at`` an
    integer. Everything else is read leniently, as deep as it goes: a value that does not fit its type is left
    out of the typed view (its dotted path in ``invalid_fields``), a list item that does not fit is left out of
    its tuple, and a session of an unknown ``type`` or without its ``id``/``object`` is kept as a
    :class:`~realtime_service.ga.models.ReadOnlyJson`. ``to_dict()`` always has the whole body.

    It validates and reads from the plans of its schemas (:mod:`realtime_service.ga._generated.plans`), with the same
    results, and builds the schemas themselves only when one must have its say. ``schemas`` says where they come
    from (:data:`SchemaSource`); by default, from :mod:`realtime_service.ga.schemas`.
    """

    def __init__(self, schemas: SchemaSource | None = None) -> None:
        # Imported here, not at the top: the schemas module imports this one, and the generator imports the
        # schemas, so a stale generated module must not stop the generator that replaces it.
        from realtime_service.ga._generated import plans

        source = schemas or _registered_source
        super().__init__(
            Planned(plans.CLIENT_SECRET_REQUEST, lambda: source()[0]()),
            Planned(plans.CLIENT_SECRET_RESPONSE, lambda: source()[1]()),
            ClientSecretCreateResponse,
        )


__all__ = ["ClientSecretCodec", "SchemaSource", "provide_schemas"]
