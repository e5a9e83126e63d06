"""Every reader shows the same page: the operator, `status --at`, and the page server's summary.

Hypothesis generates a page (components with manual statuses, positions, display names, groups and
firing alerts, on a page that receives alerts or not; one-off and recurring windows, cancelled or
not, with autoUpdateStatus or not; incidents of every impact, with per-component statuses, resolved
or not, drafts or not) and a fixed NOW. The expected page comes from an oracle written here from
docs/behaviour.md (worst-of, the rollup table, impact None, drafts, status from alerts, the
component order), never from the code under test. Each reader's OUTPUT is checked against it: the
status the operator writes on a fake API server, the text the plugin prints, and summary.json as
the server's aiohttp app serves it.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statuspage_operator.api.alerts import render_alerts
from statuspage_operator.api.names import Kind
from statuspage_operator.api.times import format_time
from statuspage_operator.cli import commands
from statuspage_operator.cli.client import Api
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.domain.alerting import AlertGroup, ComponentAlerts
from statuspage_operator.server.app import Server, make_app
from statuspage_operator.server.cache import Cache
from unit.fake_time import FakeClock
from unit.fakes import FakeClient, resource

NOW = FakeClock().now
NS = "ns"
PAGE = "p"

# docs/behaviour.md, "Component status": best to worst.
ORDER = ["Operational", "UnderMaintenance", "DegradedPerformance", "PartialOutage", "MajorOutage"]
IMPACT_STATUS = {
    "Minor": "DegradedPerformance",
    "Major": "PartialOutage",
    "Critical": "MajorOutage",
}
NAMES = ["api", "db", "web", "cdn", "mail"]
# Display names that sort differently by lower() and casefold() ("Straße"), and case variants.
DISPLAY = ["Straße", "STRASSE", "strasse", "API", "api", "Ωmega"]
GROUPS = ["Core", "Edge"]
# docs/behaviour.md, "Status from alerts": the default severities; groups expire after an hour.
SEVERITY_STATUS = {"critical": "MajorOutage", "warning": "DegradedPerformance"}
EXPIRE_MINUTES = 60
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Comp:
    """A component as generated."""

    name: str
    manual: str | None
    position: int | None
    display: str | None
    group: str | None
    # Its alerts, as the receiver left them: a severity, minutes since Alertmanager sent it, and
    # whether the component's automation is paused (None: no spec.alerts).
    alert: tuple[str, int, bool] | None = None

    @property
    def shown(self) -> str:
        """The name a reader shows."""
        return self.display or self.name


@dataclass(frozen=True)
class Win:
    """A window as generated: `period` None for one-off."""

    name: str
    components: tuple[str, ...]
    start: datetime
    duration: timedelta
    period: timedelta | None
    count: int | None
    zone: str
    cancelled: bool
    auto: bool


@dataclass(frozen=True)
class Inc:
    """An incident as generated: `impact` None leaves the field out (the default, Minor)."""

    name: str
    impact: str | None
    components: tuple[tuple[str, str | None], ...]
    updates: tuple[str, ...]
    draft: bool = False


@dataclass
class Scenario:
    """One generated page."""

    time_zone: str
    receiving: bool = False
    components: list[Comp] = field(default_factory=list)
    windows: list[Win] = field(default_factory=list)
    incidents: list[Inc] = field(default_factory=list)


# -- the oracle, from docs/behaviour.md --------------------------------------------------------


def in_progress(window: Win, now: datetime = NOW) -> bool:
    """Start inclusive, end exclusive; a cancelled window never is; a series repeats by period."""
    if window.cancelled or now < window.start:
        return False
    if window.period is None:
        return now < window.start + window.duration
    index = (now - window.start) // window.period
    if window.count is not None and index >= window.count:
        return False
    return now < window.start + index * window.period + window.duration


def unresolved(incident: Inc) -> bool:
    """An incident is open unless its latest update is Resolved; a draft is no incident yet."""
    if incident.draft:
        return False
    return not incident.updates or incident.updates[-1] != "Resolved"


def expected_status(component: Comp, scenario: Scenario) -> str:
    """The worst of manual status, maintenance in progress and open incidents' effects."""
    inputs = [component.manual] if component.manual else []
    if any(w.auto and component.name in w.components and in_progress(w) for w in scenario.windows):
        inputs.append("UnderMaintenance")
    for incident in filter(unresolved, scenario.incidents):
        impact = incident.impact or "Minor"
        for name, own in incident.components:
            # Impact None: the incident changes no component, even one with its own status.
            if name == component.name and impact != "None":
                inputs.append(own or IMPACT_STATUS[impact])
    if component.alert is not None and alerts_count(component, scenario):
        severity, minutes, _ = component.alert
        if minutes < EXPIRE_MINUTES and severity in SEVERITY_STATUS:
            inputs.append(SEVERITY_STATUS[severity])
    return max(inputs, key=ORDER.index, default="Operational")


