"""What the receiver keeps of pages and components (alerts/view.py)."""

from __future__ import annotations

from datetime import timedelta

from statuspage_operator.alerts.view import View, page_settings
from statuspage_operator.api.names import Kind
from unit.alerts_fakes import make_component, make_page


def test_a_page_takes_alerts_only_with_a_receiver_secret() -> None:
    """No spec.alerts, or no receiverSecretRef, or a bad duration: no receiver."""
    assert page_settings(make_page(secret=None)["spec"]) is None
    assert page_settings({"alerts": {"hold": "1m"}}) is None
    assert page_settings(make_page(hold="soon")["spec"]) is None
    settings = page_settings(make_page(hold="30s", expireAfter="2h")["spec"])
    assert settings is not None
    assert (settings.secret, settings.hold, settings.expire_after) == (
        "receiver",
        timedelta(seconds=30),
        timedelta(hours=2),
    )


def test_components_whose_matchers_do_not_parse_are_skipped() -> None:
    """A bad regular expression: the component is not a target; the others are."""
    view = View()
    view.replace(Kind.PAGE, [make_page()])
    view.replace(
        Kind.COMPONENT,
        [
            make_component("api", ['service="api"']),
            make_component("bad", ['service=~"("']),
            make_component("none", []),
        ],
    )
    assert view.ready()
    assert [t.name for t in view.targets_of("team", "example")] == ["api"]


def test_a_relist_drops_what_is_gone_and_a_move_changes_page() -> None:
    """After a re-list, a deleted component is gone; a component moved to another page follows."""
    view = View()
    view.replace(
        Kind.COMPONENT, [make_component("api", ['a="1"']), make_component("db", ['a="1"'])]
    )
    view.replace(Kind.COMPONENT, [make_component("api", ['a="1"'], page="other")])
    assert view.targets_of("team", "example") == []
    assert [t.name for t in view.targets_of("team", "other")] == ["api"]
    assert not view.ready()
