"""The one exception type for a user's mistake.

Anything a user can get wrong (an unknown model name, a checkpoint that does not fit, a dataset that is not
prepared, a malformed flag) raises :class:`UserError` with a message that says what is wrong and how to fix it.
Command-line entry points catch it and print the message without a traceback; genuine bugs still raise normally.
"""

from __future__ import annotations

import difflib
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
    """Runs ``main``; a :class:`UserError` becomes 'error: <message>' on stderr and exit status 2."""
    try:
        return main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
