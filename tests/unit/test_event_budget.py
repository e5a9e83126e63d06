"""Events of one object per hour: the budget's rule, without a cluster (api/event_budget.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statuspage_operator.api.event_budget import (
    EVENTS_PER_HOUR,
    MAX_FOLDED,
    Tally,
    budget,
    digest_message,
    digest_name,
    parse_tally,
)
from statuspage_operator.api.notices import Notice, make_notices, parse_notices, render_notices

NOW = datetime(2026, 12, 3, 14, 20, tzinfo=UTC)


def changes(count: int, start: datetime = NOW, every: float = 2.0) -> list[Notice]:
    """`count` notices of one object, `every` seconds apart, one per change."""
    found: list[Notice] = []
    for i in range(count):
        at = start + timedelta(seconds=every * i)
        found += make_notices("w", "uid-1", at, [("Flap", f"#{i}", False)])
    return found


def test_the_first_ten_of_an_hour_get_their_own_events() -> None:
    """Ten notices in an hour: each its own Event, none folded."""
    placed, tally = budget(None, changes(EVENTS_PER_HOUR))
    assert [n.fold for n in placed] == [0] * EVENTS_PER_HOUR
    assert tally == Tally(datetime(2026, 12, 3, 14, tzinfo=UTC), EVENTS_PER_HOUR, 0)


def test_further_changes_of_the_hour_are_folded_and_counted() -> None:
    """The 11th to 15th changes are the 1st to 5th folded into the hour's digest."""
    placed, tally = budget(None, changes(15))
    assert [n.fold for n in placed] == [0] * 10 + [1, 2, 3, 4, 5]
    assert tally is not None
    assert (tally.posted, tally.folded) == (10, 5)


def test_the_tally_carries_over_between_writes() -> None:
    """Deciding one write at a time gives what deciding them all at once gives."""
    notices = changes(14)
    tally = None
    one_by_one = []
    for notice in notices:
        placed, tally = budget(tally, [notice])
        one_by_one += placed
    assert one_by_one == budget(None, notices)[0]


def test_a_new_hour_starts_a_new_budget() -> None:
    """A change in the next clock hour gets its own Event again."""
    _, tally = budget(None, changes(12))
    [placed], after = budget(tally, changes(1, NOW + timedelta(hours=1)))
    assert placed.fold == 0
    assert after == Tally(datetime(2026, 12, 3, 15, tzinfo=UTC), 1, 0)


def test_the_tally_survives_status() -> None:
    """The tally and each notice's place are written to status and read back the same."""
    placed, tally = budget(None, changes(12))
    assert tally is not None
    assert parse_tally({"eventBudget": tally.to_status()}) == tally
    assert parse_notices({"notices": render_notices(placed)}) == placed


@pytest.mark.parametrize(
    "status",
    [
        pytest.param({}, id="absent"),
        pytest.param({"eventBudget": "ten"}, id="not-an-object"),
        pytest.param({"eventBudget": {"hour": "2026-12-03T14:00:00Z"}}, id="no-counts"),
    ],
)
def test_a_missing_or_malformed_tally_starts_afresh(status: dict[str, object]) -> None:
    """No usable tally: the hour is counted from zero."""
    assert parse_tally(status) is None


def test_one_digest_name_per_object_and_hour() -> None:
    """Every change folded in one hour names the same digest; the next hour another."""
    late, next_hour = NOW + timedelta(minutes=39), NOW + timedelta(minutes=40)
    assert digest_name("w", "uid-1", NOW) == digest_name("w", "uid-1", late)
    assert digest_name("w", "uid-1", NOW) != digest_name("w", "uid-1", next_hour)
    assert digest_name("w", "uid-1", NOW) != digest_name("w", "uid-2", NOW)
    assert digest_name("w", "uid-1", NOW).startswith("w.")


def test_the_digest_message_has_the_count_and_the_latest_change() -> None:
    """The digest says how many changes it holds, since when, and the latest one."""
    placed, _ = budget(None, changes(13))
    assert digest_message(placed[-1]) == (
        "3 more changes since 14:00Z (each object gets 10 Events an hour); "
        "latest at 2026-12-03T14:20:24Z: Flap: #12"
    )


def test_the_count_stays_within_the_status_bound() -> None:
    """A tally at the CRD's maximum stays there: the status write is never refused for it."""
    full = Tally(datetime(2026, 12, 3, 14, tzinfo=UTC), EVENTS_PER_HOUR, MAX_FOLDED)
    [placed], tally = budget(full, changes(1))
    assert placed.fold == MAX_FOLDED
    assert tally == full
