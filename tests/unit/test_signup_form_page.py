"""The page's "Get updates" form: who gets it, what it posts where, and the CSP that allows it."""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from statuspage_operator.api.names import Kind
from statuspage_operator.api.signup_form import Shown, offers_form, shown_of
from statuspage_operator.domain.audience import EVERYTHING
from statuspage_operator.server.access import Access
from statuspage_operator.server.app import Server, make_app
from statuspage_operator.server.cache import Cache
from statuspage_operator.server.html import CONTENT_SECURITY_POLICY, form_origin
from unit.test_server_app import BASE, NOW, make, make_cache

SIGNUP = "https://signup.example.com/subscriptions/"
ACTION = "https://signup.example.com/subscriptions/subscribe/default/example"
KEY = ("default", "example")


class Forms(HTMLParser):
    """The forms of a page: each form's attributes, its inputs' attributes, labels' text."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._label: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append({**found, "inputs": [], "labels": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(found)
        elif tag == "label" and self.forms:
            self._label = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label is not None:
            self.forms[-1]["labels"].append("".join(self._label).strip())
            self._label = None

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label.append(data)


def forms_of(body: bytes) -> list[dict[str, Any]]:
    """The forms in an HTML body."""
    parser = Forms()
    parser.feed(body.decode())
    return parser.forms


def with_page(**spec: Any) -> Cache:
    """The test page (make_cache) with these fields of its spec replaced."""
    cache = make_cache()
    page = cache.page(KEY)
    assert page is not None
    cache.upsert(Kind.PAGE, make("example", {**page["spec"], **spec}))
    return cache


def html(cache: Cache, signup_url: str = SIGNUP, access: Access | None = None) -> Any:
    """The page's HTML rendering (body and headers) by a server with `--signup-url`."""
    server = Server(cache, clock=lambda: NOW, signup_url=signup_url)
    rendered = server.rendering(KEY, "", access or Access())
    assert rendered is not None
    return rendered


BY_EMAIL = {"subscriptions": {"byEmail": True}}


def test_a_public_by_email_page_shows_the_form() -> None:
    """The form posts to statuspage-signup's subscribe URL of the page, with an email field."""
    (form,) = forms_of(html(with_page(**BY_EMAIL)).body)
    assert form["method"] == "post"
    assert form["action"] == ACTION
    (email,) = [i for i in form["inputs"] if i.get("name") == "email"]
    assert email["type"] == "email"
    assert "required" in email
    assert email["maxlength"] == "254"


def test_the_choices_are_the_groups_and_ungrouped_components_in_page_order() -> None:
    """A group is one tick box; an ungrouped component one; labels escaped, none ticked."""
    rendered = html(with_page(**BY_EMAIL))
    (form,) = forms_of(rendered.body)
    boxes = [i for i in form["inputs"] if i.get("type") == "checkbox"]
    assert [b["name"] for b in boxes] == ["components"] * 3
    assert [b["value"] for b in boxes] == ["g:Core", "g:Frontend", "c:cdn"]
    assert not any("checked" in b for b in boxes)
    assert form["labels"][1:] == ["Core", "Frontend", "CDN <edge>"]
    assert b"CDN &lt;edge&gt;" in rendered.body
    assert b"Tick none for everything, new components included." in rendered.body


def test_the_form_pages_csp_allows_posting_to_the_signup_origin_only() -> None:
    """form-action names the sign-up origin; everything else in the policy is unchanged."""
    policy = html(with_page(**BY_EMAIL)).headers["Content-Security-Policy"]
    assert "form-action https://signup.example.com;" in policy
    assert policy == CONTENT_SECURITY_POLICY.replace(
        "form-action 'none'", "form-action https://signup.example.com"
    )
    assert "script-src" not in policy


@pytest.mark.parametrize(
    ("spec", "signup_url", "access"),
    [
        pytest.param({}, SIGNUP, None, id="by-email-unset"),
        pytest.param({"subscriptions": {"byEmail": False}}, SIGNUP, None, id="by-email-false"),
        pytest.param({"subscriptions": {"byEmail": "true"}}, SIGNUP, None, id="by-email-a-string"),
        pytest.param(BY_EMAIL, "", None, id="no-signup-url"),
        pytest.param(
            {**BY_EMAIL, "visibility": "Private", "audiences": [{"name": "staff"}]},
            SIGNUP,
            Access(EVERYTHING, private=True),
            id="private-page",
        ),
        pytest.param(
            {**BY_EMAIL, "visibility": "Unpublished"}, SIGNUP, None, id="unpublished-page"
        ),
    ],
)
def test_no_form_and_form_action_none(
    spec: dict[str, Any], signup_url: str, access: Access | None
) -> None:
    """Without everything the form needs, the page has no form and may post nowhere."""
    rendered = html(with_page(**spec), signup_url, access)
    assert forms_of(rendered.body) == []
    assert rendered.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "form-action 'none'" in CONTENT_SECURITY_POLICY
    assert b"Get updates" not in rendered.body


