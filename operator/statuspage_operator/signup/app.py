"""The sign-up process's HTTP surface (docs/signup.md, "Routes and answers").

    GET  /subscribe/{ns}/{page}     the form              POST: sign up (200 whatever the address)
    GET  /confirm/{token}           a "Confirm" button    POST: confirm (Subscriber + Secret)
    GET  /manage/{token}            choices, Save, Unsubscribe             POST: either
    GET  /unsubscribe/{token}       an "Unsubscribe" button                POST: RFC 8058 one-click

A GET changes nothing (mail scanners fetch links). A page that does not offer the form gets the
same 404 as an unknown path; a token that does not verify, has expired, was used, or names a
subscription that is gone gets one "this link is not valid" page (400), whatever the reason.
Only GET, HEAD and POST; bodies of at most 4 KiB; every answer `Cache-Control: no-store`,
`Referrer-Policy: no-referrer` (tokens are in the URLs) and the CSP of signup/html.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from statuspage_operator.server.identity import FORWARDED_FOR
from statuspage_operator.signup.forms import MAX_BODY, Action, FormError, manage_form, sign_up_form
from statuspage_operator.signup.html import CONTENT_SECURITY_POLICY, Renderer
from statuspage_operator.signup.ledger import Outcome
from statuspage_operator.signup.service import Confirmed, Signup

logger = logging.getLogger("statuspage_operator.signup.app")
MAX_PATH = 1024
# Retry-After of a client over its limit (the ledger's window: 5 sign-ups per 10 minutes), and of
# a page with maxPending sign-ups waiting (the oldest expire within 24 h; some are confirmed soon).
CLIENT_RETRY_AFTER = 600
PAGE_FULL_RETRY_AFTER = 900
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
INVALID = ("This link is not valid", "It may have expired or been used already.")
NOT_FOUND = ("Not found", "There is no such page.")
UNAVAILABLE = ("Please try again later", "Something went wrong on our side.")

SIGNUP = web.AppKey("signup", Signup)
RENDERER = web.AppKey("renderer", Renderer)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _html(request: web.Request, status: int, body: str, **headers: str) -> web.Response:
    return web.Response(
        status=status, text=body, content_type="text/html", charset="utf-8", headers=headers
    )


def _message(
    request: web.Request, status: int, lines: tuple[str, ...], **headers: str
) -> web.Response:
    heading, *rest = lines
    return _html(request, status, request.app[RENDERER].message(heading, *rest), **headers)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    first = (resource.canonical if resource is not None else "/").split("/")[1]
    return first if first and not first.startswith("{") else "other"


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Path and body bounds, readiness, and one 503 page for whatever failed on our side."""
    signup = request.app[SIGNUP]
    route = _route(request)
    try:
        if len(request.raw_path) > MAX_PATH:
            response: web.StreamResponse = _message(request, 414, NOT_FOUND)
        elif request.method not in ("GET", "HEAD", "POST"):
            response = _message(request, 405, NOT_FOUND, Allow="GET, HEAD, POST")
        elif (request.content_length or 0) > MAX_BODY:
            response = _message(request, 413, ("Too large", "The form is too large."))
            response.force_close()
        elif route in ("healthz", "readyz", "other"):
            response = await handler(request)
        elif not signup.ready:
            response = _message(request, 503, UNAVAILABLE, **{"Retry-After": "5"})
        else:
            response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
        response = _message(request, 413, ("Too large", "The form is too large."))
    except Exception as error:
        status = getattr(error, "status", "")
        logger.warning("%s: failed (%s %s)", route, type(error).__name__, status)
        response = _message(request, 503, UNAVAILABLE, **{"Retry-After": "5"})
    signup.metrics.requests.labels(route, str(response.status)).inc()
    return response


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


async def _body(request: web.Request) -> bytes:
    # client_max_size bounds it: aiohttp refuses more (HTTPRequestEntityTooLarge).
    return await request.read() if request.can_read_body else b""


async def form(request: web.Request) -> web.Response:
    """GET /subscribe/{ns}/{page}: the form of a page that offers it."""
    signup = request.app[SIGNUP]
    offered = signup.offer(request.match_info["namespace"], request.match_info["page"])
    if offered is None:
        return _message(request, 404, NOT_FOUND)
    return _html(request, 200, request.app[RENDERER].form(offered.title, offered.options))


async def subscribe(request: web.Request) -> web.Response:
    """POST /subscribe/{ns}/{page}: sign up; the answer says nothing of the address."""
    signup, renderer = request.app[SIGNUP], request.app[RENDERER]
    offered = signup.offer(request.match_info["namespace"], request.match_info["page"])
    if offered is None:
        return _message(request, 404, NOT_FOUND)
    try:
        sent = sign_up_form(await _body(request))
    except FormError:
        return _html(
            request,
            400,
            renderer.form(offered.title, offered.options, error="Please send the form again."),
        )
    if sent.address is None:
        error = "That is not an email address we can send to."
        page = renderer.form(offered.title, offered.options, sent.given, sent.ticked, error)
        return _html(request, 400, page)
    client = signup.client(request.remote, request.headers.getall(FORWARDED_FOR, []))
    outcome = await signup.sign_up(offered, sent.address, sent.ticked, client, signup.clock())
    if outcome is Outcome.CLIENT_LIMITED:
        lines = ("Too many sign-ups", "Too many sign-ups came from your network; try again later.")
        return _message(request, 429, lines, **{"Retry-After": str(CLIENT_RETRY_AFTER)})
    if outcome is Outcome.PAGE_FULL:
        lines = ("Please try again later", "This page has too many sign-ups waiting.")
        return _message(request, 503, lines, **{"Retry-After": str(PAGE_FULL_RETRY_AFTER)})
    lines = (
        "Check your inbox",
        f"If the address can take mail, a message from {offered.title} is on its way. "
        "Follow its link within 24 hours to confirm; nothing is kept until you do.",
    )
    return _message(request, 200, lines)


