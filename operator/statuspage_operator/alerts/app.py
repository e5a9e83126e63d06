"""The receiver's HTTP surface: Alertmanager's webhook at `POST /alerts/{namespace}/{page}`.

Answers, in the order they are decided (docs/operations.md, "Alertmanager receiver"):
503 until pages and components are listed (and while stopping); 413 for a declared body over
`max_body`; 401 unless the Authorization header carries the page's receiver credentials (one body
whatever the reason); 429 with Retry-After beyond the page's rate; 413 for a body that grows past
`max_body`; 400 for anything but a webhook notification version 4; 200 once every component
concerned is written (or needed no write); 503 when a write failed (Alertmanager retries).
Logs name the page and a hash of the group key, never credentials or alert contents.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from statuspage_operator.domain.alertgroups import group_key

from .auth import SecretCache, authorized
from .payload import MAX_ALERTS, PayloadError, parse_notification
from .ratelimit import RateLimiter
from .store import Store
from .view import View

logger = logging.getLogger(__name__)
# A group of 1,000 alerts with kube-prometheus-stack's labels and annotations is 0.9 MB as
# Alertmanager v0.35 sends it (measured, tests/bench/alerts.py): room for about nine times that.
MAX_BODY = 8 * 1024 * 1024
CHUNK = 64 * 1024
# Bodies read and parsed at once (the rest wait, holding no body): bounds memory to a few
# max_body's worth whatever the connections (manifests/alerts: a 384Mi limit).
READING = 4


class Metrics:
    """Requests by outcome, and the time from a body read to its components written."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "statuspage_alerts_requests",
            "Webhook requests by answer",
            ["code"],
            registry=self.registry,
        )
        self.writes = Counter(
            "statuspage_alerts_writes",
            "Component status writes (and folds that needed none)",
            ["result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "statuspage_alerts_fold_write_seconds",
            "From a notification read to its components written",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )


@dataclass
class Receiver:
    """Everything a request needs."""

    view: View
    secrets: SecretCache
    store: Store
    limiter: RateLimiter
    max_body: int = MAX_BODY
    max_alerts: int = MAX_ALERTS
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    metrics: Metrics = field(default_factory=Metrics)
    reading: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(READING))
    shutting_down: bool = False


def _answer(receiver: Receiver, code: int, message: str, **extra: object) -> web.Response:
    receiver.metrics.requests.labels(str(code)).inc()
    headers = {"Retry-After": str(extra.pop("retry_after"))} if "retry_after" in extra else None
    body = {"status": "ok" if code == 200 else "error", "message": message, **extra}
    return web.json_response(body, status=code, headers=headers)


UNAUTHORIZED = "missing or wrong credentials for this page's receiver"


async def _read(request: web.Request, limit: int) -> bytes | None:
    """The body, read in bounded chunks; None as soon as it passes the limit."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)


async def receive(request: web.Request) -> web.Response:
    """POST /alerts/{namespace}/{page}."""
    receiver: Receiver = request.app[RECEIVER]
    namespace, page = request.match_info["namespace"], request.match_info["page"]
    if not receiver.view.ready():
        return _answer(receiver, 503, "not ready", retry_after=5)
    if request.content_length is not None and request.content_length > receiver.max_body:
        return _answer(receiver, 413, f"a notification is at most {receiver.max_body} bytes")
    settings = receiver.view.page(namespace, page)
    credentials = None
    if settings is not None:
        try:
            credentials = await receiver.secrets.credentials(namespace, settings.secret)
        except Exception:
            logger.warning("%s/%s: the receiver Secret could not be read", namespace, page)
            return _answer(receiver, 503, "the API server did not answer", retry_after=5)
    if settings is None or not authorized(request.headers.get("Authorization"), credentials):
        return _answer(receiver, 401, UNAUTHORIZED)
    wait = receiver.limiter.take((namespace, page))
    if wait:
        retry = receiver.limiter.retry_after(wait)
        return _answer(receiver, 429, "too many notifications for this page", retry_after=retry)
    # A few bodies at a time: each may be max_body bytes, then its parsed objects.
    async with receiver.reading:
        body = await _read(request, receiver.max_body)
        if body is None:
            return _answer(receiver, 413, f"a notification is at most {receiver.max_body} bytes")
        try:
            notification = parse_notification(body, receiver.max_alerts)
        except PayloadError as error:
            return _answer(receiver, 400, f"not an Alertmanager webhook notification: {error}")
        del body
    started = time.monotonic()
    key = group_key(notification.group_key)
    targets = receiver.view.targets_of(namespace, page)
    try:
        outcome = await receiver.store.deliver(settings, targets, notification, receiver.clock())
    except Exception as error:
        logger.warning(
            "%s/%s group %s: writing status failed (%s)", namespace, page, key, type(error).__name__
        )
        return _answer(receiver, 503, "writing the components' status failed", retry_after=5)
    receiver.metrics.latency.observe(time.monotonic() - started)
    receiver.metrics.writes.labels("written").inc(len(outcome.written))
    receiver.metrics.writes.labels("unchanged").inc(len(outcome.unchanged))
    receiver.metrics.writes.labels("conflict").inc(outcome.conflicts)
    logger.info(
        "%s/%s group %s (%s, %d alerts): wrote %d, unchanged %d, conflicts %d",
        namespace,
        page,
        key,
        notification.status,
        len(notification.alerts),
        len(outcome.written),
        len(outcome.unchanged),
        outcome.conflicts,
    )
    return _answer(
        receiver,
        200,
        "folded",
        group=key,
        written=list(outcome.written),
        unchanged=list(outcome.unchanged),
    )


async def healthz(request: web.Request) -> web.Response:
    """Alive."""
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    """Ready once pages and components are listed; not while stopping."""
    receiver: Receiver = request.app[RECEIVER]
    if receiver.shutting_down or not receiver.view.ready():
        return web.Response(status=503, text="not ready")
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics."""
    receiver: Receiver = request.app[RECEIVER]
    return web.Response(
        body=generate_latest(receiver.metrics.registry),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


RECEIVER = web.AppKey("receiver", Receiver)


def make_app(receiver: Receiver) -> web.Application:
    """The webhook, health and readiness (body size bounded here, not by aiohttp's default)."""
    app = web.Application(client_max_size=receiver.max_body)
    app[RECEIVER] = receiver
    app.router.add_post("/alerts/{namespace}/{page}", receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def make_metrics_app(receiver: Receiver) -> web.Application:
    """/metrics, on its own port."""
    app = web.Application()
    app[RECEIVER] = receiver
    app.router.add_get("/metrics", metrics)
    return app
