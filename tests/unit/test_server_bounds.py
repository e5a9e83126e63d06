"""The server's work and memory per page are bounded whatever the specs say (issue 18 part 6)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.server import app as app_module
from statuspage_operator.server import view as view_module
from statuspage_operator.server.app import Server
from statuspage_operator.server.cache import Cache
from statuspage_operator.server.shown import MaintenanceStatus
from statuspage_operator.server.view import UPCOMING_PER_WINDOW, WindowMemo, build

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEY = ("default", "example")


def make(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An object as the server's cache holds it."""
    metadata = {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": 1}
    metadata["creationTimestamp"] = "2026-06-01T00:00:00Z"
    return {"metadata": metadata, "spec": spec, "status": {}}


def stamp(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def make_window(name: str, start: datetime, duration: timedelta, **extra: Any) -> dict[str, Any]:
    """A window of the page on component `api`."""
    spec = {"page": "example", "title": name, "components": ["api"]}
    spec |= {"startTime": stamp(start), "endTime": stamp(start + duration), **extra}
    return make(name, spec)


def make_cache(*windows: dict[str, Any]) -> Cache:
    """The page, its component `api`, and the windows."""
    cache = Cache()
    cache.upsert(Kind.PAGE, make("example", {"title": "Example"}))
    cache.upsert(Kind.COMPONENT, make("api", {"page": "example"}))
    for window in windows:
        cache.upsert(Kind.WINDOW, window)
    return cache


@pytest.mark.parametrize(
    "rrule",
    [
        pytest.param("FREQ=MINUTELY;INTERVAL=5", id="every-five-minutes"),
        pytest.param("FREQ=MINUTELY;INTERVAL=7", id="every-seven-minutes"),
        pytest.param("FREQ=HOURLY", id="hourly"),
    ],
)
def test_a_dense_series_shows_a_bounded_number_of_occurrences(rrule: str) -> None:
    """A window recurring as often as allowed adds its current, next few and last occurrences."""
    start = NOW - timedelta(days=1)
    window = make_window("flap", start, timedelta(minutes=1), recurrence={"rrule": rrule})
    view = build(make_cache(window), KEY, NOW, WindowMemo(), "")
    scheduled = view.maintenances_in(MaintenanceStatus.SCHEDULED)
    assert len(scheduled) == UPCOMING_PER_WINDOW
    assert len(view.maintenances) <= UPCOMING_PER_WINDOW + 2
    assert all(m.start > NOW for m in scheduled)


def test_a_series_denser_than_allowed_is_not_expanded_at_all() -> None:
    """FREQ=SECONDLY (refused at admission; one stored before the rule is InvalidSpec): the
    server shows none of its occurrences rather than expanding it."""
    start = NOW - timedelta(days=1)
    rule = {"rrule": "FREQ=SECONDLY;INTERVAL=2"}
    window = make_window("flap", start, timedelta(seconds=1), recurrence=rule)
    view = build(make_cache(window), KEY, NOW, WindowMemo(), "")
    assert view.maintenances == ()


def test_a_page_shows_at_most_its_cap_in_progress_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the per-page cap: every window in progress, then the soonest to come, none ended."""
    monkeypatch.setattr(view_module, "MAINTENANCES_PER_PAGE", 5)
    hour = timedelta(hours=1)
    windows = [make_window(f"now{i}", NOW - hour, 2 * hour) for i in range(2)]
    windows += [make_window(f"past{i}", NOW - (i + 3) * hour, hour) for i in range(4)]
    windows += [make_window(f"soon{i}", NOW + (i + 1) * hour, hour) for i in range(6)]
    view = build(make_cache(*windows), KEY, NOW, WindowMemo(), "")
    names = [m.name for m in view.maintenances]
    assert sorted(names[:2]) == ["now0", "now1"]
    assert names[2:] == ["soon0", "soon1", "soon2"]


def test_under_the_cap_every_occurrence_is_shown() -> None:
    """The cap changes nothing for an ordinary page: ended, in progress and to come all shown."""
    hour = timedelta(hours=1)
    windows = [
        make_window("past", NOW - 3 * hour, hour),
        make_window("now", NOW - hour, 2 * hour),
        make_window("soon", NOW + hour, hour),
    ]
    view = build(make_cache(*windows), KEY, NOW, WindowMemo(), "")
    assert [m.name for m in view.maintenances] == ["past", "now", "soon"]


def test_cached_responses_stay_within_their_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Renderings of many pages keep at most MAX_RENDERED_BYTES; the newest is kept."""
    cache = Cache()
    for index in range(20):
        cache.upsert(Kind.PAGE, make(f"p{index}", {"title": f"Page {index}"}))
    server = Server(cache, clock=lambda: NOW)
    one = server.rendering(("default", "p0"), "")
    assert one is not None
    budget = 5 * len(one.body)
    monkeypatch.setattr(app_module, "MAX_RENDERED_BYTES", budget)
    for index in range(20):
        rendered = server.rendering(("default", f"p{index}"), "")
        assert rendered is not None
        assert server.rendered_bytes <= budget
    assert server.rendering(("default", "p19"), "") is rendered


class Ticking:
    """A monotonic clock that each reading moves on by `step` seconds (a rendering's cost)."""

    def __init__(self, step: float) -> None:
        self.now = 100.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def status_json(server: Server) -> bytes:
    rendered = server.rendering(KEY, "api/v2/status.json")
    assert rendered is not None
    return rendered.body


def test_a_change_shows_on_the_next_request_when_rendering_is_cheap() -> None:
    """A write is visible at once when rendering costs next to nothing."""
    cache = make_cache()
    server = Server(cache, clock=lambda: NOW, monotonic=Ticking(0.0))
    assert b'"indicator":"none"' in status_json(server)
    cache.upsert(Kind.COMPONENT, make("api", {"page": "example", "manualStatus": "MajorOutage"}))
    assert b'"indicator":"critical"' in status_json(server)


def test_an_expensive_flapping_page_is_not_rendered_on_every_change() -> None:
    """A rendering over the 50 ms budget is served through changes until 10x its excess passed."""
    cache = make_cache()
    clock = Ticking(1.0)  # every rendering "takes" a second
    server = Server(cache, clock=lambda: NOW, monotonic=clock)
    first = status_json(server)
    for status in ("MajorOutage", "Operational", "MajorOutage"):
        cache.upsert(Kind.COMPONENT, make("api", {"page": "example", "manualStatus": status}))
        assert status_json(server) is first
    # Rendered from 101 to 102 s: not again before 102 + 10 x (1 - RENDER_BUDGET) = 111.5 s.
    clock.now = 110.0
    assert status_json(server) is first
    clock.now = 112.0
    assert b'"indicator":"critical"' in status_json(server)


def test_kept_component_pieces_follow_a_change_of_history() -> None:
    """Rows and uptime JSON kept across renderings are redone when a component's history moves."""
    cache = make_cache()
    server = Server(cache, clock=lambda: NOW, monotonic=Ticking(0.0))
    outage = {
        "status": "MajorOutage",
        "since": "2026-11-27T00:00:00Z",
        "until": "2026-11-28T00:00:00Z",
    }
    for history, percent in (([], 100.0), ([outage], 100 * (1 - 1 / 90)), ([], 100.0)):
        cache.upsert(
            Kind.COMPONENT, make("api", {"page": "example"}) | {"status": {"history": history}}
        )
        components = server.rendering(KEY, "api/v2/components.json")
        html = server.rendering(KEY, "")
        assert components is not None
        assert html is not None
        shown = json.loads(components.body)["components"][0]["uptime"]["percent"]
        assert shown == pytest.approx(percent, abs=0.01)
        in_html = re.search(rb"<span>([0-9.]+)% uptime</span>", html.body)
        assert in_html is not None
        assert float(in_html[1]) == pytest.approx(percent, abs=0.01)
