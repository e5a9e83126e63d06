"""Time zones: the one lookup of an IANA name, for every reader of a zone a user wrote.

A page's `spec.timeZone` and a recurrence's `timeZone` are names users type. An unknown name is
the operator's to report (a spec that cannot work); readers that only display times fall back
to UTC. Either way the lookup is this one, so a name is known everywhere or nowhere.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statuspage_operator.domain.errors import InvalidSpecError

# An IANA name is at most a few dozen characters; a longer value is a mistake, never a zone.
_LONGEST_NAME = 255


def zone_of(name: object) -> ZoneInfo | None:
    """The zone named `name`, or None when it is not an IANA zone this machine knows."""
    if not isinstance(name, str) or not name or len(name) > _LONGEST_NAME:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def check_zone(field: str, name: str) -> ZoneInfo:
    """The zone named `name`; raise InvalidSpecError naming `field` when there is none."""
    zone = zone_of(name)
    if zone is None:
        problem = f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
        raise InvalidSpecError(field, problem)
    return zone
