"""The AlertsFiring condition, statusFrom and alertsFiring, as the operator renders them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from statuspage_operator.api.alert_status import alert_fields, verdict
from statuspage_operator.api.conditions import Reason
from statuspage_operator.domain.alerting import QUIET, AlertsAsk
from statuspage_operator.domain.page import SetAside, Source
from statuspage_operator.domain.status import ComponentStatus

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MO = ComponentStatus.MAJOR_OUTAGE
TWO = AlertsAsk(MO, 2, (), {"critical": 1, "warning": 1})
HELD = AlertsAsk(MO, 0, ("critical",), {})
UNMAPPED = AlertsAsk(None, 1, (), {"info": 1})


@dataclass(frozen=True)
class State:
    """What the derivation says of a component's alerts."""

    alerts: AlertsAsk = QUIET
    set_aside: SetAside | None = None
    source: Source | None = None
    watched: bool = True


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param(State(), (False, Reason.ALERTS_QUIET, "no alert fires"), id="quiet"),
        pytest.param(
            State(TWO),
            (
                True,
                Reason.ALERTS_MOVING,
                "2 alerts fire (critical: 1, warning: 1); they ask MajorOutage",
            ),
            id="moving",
        ),
        pytest.param(
            State(HELD),
            (
                True,
                Reason.ALERTS_MOVING,
                "0 alerts fire, held after they stopped: critical; they ask MajorOutage",
            ),
            id="held",
        ),
        pytest.param(
            State(UNMAPPED),
            (
                True,
                Reason.ALERTS_NOT_MAPPED,
                "1 alert fires (info: 1); no severity of theirs maps to a status "
                "(spec.alerts.severities)",
            ),
            id="not-mapped",
        ),
        pytest.param(
            State(TWO, SetAside.MAINTENANCE),
            (
                True,
                Reason.ALERTS_UNDER_MAINTENANCE,
                "2 alerts fire (critical: 1, warning: 1); they ask MajorOutage; maintenance is in "
                "progress: expected, they do not move the status",
            ),
            id="maintenance",
        ),
        pytest.param(
            State(TWO, SetAside.INCIDENT),
            (
                True,
                Reason.ALERTS_INCIDENT_OPEN,
                "2 alerts fire (critical: 1, warning: 1); they ask MajorOutage; an unresolved "
                "incident lists the component: its status stands",
            ),
            id="incident",
        ),
        pytest.param(
            State(QUIET, SetAside.PAUSED),
            (
                False,
                Reason.ALERTS_PAUSED,
                "nothing fires; automation is paused (spec.alerts.paused): they do not move the "
                "status",
            ),
            id="paused-quiet",
        ),
        pytest.param(
            State(QUIET, SetAside.NO_RECEIVER),
            (
                False,
                Reason.ALERTS_NO_RECEIVER,
                "page p has no spec.alerts.receiverSecretRef: no alert moves this component",
            ),
            id="no-receiver",
        ),
    ],
)
def test_the_condition_says_what_the_alerts_do(
    state: State, expected: tuple[bool, Reason, str]
) -> None:
    """Status, reason and message for each case of docs/behaviour.md's table."""
    assert verdict(state, "p") == expected


def test_the_condition_keeps_its_transition_time() -> None:
    """A new count with the same status keeps lastTransitionTime; a change of status moves it."""
    _, first = alert_fields(State(TWO), "p", 1, NOW, None)
    assert first is not None
    later = NOW + timedelta(minutes=5)
    _, same = alert_fields(State(HELD), "p", 1, later, [first])
    _, quiet = alert_fields(State(), "p", 1, later, [first])
    assert same is not None
    assert quiet is not None
    assert (same["lastTransitionTime"], quiet["lastTransitionTime"]) == (
        "2026-12-03T12:00:00Z",
        "2026-12-03T12:05:00Z",
    )


def test_fields_of_a_component_without_alerts() -> None:
    """No spec.alerts: no count and no condition; statusFrom still says what decided."""
    fields, condition = alert_fields(State(watched=False, source=Source.MANUAL), "p", 1, NOW, None)
    assert (fields, condition) == ({"statusFrom": "Manual", "alertsFiring": None}, None)
