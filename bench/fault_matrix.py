"""Print the fault matrix of docs/reliability.md from the table the fault tests run (``tests/test_faults.py``).

    python bench/fault_matrix.py            # print the markdown table
    python bench/fault_matrix.py --write    # replace the table between the markers in docs/reliability.md
    python bench/fault_matrix.py --check    # exit 1 if that table is stale

The test ``test_the_readme_shows_the_matrix_generated_from_this_table`` fails when docs/reliability.md lags behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import test_faults  # noqa: E402 - the table lives with the test that runs it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="update docs/reliability.md in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if the table in docs/reliability.md is stale")
    args = parser.parse_args(argv)
    table = test_faults.markdown_table()
    if not (args.write or args.check):
        sys.stdout.write(table)
        return 0
    readme = test_faults.README
    text = readme.read_text(encoding="utf-8")
    current = test_faults.readme_table(text)
    if current is None:
        print(f"{readme}: markers {test_faults.TABLE_START!r} ... {test_faults.TABLE_END!r} not found", file=sys.stderr)
        return 1
    if args.check:
        if current != table:
            print("docs/reliability.md: stale matrix (python bench/fault_matrix.py --write)", file=sys.stderr)
            return 1
        return 0
    start = text.index(test_faults.TABLE_START) + len(test_faults.TABLE_START)
    end = text.index(test_faults.TABLE_END)
    readme.write_text(text[:start] + "\n" + table + text[end:], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
