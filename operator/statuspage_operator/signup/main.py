"""`statuspage-signup`: the sign-up, confirmation, manage and unsubscribe routes."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Not built yet."""
    raise SystemExit("statuspage-signup: not built yet")
