"""The generated plans of the client-secret schemas (``realtime_service/ga/plans.py``), and what they buy: a first
mint in a new interpreter imports neither marshmallow nor the GA schema module, and anything the plans are not
sure of still goes to the schemas, with the same answer (the property tests in ``test_ga_schemas.py`` compare
the planned codec with the schema-built one).

Regenerate the module after changing the schemas: ``python tests/test_plans.py --write``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from realtime_service.emulator import Emulator
from realtime_service.ga import plans
from realtime_service.ga.schemas import ClientSecretCreateRequestSchema, ClientSecretCreateResponseSchema
from realtime_service.wire.fastpath import describe, render_plans

PLANS = Path(plans.__file__)
DOC = """The plans of ``POST /realtime/client_secrets`` (generated: do not edit).

What :func:`realtime_service.wire.fastpath.describe` reads off ``ClientSecretCreateRequestSchema`` and
``ClientSecretCreateResponseSchema``, so :class:`~realtime_service.ga.codecs.ClientSecretCodec` validates, encodes
and reads a mint without building them (``tests/test_plans.py`` checks they are equal and rewrites this module
with ``python tests/test_plans.py --write``).
"""


def live_plans() -> dict[str, object]:
    return {
        "CLIENT_SECRET_REQUEST": describe(ClientSecretCreateRequestSchema()),
        "CLIENT_SECRET_RESPONSE": describe(ClientSecretCreateResponseSchema()),
    }


def test_the_generated_plans_are_what_describe_reads_off_the_live_schemas() -> None:
    # When this fails the schemas changed: run ``python tests/test_plans.py --write``.
    assert (live_plans()) == {
        "CLIENT_SECRET_REQUEST": plans.CLIENT_SECRET_REQUEST,
        "CLIENT_SECRET_RESPONSE": plans.CLIENT_SECRET_RESPONSE,
    }


def test_a_changed_schema_would_change_its_plan() -> None:
    schema = ClientSecretCreateRequestSchema()
    schema.fields["expires_after"].schema.fields["seconds"].validators = []
    assert describe(schema) != plans.CLIENT_SECRET_REQUEST


PRELUDE = """
import json, sys
from realtime_service.containers import RealtimeContainer
c = RealtimeContainer(environ={{}}); c.config.from_dict({{'api_key': {key!r}, 'base_url': {url!r}}})
service = c.realtime_session_service()
"""


def run(emulator: Emulator, script: str) -> dict[str, object]:
    """Run ``script`` in a new interpreter with ``service`` minting from the emulator (over loopback)."""
    prelude = PRELUDE.format(key=emulator.api_key, url=emulator.base_url)
    result = subprocess.run(
        [sys.executable, "-c", prelude + script], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


SCHEMA_MODULES = (
    "[m for m in ('marshmallow', 'realtime_service.ga.schemas', 'realtime_service.beta.schemas') if m in sys.modules]"
)


def test_a_first_mint_imports_neither_marshmallow_nor_the_schema_modules(realtime_emulator: Emulator) -> None:
    out = run(
        realtime_emulator,
        "secret = service.create_client_secret({'expires_after': {'anchor': 'created_at', 'seconds': 60},"
        " 'session': {'type': 'realtime', 'model': 'gpt-realtime', 'instructions': 'Hi.',"
        " 'audio': {'input': {'turn_detection': {'type': 'server_vad', 'threshold': 0.5}},"
        " 'output': {'voice': 'marin'}}}})\n"
        "print(json.dumps({'value': secret.value, 'type': type(secret.session).__name__,"
        f" 'loaded': {SCHEMA_MODULES}}}))",
    )
    assert out["value"].startswith("ek_")  # type: ignore[union-attr]
    assert out["type"] == "RealtimeSessionResponse"
    assert out["loaded"] == []


def test_a_refused_request_builds_the_schemas_and_says_what_they_say(realtime_emulator: Emulator) -> None:
    out = run(
        realtime_emulator,
        "from realtime_service.errors import RequestValidationError\n"
        "try:\n"
        "    service.create_client_secret({'session': {'type': 'realtime', 'audio': {'output': {'speed': 9}}}})\n"
        "except RequestValidationError as exc:\n"
        f"    print(json.dumps({{'messages': exc.messages, 'loaded': {SCHEMA_MODULES}}}))",
    )
    assert out["messages"] == {
        "session.audio.output.speed": ["Must be greater than or equal to 0.25 and less than or equal to 1.5."]
    }
    assert "marshmallow" in out["loaded"]  # type: ignore[operator]


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    PLANS.write_text(render_plans(DOC, live_plans()))  # type: ignore[arg-type]
    subprocess.run([sys.executable, "-m", "ruff", "format", str(PLANS)], check=True)
