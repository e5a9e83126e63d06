"""Notices: what a status change announces: an Event, and subscriber notifications.

A change and its notices are written in one status patch (`status.notices`), so a restart finds
what is still to be announced. Each notice carries the name of its Event, derived from the object's
uid and the notice itself: posting it twice makes the API server answer AlreadyExists, so a notice
is announced once whatever crashes in between.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from statuspage_operator.api.times import format_time, parse_time

# Events live one hour in the API server (--event-ttl): a notice older than this is not replayed,
# as its Event may be gone and posting it again would repeat it.
REPLAY_HORIZON = timedelta(minutes=50)
MAX_MESSAGE = 1024


@dataclass(frozen=True, slots=True)
class Notice:
    """One announcement of a change: an Event's reason, message, type and its stable name."""

    reason: str
    message: str
    at: datetime
    event: str
    warning: bool = False
    # What the news is about, for subscribers: an occurrence's start, an update's index.
    subject: str = ""
    # The catch-up rule's deadline: after it, subscribers are no longer told.
    until: datetime | None = None
    # 0: announced by its own Event; k: the k-th change of its hour folded into the hour's digest
    # Event (api/event_budget.py).
    fold: int = 0

    def to_status(self) -> dict[str, Any]:
        """The notice as kept in `status.notices`."""
        entry: dict[str, Any] = {
            "reason": self.reason,
            "message": self.message,
            "type": "Warning" if self.warning else "Normal",
            "at": format_time(self.at),
            "event": self.event,
        }
        if self.subject:
            entry["subject"] = self.subject
        if self.until is not None:
            entry["until"] = format_time(self.until)
        if self.fold:
            entry["fold"] = self.fold
        return entry

    def about(self, subject: str, until: datetime | None) -> Notice:
        """The same notice, saying what it is about and until when subscribers may hear it."""
        return replace(self, subject=subject, until=until)


def event_name(name: str, uid: str, reason: str, at: datetime, index: int) -> str:
    """`<object>.<16 hex>`: the same notice always gets the same Event name."""
    # The instant to the microsecond (status shows whole seconds): two changes of one object
    # within a second are two Events.
    instant = at.astimezone(UTC).isoformat(timespec="microseconds")
    digest = hashlib.sha256(f"{uid}/{reason}/{instant}/{index}".encode()).hexdigest()
    return f"{name[:200]}.{digest[:16]}"


def make_notices(
    name: str, uid: str, at: datetime, items: Iterable[tuple[str, str, bool]]
) -> list[Notice]:
    """Notices from (reason, message, warning) triples made by one change at `at`."""
    return [
        Notice(reason, message[:MAX_MESSAGE], at, event_name(name, uid, reason, at, i), warning)
        for i, (reason, message, warning) in enumerate(items)
    ]


def parse_notices(status: Mapping[str, Any]) -> list[Notice]:
    """The notices recorded in a status (malformed entries are skipped)."""
    notices = []
    for entry in status.get("notices") or ():
        try:
            notices.append(
                Notice(
                    reason=str(entry["reason"]),
                    message=str(entry["message"]),
                    at=parse_time(str(entry["at"])),
                    event=str(entry["event"]),
                    warning=entry.get("type") == "Warning",
                    subject=str(entry.get("subject") or ""),
                    until=parse_time(str(entry["until"])) if entry.get("until") else None,
                    fold=int(entry.get("fold") or 0),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return notices


def render_notices(notices: Sequence[Notice]) -> list[dict[str, Any]]:
    """`status.notices` for a list of notices."""
    return [notice.to_status() for notice in notices]


def replayable(notice: Notice, now: datetime) -> bool:
    """Whether a recorded notice is recent enough to be announced after a restart."""
    return now - notice.at <= REPLAY_HORIZON
