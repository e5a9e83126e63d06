"""What `status.alerts` asks of a component at an instant, and when that answer next changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuspage_operator.api.alert_rules import page_alerts
from statuspage_operator.api.specs import PageAlertsSpec, SecretNameRef
from statuspage_operator.domain.alerting import (
    QUIET,
    AlertGroup,
    AlertRules,
    ComponentAlerts,
    Held,
    ListedAlert,
    alerts_at,
    next_change,
)
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.status import ComponentStatus

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MO = ComponentStatus.MAJOR_OUTAGE
DP = ComponentStatus.DEGRADED_PERFORMANCE
PO = ComponentStatus.PARTIAL_OUTAGE
RULES = AlertRules(expire_after=timedelta(hours=1))


def make_group(
    key: str,
    *,
    seen: timedelta = timedelta(minutes=-1),
    firing: dict[str, int] | None = None,
    held: dict[str, timedelta] | None = None,
) -> AlertGroup:
    """A group last sent `seen` from NOW, with firing counts and holds ending `held` from NOW."""
    counts = firing or {}
    return AlertGroup(
        key=key,
        seen=NOW + seen,
        firing=sum(counts.values()),
        severities=counts,
        held=tuple(Held(s, NOW + d) for s, d in (held or {}).items()),
    )


def alerts(*groups: AlertGroup) -> ComponentAlerts:
    """What the receiver keeps: the groups, one listed alert per group, the total."""
    listed = tuple(ListedAlert(f"fp-{g.key}", g.key, g.since) for g in groups if g.firing)
    return ComponentAlerts(groups, listed, sum(g.firing for g in groups))


@pytest.mark.parametrize(
    ("kept", "status", "firing"),
    [
        pytest.param(alerts(), None, 0, id="nothing"),
        pytest.param(alerts(make_group("a", firing={"critical": 1})), MO, 1, id="critical"),
        pytest.param(alerts(make_group("a", firing={"warning": 2})), DP, 2, id="warning"),
        pytest.param(
            alerts(make_group("a", firing={"warning": 1}), make_group("b", firing={"critical": 1})),
            MO,
            2,
            id="worst-group-wins",
        ),
        pytest.param(
            alerts(make_group("a", firing={"info": 3})), None, 3, id="unmapped-moves-nothing"
        ),
        pytest.param(
            alerts(make_group("a", held={"critical": timedelta(minutes=2)})), MO, 0, id="held"
        ),
        pytest.param(
            alerts(make_group("a", held={"critical": timedelta(seconds=-1)})),
            None,
            0,
            id="hold-over",
        ),
        pytest.param(
            alerts(make_group("a", held={"critical": timedelta(0)})),
            None,
            0,
            id="hold-ends-at-until",
        ),
        pytest.param(
            alerts(make_group("a", seen=timedelta(hours=-1), firing={"critical": 1})),
            None,
            0,
            id="expired-at-expire-after",
        ),
        pytest.param(
            alerts(
                make_group("a", seen=timedelta(hours=-2), firing={"critical": 1}),
                make_group("b", firing={"warning": 1}),
            ),
            DP,
            1,
            id="expired-group-ignored-others-count",
        ),
    ],
)
def test_what_the_alerts_ask(
    kept: ComponentAlerts, status: ComponentStatus | None, firing: int
) -> None:
    """Expired groups are ignored; firing and held severities map; the worst wins."""
    ask = alerts_at(kept, RULES, NOW)
    assert (ask.status, ask.firing) == (status, firing)


def test_severities_map_through_the_component() -> None:
    """A component's own map replaces the default: only what it lists moves it."""
    rules = AlertRules(RULES.expire_after, {"page": PO})
    kept = alerts(make_group("a", firing={"page": 1, "critical": 1}))
    assert alerts_at(kept, rules, NOW).status is PO


def test_listed_alerts_of_expired_groups_are_dropped() -> None:
    """Only the listed alerts of groups still in force are shown."""
    kept = alerts(
        make_group("old", seen=timedelta(hours=-3), firing={"critical": 1}),
        make_group("new", firing={"warning": 1}),
    )
    ask = alerts_at(kept, RULES, NOW)
    assert [a.group for a in ask.listed] == ["new"]
    assert dict(ask.severities) == {"warning": 1}


def test_held_severities_are_told_apart_from_firing_ones() -> None:
    """A held severity that also fires elsewhere is firing; one only held is said to be held."""
    kept = alerts(
        make_group("a", firing={"warning": 1}, held={"critical": timedelta(minutes=1)}),
        make_group("b", held={"warning": timedelta(minutes=1)}),
    )
    ask = alerts_at(kept, RULES, NOW)
    assert (ask.held, ask.status, ask.active) == (("critical",), MO, True)


