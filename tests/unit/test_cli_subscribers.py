"""`kubectl statuspage subscribers`: the counting, the lines, the address match (no cluster)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from statuspage_operator.cli.main import build_parser
from statuspage_operator.cli.subscribers import (
    Row,
    count,
    export_entry,
    holds,
    render_counts,
    render_list,
    shorthand,
)

ADDRESS = "Jane.Doe@Example.COM"


def make_subscriber(
    name: str,
    origin: str | None = "Public",
    components: list[str] | None = None,
    **status: Any,
) -> dict[str, Any]:
    """A Subscriber as the API server returns it."""
    spec: dict[str, Any] = {"page": "example"}
    if origin is not None:
        spec["origin"] = origin
    if components is not None:
        spec["components"] = components
    if origin == "Public":
        spec["mailboxSecretRef"] = {"name": name, "key": "address"}
    else:
        spec["urlSecretRef"] = {"name": "hook", "key": "url"}
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-12-01T10:00:00Z",
        },
        "spec": spec,
        "status": status,
    }


def ready(value: str) -> list[dict[str, str]]:
    """A Ready condition."""
    return [{"type": "Ready", "status": value, "reason": "R", "message": ""}]


ROWS = [
    Row.read(make_subscriber("public-aaa", sent=3, conditions=ready("True"))),
    Row.read(make_subscriber("public-bbb", components=["api"], bounces=1)),
    Row.read(make_subscriber("public-ccc", components=["db", "api"], conditions=ready("False"))),
    Row.read(make_subscriber("ops-slack", origin="Cluster", sent=7, conditions=ready("True"))),
    Row.read(make_subscriber("legacy", origin=None)),
]


def test_counts_by_origin_and_failing() -> None:
    """Cluster (the default origin too) and Public apart; failing: a bounce or Ready False."""
    counts = count(ROWS, ["api", "db", "cdn"])
    assert (counts.cluster, counts.public, counts.failing) == (2, 3, 2)


def test_each_component_counts_the_public_who_hear_of_it() -> None:
    """One who never narrowed hears of every component, a new one included."""
    counts = count(ROWS, ["api", "db", "cdn"])
    assert counts.by_component == (("api", 3), ("db", 2), ("cdn", 1))


def test_counts_of_a_page_without_subscribers() -> None:
    """Zero everywhere, and the components still listed."""
    counts = count([], ["api"])
    assert (counts.cluster, counts.public, counts.failing, counts.by_component) == (
        0,
        0,
        0,
        (("api", 0),),
    )


def test_render_counts() -> None:
    """The summary names the page, the origins, the failing and each component."""
    text = render_counts("shop", "example", count(ROWS, ["api", "db"]))
    lines = text.splitlines()
    assert lines[0] == 'Subscribers of statuspage "example" in namespace "shop"'
    assert lines[1].split() == ["ORIGIN", "SUBSCRIBERS"]
    assert lines[2].split() == ["Cluster", "2"]
    assert lines[3].split() == ["Public", "3"]
    assert lines[4].startswith("Failing: 2 ")
    assert [line.split() for line in lines[-3:]] == [
        ["COMPONENT", "PUBLIC"],
        ["api", "3"],
        ["db", "2"],
    ]


def test_render_list_one_line_each() -> None:
    """Name, origin, components or all, sent, bounces, ready; by origin then name."""
    lines = render_list(ROWS).splitlines()
    assert [line.split() for line in lines] == [
        ["NAME", "ORIGIN", "COMPONENTS", "SENT", "BOUNCES", "READY"],
        ["legacy", "Cluster", "all", "0", "0", "-"],
        ["ops-slack", "Cluster", "all", "7", "0", "True"],
        ["public-aaa", "Public", "all", "3", "0", "True"],
        ["public-bbb", "Public", "api", "0", "1", "-"],
        ["public-ccc", "Public", "db,api", "0", "0", "False"],
    ]
    assert render_list([]) == "No subscribers."


def test_a_row_reads_nothing_of_the_destination() -> None:
    """No field of the row comes from a Secret: the list cannot show an address."""
    row = Row.read(make_subscriber("public-aaa"))
    assert "address" not in repr(row).replace("'address'", "")
    assert "@" not in render_list([row])


@pytest.mark.parametrize(
    ("sent", "bounces"),
    [
        pytest.param(-1, True, id="negative-and-bool"),
        pytest.param("3", None, id="strings-and-null"),
    ],
)
def test_a_malformed_status_reads_as_zero(sent: Any, bounces: Any) -> None:
    """Tolerant: counters that are not counts are 0."""
    row = Row.read(make_subscriber("public-x", sent=sent, bounces=bounces))
    assert (row.sent, row.bounces, row.failing) == (0, 0, False)


def data(address: str) -> dict[str, str]:
    """An address Secret's data."""
    return {"address": base64.b64encode(address.encode()).decode()}


