"""RFC 3339 timestamps on the wire, always UTC with a `Z` (the rule lives in the domain)."""

from __future__ import annotations

from statuspage_operator.domain.timestamps import format_time, parse_time

__all__ = ["format_time", "parse_time"]