def test_quiet_is_the_empty_answer() -> None:
    """Nothing kept asks nothing."""
    assert alerts_at(ComponentAlerts(), RULES, NOW) == QUIET


@pytest.mark.parametrize(
    ("kept", "expected"),
    [
        pytest.param(alerts(), None, id="nothing"),
        pytest.param(
            alerts(make_group("a", firing={"critical": 1})),
            NOW + timedelta(minutes=59),
            id="expiry",
        ),
        pytest.param(
            alerts(make_group("a", held={"critical": timedelta(minutes=5)})),
            NOW + timedelta(minutes=5),
            id="hold-ends-first",
        ),
        pytest.param(
            alerts(make_group("a", held={"critical": timedelta(hours=2)})),
            NOW + timedelta(minutes=59),
            id="expiry-cuts-a-long-hold",
        ),
        pytest.param(alerts(make_group("a")), None, id="empty-group-changes-nothing"),
        pytest.param(
            alerts(make_group("a", seen=timedelta(hours=-2), firing={"critical": 1})),
            None,
            id="already-expired",
        ),
    ],
)
def test_next_change(kept: ComponentAlerts, expected: datetime | None) -> None:
    """The next instant the answer changes with no new write."""
    assert next_change(kept, RULES, NOW) == expected


SEVERITIES = st.sampled_from(["critical", "warning", "info", ""])
OFFSETS = st.integers(min_value=-7200, max_value=7200).map(lambda s: timedelta(seconds=s))


@st.composite
def groups(draw: st.DrawFn) -> AlertGroup:
    """Any group: seen within two hours, some firing severities, some holds."""
    firing = draw(st.dictionaries(SEVERITIES, st.integers(1, 5), max_size=3))
    held = draw(st.dictionaries(SEVERITIES, OFFSETS, max_size=3))
    key = draw(st.text("abcdef", min_size=1, max_size=4))
    return make_group(key, seen=-abs(draw(OFFSETS)), firing=firing, held=held)


@settings(max_examples=300, deadline=None)
@given(st.lists(groups(), max_size=4), st.integers(0, 10_000), st.floats(0.0, 1.0))
def test_the_answer_holds_until_next_change(
    kept: list[AlertGroup], expire: int, fraction: float
) -> None:
    """At any instant between now and next_change the answer is the one at now."""
    rules = AlertRules(timedelta(seconds=expire + 1))
    found = alerts(*kept)
    change = next_change(found, rules, NOW)
    horizon = change if change is not None else NOW + timedelta(days=1)
    assert horizon > NOW
    instant = NOW + (horizon - NOW) * fraction
    if instant < horizon:
        assert alerts_at(found, rules, instant) == alerts_at(found, rules, NOW)
    if change is not None:
        assert alerts_at(found, rules, change) != alerts_at(found, rules, NOW)


def test_a_time_at_the_end_of_time_does_not_overflow() -> None:
    """A `seen` near year 9999 (the schema allows it) is in force and never expires: no crash."""
    end = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    group = AlertGroup(
        "a", end, firing=1, severities={"critical": 1}, held=(Held("critical", end),)
    )
    kept = ComponentAlerts((group,))
    assert alerts_at(kept, RULES, NOW).status is MO
    assert next_change(kept, RULES, NOW) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("721h", "spec.alerts.expireAfter: at most 720h", id="too-long"),
        pytest.param("9" * 30 + "h", "spec.alerts.expireAfter: at most 720h", id="overflow"),
        pytest.param("0s", "spec.alerts.expireAfter: must be longer than 0s", id="zero"),
        pytest.param("1d", "spec.alerts.expireAfter: '1d' is not a duration", id="not-a-duration"),
    ],
)
def test_an_expiry_that_cannot_work_is_refused(text: str, message: str) -> None:
    """expireAfter is bounded: a clear InvalidSpecError, never an overflow."""
    spec = PageAlertsSpec(receiver_secret_ref=SecretNameRef(name="a"), expire_after=text)
    with pytest.raises(InvalidSpecError) as raised:
        page_alerts(spec)
    assert str(raised.value).startswith(message)


def test_next_change_stays_cheap_for_the_largest_status() -> None:
    """64 groups with 16 holds each that change nothing: an early wake-up, never a late one."""
    holds = tuple(Held("critical", NOW + timedelta(seconds=s)) for s in range(1, 17))
    kept = ComponentAlerts(
        tuple(
            AlertGroup(f"g{i}", NOW, firing=1, severities={"critical": 1}, held=holds)
            for i in range(64)
        )
    )
    change = next_change(kept, RULES, NOW)
    assert change is not None
    assert NOW < change <= NOW + RULES.expire_after
    assert alerts_at(kept, RULES, change - timedelta(microseconds=1)) == alerts_at(kept, RULES, NOW)
