"""MaintenanceWindow: a daemon per window that can still change moves it at its edges.

kopf watches only the windows without the settled label (handlers/lifecycle.py): a window
settled for good is labelled here and leaves the watch; control/settled.py brings it back when
it is edited.
"""

from __future__ import annotations

import functools
from typing import Any, cast

import kopf

from statuspage_operator.api.names import GROUP, VERSION, Kind
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.control.settled import SettledWatch
from statuspage_operator.handlers.kopf_workarounds import without_finalizer
from statuspage_operator.plans.settled import label, label_of, may_leave

PLURAL = "maintenancewindows"


def can_still_change(body: kopf.Body, memo: kopf.Memo, **_: Any) -> bool:
    """To come or in progress, valid, not cancelled (decided by the watch handler, at the event)."""
    runtime: Runtime = memo.runtime
    return runtime.windows.is_live(body)  # no copy: kopf calls this for every event


def changes_components(body: kopf.Body, memo: kopf.Memo, **_: Any) -> bool:
    """Can still change, and puts components under maintenance: deletion must restore them."""
    return can_still_change(body, memo) and _affects(body)


def changes_nothing(body: kopf.Body, memo: kopf.Memo, **_: Any) -> bool:
    """Can still change, but no component shows it (autoUpdateStatus false, or none listed)."""
    return can_still_change(body, memo) and not _affects(body)


def _affects(body: kopf.Body) -> bool:
    spec = body.get("spec") or {}
    return bool(spec.get("components")) and spec.get("autoUpdateStatus", True) is not False


# Event handler, not on.create/update: it runs for every event with no diff-base annotation to
# write, and after a re-list kopf replays every object through it.
@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_window_event(
    type: str | None, body: kopf.Body, memo: kopf.Memo, patch: kopf.Patch, **_: Any
) -> None:
    """Hold the window in the view while it can change; settle the ones no daemon runs for;
    label the ones settled for good, so that they leave kopf's watch (and its memory)."""
    runtime: Runtime = memo.runtime
    raw = dict(body)
    runtime.reported(Kind.WINDOW, type, raw)
    settled: SettledWatch = memo.settled
    if type == "DELETED" and settled.leaving(str(body.meta.uid)):
        # Our label appeared: the window is still there, settled, and nothing of it is held.
        return
    runtime.writer.replay(Kind.WINDOW, raw, listed=type is None)
    now = runtime.clock()
    change = runtime.windows.observe(type, raw, now)
    # Beside the transitions, never in their way: it only hands work to the window's lane.
    runtime.silences.observe(type, raw)
    await runtime.components.apply(str(body.meta.namespace), change)
    if type == "DELETED" or body.meta.deletion_timestamp:
        return
    if runtime.windows.is_live(raw):
        if change is not None:
            runtime.windows.wake((str(body.meta.namespace), str(body.meta.name)))
    else:
        await runtime.windows.settle(raw, now)
        # Settled for good as this event shows it (the event of our own terminal write): the
        # label rides in kopf's patch, with its finalizer's removal when it has one (one
        # request), and is judged again on the body kopf patches.
        if may_leave(raw) and label_of(raw) is None:
            patch.fns.append(functools.partial(_label, settled))


def _label(settled: SettledWatch, body: kopf.RawBody) -> None:
    if label(cast(dict[str, Any], body)):
        settled.labelling(str(body.get("metadata", {}).get("uid", "")))


# A daemon, not a timer: it sleeps until the exact edge (a timer's interval starts when its task
# does, and again at every restart). kopf stops it when the filter turns false. kopf's finalizer
# sits on a window only while its daemon runs and it changes components, so deleting it restores
# them first; a completed window, or one that changes no component, carries none.
@kopf.daemon(GROUP, VERSION, PLURAL, id="edges", when=changes_components, cancellation_timeout=10)
@kopf.daemon(GROUP, VERSION, PLURAL, id="quiet", when=changes_nothing, cancellation_timeout=10)
async def window_edges(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    """Settle the window at every start and end (its components with it), then sleep until the
    next."""
    runtime: Runtime = memo.runtime
    # The body is kopf's live view: spec edits reach it, and the watch handler wakes us. The
    # daemon wakes on `stopped` too and returns at once: kopf never has to cancel it.
    await runtime.windows.follow(body, stopped)


without_finalizer("quiet")


@kopf.on.delete(GROUP, VERSION, PLURAL, when=changes_components)
async def on_window_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Take the window's effect off its components, expire its silence (a few seconds at most),
    before kopf lets it go."""
    runtime: Runtime = memo.runtime
    await runtime.windows.release(dict(body))
    await runtime.silences.release(dict(body))
