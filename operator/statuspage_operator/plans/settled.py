"""Which windows are settled for good, and so may leave kopf's watch (control/settled.py).

A window Completed or Cancelled for its current generation, Ready, not being deleted, can change
only if someone edits it: time alone never moves it again. Such a window carries the label
`statuspage.dev/settled: "<generation>"` and kopf's watch leaves it out, so kopf keeps nothing of
it in memory. An edit brings it back: its generation no longer matches the label (spec), or the
metadata watch of labelled windows sees it modified (status, labels, annotations, deletion).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statuspage_operator.api.names import FINALIZER, SETTLED_LABEL

Body = Mapping[str, Any]
TERMINAL = ("Completed", "Cancelled")


def settled_for_good(body: Body) -> bool:
    """Completed or Cancelled for the current spec: nothing can change it but a spec edit."""
    meta, status = body.get("metadata", {}), body.get("status") or {}
    return (
        status.get("phase") in TERMINAL
        and status.get("observedGeneration") == meta.get("generation")
        and not any(c.get("type") == "Stalled" for c in status.get("conditions") or ())
    )


def ready(body: Body) -> bool:
    """Its Ready condition is True for the current generation (page and components found)."""
    meta, status = body.get("metadata", {}), body.get("status") or {}
    return any(
        c.get("type") == "Ready"
        and c.get("status") == "True"
        and c.get("observedGeneration", meta.get("generation")) == meta.get("generation")
        for c in status.get("conditions") or ()
    )


def label_of(body: Body) -> str | None:
    """The settled label's value, None when it has none."""
    labels = body.get("metadata", {}).get("labels") or {}
    value = labels.get(SETTLED_LABEL)
    return None if value is None else str(value)


def may_leave(body: Body) -> bool:
    """Settled for good, Ready and not being deleted: the operator has nothing left to do."""
    return (
        settled_for_good(body)
        and ready(body)
        and not body.get("metadata", {}).get("deletionTimestamp")
    )


def wanted_label(body: Body) -> str | None:
    """The label the window should carry: its generation if it may leave, else none."""
    return str(body.get("metadata", {}).get("generation")) if may_leave(body) else None


def label(body: dict[str, Any]) -> bool:
    """Put the label on a body that may leave, as it is when kopf patches it (in place); whether
    it did.

    kopf calls this on the freshest body it knows, in the same JSON patch as its finalizer's
    removal, guarded by that body's resourceVersion: a body that changed since the handler ran
    is judged anew.
    """
    value = wanted_label(body)
    if value is None or label_of(body) is not None:
        return False
    body.setdefault("metadata", {}).setdefault("labels", {})[SETTLED_LABEL] = value
    return True


def mislabelled(body: Body) -> bool:
    """A labelled window (the whole object) whose label is not, or no longer, true."""
    value = label_of(body)
    return value is not None and value != wanted_label(body)


def stale(event_type: str | None, meta: Mapping[str, Any]) -> bool:
    """From the metadata watch of labelled windows: whether the label must come off.

    Listed or ADDED (the label just appeared): when the generation is not the label's (an ADDED
    label the operator did not put is stale too: control/settled.py knows its own). MODIFIED:
    anything changed it while it was out of kopf's sight (spec, status, labels, annotations),
    so it goes back to be judged, unless it is on its way out with none of our finalizer.
    """
    labels = meta.get("labels") or {}
    value = labels.get(SETTLED_LABEL)
    if value is None or event_type == "DELETED":
        return False
    if event_type == "MODIFIED":
        return not meta.get("deletionTimestamp") or FINALIZER in (meta.get("finalizers") or ())
    return str(value) != str(meta.get("generation"))
