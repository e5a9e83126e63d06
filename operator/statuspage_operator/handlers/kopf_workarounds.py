"""The one place where kopf's behaviour is wrong for us, worked around."""

from __future__ import annotations

import dataclasses

import kopf


def without_finalizer(handler_id: str) -> None:
    """Let a timer or daemon run on objects without putting kopf's finalizer on them.

    kopf puts its finalizer on every object a daemon or timer matches (kopf issues 833, 1001,
    1074), so that it can stop them before the object goes. Where the handler holds nothing a
    deletion must wait for, the finalizer only means the object cannot be deleted while the
    operator is down. kopf still stops the handler when the object is deleted (on the DELETED
    event). kopf has no public switch for this, so the registered handler's flag is cleared here:
    its registry is not public API, which is why pyproject.toml pins kopf to one minor version,
    and tests/e2e/test_finalizers.py watches that no page, quiet window or Subscriber ever gets
    the finalizer.
    """
    handlers = kopf.get_default_registry()._spawning._handlers
    found = [i for i, handler in enumerate(handlers) if handler.id == handler_id]
    if not found:
        raise LookupError(f"no daemon or timer {handler_id!r} is registered")
    for index in found:
        handlers[index] = dataclasses.replace(handlers[index], requires_finalizer=False)


def short_body_repr() -> None:
    """Write a body as `<Body namespace/name>` wherever kopf prints one.

    kopf formats `logger.debug(f"... is in progress: {body!r}")` for every event of a kind that
    has an on.delete handler, whether debug logging is on or not: the whole object, managedFields
    included, turned into text and dropped. That was 43% of kopf's time in its changing-cause step
    and 4% of its event processing in our profile under 100 edits a second (docs/operations.md,
    Performance). Only with `--verbose` (debug logging) does kopf keep its full repr.
    """

    def short(body: kopf.Body) -> str:
        meta = body.get("metadata") or {}
        return f"<Body {meta.get('namespace', '')}/{meta.get('name', '')}>"

    kopf.Body.__repr__ = short  # type: ignore[method-assign,assignment]
