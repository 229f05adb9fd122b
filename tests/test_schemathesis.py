"""A peer's test suite pointed at our emulator: schemathesis with the published OpenAPI documents.

- GA: ``POST /realtime/client_secrets`` from ``openai-realtime-sessions.yaml`` (HEAD). Its two beta paths are
  left out: since 2025-09 HEAD gives their request and response schemas each other's shapes (NOTES.md, "Naming
  swap at HEAD"), so it cannot judge the beta wire format.
- Beta: ``POST /realtime/sessions`` and ``/realtime/transcription_sessions`` from
  ``openai-realtime-sessions.2025-04-29.yaml``, whose names still mean what they say.

Checks: the emulator never answers 5xx; content types and response bodies conform to the document; and the only
statuses are 200 and 400. The documents declare only ``200`` for every operation, but the emulator's ``400
invalid_request_error`` for a body it refuses is the real API's behaviour (NOTES.md: responses declare only 200;
status codes come from the docs), and schemathesis's generators send bodies the emulator rightly refuses: the
documents leave out limits the API enforces (``temperature`` 0.6-1.2 in its description only, ``seconds`` 10-7200),
HEAD's GA request has no ``model`` enum but real defaults, and so on. So schemathesis's ``status_code_conformance``
and ``positive_data_acceptance`` are replaced by :func:`answered_200_or_documented_400`: a 400 must carry the
document's own ``ErrorResponse`` shape, and 200 bodies are still checked against the 200 schema by
``response_schema_conformance``. The spec's response example with a trailing comma (HEAD, client_secrets) is
never parsed: examples of responses are not used to generate requests.

The documents are vendored in ``tests/spec`` (see its README for their source), so they are always there; a
checkout without them fails here rather than skip. Example counts are fixed so ``.ci/run`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

SPEC_DIR = Path(__file__).resolve().parent / "spec"
GA_SPEC = SPEC_DIR / "openai-realtime-sessions.yaml"
BETA_SPEC = SPEC_DIR / "openai-realtime-sessions.2025-04-29.yaml"
MAX_EXAMPLES = 30

if not (GA_SPEC.exists() and BETA_SPEC.exists()):
    raise FileNotFoundError(f"the vendored OpenAPI documents are missing from {SPEC_DIR} (see tests/spec/README.md)")

import schemathesis  # noqa: E402 - only once we know there is something to test
from schemathesis.checks import CheckContext  # noqa: E402
from schemathesis.openapi.checks import UndefinedStatusCode  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance, status_code_conformance  # noqa: E402

from realtime_service.emulator import Emulator  # noqa: E402

API_KEY = "sk-schemathesis-0123456789abcdef01234567"


# --- errata: where the documents contradict themselves, read them the way the API and the SDK behave -------------

#: Properties the documents type as a non-null object although they are null when the feature is off: the ones
#: whose ``default: null`` was renamed ``x-source-default`` (NOTES.md: the validator rejects a null default on a
#: non-null type) are found automatically; these are their answer-side twins and the beta echoes.
NULLABLE = {
    GA_SPEC: [
        # the request's twin defaults to null; the answer echoes it
        "RealtimeTranscriptionSessionCreateResponseGA/properties/audio/properties/input/properties/noise_reduction",
        # "defaults to off and can be set to `null` to turn off", says its description (and the bridge sends the
        # beta's null there); the answer echoes it
        *(
            f"{schema}/properties/audio/properties/input/properties/transcription"
            for schema in (
                "RealtimeSessionCreateRequestGA",
                "RealtimeTranscriptionSessionCreateRequestGA",
                "RealtimeSessionCreateResponseGA",
                "RealtimeTranscriptionSessionCreateResponseGA",
            )
        ),
        # the document's own example of this answer has "include": null (and null transcription/noise_reduction)
        "RealtimeSessionCreateResponseGA/properties/include",
        "RealtimeTranscriptionSessionCreateResponseGA/properties/include",
    ],
    BETA_SPEC: [
        # the request documents null as "off" and the session echoes its settings
        "RealtimeSessionCreateResponse/properties/input_audio_transcription",
        # the document's own example answers "language": null
        "RealtimeTranscriptionSessionCreateResponse/properties/input_audio_transcription/properties/language",
    ],
}


def _make_nullable(node: dict[str, Any], oas30: bool) -> None:
    if oas30:
        node["nullable"] = True
    elif isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    elif "null" not in node.get("type", []):
        original = dict(node)
        node.clear()
        node["anyOf"] = [original, {"type": "null"}]


def _nullable_defaults(node: Any, oas30: bool) -> None:
    if isinstance(node, dict):
        if "x-source-default" in node and node.pop("x-source-default") is None:
            _make_nullable(node, oas30)
        for value in list(node.values()):
            _nullable_defaults(value, oas30)
    elif isinstance(node, list):
        for item in node:
            _nullable_defaults(item, oas30)


def _with_errata(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    oas30 = document["openapi"].startswith("3.0")
    schemas = document["components"]["schemas"]
    _nullable_defaults(schemas, oas30)
    for pointer in NULLABLE[path]:
        node = schemas
        for part in pointer.split("/"):
            node = node[part]
        _make_nullable(node, oas30)
    if path == GA_SPEC:
        # A discriminator without ``mapping`` means "the value is the schema's name"; the API (and the schemas'
        # own ``type`` enums) say "realtime" and "transcription".
        session = schemas["RealtimeCreateClientSecretResponse"]["properties"]["session"]
        session["discriminator"]["mapping"] = {
            "realtime": "#/components/schemas/RealtimeSessionCreateResponseGA",
            "transcription": "#/components/schemas/RealtimeTranscriptionSessionCreateResponseGA",
        }
    return document


def _load(path: Path, *paths: str) -> Any:
    schema = schemathesis.openapi.from_dict(_with_errata(path)).include(path_regex="^(" + "|".join(paths) + ")$")
    # Our key, not generated credentials: the documents' global bearer security would make schemathesis invent
    # Authorization headers, and the emulator (rightly) answers those with 401.
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, with_security_parameters=False)
    schema.config.output.sanitization.update(enabled=False)  # the emulator's throwaway key: show whole requests
    return schema


ga_schema = _load(GA_SPEC, "/realtime/client_secrets")
beta_schema = _load(BETA_SPEC, "/realtime/sessions", "/realtime/transcription_sessions")


def _error_response_schema(path: Path) -> dict[str, Any]:
    """The document's ``ErrorResponse``, with its ``Error`` inlined, as a JSON Schema."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    error = dict(schemas["Error"])
    response = dict(schemas["ErrorResponse"])
    response["properties"] = {**response["properties"], "error": error}
    return response