@pytest.mark.parametrize(
    ("stored", "held"),
    [
        pytest.param("Jane.Doe@Example.COM", True, id="same"),
        pytest.param("jane.doe@example.com", True, id="casefolded"),
        pytest.param(" JANE.DOE@example.com ", True, id="spaces-and-case"),
        pytest.param("jane.doe@example.org", False, id="other-domain"),
        pytest.param("jane.doe+x@example.com", False, id="other-local-part"),
    ],
)
def test_holds_the_address(stored: str, held: bool) -> None:
    """The stored address, normalized, equals the wanted one casefolded."""
    assert holds(data(stored), "Jane.Doe@example.com") is held


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"address": "not base64!"}, id="not-base64"),
        pytest.param({"address": base64.b64encode(b"\xff\xfe").decode()}, id="not-utf8"),
        pytest.param({"url": base64.b64encode(ADDRESS.encode()).decode()}, id="other-key"),
        pytest.param({"address": None}, id="null"),
    ],
)
def test_holds_nothing_in_malformed_data(value: dict[str, Any]) -> None:
    """A Secret that is not an address Secret holds no address."""
    assert holds(value, "jane.doe@example.com") is False


def test_export_entry() -> None:
    """What is kept: page, subscriber, components, created, sent, bounces, last delivery."""
    last = {"at": "2026-12-02T10:00:00Z", "event": "incident.created", "result": "sent"}
    row = Row.read(make_subscriber("public-aaa", components=["api"], sent=2, lastDelivery=last))
    assert export_entry("shop", "public-aaa", row) == {
        "namespace": "shop",
        "page": "example",
        "subscriber": "public-aaa",
        "addressSecret": "public-aaa",
        "components": ["api"],
        "created": "2026-12-01T10:00:00Z",
        "sent": 2,
        "bounces": 0,
        "lastDelivery": last,
    }
    orphan = export_entry("shop", "public-zzz", None)
    assert orphan == {"namespace": "shop", "subscriber": None, "addressSecret": "public-zzz"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["subscribers", "example"], ["subscribers", "show", "example"], id="page"),
        pytest.param(
            ["-n", "subscribers", "subscribers", "example", "--list"],
            ["-n", "subscribers", "subscribers", "show", "example", "--list"],
            id="a-namespace-named-subscribers",
        ),
        pytest.param(["subscribers", "remove", "x"], ["subscribers", "remove", "x"], id="remove"),
        pytest.param(["subscribers", "show", "erase"], ["subscribers", "show", "erase"], id="show"),
        pytest.param(["subscribers", "--help"], ["subscribers", "--help"], id="help"),
        pytest.param(["status", "subscribers"], ["status", "subscribers"], id="a-page-named-so"),
        pytest.param(
            ["subscribers", "-n", "shop", "--list", "example"],
            ["subscribers", "show", "-n", "shop", "--list", "example"],
            id="options-before-the-page",
        ),
        pytest.param(
            ["subscribers", "--context", "remove", "erase", "--address", "a@b.c"],
            ["subscribers", "--context", "remove", "erase", "--address", "a@b.c"],
            id="a-context-named-remove",
        ),
    ],
)
def test_shorthand(argv: list[str], expected: list[str]) -> None:
    """`subscribers PAGE` is `subscribers show PAGE`; everything else is left alone."""
    assert shorthand(argv) == expected


def test_options_before_the_page_parse() -> None:
    """`subscribers -n shop --list example` is the listing of page example in shop."""
    args = build_parser().parse_args(shorthand(["subscribers", "-n", "shop", "--list", "example"]))
    assert (args.action, args.page, args.list, args.namespace) == ("show", "example", True, "shop")


def test_the_parser_takes_every_action() -> None:
    """Each action parses with its options."""
    parser = build_parser()
    shown = parser.parse_args(shorthand(["subscribers", "example", "--list", "-n", "shop"]))
    assert (shown.action, shown.page, shown.list, shown.namespace) == (
        "show",
        "example",
        True,
        "shop",
    )
    erased = parser.parse_args(["subscribers", "erase", "--address", ADDRESS, "-A"])
    assert (erased.action, erased.address, erased.all_namespaces) == ("erase", ADDRESS, True)
    removed = parser.parse_args(["subscribers", "remove", "public-aaa"])
    assert (removed.action, removed.name) == ("remove", "public-aaa")
