"""The "Get updates" form on the real page server, filled and sent by a real Chromium.

The server runs with `--signup-url` under its read-only ServiceAccount; a tiny aiohttp receiver
on loopback stands in for statuspage-signup (tested on its own in tests/e2e/test_signup.py) and
records what the browser posts. No operator is needed: the page is derived from the specs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controlplane.cluster import free_port
from e2e.conftest import publish
from e2e.kube import Kube, wait_for
from e2e.objects import make_component, make_page
from e2e.test_server import ServerProcess, _browser, get, make_server_kubeconfig
from unit.test_signup_form_page import forms_of

BY_EMAIL = {"subscriptions": {"byEmail": True}}


class Receiver:
    """statuspage-signup's stand-in: records each POST (path and form fields), answers 200."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: list[tuple[str, dict[str, list[str]]]] = []
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._started.wait(10), "the receiver did not start"

    @property
    def base(self) -> str:
        """The URL given to the server as --signup-url."""
        return f"http://127.0.0.1:{self.port}/subscriptions"

    async def _post(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields: dict[str, list[str]] = {}
        for key, value in form.items():
            fields.setdefault(key, []).append(str(value))
        self.posts.append((request.path, fields))
        return web.Response(
            text="<!doctype html><title>Check your inbox</title>Check your inbox",
            content_type="text/html",
        )

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/subscriptions/subscribe/{namespace}/{page}", self._post)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._started.set()
        self._loop.run_forever()

    def stop(self) -> None:
        """Stop the loop and its thread."""
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """The stand-in for statuspage-signup."""
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def form_server(
    kube: Kube, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The page server with --signup-url, trusting loopback as its identity proxy."""
    kubeconfig = make_server_kubeconfig(kube, tmp_path_factory.mktemp("form-server"))
    log = tmp_path_factory.mktemp("form-server-log") / "server.log"
    running = ServerProcess(
        kubeconfig, log, f"--signup-url={receiver.base}", "--trusted-proxy=127.0.0.1/32"
    )
    yield running
    running.stop()


@pytest.fixture
def pages(kube: Kube, published: str) -> str:
    """Four pages in a namespace that may publish: open (Public, byEmail), quiet (Public),
    hidden (Unpublished, byEmail), staff (Private, byEmail); components on `open`."""
    namespace = published
    publish(kube, namespace)
    kube.apply(
        namespace,
        make_page("open", visibility="Public", **BY_EMAIL),
        make_page("quiet", visibility="Public", subscriptions={"byEmail": False}),
        make_page("hidden", visibility="Unpublished", **BY_EMAIL),
        make_page(
            "staff",
            visibility="Private",
            audiences=[{"name": "staff", "users": ["alice"]}],
            **BY_EMAIL,
        ),
        make_component("api", page="open", group="Core", position=1),
        make_component("db", page="open", group="Core", position=2),
        make_component("cdn", page="open", position=3, displayName="CDN <edge>"),
        make_component("web", page="quiet"),
        make_component("wiki", page="staff"),
    )
    return namespace


def test_only_a_public_by_email_page_has_the_form(
    pages: str, form_server: ServerProcess, receiver: Receiver
) -> None:
    """open: the form, its action, its choices and CSP; the others: no form, form-action 'none'."""
    namespace = pages
    url = form_server.url(f"/{namespace}/open/")

    def has_choices() -> Any:
        status, headers, body = get(url)
        forms = forms_of(body) if status == 200 else []
        values = [i.get("value") for f in forms for i in f["inputs"] if i["type"] == "checkbox"]
        return (headers, forms) if values == ["g:Core", "c:cdn"] else None

    headers, (form,) = wait_for(has_choices, timeout=15, what="the form with its choices")
    assert form["method"] == "post"
    assert form["action"] == f"{receiver.base}/subscribe/{namespace}/open"
    assert form["labels"][1:] == ["Core", "CDN <edge>"]
    policy = headers["Content-Security-Policy"]
    assert f"form-action http://127.0.0.1:{receiver.port};" in policy
    assert "script-src" not in policy

    wait_for(lambda: get(form_server.url(f"/{namespace}/quiet/"))[0] == 200, what="the quiet page")
    quiet = get(form_server.url(f"/{namespace}/quiet/"))
    staff = get(form_server.url(f"/{namespace}/staff/"), {"X-Forwarded-User": "alice"})
    assert staff[0] == 200, "a Private page is shown to its audience"
    for _, headers, body in (quiet, staff):
        assert forms_of(body) == []
        assert b"Get updates" not in body
        assert "form-action 'none'" in headers["Content-Security-Policy"]
    hidden = get(form_server.url(f"/{namespace}/hidden/"))
    assert hidden[0] == 404
    assert b"<form" not in hidden[2]
    assert form_server.process.poll() is None


def test_chromium_fills_and_sends_the_form(
    pages: str, form_server: ServerProcess, receiver: Receiver, tmp_path: Path
) -> None:
    """A real browser posts email and the ticked choice to the sign-up URL (CSP allows it)."""
    namespace = pages
    url = form_server.url(f"/{namespace}/open/")
    wait_for(lambda: b"g:Core" in get(url)[2], timeout=15, what="the form")
    before = len(receiver.posts)
    driver = _browser(tmp_path / "chromium-profile")
    try:
        driver.get(url)
        submit = driver.find_element("css selector", "form.signup button[type=submit]")
        submit.click()
        # An empty address: the browser itself refuses to send (required, type email).
        assert len(receiver.posts) == before
        driver.find_element("name", "email").send_keys("jane.doe@example.com")
        driver.find_element("css selector", "input[value='g:Core']").click()
        driver.find_element("css selector", "form.signup button[type=submit]").click()
        wait_for(lambda: len(receiver.posts) > before, timeout=10, what="the form's POST")
        wait_for(lambda: "Check your inbox" in driver.page_source, timeout=10, what="the answer")
    finally:
        driver.quit()
    path, fields = receiver.posts[-1]
    assert path == f"/subscriptions/subscribe/{namespace}/open"
    assert fields == {"email": ["jane.doe@example.com"], "components": ["g:Core"]}