#: Operation path -> the ErrorResponse schema of the document it comes from.
ERROR_SCHEMAS = {
    "/realtime/client_secrets": _error_response_schema(GA_SPEC),
    "/realtime/sessions": _error_response_schema(BETA_SPEC),
    "/realtime/transcription_sessions": _error_response_schema(BETA_SPEC),
}


def _nullable_to_json_schema(node: Any) -> Any:
    """OAS 3.0's ``nullable: true`` as JSON Schema (``type: [x, "null"]``), so jsonschema can check APR25's Error."""
    if isinstance(node, dict):
        node = {key: _nullable_to_json_schema(value) for key, value in node.items()}
        if node.pop("nullable", False) and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    return node


def answered_200_or_documented_400(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """The emulator answers 200, or 400 with the document's ``ErrorResponse`` (see the module docstring)."""
    status = response.status_code
    if status == 200 or case.method.upper() != case.operation.method.upper():
        return None  # another method: schemathesis's unsupported_method check wants a 405 there
    if status != 400:
        raise UndefinedStatusCode(
            operation=case.operation.label,
            status_code=status,
            defined_status_codes=["200", "400 (invalid_request_error)"],
            allowed_status_codes=[200, 400],
            message=f"Received {status}; the emulator answers only 200 or 400 to an authorised request",
        )
    schema = ERROR_SCHEMAS[case.operation.path]
    jsonschema.validate(response.json(), _nullable_to_json_schema(schema))
    assert response.headers["content-type"][0].startswith("application/json")
    return None


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(API_KEY) as running:
        yield running


def _check(case: Any, emulator: Emulator) -> None:
    case.call_and_validate(
        base_url=emulator.base_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        excluded_checks=[status_code_conformance, positive_data_acceptance],
        additional_checks=[answered_200_or_documented_400],
        timeout=10,
    )


@ga_schema.parametrize()
def test_the_emulator_conforms_to_the_ga_document(case: Any, emulator: Emulator) -> None:
    _check(case, emulator)


@beta_schema.parametrize()
def test_the_emulator_conforms_to_the_beta_document(case: Any, emulator: Emulator) -> None:
    _check(case, emulator)
