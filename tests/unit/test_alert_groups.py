"""The fold of a notification into a component's alerts (domain/alertgroups.py), at a fixed now."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from statuspage_operator.domain.alertgroups import (
    Alert,
    Notification,
    fold,
    group_key,
)
from statuspage_operator.domain.alerting import MAX_GROUPS, MAX_LISTED, NO_ALERTS, ComponentAlerts
from statuspage_operator.domain.matchers import parse_matchers

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HOLD = timedelta(minutes=5)
EXPIRE = timedelta(hours=6)
API = parse_matchers("m", ['service="api"'])


def make_alert(
    name: str = "a",
    severity: str = "critical",
    status: str = "firing",
    service: str = "api",
    starts: datetime | None = None,
    ends: datetime | None = None,
) -> Alert:
    return Alert(
        status=status,
        labels={"alertname": "HighErrors", "service": service, "severity": severity, "id": name},
        annotations={"summary": f"summary {name}"},
        starts_at=starts or NOW - timedelta(minutes=10),
        ends_at=ends,
        generator_url="http://prometheus.invalid/graph",
        fingerprint=f"fp-{name}",
    )


def make_notification(
    *alerts: Alert, key: str = '{}:{alertname="HighErrors"}', truncated: int = 0
) -> Notification:
    status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    return Notification(
        group_key=key,
        status=status,
        alerts=alerts,
        group_labels={"alertname": "HighErrors"},
        common_annotations={},
        external_url="http://alertmanager.invalid",
        truncated=truncated,
    )


def run(
    current: ComponentAlerts, notification: Notification, at: datetime = NOW
) -> ComponentAlerts:
    return fold(current, notification, API, HOLD, EXPIRE, at)


def test_a_firing_group_is_counted_by_severity_and_listed() -> None:
    """Two firing alerts of the component: one entry, counted by severity, both listed."""
    alerts = run(NO_ALERTS, make_notification(make_alert("a"), make_alert("b", "warning")))
    (group,) = alerts.groups
    assert group.key == group_key('{}:{alertname="HighErrors"}')
    assert group.severities == {"critical": 1, "warning": 1}
    assert (group.firing, alerts.firing) == (2, 2)
    assert group.since == NOW - timedelta(minutes=10)
    assert group.seen == NOW
    assert group.name == "alertname=HighErrors"
    assert [a.fingerprint for a in alerts.listed] == ["fp-a", "fp-b"]


def test_alerts_the_matchers_do_not_select_are_not_kept() -> None:
    """Another service's alert: no entry at all."""
    assert run(NO_ALERTS, make_notification(make_alert(service="db"))) == NO_ALERTS


def test_the_same_notification_twice_changes_nothing() -> None:
    """A retry, or the HA peer, a minute later: the stored result is unchanged (no write)."""
    notification = make_notification(make_alert("a"))
    once = run(NO_ALERTS, notification)
    assert run(once, notification, NOW + timedelta(minutes=1)) == once


def test_a_repeat_refreshes_seen_once_a_quarter_of_expiry_has_passed() -> None:
    """repeat_interval later than expireAfter/4: seen moves, so the group does not expire."""
    notification = make_notification(make_alert("a"))
    once = run(NO_ALERTS, notification)
    later = NOW + EXPIRE / 4
    assert run(once, notification, later).groups[0].seen == later


def test_a_resolved_group_is_held_then_removed() -> None:
    """Resolved: firing 0, the severity held for the hold; after the hold, the entry goes."""
    firing = run(NO_ALERTS, make_notification(make_alert("a")))
    resolved = make_notification(make_alert("a", status="resolved", ends=NOW))
    held = run(firing, resolved, NOW + timedelta(seconds=30))
    (group,) = held.groups
    assert group.firing == 0
    assert held.listed == ()
    assert [(h.severity, h.until) for h in group.held] == [
        ("critical", NOW + timedelta(seconds=30) + HOLD)
    ]
    assert run(held, resolved, NOW + timedelta(minutes=6)) == NO_ALERTS