def alerts_count(component: Comp, scenario: Scenario) -> bool:
    """A receiving page, not paused, no window in progress maintaining it, no open incident
    listing it (whatever its impact)."""
    if not scenario.receiving or component.alert is None or component.alert[2]:
        return False
    if any(w.auto and component.name in w.components and in_progress(w) for w in scenario.windows):
        return False
    return not any(
        component.name in (name for name, _ in i.components)
        for i in filter(unresolved, scenario.incidents)
    )


def expected_rollup(statuses: Sequence[str], scenario: Scenario) -> tuple[str, str]:
    """Statuspage's rollup table, as docs/behaviour.md gives it."""
    if not statuses:
        impacts = [i.impact or "Minor" for i in scenario.incidents if unresolved(i)]
        worst = max(impacts, key=["None", "Minor", "Major", "Critical"].index, default="None")
        return {
            "None": ("None", "All Systems Operational"),
            "Minor": ("Minor", "Minor Service Outage"),
            "Major": ("Major", "Partial System Outage"),
            "Critical": ("Critical", "Major System Outage"),
        }[worst]
    if len(statuses) == 1:
        return {
            "Operational": ("None", "All Systems Operational"),
            "UnderMaintenance": ("Maintenance", "Service Under Maintenance"),
            "DegradedPerformance": ("Minor", "Partially Degraded Service"),
            "PartialOutage": ("Major", "Partial System Outage"),
            "MajorOutage": ("Critical", "Major System Outage"),
        }[statuses[0]]
    rules = [
        (all, "MajorOutage", ("Critical", "Major System Outage")),
        (any, "MajorOutage", ("Major", "Partial System Outage")),
        (all, "PartialOutage", ("Major", "Partial System Outage")),
        (any, "PartialOutage", ("Minor", "Minor Service Outage")),
        (all, "DegradedPerformance", ("Minor", "Degraded System Service")),
        (any, "DegradedPerformance", ("Minor", "Partially Degraded Service")),
        (any, "UnderMaintenance", ("Maintenance", "Service Under Maintenance")),
    ]
    for quantifier, status, result in rules:
        if quantifier(s == status for s in statuses):
            return result
    return "None", "All Systems Operational"


def expected_layout(scenario: Scenario) -> list[tuple[str | None, list[Comp]]]:
    """By position (none last), name shown casefolded, name; a group at its first member."""

    def key(c: Comp) -> tuple[bool, int, str, str]:
        return c.position is None, c.position or 0, c.shown.casefold(), c.name

    blocks: list[tuple[str | None, list[Comp]]] = []
    for component in sorted(scenario.components, key=key):
        block = next((b for b in blocks if b[0] is not None and b[0] == component.group), None)
        if block is not None:
            block[1].append(component)
        else:
            blocks.append((component.group, [component]))
    return blocks


# -- generating pages --------------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A page with components, windows and incidents around NOW."""
    statuses = st.sampled_from(ORDER)
    scenario = Scenario(draw(st.sampled_from(["UTC", "Europe/Berlin"])), draw(st.booleans()))
    alerts = st.tuples(
        st.sampled_from(["critical", "warning", "info"]), st.integers(0, 90), st.booleans()
    )
    # Sizes weighted away from the empty page, which the rollup treats apart.
    size = draw(st.sampled_from([0, 1, 2, 3, 3, 4, 4, 5, 5, 5]))
    names = draw(st.permutations(NAMES))[:size]
    for name in names:
        scenario.components.append(
            Comp(
                name,
                draw(st.none() | statuses),
                draw(st.none() | st.integers(0, 2)),
                draw(st.sampled_from(DISPLAY) | st.none()),
                draw(st.none() | st.sampled_from(GROUPS)),
                draw(st.none() | alerts),
            )
        )
    # Windows and incidents may also name a component that is not on the page.
    listed = st.lists(st.sampled_from([*names, "ghost"]), max_size=3, unique=True)
    for index in range(draw(st.integers(0, 4))):
        period = draw(st.sampled_from([None, DAY, 7 * DAY]))
        hours = draw(st.integers(1, 20 if period else 72))
        # Within ten days of NOW (May): no DST change, so a local series repeats in UTC too.
        # Half of them start in the day before NOW, to be in progress often.
        quarters = st.integers(-4 * 24 * 10, 4 * 24 * 2) | st.integers(-4 * 24, 4)
        start = NOW + timedelta(minutes=15 * draw(quarters))
        scenario.windows.append(
            Win(
                f"w{index}",
                tuple(draw(listed)),
                start,
                timedelta(hours=hours),
                period,
                draw(st.none() | st.integers(1, 5)) if period else None,
                draw(st.sampled_from(["UTC", "Europe/Berlin"])),
                draw(st.booleans()),
                draw(st.booleans()),
            )
        )
    for index in range(draw(st.integers(0, 4))):
        affected = tuple((name, draw(st.none() | statuses)) for name in draw(listed))
        updates = draw(
            st.lists(st.sampled_from(["Investigating", "Identified", "Resolved"]), max_size=3)
        )
        impact = draw(st.sampled_from([None, "None", "Minor", "Major", "Critical"]))
        draft = draw(st.booleans())
        scenario.incidents.append(Inc(f"i{index}", impact, affected, tuple(updates), draft))
    return scenario


