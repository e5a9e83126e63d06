"""The aiohttp application: routing by path or Host, cached renderings, HTTP done right.

Every response is built from memory. A rendering is cached per page and representation until the
page's namespace changes (any watch event there) or RENDER_TTL passes (uptime and the clock move),
or sooner at the instant a component's alerts change their answer by time alone (an expiry, a hold
ending: `PageView.changes_at`), so a change is visible on the next request and a busy page costs
one rendering per TTL. A page whose objects change faster than it renders (a flapping window) does
not turn into a render storm: a rendering that took longer than RENDER_BUDGET is not redone before
RENDER_COST_FACTOR times the excess has passed, so such a page spends at most about
1/RENDER_COST_FACTOR of the server's time per representation (a 1 s rendering: again after 9.5 s);
cheaper ones follow every change.

A rendering never holds the event loop: the loop snapshots the page's objects and one worker
thread builds the view and the body (`Server.render`; JSON in slices, server/sliced_json.py), so
the loop keeps answering while a page of 1,100 components renders. Requests for a rendering
under way wait for it rather than start another. Only a rendering known to be cheap (below
INLINE_BUDGET last time, for a page that has not grown much since) is done on the loop, and
only while the worker is idle: the view memos are never used by two threads at once.

Routes, under `/<namespace>/<page>/`, or under `/` for a Host that a page holds (publication,
domain/publication.py): `` (HTML), `api/v2/<endpoint>.json`, `history.atom`, `history.rss`,
`badge.svg`. Also `/healthz` (alive) and `/readyz` (listed everything, not shutting down).

Only what the publication decision serves is answered. Routing looks at the path's syntax only,
never at what exists, and every page not served (unknown, unpublished, of a namespace that may not
publish, Private) gets the very same 404 after the same work: names cannot be enumerated.

With `--signup-url`, a page offered to everyone whose spec asks for it (`subscriptions.byEmail`)
carries the "Get updates" form, posting to statuspage-signup (docs/server.md, "Get updates"); its
CSP lets forms post to that origin alone. The server itself still answers GET and HEAD only.

A Private page (docs/server.md, "Private pages") is rendered for what the request may see
(server/access.py): renderings are cached per audience set, answered `Cache-Control: private`,
and a request that may see nothing gets the same 404 as an unknown page.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from statuspage_operator.api.names import Kind
from statuspage_operator.api.subscription_tokens import Links
from statuspage_operator.domain.audience import Identity
from statuspage_operator.domain.publication import hostname_key
from statuspage_operator.server import feeds, sliced_json, statuspage_v2
from statuspage_operator.server.access import FEEDS, PUBLIC, Access, Gate, private_headers
from statuspage_operator.server.badge import badge
from statuspage_operator.server.cache import Cache, Key
from statuspage_operator.server.html import (
    CONTENT_SECURITY_POLICY,
    Renderer,
    content_security_policy,
    form_origin,
)
from statuspage_operator.server.identity import Trust
from statuspage_operator.server.view import PageView, Source, WindowMemo, build

RENDER_TTL = 30.0
RENDER_BUDGET = 0.05
RENDER_COST_FACTOR = 10.0
# A rendering expected to take less than this (its last one's cost, scaled by how much the page
# has grown since) runs on the loop: handing it to the worker would cost more than it saves.
INLINE_BUDGET = 0.005
MAX_PATH = 512
MAX_BODY = 1024  # the server is GET-only: a body is never read, and a big one is refused
MAX_RENDERINGS = 10_000
# Memory for cached responses (plus the one being added) and the page views behind them,
# whatever the pages' sizes: the oldest renderings go first.
MAX_RENDERED_BYTES = 24 * 1024 * 1024
MAX_VIEWS = 256
CACHE_CONTROL = "public, max-age=10"
FEED_CACHE_CONTROL = "public, max-age=60"

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOST = re.compile(
    r"^(?P<name>[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$"
)

COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
HTML_HEADERS = {
    **COMMON_HEADERS,
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Cache-Control": CACHE_CONTROL,
}
JSON_HEADERS = {
    **COMMON_HEADERS,
    "Content-Type": "application/json; charset=utf-8",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag",
    "Cache-Control": CACHE_CONTROL,
}
_LOCKED = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
FEED_HEADERS = {**COMMON_HEADERS, **_LOCKED, "Cache-Control": FEED_CACHE_CONTROL}
BADGE_HEADERS = {
    **COMMON_HEADERS,
    **_LOCKED,
    "Content-Type": "image/svg+xml; charset=utf-8",
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": CACHE_CONTROL,
}
CORS_PREFLIGHT = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "If-None-Match",
    "Access-Control-Max-Age": "86400",
}


class Metrics:
    """Prometheus metrics of requests and of what the cache holds, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "statuspage_server_requests",
            "HTTP requests served, by route and status code",
            ["route", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "statuspage_server_request_duration_seconds",
            "Time to answer a request, by route",
            ["route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.renderings = Counter(
            "statuspage_server_renderings",
            "Responses rendered (not answered from the rendering cache), by route",
            ["route"],
            registry=self.registry,
        )
        self.objects = Gauge(
            "statuspage_server_objects",
            "Objects held in memory, by kind",
            ["kind"],
            registry=self.registry,
        )


@dataclass(frozen=True, slots=True)
class Rendered:
    """A cached response body."""

    version: int
    expires: float
    body: bytes
    etag: str
    headers: Mapping[str, str]
    not_before: float = 0.0  # no new rendering before this (monotonic): see RENDER_COST_FACTOR
    cost: float = 0.0  # how long it took (seconds)
    size: int = 0  # how many objects the page had


Held = tuple[Key, str, tuple[str, ...]]  # page, representation, audience set


def lifetime(view: PageView) -> float:
    """How long a rendering of the view stays right: RENDER_TTL, or until its alerts change."""
    if view.changes_at is None:
        return RENDER_TTL
    return min(RENDER_TTL, max(0.0, (view.changes_at - view.now).total_seconds()))


Producer = Callable[[PageView], tuple[bytes, Mapping[str, str]]]


def _json(render: Callable[[PageView], Any]) -> Producer:
    def produce(view: PageView) -> tuple[bytes, Mapping[str, str]]:
        return sliced_json.dumps(render(view)), JSON_HEADERS

    return produce


def _feed(render: Callable[[PageView], bytes], content_type: str) -> Producer:
    headers = {**FEED_HEADERS, "Content-Type": content_type}

    def produce(view: PageView) -> tuple[bytes, Mapping[str, str]]:
        return render(view), headers

    return produce


def _badge(view: PageView) -> tuple[bytes, Mapping[str, str]]:
    return badge("status", view.indicator, view.indicator_description).encode(), BADGE_HEADERS


class Route(NamedTuple):
    """Where a request goes: a page's representation (by Host or by path), or a redirect."""

    key: Key | None = None
    representation: str | None = None
    redirect: str | None = None
    by_host: bool = False


NOWHERE = Route()

# Route of each representation, for metrics (a fixed, small set of labels).
ROUTES: dict[str, str] = {"": "html", "history.atom": "feed", "history.rss": "feed"}
ROUTES["badge.svg"] = "badge"
ROUTES.update({f"api/v2/{name}": "json" for name in statuspage_v2.ENDPOINTS})


@dataclass
class Server:
    """The state behind the app: the cache, renderings, metrics."""

    cache: Cache
    base_url: str = ""
    trust: Trust = field(default_factory=Trust)
    # The private feed keys (api/feed_tokens.py), kept fresh by server/feed_keys.py.
    feed_keys: tuple[bytes, ...] = ()
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    shutting_down: bool = False
    # `--path-routing` and `--path-routing-host`: where `/<namespace>/<page>/` is routed.
    path_routing_on: bool = True
    path_hosts: frozenset[str] = frozenset()
    # `--signup-url`: statuspage-signup's public base ("": no page shows the form).
    signup_url: str = ""
    _signup: Links | None = None
    _form_headers: Mapping[str, str] = field(default_factory=lambda: HTML_HEADERS)
    _memo: WindowMemo = field(default_factory=WindowMemo)
    _renderer: Renderer = field(default_factory=Renderer)
    _renderings: dict[Held, Rendered] = field(default_factory=dict)
    # Renderings under way, shared by every request that wants the same one.
    _pending: dict[Held, asyncio.Future[Rendered]] = field(default_factory=dict)
    # Builds views and bodies off the event loop; one thread, so `_views`, `_memo`, `_renderer`
    # and the representations' own memos are only ever touched by one thread at a time.
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="render")
    )
    _rendered_bytes: int = 0
    _views: dict[tuple[Key, tuple[str, ...]], tuple[int, float, PageView]] = field(
        default_factory=dict
    )
    _gate: Gate = field(default_factory=Gate)
    _producers: dict[str, Producer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.signup_url:
            origin = form_origin(self.signup_url)
            self._signup = Links(self.signup_url.rstrip("/"))
            policy = content_security_policy(origin)
            self._form_headers = {**HTML_HEADERS, "Content-Security-Policy": policy}
        self._producers = {
            "": self._html,
            "history.atom": _feed(feeds.atom, "application/atom+xml; charset=utf-8"),
            "history.rss": _feed(feeds.rss, "application/rss+xml; charset=utf-8"),
            "badge.svg": _badge,
        }
        for name, render in statuspage_v2.ENDPOINTS.items():
            self._producers[f"api/v2/{name}"] = _json(render)

    @property
    def ready(self) -> bool:
        """Whether every kind has been listed and the server is not shutting down."""
        return not self.shutting_down and self.cache.synced >= set(Kind)

    def _html(self, view: PageView) -> tuple[bytes, Mapping[str, str]]:
        headers = HTML_HEADERS if view.signup is None else self._form_headers
        return self._renderer.page(view).encode(), headers

    def _view(self, source: Source, key: Key, access: Access, version: int, now: float) -> PageView:
        held = self._views.get((key, access.cache_key))
        if held is not None and held[0] == version and held[1] > now:
            return held[2]
        view = build(
            source,
            key,
            self.clock(),
            self._memo,
            self.base_url,
            access.sight,
            access.private,
            self._signup,
        )
        self._views.pop((key, access.cache_key), None)
        while len(self._views) >= MAX_VIEWS:
            del self._views[next(iter(self._views))]
        self._views[(key, access.cache_key)] = (version, now + lifetime(view), view)
        return view

    def _produce(
        self,
        source: Source,
        held: Held,
        access: Access,
        version: int,
        now: float,
        started: float | None = None,
    ) -> tuple[bytes, Mapping[str, str], str, float, float, float]:
        # The expensive part, in the worker thread: it reads the snapshot, never the cache. Its
        # cost is timed from when it starts there: the wait behind other renderings is not its.
        started = self.monotonic() if started is None else started
        key, representation, _ = held
        view = self._view(source, key, access, version, now)
        body, headers = self._producers[representation](view)
        if access.private:
            headers = private_headers(headers)
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        done = self.monotonic()
        return body, headers, etag, done - started, done, lifetime(view)

    def _lookup(
        self, key: Key, representation: str, access: Access
    ) -> tuple[Held, int, float, Rendered | None]:
        """What a rendering is kept under, the page's version, now, and the kept rendering if it
        may still be answered (the same version within RENDER_TTL, or throttled)."""
        version, now = self.cache.versions[key[0]], self.monotonic()
        held = (key, representation, access.cache_key)
        found = self._renderings.get(held)
        if found is not None and (
            (found.version == version and found.expires > now) or now < found.not_before
        ):
            return held, version, now, found
        return held, version, now, None

    def rendering(self, key: Key, representation: str, access: Access = PUBLIC) -> Rendered | None:
        """The response of one representation of a page as `access` sees it; None if no page.

        Rendered in the calling thread: for tests and measurements (the server uses `render`).
        Whether the page may be served, and to whom, is the caller's question (`served`).
        """
        if self.cache.page(key) is None:
            return None
        held, version, now, fresh = self._lookup(key, representation, access)
        if fresh is not None:
            return fresh
        produced = self._produce(self.cache.snapshot(key), held, access, version, now, now)
        return self._keep(held, version, now, self.cache.size(key), *produced)

    async def render(
        self, key: Key, representation: str, access: Access = PUBLIC
    ) -> Rendered | None:
        """`rendering`, with the work done in the worker thread while the event loop runs on.

        Requests for the same rendering while it is under way wait for that one (no stampede).
        """
        if self.cache.page(key) is None:
            return None
        held, version, now, fresh = self._lookup(key, representation, access)
        if fresh is not None:
            return fresh
        stale = self._renderings.get(held)
        size = self.cache.size(key)
        if (
            not self._pending
            and stale is not None
            and stale.cost * (size + 1) / (stale.size + 1) < INLINE_BUDGET
        ):
            produced = self._produce(self.cache.snapshot(key), held, access, version, now, now)
            return self._keep(held, version, now, size, *produced)
        pending = self._pending.get(held)
        if pending is None:
            pending = asyncio.ensure_future(self._off_loop(held, access, version, now))
            self._pending[held] = pending
        # Shielded: a client that goes away does not cancel the others' rendering.
        return await asyncio.shield(pending)

    async def _off_loop(self, held: Held, access: Access, version: int, now: float) -> Rendered:
        try:
            snapshot, size = self.cache.snapshot(held[0]), self.cache.size(held[0])
            produced = await asyncio.get_running_loop().run_in_executor(
                self._worker, self._produce, snapshot, held, access, version, now
            )
            return self._keep(held, version, now, size, *produced)
        finally:
            del self._pending[held]

    def _keep(
        self,
        held: Held,
        version: int,
        now: float,
        size: int,
        body: bytes,
        headers: Mapping[str, str],
        etag: str,
        cost: float,
        done: float,
        ttl: float = RENDER_TTL,
    ) -> Rendered:
        self.metrics.renderings.labels(ROUTES[held[1]]).inc()
        not_before = done + RENDER_COST_FACTOR * max(0.0, cost - RENDER_BUDGET)
        rendered = Rendered(version, now + ttl, body, etag, headers, not_before, cost, size)
        self._forget(held)
        while self._renderings and (
            len(self._renderings) >= MAX_RENDERINGS
            or self._rendered_bytes + len(body) > MAX_RENDERED_BYTES
        ):
            self._forget(next(iter(self._renderings)))
        self._renderings[held] = rendered
        self._rendered_bytes += len(body)
        return rendered

    def close(self) -> None:
        """Stop the worker thread (renderings not started are dropped)."""
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _forget(self, held: Held) -> None:
        gone = self._renderings.pop(held, None)
        if gone is not None:
            self._rendered_bytes -= len(gone.body)

    @property
    def rendered_bytes(self) -> int:
        """Bytes of cached responses held."""
        return self._rendered_bytes

    def path_routing(self, hostname: str) -> bool:
        """Whether `/<namespace>/<page>/` is routed on a Host (by name; "" when none was sent)."""
        if not self.path_routing_on:
            return False
        return not self.path_hosts or hostname in self.path_hosts

    def route(self, host: str | None, path: str) -> Route:
        """The page, representation or redirect for a Host and path (NOWHERE: nothing matches).

        By syntax alone: whether the page exists or is served is asked later (`served`).
        """
        match = _HOST.match(host) if host else None
        hostname = hostname_key(match["name"]) if match else ""
        held = self.cache.publication.hostnames.get(hostname)
        if held is not None:
            # A held host is the page's own: no other page is reachable on it by path.
            rest = path[1:]
            return Route(held, rest, by_host=True) if rest in ROUTES else NOWHERE
        if not self.path_routing(hostname):
            return NOWHERE
        parts = path.split("/", 3)
        if len(parts) < 3 or not _LABEL.match(parts[1]) or not _SUBDOMAIN.match(parts[2]):
            return NOWHERE
        if len(parts[2]) > 253:
            return NOWHERE
        key = (parts[1], parts[2])
        if len(parts) == 3:
            # Redirected whether the page exists or not: the answer tells nothing.
            return Route(redirect=f"/{parts[1]}/{parts[2]}/")
        rest = parts[3]
        return Route(key, rest) if rest in ROUTES else NOWHERE

    def served(
        self, key: Key, by_host: bool, request: web.Request, representation: str
    ) -> Access | None:
        """What the request may see of the page; None: not served to it (the uniform 404).

        Published where asked (domain/publication.py), then visible to who asks: anyone for a
        Public page; for a Private one, the audiences a trusted proxy's identity matches, or a
        feed token's audience (server/access.py).
        """
        outcome = self.cache.outcome(key)
        if not (outcome.published if by_host else outcome.by_path):
            return None
        identity = self.trust.identity(request.remote, request.headers)
        token = request.query.get("token") if representation in FEEDS else None
        return self.access(key, identity, token)

    def access(self, key: Key, identity: Identity, token: str | None = None) -> Access | None:
        """What an identity (or a feed token) may see of a page; None: nothing.

        `token` is a private feed's token (given only for feeds): when present, it alone decides.
        """
        return self._gate.access(key, self.cache.page(key), identity, token, self.feed_keys)


def _matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        value = candidate.strip()
        if value == "*" or value.removeprefix("W/") == etag:
            return True
    return False


def _text(status: int, message: str, extra: Mapping[str, str] | None = None) -> web.Response:
    headers = {**COMMON_HEADERS, **_LOCKED, "Cache-Control": "no-store", **(extra or {})}
    return web.Response(status=status, text=message + "\n", headers=headers)


def make_app(server: Server) -> web.Application:
    """The aiohttp application serving `server`."""
    metrics = server.metrics

    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        route, response = await answer(request)
        metrics.requests.labels(route, str(response.status)).inc()
        metrics.duration.labels(route).observe(time.perf_counter() - started)
        return response

    async def answer(request: web.Request) -> tuple[str, web.StreamResponse]:
        route = "other"
        path = request.raw_path.split("?", 1)[0]
        if len(request.raw_path) > MAX_PATH:
            return route, _text(414, "URI too long")
        if (request.content_length or 0) > MAX_BODY or "Transfer-Encoding" in request.headers:
            refused = _text(413, "request body too large")
            refused.force_close()
            return route, refused
        if path in ("/healthz", "/readyz"):
            route = "health"
            if path == "/readyz" and not server.ready:
                return route, _text(503, "not ready")
            return route, _text(200, "ok")
        host = request.headers.get("Host")
        if host is not None and (len(host) > 261 or not _HOST.match(host)):
            return route, _text(400, "bad Host header")
        key, representation, redirect, by_host = server.route(host, path)
        if redirect is not None:
            return route, _text(308, "moved", {"Location": redirect})
        if key is None or representation is None:
            return route, _text(404, "no such page")
        route = ROUTES[representation]
        if request.method == "OPTIONS":
            return route, web.Response(status=204, headers={**COMMON_HEADERS, **CORS_PREFLIGHT})
        if request.method not in ("GET", "HEAD"):
            return route, _text(405, "method not allowed", {"Allow": "GET, HEAD, OPTIONS"})
        access = server.served(key, by_host, request, representation)
        rendered = None if access is None else await server.render(key, representation, access)
        if rendered is None:
            return route, _text(404, "no such page")
        headers = {**rendered.headers, "ETag": rendered.etag}
        condition = request.headers.get("If-None-Match")
        if condition is not None and _matches(condition, rendered.etag):
            headers.pop("Content-Type", None)
            return route, web.Response(status=304, headers=headers)
        return route, web.Response(body=rendered.body, headers=headers)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def make_metrics_app(server: Server) -> web.Application:
    """The metrics endpoint, on its own port: not for the public."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def metrics(_: web.Request) -> web.Response:
        for kind, count in server.cache.counts().items():
            server.metrics.objects.labels(str(kind)).set(count)
        body = generate_latest(server.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app