def test_firing_again_drops_the_hold() -> None:
    """A held severity firing again: counted, no longer held; a new episode starts."""
    firing = run(NO_ALERTS, make_notification(make_alert("a")))
    held = run(firing, make_notification(make_alert("a", status="resolved", ends=NOW)))
    again = make_notification(make_alert("a2", starts=NOW + timedelta(minutes=1)))
    (group,) = run(held, again, NOW + timedelta(minutes=2)).groups
    assert group.held == ()
    assert group.severities == {"critical": 1}
    assert group.since == NOW + timedelta(minutes=1)


def test_a_stale_repeat_after_the_resolve_is_ignored() -> None:
    """The HA peer sends the old firing alert after the resolve: still resolved."""
    firing_alert = make_alert("a")
    firing = run(NO_ALERTS, make_notification(firing_alert))
    resolved = run(firing, make_notification(make_alert("a", status="resolved", ends=NOW)))
    stale = run(resolved, make_notification(firing_alert), NOW + timedelta(seconds=5))
    assert stale.firing == 0
    assert stale.groups == resolved.groups


def test_a_late_resolve_of_an_earlier_episode_is_ignored() -> None:
    """Resolved, firing again, then the peer's resolve of the first episode: still firing."""
    first = make_alert("a", starts=NOW - timedelta(minutes=10))
    resolve_first = make_notification(make_alert("a", status="resolved", ends=NOW))
    state = run(run(NO_ALERTS, make_notification(first)), resolve_first)
    again = make_notification(make_alert("a2", starts=NOW + timedelta(minutes=1)))
    state = run(state, again, NOW + timedelta(minutes=1))
    late = run(state, resolve_first, NOW + timedelta(minutes=1, seconds=5))
    assert late.firing == 1
    assert late == state


def test_a_resolve_in_the_second_the_alert_began_is_this_episode_s() -> None:
    """Fired at 12:00:00.2, resolved at 12:00:00.7: times are kept in whole seconds, and the
    resolve ends in the second its episode began; it resolves, it is not an earlier one's."""
    began = NOW + timedelta(milliseconds=200)
    firing = run(NO_ALERTS, make_notification(make_alert("a", starts=began)), began)
    assert firing.firing == 1
    ended = NOW + timedelta(milliseconds=700)
    resolve = make_notification(make_alert("a", status="resolved", starts=began, ends=ended))
    resolved = run(firing, resolve, NOW + timedelta(seconds=1))
    assert resolved.firing == 0
    assert resolved.groups[0].held


def test_the_order_of_an_ha_pair_does_not_matter() -> None:
    """Firing then resolved, or resolved after a stale firing: the same state."""
    firing_alert = make_alert("a")
    resolved = make_notification(make_alert("a", status="resolved", ends=NOW))
    first = run(run(NO_ALERTS, make_notification(firing_alert)), resolved)
    second = run(run(first, make_notification(firing_alert)), resolved)
    assert first == second


def test_truncated_alerts_count_with_the_worst_listed_severity() -> None:
    """max_alerts cut 998 alerts: counted as critical, not listed."""
    notification = make_notification(make_alert("a", "warning"), make_alert("b"), truncated=998)
    alerts = run(NO_ALERTS, notification)
    assert alerts.groups[0].severities == {"critical": 999, "warning": 1}
    assert alerts.firing == 1000
    assert len(alerts.listed) == 2


def test_two_groups_are_kept_apart_and_a_resolve_touches_one() -> None:
    """Two groups: both counted; one resolving leaves the other firing."""
    one = make_notification(make_alert("a"), key="g1")
    two = make_notification(make_alert("b", "warning"), key="g2")
    both = run(run(NO_ALERTS, one), two)
    assert both.firing == 2
    assert len(both.groups) == 2
    after = run(both, make_notification(make_alert("a", status="resolved", ends=NOW), key="g1"))
    assert after.firing == 1
    assert [a.fingerprint for a in after.listed] == ["fp-b"]


def test_a_group_not_seen_for_expire_after_is_dropped() -> None:
    """A lost resolve: the group goes once expireAfter passes, when any notification folds."""
    lost = run(NO_ALERTS, make_notification(make_alert("a"), key="lost"))
    other = make_notification(make_alert("b"), key="other")
    after = run(lost, other, NOW + EXPIRE)
    assert [g.key for g in after.groups] == [group_key("other")]