def objects(scenario: Scenario) -> list[dict[str, Any]]:
    """The objects as a user applies them."""
    page: dict[str, Any] = {"title": "P", "timeZone": scenario.time_zone, "visibility": "Public"}
    if scenario.receiving:
        page["alerts"] = {"receiverSecretRef": {"name": "a"}, "expireAfter": f"{EXPIRE_MINUTES}m"}
    found = [resource(Kind.PAGE, NS, PAGE, page)]
    for c in scenario.components:
        spec: dict[str, Any] = {"page": PAGE}
        for key, value in (
            ("manualStatus", c.manual),
            ("position", c.position),
            ("displayName", c.display),
            ("group", c.group),
        ):
            if value is not None:
                spec[key] = value
        component = resource(Kind.COMPONENT, NS, c.name, spec)
        if c.alert is not None:
            severity, minutes, paused = c.alert
            spec["alerts"] = {"matchers": [f'service="{c.name}"'], "paused": paused}
            # What the receiver wrote: one group with one alert, sent `minutes` before NOW.
            group = AlertGroup(
                "g", NOW - timedelta(minutes=minutes), firing=1, severities={severity: 1}
            )
            component["status"] = {"alerts": render_alerts(ComponentAlerts((group,), (), 1))}
        found.append(component)
    for w in scenario.windows:
        spec = {
            "page": PAGE,
            "title": w.name,
            "components": list(w.components),
            "startTime": format_time(w.start),
            "endTime": format_time(w.start + w.duration),
            "cancelled": w.cancelled,
            "autoUpdateStatus": w.auto,
        }
        if w.period is not None:
            rule = "FREQ=DAILY" if w.period == DAY else "FREQ=WEEKLY"
            if w.count is not None:
                rule += f";COUNT={w.count}"
            spec["recurrence"] = {"rrule": rule, "timeZone": w.zone}
        found.append(resource(Kind.WINDOW, NS, w.name, spec))
    for i in scenario.incidents:
        spec = {
            "page": PAGE,
            "title": i.name,
            "components": [
                {"name": name, **({"status": own} if own else {})} for name, own in i.components
            ],
            "updates": [{"status": status, "message": status} for status in i.updates],
        }
        if i.impact is not None:
            spec["impact"] = i.impact
        if i.draft:
            spec["draft"] = True
        found.append(resource(Kind.INCIDENT, NS, i.name, spec))
    return found


