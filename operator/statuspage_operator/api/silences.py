"""The wire forms of maintenance silences: Alertmanager's API v2 silence, and the window's record.

`silence_of` reads what Alertmanager answers (ValueError for anything not shaped as its API says:
the network is not trusted); `render_silence` is the body of a create or update. `status.silence`
of a MaintenanceWindow records the silence of its occurrence (`record_of`, tolerant:
a malformed record is no record), and the Silenced condition says whether it is in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from statuspage_operator.api.times import format_time, parse_time
from statuspage_operator.domain.silences import (
    CREATED_BY,
    MatcherKey,
    PageSilences,
    Silence,
    SilenceState,
    Target,
)

FIELD = "silence"
CONDITION = "Silenced"
MAX_ID = 64
MAX_TEXT = 4096


@dataclass(frozen=True, slots=True)
class Record:
    """What a window's status records of its occurrence's silence."""

    id: str
    start: datetime
    end: datetime
    matchers: tuple[str, ...]


def record_of(status: Mapping[str, Any]) -> Record | None:
    """The recorded silence (None when absent or malformed)."""
    raw = status.get(FIELD)
    if not isinstance(raw, dict):
        return None
    try:
        matchers = raw.get("matchers") or []
        if not isinstance(matchers, list):
            return None
        return Record(
            str(raw["id"]),
            parse_time(str(raw["start"])),
            parse_time(str(raw["end"])),
            tuple(str(m) for m in matchers),
        )
    except (KeyError, TypeError, ValueError):
        return None


def render_record(record: Record) -> dict[str, Any]:
    """`status.silence`."""
    return {
        "id": record.id,
        "start": format_time(record.start),
        "end": format_time(record.end),
        "matchers": list(record.matchers),
    }


def api_time(instant: datetime) -> str:
    """RFC 3339 with milliseconds, as Alertmanager keeps times."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render_silence(target: Target, silence_id: str | None = None) -> dict[str, Any]:
    """The body of POST /api/v2/silences: a new silence, or (with an id) an update of one."""
    body: dict[str, Any] = {
        "matchers": [m.to_api() for m in target.matchers],
        "startsAt": api_time(target.start),
        "endsAt": api_time(target.end),
        "createdBy": CREATED_BY,
        "comment": target.comment,
    }
    if silence_id is not None:
        body["id"] = silence_id
    return body


def _text(raw: Mapping[str, Any], key: str, bound: int = MAX_TEXT) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or len(value) > bound:
        raise ValueError(f"{key}: not a string of at most {bound} characters")
    return value


def _matcher(raw: object) -> MatcherKey:
    if not isinstance(raw, dict):
        raise ValueError("matchers: not an object")
    is_regex, is_equal = raw.get("isRegex"), raw.get("isEqual", True)
    if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
        raise ValueError("matchers: isRegex and isEqual must be booleans")
    return (_text(raw, "name"), _text(raw, "value"), is_regex, is_equal)


def silence_of(raw: object) -> Silence:
    """A silence of Alertmanager's answer; ValueError if it is not shaped as the API says."""
    if not isinstance(raw, dict):
        raise ValueError("a silence is not an object")
    status = raw.get("status")
    if not isinstance(status, dict):
        raise ValueError("status: not an object")
    matchers = raw.get("matchers")
    if not isinstance(matchers, list) or len(matchers) > 256:
        raise ValueError("matchers: not a list of at most 256")
    return Silence(
        id=_text(raw, "id", MAX_ID),
        state=SilenceState(_text(status, "state", 16)),
        matchers=frozenset(_matcher(m) for m in matchers),
        starts_at=parse_time(_text(raw, "startsAt", 64)),
        ends_at=parse_time(_text(raw, "endsAt", 64)),
        created_by=_text(raw, "createdBy"),
        comment=_text(raw, "comment"),
    )


def page_silences(body: Mapping[str, Any]) -> PageSilences:
    """What a StatusPage's spec says of its windows' silences (tolerant: the page's own
    condition tells what is wrong with its spec)."""
    alerts = (body.get("spec") or {}).get("alerts")
    if not isinstance(alerts, dict):
        return PageSilences()
    matchers = alerts.get("silenceMatchers") or []
    texts = tuple(str(m) for m in matchers) if isinstance(matchers, list) else ()
    return PageSilences(True, texts)
