"""Windows settled for good: which may leave kopf's watch, and which must come back to it."""

from __future__ import annotations

from typing import Any

import pytest

from statuspage_operator.api.names import FINALIZER, SETTLED_LABEL
from statuspage_operator.plans.settled import (
    label,
    may_leave,
    mislabelled,
    stale,
    wanted_label,
)


def ready(generation: int = 2, status: str = "True") -> dict[str, Any]:
    return {"type": "Ready", "status": status, "observedGeneration": generation}


def window(
    phase: str | None = "Completed",
    generation: int = 2,
    observed: int = 2,
    conditions: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "ns", "name": "w", "uid": "u", "generation": generation}
    if labels is not None:
        meta["labels"] = labels
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T12:00:00Z"
    status: dict[str, Any] = {"observedGeneration": observed}
    if phase is not None:
        status["phase"] = phase
    status["conditions"] = [ready(observed)] if conditions is None else conditions
    return {"metadata": meta, "spec": {"page": "p"}, "status": status}


@pytest.mark.parametrize(
    ("body", "leaves"),
    [
        pytest.param(window("Completed"), True, id="completed"),
        pytest.param(window("Cancelled"), True, id="cancelled"),
        pytest.param(window("Scheduled"), False, id="scheduled"),
        pytest.param(window("InProgress"), False, id="in-progress"),
        pytest.param(window(None), False, id="no-status-yet"),
        pytest.param(window(generation=3, observed=2), False, id="edited-since"),
        pytest.param(window(conditions=[ready(2, "False")]), False, id="page-missing"),
        pytest.param(window(conditions=[]), False, id="no-ready-condition"),
        pytest.param(
            window(conditions=[ready(2, "False"), {"type": "Stalled", "status": "True"}]),
            False,
            id="stalled",
        ),
        pytest.param(window(deleting=True), False, id="being-deleted"),
    ],
)
def test_only_a_window_settled_for_good_and_ready_may_leave(
    body: dict[str, Any], leaves: bool
) -> None:
    """Completed or Cancelled for its generation, Ready, not being deleted."""
    assert may_leave(body) is leaves


def test_the_label_is_the_generation() -> None:
    """The label's value is the generation it was settled for."""
    assert wanted_label(window(generation=7, observed=7)) == "7"
    assert wanted_label(window("InProgress")) is None


def test_label_puts_it_on_a_body_that_may_leave() -> None:
    """The patch function labels the body kopf patches, keeping the other labels."""
    body = window(labels={"team": "sre"})
    assert label(body)
    assert body["metadata"]["labels"] == {"team": "sre", SETTLED_LABEL: "2"}


def test_label_judges_the_body_as_kopf_patches_it() -> None:
    """A window edited since the handler ran (a newer generation) is not labelled."""
    body = window(generation=3, observed=2)
    assert not label(body)
    assert "labels" not in body["metadata"]


def test_label_never_rewrites_a_label() -> None:
    """A label already there is left as it is (the metadata watch judges it)."""
    body = window(labels={SETTLED_LABEL: "1"})
    assert not label(body)
    assert body["metadata"]["labels"] == {SETTLED_LABEL: "1"}


@pytest.mark.parametrize(
    ("body", "wrong"),
    [
        pytest.param(window(labels={SETTLED_LABEL: "2"}), False, id="true"),
        pytest.param(window(), False, id="unlabelled"),
        pytest.param(window(generation=3, labels={SETTLED_LABEL: "2"}), True, id="edited"),
        pytest.param(window("InProgress", labels={SETTLED_LABEL: "2"}), True, id="by-hand"),
        pytest.param(window(labels={SETTLED_LABEL: "1"}), True, id="other-generation"),
    ],
)
def test_a_label_that_is_not_true_is_mislabelled(body: dict[str, Any], wrong: bool) -> None:
    """The whole object decides: settled for good for the label's generation, or not."""
    assert mislabelled(body) is wrong


def meta(
    generation: int = 2,
    value: str | None = "2",
    deleting: bool = False,
    finalizers: tuple[str, ...] = (),
) -> dict[str, Any]:
    found: dict[str, Any] = {"namespace": "ns", "name": "w", "generation": generation}
    if value is not None:
        found["labels"] = {SETTLED_LABEL: value}
    if deleting:
        found["deletionTimestamp"] = "2026-12-01T12:00:00Z"
    if finalizers:
        found["finalizers"] = list(finalizers)
    return found


@pytest.mark.parametrize(
    ("event_type", "metadata", "comes_back"),
    [
        pytest.param(None, meta(), False, id="listed-true"),
        pytest.param(None, meta(generation=3), True, id="listed-edited"),
        pytest.param("ADDED", meta(), False, id="just-labelled"),
        pytest.param("ADDED", meta(generation=3), True, id="labelled-then-edited"),
        pytest.param("MODIFIED", meta(), True, id="modified"),
        pytest.param("MODIFIED", meta(generation=3), True, id="spec-edited"),
        pytest.param("MODIFIED", meta(deleting=True), False, id="being-deleted"),
        pytest.param(
            "MODIFIED",
            meta(deleting=True, finalizers=(FINALIZER,)),
            True,
            id="deleted-with-our-finalizer",
        ),
        pytest.param("DELETED", meta(generation=3), False, id="deleted"),
        pytest.param("MODIFIED", meta(value=None), False, id="unlabelled"),
    ],
)
def test_the_metadata_watch_brings_back_what_changed(
    event_type: str | None, metadata: dict[str, Any], comes_back: bool
) -> None:
    """A generation that is not the label's, or any change while out of kopf's sight."""
    assert stale(event_type, metadata) is comes_back