def stale_status(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """A status as an operator might have written it long ago: any value of its fields."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "StatusPage": st.fixed_dictionaries(
            {
                "indicator": st.sampled_from(["None", "Minor", "Critical"]),
                "description": st.just("?"),
            }
        ),
        "Component": st.fixed_dictionaries({"status": st.sampled_from(ORDER)}),
        "MaintenanceWindow": st.fixed_dictionaries(
            {"phase": st.sampled_from(["Scheduled", "InProgress", "Completed", "Cancelled"])}
        ),
        "StatusIncident": st.fixed_dictionaries(
            {"phase": st.sampled_from(["Investigating", "Resolved"])}
        ),
    }
    return fields[kind]


def ours(client: FakeClient) -> list[dict[str, Any]]:
    """Copies of the objects of our kinds the fake holds now."""
    kinds = {str(kind) for kind in Kind}
    return [copy.deepcopy(obj) for obj in client.objects.values() if obj.get("kind") in kinds]


def stored(scenario: Scenario) -> FakeClient:
    """A fake API server holding the scenario's objects."""
    client = FakeClient()
    for obj in objects(scenario):
        client.add(obj)
    return client


# -- the readers -------------------------------------------------------------------------------


def operator_output(client: FakeClient) -> tuple[dict[str, str], dict[str, Any]]:
    """Run the operator's control layer over the fake; the component and page status it wrote."""
    clock = FakeClock()

    async def run() -> None:
        runtime = Runtime(client, clock)
        await runtime.prime([])
        await runtime.components.resync_page(NS, PAGE)
        await runtime.close()

    asyncio.run(run())
    statuses = {
        key[2]: obj["status"]["status"]
        for key, obj in client.objects.items()
        if key[0] == "components"
    }
    page = client.get(Kind.PAGE, NS, PAGE)
    assert page is not None
    return statuses, page["status"]


class ListingApi(Api):
    """The plugin's Api answering from a list of objects (no cluster)."""

    def __init__(self, found: list[dict[str, Any]]) -> None:
        self.namespace = NS
        self._found = found

    def get(self, kind: Kind, name: str) -> dict[str, Any]:
        """One object by kind and name."""
        return next(o for o in self._found if (o["kind"], o["metadata"]["name"]) == (kind, name))

    def list(self, kind: Kind, page: str | None = None) -> list[dict[str, Any]]:
        """Every object of a kind."""
        return [o for o in self._found if o["kind"] == kind]


def plugin_output(found: list[dict[str, Any]]) -> tuple[str, list[tuple[int, str, str | None]]]:
    """`kubectl statuspage status p --at NOW`, parsed: the status line and component rows."""
    text = commands.status(ListingApi(found), PAGE, NOW)
    lines = text.splitlines()
    start = lines.index("Components:") + 1
    rows: list[tuple[int, str, str | None]] = []
    for line in lines[start : lines.index("", start)]:
        if line == "  none":
            break
        indent = len(line) - len(line.lstrip(" "))
        label, *status = re.split(r" {2,}", line.strip())
        shown = status[0].removesuffix(" (from alerts)").replace(" ", "") if status else None
        rows.append((indent, label, shown))
    return lines[1], rows


def server_output(found: list[dict[str, Any]]) -> dict[str, Any]:
    """summary.json as the page server's app serves it over a cache of the objects."""
    cache = Cache()
    for obj in found:
        cache.upsert(Kind(obj["kind"]), obj)
    # The cluster admin lets the namespace publish; the page is Public (`objects`).
    cache.upsert(Kind.POLICY, {"metadata": {"name": "p"}, "spec": {"namespaces": [NS]}})
    server = Server(cache, clock=lambda: NOW)

    async def run() -> dict[str, Any]:
        async with TestClient(TestServer(make_app(server))) as client:
            response = await client.get(f"/{NS}/{PAGE}/api/v2/summary.json")
            assert response.status == 200
            summary: dict[str, Any] = await response.json()
            return summary

    return asyncio.run(run())


def snake(status: str) -> str:
    """`DegradedPerformance` -> `degraded_performance`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", status).lower()


# -- the property ------------------------------------------------------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios(), st.sampled_from(["applied", "written", "stale"]), st.data())
def test_every_reader_shows_the_documented_page(
    scenario: Scenario, seen: str, data: st.DataObject
) -> None:
    """Operator, plugin and server output the oracle's statuses, rollup, counts and order."""
    # `seen`: the plugin and the server read the objects as applied (no status), as the operator
    # left them, or with a stale status (an operator down or behind); they show the same page.
    status = {c.name: expected_status(c, scenario) for c in scenario.components}
    indicator, description = expected_rollup(list(status.values()), scenario)
    blocks = expected_layout(scenario)
    open_incidents = sum(1 for i in scenario.incidents if unresolved(i))
    active = sum(1 for w in scenario.windows if in_progress(w))

    client = stored(scenario)
    applied = ours(client)
    written, page = operator_output(client)
    assert written == status
    assert (page["indicator"], page["description"]) == (indicator, description)
    assert (page["components"], page["unresolvedIncidents"], page["activeMaintenances"]) == (
        len(status),
        open_incidents,
        active,
    )

    found = {"applied": applied, "written": ours(client), "stale": applied}[seen]
    if seen == "stale":
        for obj in found:
            # The receiver's field is an input, kept; the operator's are stale.
            kept = {k: v for k, v in (obj.get("status") or {}).items() if k == "alerts"}
            obj["status"] = {**data.draw(stale_status(obj["kind"])), **kept}

    headline, rows = plugin_output(found)
    assert headline == f"Status: {description} (indicator: {indicator})"
    expected_rows: list[tuple[int, str, str | None]] = []
    for group, members in blocks:
        if group is not None:
            expected_rows.append((2, group, None))
        indent = 4 if group is not None else 2
        expected_rows += [(indent, c.shown, status[c.name]) for c in members]
    assert rows == expected_rows

    summary = server_output(found)
    assert summary["status"] == {"indicator": snake(indicator), "description": description}
    expected_json: list[tuple[str, str, bool]] = []
    for group, members in blocks:
        if group is not None:
            worst = max((status[c.name] for c in members), key=ORDER.index)
            expected_json.append((group, snake(worst), True))
        expected_json += [(c.shown, snake(status[c.name]), False) for c in members]
    assert [(c["name"], c["status"], c["group"]) for c in summary["components"]] == expected_json
    assert len(summary["incidents"]) == open_incidents
    in_progress_shown = [
        m for m in summary["scheduled_maintenances"] if m["status"] == "in_progress"
    ]
    assert len(in_progress_shown) == active
