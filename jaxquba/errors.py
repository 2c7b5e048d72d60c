"""The one exception type for a user's mistake.

Anything a user can get wrong (an unknown model name, a checkpoint that does not fit, a dataset that is not
prepared, a malformed flag) raises :class:`UserError` with a message that says what is wrong and how to fix it.
Command-line entry points catch it and print the message without a traceback; genuine bugs still raise normally.
"""

from __future__ import annotations

import difflib
import os
import sys
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")


class UserError(Exception):
    """A problem caused by the user's input, reported as a plain message (no traceback)."""


def closest(name: str, known: Iterable[str], n: int = 5) -> list[str]:
    """The known names closest to ``name``: for 'did you mean' hints."""
    known = list(known)
    lowered = {k.lower(): k for k in known}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    substring = [k for k in known if name.lower() in k.lower() and k not in (lowered[h] for h in hits)]
    return [lowered[h] for h in hits] + substring[: max(0, n - len(hits))]


def run_cli(main: Callable[[], T]) -> T:
    """Runs ``main``; a :class:`UserError` becomes 'error: <message>' on stderr and exit status 2. A reader that
    closes stdout early (``... | head``) ends the command quietly with status 0: what it wanted was printed."""
    try:
        result = main()
        sys.stdout.flush()  # inside the try: a closed pipe shows at this flush when the output fit in its buffer
        return result
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except BrokenPipeError:
        # Python flushes stdout again at exit and would report that failure too: point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None
