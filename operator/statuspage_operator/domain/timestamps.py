"""RFC 3339 timestamps, always UTC with a `Z`: the one format of every time the operator writes."""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(instant: datetime) -> str:
    """`2026-12-01T02:00:00Z`: whole seconds, as Kubernetes writes its own times.

    Sub-seconds are dropped (not rounded), so a formatted time is never later than the instant.
    """
    return instant.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone offset")
    return parsed.astimezone(UTC)