def test_listed_holds_the_most_severe_then_oldest_up_to_its_cap() -> None:
    """60 firing alerts: 50 listed, critical before warning, oldest first."""
    alerts = [
        make_alert(f"w{i}", "warning", starts=NOW - timedelta(minutes=100 - i)) for i in range(30)
    ] + [make_alert(f"c{i}", starts=NOW - timedelta(minutes=50 - i)) for i in range(30)]
    result = run(NO_ALERTS, make_notification(*alerts))
    assert len(result.listed) == MAX_LISTED
    assert result.firing == 60
    assert [a.fingerprint for a in result.listed[:2]] == ["fp-c0", "fp-c1"]
    assert result.listed[30].fingerprint == "fp-w0"


def test_at_most_max_groups_are_kept() -> None:
    """More groups than the cap: the most recently seen are kept."""
    alerts = NO_ALERTS
    for i in range(MAX_GROUPS + 3):
        alerts = run(
            alerts, make_notification(make_alert("a"), key=f"g{i}"), NOW + timedelta(seconds=i)
        )
    assert len(alerts.groups) == MAX_GROUPS
    assert group_key("g0") not in {g.key for g in alerts.groups}


def test_severities_order_the_listed_alerts() -> None:
    """A component mapping warning to MajorOutage lists its warnings first."""
    from statuspage_operator.domain.status import ComponentStatus

    notification = make_notification(make_alert("c"), make_alert("w", "warning"))
    mapping = {
        "warning": ComponentStatus.MAJOR_OUTAGE,
        "critical": ComponentStatus.DEGRADED_PERFORMANCE,
    }
    result = fold(NO_ALERTS, notification, API, HOLD, EXPIRE, NOW, mapping)
    assert [a.fingerprint for a in result.listed] == ["fp-w", "fp-c"]


ALERTS = st.builds(
    make_alert,
    name=st.sampled_from(["a", "b", "c", "d"]),
    severity=st.sampled_from(["critical", "warning", "info", ""]),
    status=st.sampled_from(["firing", "resolved"]),
    service=st.sampled_from(["api", "db"]),
    starts=st.integers(-120, 0).map(lambda m: NOW + timedelta(minutes=m)),
    ends=st.integers(-60, 0).map(lambda m: NOW + timedelta(minutes=m)),
)
NOTIFICATIONS = st.builds(
    lambda alerts, key, truncated: make_notification(*alerts, key=key, truncated=truncated),
    st.lists(ALERTS, max_size=6),
    st.sampled_from(["g1", "g2", "g3"]),
    st.integers(0, 5),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(NOTIFICATIONS, max_size=6), NOTIFICATIONS, st.integers(0, 60))
def test_folding_twice_is_folding_once(
    history: list[Notification], last: Notification, later: int
) -> None:
    """Whatever came before: the same notification again within a minute changes nothing."""
    state = NO_ALERTS
    for step, notification in enumerate(history):
        state = run(state, notification, NOW + timedelta(seconds=step))
    at = NOW + timedelta(seconds=len(history))
    once = run(state, last, at)
    assert run(once, last, at + timedelta(seconds=later)) == once


@settings(max_examples=100, deadline=None)
@given(st.lists(NOTIFICATIONS, max_size=8))
def test_the_counts_agree(history: list[Notification]) -> None:
    """firing is the sum over groups; every listed alert belongs to a kept, firing group."""
    state = NO_ALERTS
    for step, notification in enumerate(history):
        state = run(state, notification, NOW + timedelta(seconds=step))
        assert state.firing == sum(g.firing for g in state.groups)
        firing_keys = {g.key for g in state.groups if g.firing}
        assert {a.group for a in state.listed} <= firing_keys
        assert all(g.firing == sum(g.severities.values()) for g in state.groups)
        assert all(g.firing or g.held for g in state.groups)


@settings(max_examples=100, deadline=None)
@given(st.lists(NOTIFICATIONS, max_size=4), NOTIFICATIONS, NOTIFICATIONS)
def test_two_groups_fold_in_either_order(
    history: list[Notification], one: Notification, two: Notification
) -> None:
    """Two replicas taking two groups at once: either order of writes stores the same."""
    state = NO_ALERTS
    for step, notification in enumerate(history):
        state = run(state, notification, NOW + timedelta(seconds=step))
    two = replace(two, group_key=one.group_key + "-other")
    at = NOW + timedelta(seconds=len(history))
    assert run(run(state, one, at), two, at) == run(run(state, two, at), one, at)