def test_the_form_is_not_in_the_json() -> None:
    """The JSON and the badge keep their own locked policy; summary.json is unchanged."""
    cache = with_page(**BY_EMAIL)
    plain = Server(make_cache(), clock=lambda: NOW).rendering(KEY, "api/v2/summary.json")
    server = Server(cache, clock=lambda: NOW, signup_url=SIGNUP)
    summary = server.rendering(KEY, "api/v2/summary.json")
    assert summary is not None
    assert plain is not None
    assert summary.body == plain.body
    assert "form-action" not in str(summary.headers.get("Content-Security-Policy"))


def test_the_server_still_refuses_post() -> None:
    """With --signup-url the server answers a POST to the page 405 and reads no body."""
    server = Server(with_page(**BY_EMAIL), clock=lambda: NOW, signup_url=SIGNUP)

    async def run() -> None:
        async with TestClient(TestServer(make_app(server))) as client:
            response = await client.post(BASE, data={"email": "a@example.com"})
            assert response.status == 405
            assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
            page = await client.get(BASE)
            assert (
                "form-action https://signup.example.com"
                in (page.headers["Content-Security-Policy"])
            )
            big = await client.get(BASE, data=b"x" * 2048)
            assert big.status == 413

    asyncio.run(run())


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://status.example.com/subscriptions", "https://status.example.com"),
        ("HTTPS://Status.Example.com:8443/", "https://status.example.com:8443"),
        ("http://127.0.0.1:9097", "http://127.0.0.1:9097"),
        ("http://[::1]:9097/x", "http://[::1]:9097"),
    ],
)
def test_form_origin(url: str, origin: str) -> None:
    """The CSP source is the URL's scheme, host and port."""
    assert form_origin(url) == origin


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("status.example.com/subscriptions", id="no-scheme"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("ftp://status.example.com/", id="ftp"),
        pytest.param("https://user:pw@status.example.com/", id="credentials"),
        pytest.param("https://status.example.com/?a=b", id="query"),
        pytest.param("https://status.example.com/#top", id="fragment"),
        pytest.param("https://a.example.com; script-src *", id="policy-injection"),
        pytest.param("https://a.example.com 'unsafe-inline'", id="source-injection"),
        pytest.param("https:///path", id="no-host"),
    ],
)
def test_form_origin_refuses(url: str) -> None:
    """Anything that is not a plain http(s) origin is refused (nothing reaches the CSP)."""
    with pytest.raises(ValueError, match="--signup-url"):
        form_origin(url)


def test_a_bad_signup_url_stops_the_server_at_start() -> None:
    """The flag is checked when the server starts: a usage error, not a page without a form."""
    from statuspage_operator.server.main import parse_args

    assert parse_args(["--signup-url", SIGNUP]).signup_url == SIGNUP
    with pytest.raises(SystemExit):
        parse_args(["--signup-url", "https://a.example.com; script-src *"])


class Placed:
    """A component as page_order reads it."""

    def __init__(self, name: str, position: int | None = None, group: str | None = None) -> None:
        self.name = name
        self.display_name = name.upper()
        self.position = position
        self.group = group


def test_shown_of_is_page_order_and_an_empty_group_is_none() -> None:
    """Position first (missing last), then the name shown; `group: ""` is no group."""
    shown = shown_of([Placed("z"), Placed("b", 2, ""), Placed("a", 1, "Core")])
    assert shown == [Shown("a", "A", "Core"), Shown("b", "B"), Shown("z", "Z")]


@pytest.mark.parametrize(
    ("spec", "offered"),
    [
        pytest.param({"visibility": "Public", **BY_EMAIL}, True, id="public-by-email"),
        pytest.param({"visibility": "Public"}, False, id="public"),
        pytest.param({"visibility": "Private", **BY_EMAIL}, False, id="private"),
        pytest.param({**BY_EMAIL}, False, id="unpublished-by-default"),
        pytest.param({"visibility": "Public", "subscriptions": None}, False, id="null"),
    ],
)
def test_offers_form(spec: dict[str, Any], offered: bool) -> None:
    """Public and byEmail: both, exactly."""
    assert offers_form(spec) is offered


def test_the_style_sheet_hash_covers_the_form_styles() -> None:
    """The form's styles are in the one hashed sheet: no style attribute in the form."""
    body = html(with_page(**BY_EMAIL)).body.decode()
    form = body[body.index("<form") : body.index("</form>")]
    assert not re.search(r"\sstyle=", form)
