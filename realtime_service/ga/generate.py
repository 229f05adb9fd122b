"""Writes the generated GA modules (:mod:`realtime_service.ga._generated`): the plans of
``POST /realtime/client_secrets``, read off the GA schemas by :func:`realtime_service.wire.fastpath.describe`.

Run ``python -m realtime_service.ga.generate`` after changing a schema those plans come from, and commit the
result; ``--check`` writes nothing and exits 1 when the committed module is not what it would write
(``tests/test_plans.py`` runs it, so drift fails CI).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

#: The one command that regenerates :data:`TARGET` (named in its header line).
COMMAND = "python -m realtime_service.ga.generate"
#: The generated module.
TARGET = Path(__file__).resolve().parent / "_generated" / "plans.py"

DOC = """The plans of ``POST /realtime/client_secrets``.

What :func:`realtime_service.wire.fastpath.describe` reads off ``ClientSecretCreateRequestSchema`` and
``ClientSecretCreateResponseSchema``, so :class:`~realtime_service.ga.codecs.ClientSecretCodec` validates, encodes
and reads a mint without building them. Written by :mod:`realtime_service.ga.generate`.
"""


def render() -> str:
    """The source of :data:`TARGET` as the schemas stand now (imports them: the generated module is not read,
    so a stale or broken one never stops its own regeneration)."""
    from realtime_service.ga.schemas import ClientSecretCreateRequestSchema, ClientSecretCreateResponseSchema
    from realtime_service.wire.fastpath import describe, render_plans

    plans = {
        "CLIENT_SECRET_REQUEST": describe(ClientSecretCreateRequestSchema()),
        "CLIENT_SECRET_RESPONSE": describe(ClientSecretCreateResponseSchema()),
    }
    return render_plans(DOC, plans, COMMAND)


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the generated module; 0 when it is up to date, 1 when it is not."""
    parser = argparse.ArgumentParser(prog=COMMAND, description="Regenerate realtime_service/ga/_generated/plans.py.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file is out of date")
    parser.add_argument("--output", type=Path, default=TARGET, help="the file to write or check (default: %(default)s)")
    args = parser.parse_args(argv)
    wanted = render().encode("utf-8")
    output: Path = args.output
    current = output.read_bytes() if output.is_file() else None
    if args.check:
        if current != wanted:
            print(f"{output} is out of date: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        output.write_bytes(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
