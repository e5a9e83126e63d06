"""kopf glue: settings, the engine's life cycle, and watch events into the engine's store.

The only package that imports kopf. Handlers are event handlers (no per-object state, no
finalizer, no annotations from kopf): the engine decides what to write.
"""

from statuspage_operator.handlers import events, lifecycle

__all__ = ["events", "lifecycle"]
