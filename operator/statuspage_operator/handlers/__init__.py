"""kopf glue, one module per kind: the map of the operator, and the only package importing kopf.

- lifecycle.py   @kopf.on.startup / on.cleanup / on.probe: settings, the runtime, the sweep
                 (beside the handlers: drops what was deleted during a watch gap), liveness
- windows.py     @kopf.daemon per window that can still change: edges at the instant;
                 @kopf.on.event: the view, waking daemons; @kopf.on.delete: effect off first
- incidents.py   @kopf.on.event: timeline, phase, effect; @kopf.on.delete: effect off first
- components.py  @kopf.on.event: the view; recompute the component and its page
- pages.py       @kopf.on.event: the view; @kopf.timer every 10 minutes: the safety net
- subscribers.py @kopf.on.event: who hears of a page's news; its destination checked;
                 @kopf.timer every 30 s while its Secret is missing or wrong: checked again
"""

from statuspage_operator.handlers import (
    components,
    incidents,
    lifecycle,
    pages,
    subscribers,
    windows,
)

__all__ = ["components", "incidents", "lifecycle", "pages", "subscribers", "windows"]
