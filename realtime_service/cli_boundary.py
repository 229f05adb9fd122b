"""The one error boundary every ``realtime-service`` command runs inside: a known error is one line on stderr and
its documented exit code, never a traceback and never a secret.

Every subcommand (and ``python -m realtime_service.emulator`` / ``python -m realtime_service.web``) runs through
:func:`run`, so a new command gets the same behaviour by construction: argparse mistakes, configuration and
validation errors exit 2, API errors 3, no answer 4, an unusable answer 5, Ctrl-C 130, a closed stdout (``| head``)
141 silently, and anything unexpected 70 with one line naming the exception's class. ``REALTIME_SERVICE_DEBUG=1``
(or ``realtime-service --debug ...``) lets an unexpected exception raise with its traceback instead.

A leaf module (the standard library and :mod:`.errors` only), so the emulator's and the server's entry points
can use it without an import cycle through :mod:`.cli`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NoReturn

from .errors import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    RequestValidationError,
    ResponseValidationError,
)
from .redaction import SECRET_VARIABLES, redact, scrub

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

EXIT_OK = 0
#: doctor: a check failed; serve: a worker died; emulator ring: the call timed out undecided; dial --wait: the
#: call failed, ended or was not answered.
EXIT_FAILED = 1
#: The command line, the config file or a setting is wrong, or the port cannot be bound: nothing was sent.
EXIT_USAGE = 2
EXIT_API = 3
EXIT_CONNECTION = 4
EXIT_RESPONSE = 5
#: An unexpected error (a bug): sysexits' EX_SOFTWARE.
EXIT_INTERNAL = 70
#: Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130
#: stdout was closed by its reader (``| head``): 128 + SIGPIPE, as a shell reports a command killed by it.
EXIT_BROKEN_PIPE = 141

#: ``(code, meaning)`` for every exit code: the ``--help`` epilog and docs/getting-started.md show this table.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (
        EXIT_FAILED,
        "doctor: a check failed; serve: a worker died; emulator ring: no decision before --timeout; "
        "dial --wait: the call failed or was not answered",
    ),
    (EXIT_USAGE, "usage, config file, setting or validation error, or the port cannot be bound (nothing sent)"),
    (EXIT_API, "the API answered with an error status"),
    (EXIT_CONNECTION, "no answer from the API (connection error or timeout)"),
    (EXIT_RESPONSE, "the API's answer held no usable key or id"),
    (EXIT_INTERNAL, "an unexpected error (a bug): re-run with REALTIME_SERVICE_DEBUG=1 for the traceback"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
    (EXIT_BROKEN_PIPE, "stdout was closed early (e.g. | head): nothing more is printed"),
)

DEBUG_VARIABLE = "REALTIME_SERVICE_DEBUG"
#: Anything shaped like an OpenAI key, a minted key or a webhook secret, in case one reached a message anyway.
_KEY_SHAPED = re.compile(r"\b(?:sk-|ek_|whsec_)[A-Za-z0-9_+/=-]{6,}")


def exit_codes_epilog() -> str:
    """The exit-code table as ``--help`` prints it."""
    rows = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES)
    return f"exit codes:\n{rows}"


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, wrapping the description as usual but keeping the exit-code table's lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit codes:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class CLIError(Exception):
    """A reason to stop that the user can act on: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (``prog: error: ... (see --help)``) through the boundary, not the usage
    block argparse prints; subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{message} (see {self.prog} --help)", EXIT_USAGE)

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        """As argparse's, but a closed stdout (``--help | head``) reaches the boundary instead of being ignored."""
        if message:
            (file or sys.stderr).write(message)


def port(text: str) -> int:
    """An argparse ``type`` for ports: 0 (pick a free one) to 65535."""
    try:
        number = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535 (0 picks a free one), not {number}")
    return number


def debug_requested(environ: Mapping[str, str] | None = None) -> bool:
    """``REALTIME_SERVICE_DEBUG`` is set to something other than empty or ``0``."""
    value = (os.environ if environ is None else environ).get(DEBUG_VARIABLE, "")
    return value not in ("", "0")


def safe_line(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` on one line, with every registered secret, every secret of the environment and anything
    key-shaped redacted."""
    environ = os.environ if environ is None else environ
    line = " ".join(scrub(text).split())  # the deployment's registered secrets, in every form they are quoted
    for name in SECRET_VARIABLES:
        for value in re.split(r"[\s,=]+", environ.get(name, "")):
            if len(value) >= 8 and value in line:
                line = line.replace(value, redact(value))
    return _KEY_SHAPED.sub(lambda match: redact(match.group(0)), line)


def run(body: Callable[[], int], prog: str, *, debug: bool = False) -> int:
    """Run one command's ``body`` and turn what it raises into one stderr line and an exit code."""
    try:
        code = body()
        sys.stdout.flush()  # a closed pipe shows up here for output still buffered
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except SystemExit as exc:  # argparse's --help and --version: their output may meet a closed pipe too
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return _broken_pipe()
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or EXIT_OK
        raise
    except KeyboardInterrupt:
        return _fail(prog, "interrupted", EXIT_INTERRUPTED)
    except CLIError as exc:
        return _fail(prog, f"error: {exc}", exc.code)
    except (ConfigurationError, RequestValidationError) as exc:
        return _fail(prog, f"error: {exc}", EXIT_USAGE)
    except APIStatusError as exc:
        return _fail(prog, f"error: {exc}", EXIT_API)
    except APIConnectionError as exc:
        return _fail(prog, f"error: {exc}", EXIT_CONNECTION)
    except ResponseValidationError as exc:
        return _fail(prog, f"error: {exc}", EXIT_RESPONSE)
    except Exception as exc:
        if debug or debug_requested():
            raise
        detail = f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
        return _fail(
            prog,
            f"internal error: {type(exc).__name__}{detail} "
            f"(re-run with {DEBUG_VARIABLE}=1 or realtime-service --debug for the traceback)",
            EXIT_INTERNAL,
        )


def _fail(prog: str, message: str, code: int) -> int:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _broken_pipe()
    except (OSError, ValueError):
        pass  # stdout is gone some other way: the error line on stderr is what matters
    # stderr closed too: nothing more can be said, the exit code still says it.
    with contextlib.suppress(OSError, ValueError):
        print(safe_line(f"{prog}: {message}"), file=sys.stderr, flush=True)
    return code


def _broken_pipe() -> int:
    """The Python docs' way: point stdout at /dev/null so the interpreter's final flush cannot fail again, and
    exit as a command killed by SIGPIPE would be reported."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # stdout has no descriptor (replaced in-process): nothing will flush to the closed pipe
    return EXIT_BROKEN_PIPE
