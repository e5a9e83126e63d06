"""kopf glue, one module per kind: the map of the operator, and the only package importing kopf.

- lifecycle.py   @kopf.on.startup / on.cleanup / on.probe: settings, the runtime, the sweep
                 (beside the handlers: drops what was deleted during a watch gap), liveness
- windows.py     @kopf.daemon per window that can still change: edges at the instant;
                 @kopf.on.event: the view, waking daemons, the settled label (kopf watches
                 unlabelled windows only); @kopf.on.delete: effect off first
- incidents.py   @kopf.on.event: timeline, phase, effect (a draft has none), the operator's own
                 drafts known; @kopf.on.delete: effect off first
- components.py  @kopf.on.event: the view; recompute the component and its page (the alerts
                 receiver's write of status.alerts is such an event)
- pages.py       @kopf.on.event: the view, its drafts; @kopf.timer every 10 minutes: the safety net
- publication.py @kopf.on.event (cluster-scoped PublicationPolicy): the pages whose Published
                 condition a grant changes are written again
- subscribers.py @kopf.on.event: who hears of a page's news; its destination checked;
                 @kopf.timer every 30 s while its Secret is missing or wrong: checked again

Work that runs beside kopf's handlers, all of it (what starts it; what stops it):

- main.py        the Lease election (`--leader-elect`): runs kopf only while the Lease is held;
                 SIGTERM or a lost Lease stops it. A readiness line once kopf watches.
- lifecycle.py   the start-up catch-up (control/runtime.py): windows whose edge passed while the
                 operator was down, settled from the start-up list; ends when they are, or at
                 on.cleanup. The sweep (control/sweep.py): on.startup to on.cleanup. The
                 watch of settled windows (control/settled.py), its label removals and its
                 heap release after a burst of windows leaving kopf's watch: the same.
- windows.py     per daemon, a relay of kopf's `stopped` flag to the daemon's wake-up (the
                 daemon returns at once instead of being cancelled); it ends with the daemon.
- any alerts     per component whose alerts change their answer by time alone (a group
                 expiring, a hold ending), an asyncio timer in control/components.py recomputes it
                 at that instant; replaced at every recompute, cancelled at on.cleanup; the
                 start-up recompute of every component sets them again. Not a kopf daemon or
                 timer: either would keep every component's body in memory and add a finalizer
                 (kopf-notes), for what is one sleep per component with alerts in force.
- any change     a page's rollup, written 200 ms after the first change of a burst (one task per
                 page with changes pending, control/components.py); cancelled at on.cleanup.
- alert groups   a page's draft incidents, planned 200 ms after a change of the page or of a
                 component's status.alerts, and again when a group expires or a step must be
                 retried (one task or timer per page, control/drafts.py); cancelled at on.cleanup.
- any notice     its Event, posted after the status writes in flight (control/writer.py,
                 Announcer); drained for up to 5 s at on.cleanup.
- any delivery   notification lanes, retry timers and record flushes
                 (control/notifications/__init__.py lists them); stopped at on.cleanup.
- a window event its Alertmanager silence (`--alertmanager-url`): a lane per window whose silence
                 is not as it should be (control/silences.py), retrying while Alertmanager is
                 down; it ends when the status records it; cancelled at on.cleanup. The
                 window's on.delete waits for it at most 5 s.
"""

from statuspage_operator.handlers import (
    components,
    incidents,
    lifecycle,
    pages,
    publication,
    subscribers,
    windows,
)

__all__ = ["components", "incidents", "lifecycle", "pages", "publication", "subscribers", "windows"]
