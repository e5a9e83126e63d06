"""`status.alerts` round-trips, and a reader survives what it cannot read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from statuspage_operator.api.alerts import alerts_of, render_alerts
from statuspage_operator.domain.alerting import (
    NO_ALERTS,
    AlertGroup,
    ComponentAlerts,
    Held,
    ListedAlert,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_what_the_receiver_writes_every_reader_reads_back() -> None:
    alerts = ComponentAlerts(
        groups=(
            AlertGroup(
                key="3f2a9c0d1e4b5a6f",
                seen=NOW,
                name="HighErrorRate",
                summary="5xx above 5%",
                external_url="http://alertmanager:9093",
                since=NOW - timedelta(minutes=3),
                ended=NOW - timedelta(minutes=10),
                firing=2,
                severities={"critical": 1, "warning": 1},
                held=(Held("critical", NOW + timedelta(minutes=5)),),
            ),
            AlertGroup(key="00aa", seen=NOW),
        ),
        listed=(
            ListedAlert("0df005333d9e37c9", "3f2a9c0d1e4b5a6f", NOW, "critical", "5xx", "http://p"),
        ),
        firing=2,
    )
    assert alerts_of({"alerts": render_alerts(alerts)}) == alerts


def test_a_reader_leaves_out_what_it_cannot_read() -> None:
    status = {
        "alerts": {
            "firing": "many",
            "groups": [
                {"key": "ok", "seen": "2026-12-03T12:00:00Z", "firing": -1, "held": [{"x": 1}]},
                {"key": "no-seen"},
                "junk",
            ],
            "listed": [{"fingerprint": "f"}, {"fingerprint": "f", "group": "ok"}],
        }
    }
    assert alerts_of(status) == ComponentAlerts(
        groups=(AlertGroup(key="ok", seen=NOW),),
        listed=(ListedAlert("f", "ok"),),
        firing=0,
    )
    assert alerts_of({}) == NO_ALERTS
    assert alerts_of({"alerts": []}) == NO_ALERTS