async def confirm_page(request: web.Request) -> web.Response:
    """GET /confirm/{token}: a button (the GET itself changes nothing)."""
    signup = request.app[SIGNUP]
    if signup.confirm_claims(request.match_info["token"], signup.clock()) is None:
        return _message(request, 400, INVALID)
    lines = ["Press the button to start getting updates by email."]
    return _html(
        request, 200, request.app[RENDERER].button("Confirm your subscription", lines, "Confirm")
    )


async def confirm(request: web.Request) -> web.Response:
    """POST /confirm/{token}: the Subscriber and its address Secret, then the manage link."""
    signup = request.app[SIGNUP]
    result, manage, title = await signup.confirm(request.match_info["token"], signup.clock())
    if result is Confirmed.INVALID:
        return _message(request, 400, INVALID)
    if result is Confirmed.FULL:
        lines = ("This page takes no more subscribers", "Sorry: it has as many as it can take.")
        return _message(request, 503, lines, **{"Retry-After": str(PAGE_FULL_RETRY_AFTER)})
    page = request.app[RENDERER].message(
        "You are subscribed",
        f"You will get {title}'s news by email. Every message has a link to change what you "
        "get or to unsubscribe; here is the first:",
        link=manage,
        link_text="Manage your subscription",
    )
    return _html(request, 200, page)


async def manage_page(request: web.Request) -> web.Response:
    """GET /manage/{token}: the choices ticked, Save and Unsubscribe."""
    signup = request.app[SIGNUP]
    held = await signup.subscription(request.match_info["token"], signup.clock())
    if held is None:
        return _message(request, 400, INVALID)
    page = request.app[RENDERER].manage(held.title, held.options, held.ticked)
    return _html(request, 200, page)


async def manage(request: web.Request) -> web.Response:
    """POST /manage/{token}: save the choices, or unsubscribe."""
    signup, renderer = request.app[SIGNUP], request.app[RENDERER]
    held = await signup.subscription(request.match_info["token"], signup.clock())
    if held is None:
        return _message(request, 400, INVALID)
    try:
        sent = manage_form(await _body(request))
    except FormError:
        return _html(request, 400, renderer.manage(held.title, held.options, held.ticked))
    if sent.action is Action.UNSUBSCRIBE:
        await signup.unsubscribe(held.claims)
        return _message(request, 200, _unsubscribed(held.title))
    saved = await signup.save(held, sent.ticked)
    if saved is None:
        return _message(request, 400, INVALID)
    return _html(request, 200, renderer.manage(saved.title, saved.options, saved.ticked, True))


def _unsubscribed(title: str) -> tuple[str, ...]:
    return (
        "You are unsubscribed",
        f"You will get no more email from {title}."
        if title
        else "You will get no more email from this page.",
    )


async def unsubscribe_page(request: web.Request) -> web.Response:
    """GET /unsubscribe/{token}: a button (a GET changes nothing)."""
    signup = request.app[SIGNUP]
    if signup.manage_claims(request.match_info["token"], signup.clock()) is None:
        return _message(request, 400, INVALID)
    lines = ["Press the button to get no more email from this page."]
    page = request.app[RENDERER].button("Unsubscribe", lines, "Unsubscribe", quiet=True)
    return _html(request, 200, page)


async def unsubscribe(request: web.Request) -> web.Response:
    """POST /unsubscribe/{token}: RFC 8058 one-click (any body); gone already is the same."""
    signup = request.app[SIGNUP]
    claims = signup.manage_claims(request.match_info["token"], signup.clock())
    if claims is None:
        return _message(request, 400, INVALID)
    await signup.unsubscribe(claims)
    page = signup.cache.page((claims.namespace, claims.page)) or {}
    title = str((page.get("spec") or {}).get("title") or "")
    return _message(request, 200, _unsubscribed(title))


async def healthz(request: web.Request) -> web.Response:
    """Alive."""
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    """Ready: listed, the Secrets usable, the ledger made; not while stopping."""
    if not request.app[SIGNUP].ready:
        return web.Response(status=503, text="not ready")
    return web.Response(text="ok")


async def nowhere(request: web.Request) -> web.Response:
    """Any other path or method."""
    if request.method not in ("GET", "HEAD", "POST"):
        return _message(request, 405, NOT_FOUND, Allow="GET, HEAD, POST")
    return _message(request, 404, NOT_FOUND)


def make_app(signup: Signup) -> web.Application:
    """The routes, behind the guard, every answer with the security headers."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[guard])
    app[SIGNUP] = signup
    app[RENDERER] = Renderer()
    app.on_response_prepare.append(_secure)
    router = app.router
    router.add_get("/subscribe/{namespace}/{page}", form)
    router.add_post("/subscribe/{namespace}/{page}", subscribe)
    router.add_get("/confirm/{token}", confirm_page)
    router.add_post("/confirm/{token}", confirm)
    router.add_get("/manage/{token}", manage_page)
    router.add_post("/manage/{token}", manage)
    router.add_get("/unsubscribe/{token}", unsubscribe_page)
    router.add_post("/unsubscribe/{token}", unsubscribe)
    router.add_get("/healthz", healthz)
    router.add_get("/readyz", readyz)
    router.add_route("*", "/{tail:.*}", nowhere)
    return app


def make_metrics_app(signup: Signup) -> web.Application:
    """/metrics, on its own port."""

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(signup.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app
