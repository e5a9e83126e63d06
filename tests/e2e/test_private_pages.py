"""A Private page through a real reverse proxy: Debian's nginx with `auth_request`.

nginx asks a small auth endpoint (aiohttp on loopback, Basic credentials to user and groups),
passes the answer on as X-Forwarded-User/-Groups and reaches the server from its own address
(`proxy_bind 127.0.0.2`); the server trusts 127.0.0.2/32 only. Feeds skip the login (readers
cannot log in) and carry a token; nginx blanks identity headers there. The server runs under its
ServiceAccount, bound to the ClusterRole and to manifests/server/feed-key-role.yaml, so this also
proves that Role is enough to read the feed key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controlplane.cluster import free_port
from e2e.kube import Kube, wait_for
from e2e.objects import in_seconds, make_component, make_incident, make_page, make_window
from e2e.test_plugin import plugin
from e2e.test_server import ROOT, ServerProcess, get
from e2e.test_server import server_kubeconfig as server_kubeconfig
from statuspage_operator.api.feed_tokens import feed_token
from unit.statuspage_v2_schema import SCHEMAS, schema_errors

NGINX = Path("/usr/sbin/nginx")
KEY = bytes(range(32, 64))
SECRET_NAMESPACE, SECRET_NAME = "statuspage-system", "statuspage-feed-key"
# Basic credentials -> (user, groups), as an identity provider would vouch.
ACCOUNTS = {"carl": ("core", "dev,core"), "wendy": ("web", ""), "mallory": ("x", "")}
AUDIENCES = [
    {"name": "core", "groups": ["core"], "components": ["api", "db"]},
    {"name": "web", "users": ["wendy"], "components": ["storefront"]},
]

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /_auth {{
      internal;
      proxy_pass http://127.0.0.1:{auth}/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }}
    location ~ /history\\.(atom|rss)$ {{
      proxy_bind 127.0.0.2;
      proxy_set_header X-Forwarded-User "";
      proxy_set_header X-Forwarded-Groups "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_pass http://127.0.0.1:{server};
    }}
    location / {{
      auth_request /_auth;
      auth_request_set $user $upstream_http_x_auth_request_user;
      auth_request_set $groups $upstream_http_x_auth_request_groups;
      proxy_bind 127.0.0.2;
      proxy_set_header X-Forwarded-User $user;
      proxy_set_header X-Forwarded-Groups $groups;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_pass http://127.0.0.1:{server};
    }}
  }}
}}
"""


class AuthEndpoint:
    """The identity provider stand-in: GET /auth answers 200 with the user and groups, or 401."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        assert started.wait(10), "the auth endpoint did not start"

    async def _auth(self, request: web.Request) -> web.Response:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Basic":
            user, _, password = base64.b64decode(encoded).decode().partition(":")
            if user in ACCOUNTS and ACCOUNTS[user][0] == password:
                headers = {"X-Auth-Request-User": user}
                if ACCOUNTS[user][1]:
                    headers["X-Auth-Request-Groups"] = ACCOUNTS[user][1]
                return web.Response(status=200, headers=headers)
        return web.Response(status=401)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/auth", self._auth)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        started.set()
        self.loop.run_forever()

    def stop(self) -> None:
        """Stop serving and end the thread."""
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def ensure_nginx() -> Path:
    """Debian's nginx, installed by `make nginx` when missing (never a silent skip)."""
    if not NGINX.exists():
        subprocess.run(["make", "-C", str(ROOT), "nginx"], check=True)
    return NGINX


@pytest.fixture(scope="module")
def feed_key(kube: Kube, server_kubeconfig: Path) -> bytes:
    """The feed key Secret, and its Role bound to the e2e server's ServiceAccount too."""
    # Applied, not created: the base applied later (tests/e2e/test_rbac.py) must find it managed
    # by `kubectl apply`, or kubectl warns.
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SECRET_NAMESPACE}}
    kube.run("apply", "-f", "-", stdin=json.dumps(namespace))
    kube.run("delete", "secret", SECRET_NAME, "-n", SECRET_NAMESPACE, check=False)
    kube.run(
        "create",
        "secret",
        "generic",
        SECRET_NAME,
        "-n",
        SECRET_NAMESPACE,
        f"--from-literal=key={KEY.decode()}",
    )
    kube.run("apply", "-f", str(ROOT / "manifests" / "server" / "feed-key-role.yaml"))
    kube.run(
        "create",
        "rolebinding",
        "statuspage-server-feed-key-e2e",
        "-n",
        SECRET_NAMESPACE,
        "--role=statuspage-server-feed-key",
        "--serviceaccount=statuspage-server-e2e:statuspage-server",
        check=False,
    )
    return KEY


class Stack:
    """The server behind nginx behind the auth endpoint."""

    def __init__(self, server: ServerProcess, proxy_port: int) -> None:
        self.server = server
        self.proxy_port = proxy_port

    def via_proxy(
        self, path: str, account: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """GET through nginx, logged in as `account` (None: not logged in)."""
        sent = dict(headers or {})
        if account is not None:
            secret = f"{account}:{ACCOUNTS[account][0]}".encode()
            sent["Authorization"] = "Basic " + base64.b64encode(secret).decode()
        return get(f"http://127.0.0.1:{self.proxy_port}{path}", sent)

    def straight(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """GET straight from 127.0.0.1 to the server, past the proxy."""
        return get(self.server.url(path), headers)


@pytest.fixture(scope="module")
def stack(
    server_kubeconfig: Path, feed_key: bytes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The server trusting 127.0.0.2/32, nginx in front, the auth endpoint."""
    nginx = ensure_nginx()
    workdir = tmp_path_factory.mktemp("private")
    server = ServerProcess(
        server_kubeconfig,
        workdir / "server.log",
        "--trusted-proxy=127.0.0.2/32",
        f"--feed-key-secret={SECRET_NAMESPACE}/{SECRET_NAME}",
    )
    auth = AuthEndpoint()
    proxy_port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(dir=workdir, port=proxy_port, auth=auth.port, server=server.port)
    )
    command = [str(nginx), "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")]
    proxy = subprocess.Popen([*command, "-g", "daemon off;"])
    try:
        wait_for(
            lambda: _answers(f"http://127.0.0.1:{proxy_port}/healthz"),
            timeout=20,
            what="nginx to listen",
        )
        yield Stack(server, proxy_port)
    finally:
        proxy.terminate()
        proxy.wait(10)
        auth.stop()
        server.stop()
        print(
            "\n--- server log (tail) ---\n"
            + "\n".join((workdir / "server.log").read_text().splitlines()[-20:])
        )


def _answers(url: str) -> bool:
    try:
        return get(url)[0] in (200, 401)
    except OSError:
        return False


@pytest.fixture
def private_page(kube: Kube, published: str, stack: Stack) -> str:
    """A Private page with audiences core (api, db) and web (storefront), with news of each, in
    a namespace a PublicationPolicy lets publish."""
    namespace = published
    kube.apply(
        namespace,
        make_page(visibility="Private", audiences=AUDIENCES),
        make_component("api"),
        make_component("db"),
        make_component("storefront"),
        make_incident(
            "db-down",
            components=[{"name": "db"}],
            impact="Major",
            title="Database down",
            updates=[{"status": "Investigating", "message": "Looking."}],
        ),
        make_incident(
            "slow",
            components=[{"name": "storefront"}],
            title="Storefront slow",
            updates=[{"status": "Investigating", "message": "Looking."}],
        ),
        make_window(
            "deploy", in_seconds(-60), in_seconds(3600), ["storefront"], title="Storefront deploy"
        ),
    )
    base = f"/{namespace}/example/"

    def served() -> bool:
        status, _, body = stack.via_proxy(f"{base}api/v2/summary.json", "wendy")
        return status == 200 and bool(json.loads(body)["incidents"])

    wait_for(served, timeout=20, what="the server to show the private page")
    return base


def names(document: Any) -> list[str]:
    """The component names of a summary.json or components.json."""
    return [c["name"] for c in document["components"] if not c.get("group")]


def test_a_private_page_only_for_who_the_proxy_vouches_for(
    stack: Stack, private_page: str, namespace: str
) -> None:
    """Allowed user: the page; not logged in: the proxy's 401; logged in, in no audience, or a
    forged header from elsewhere: what an unknown page gets."""
    base = private_page
    status, headers, body = stack.via_proxy(base, "carl")
    assert status == 200
    assert headers["Cache-Control"] == "private, max-age=10"
    assert b"Database down" in body

    assert stack.via_proxy(base, None)[0] == 401
    unknown = stack.via_proxy(f"/{namespace}/nope/", "mallory")
    denied = stack.via_proxy(base, "mallory")
    assert (denied[0], denied[2]) == (unknown[0], unknown[2]) == (404, b"no such page\n")
    # Mallory's own claim to a group is dropped by the proxy, which sets the header itself.
    forged_via_proxy = stack.via_proxy(base, "mallory", {"X-Forwarded-Groups": "core"})
    assert forged_via_proxy[0] == 404

    forged = {
        "X-Forwarded-User": "carl",
        "X-Forwarded-Groups": "core",
        "X-Forwarded-For": "127.0.0.2",
    }
    for path in ("", "api/v2/summary.json", "badge.svg", "history.atom"):
        straight = stack.straight(base + path, forged)
        straight_unknown = stack.straight(f"/{namespace}/nope/{path}", forged)
        assert (straight[0], straight[2]) == (straight_unknown[0], straight_unknown[2]), path
        assert straight[0] == 404


def test_an_audience_sees_only_its_components(stack: Stack, private_page: str) -> None:
    """HTML, every JSON endpoint, the feed (by token) and the badge show only what concerns it."""
    base = private_page
    for account, hidden in (("carl", b"Storefront"), ("wendy", b"Database")):
        status, _, html = stack.via_proxy(base, account)
        assert status == 200
        assert hidden not in html, account
        for endpoint in SCHEMAS:
            status, _, body = stack.via_proxy(f"{base}api/v2/{endpoint}", account)
            assert status == 200, (account, endpoint)
            assert hidden not in body, (account, endpoint)
            assert schema_errors(endpoint, json.loads(body)) == [], (account, endpoint)
    carl = json.loads(stack.via_proxy(f"{base}api/v2/summary.json", "carl")[2])
    wendy = json.loads(stack.via_proxy(f"{base}api/v2/summary.json", "wendy")[2])
    assert names(carl) == ["api", "db"]
    assert names(wendy) == ["storefront"]
    assert [m["name"] for m in wendy["scheduled_maintenances"]] == ["Storefront deploy"]
    assert carl["scheduled_maintenances"] == []
    statuses = {c["name"]: c["status"] for c in carl["components"]}
    assert statuses == {"api": "operational", "db": "partial_outage"}
    assert wendy["components"][0]["status"] == "degraded_performance"
    assert carl["status"] != wendy["status"]
    for summary, account in ((carl, "carl"), (wendy, "wendy")):
        badge = stack.via_proxy(f"{base}badge.svg", account)[2]
        assert summary["status"]["description"].encode() in badge, account

    namespace, page = base.strip("/").split("/")
    token = feed_token(KEY, namespace, page, "core")
    status, headers, feed = stack.via_proxy(f"{base}history.atom?token={token}")
    assert status == 200
    assert headers["Cache-Control"] == "private, max-age=60"
    assert b"Database down" in feed
    assert b"Storefront" not in feed
    web = feed_token(KEY, namespace, page, "web")
    assert b"Storefront slow" in stack.via_proxy(f"{base}history.rss?token={web}")[2]
    wrong = feed_token(b"w" * 32, namespace, page, "core")
    for bad in (wrong, token[:-1], ""):
        assert stack.via_proxy(f"{base}history.atom?token={bad}")[0] == 404
    # A logged-in user's headers do not reach the feed location: it is the token or nothing.
    assert stack.via_proxy(f"{base}history.atom", "carl")[0] == 404


def test_the_owner_gets_a_feed_url_with_the_plugin(
    kube: Kube, stack: Stack, private_page: str, namespace: str
) -> None:
    """`kubectl statuspage feed-url` reads the key with the user's rights; the URL works."""
    secret = f"{SECRET_NAMESPACE}/{SECRET_NAME}"
    proxy = f"http://127.0.0.1:{stack.proxy_port}"
    args = ["-n", namespace, "feed-url", "example", "--secret", secret, "--public-url", proxy]
    found = plugin(kube, *args, "--audience", "web")
    assert found.returncode == 0, found.stderr
    status, _, feed = get(found.stdout.strip())
    assert status == 200
    assert b"Storefront slow" in feed
    assert b"Database" not in feed
    missing = plugin(kube, *args, "--audience", "nobody")
    assert missing.returncode == 1
    assert missing.stderr == 'error: statuspage "example" has no audience "nobody"\n'


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {"audiences": AUDIENCES},
            "spec.audiences is only for a page whose visibility is Private",
            id="audiences-on-an-unpublished-page",
        ),
        pytest.param(
            {"visibility": "Public", "audiences": AUDIENCES},
            "spec.audiences is only for a page whose visibility is Private",
            id="audiences-on-a-public-page",
        ),
        pytest.param(
            {"visibility": "Private", "audiences": [{"name": "nobody", "components": ["api"]}]},
            "each audience names at least one user or group",
            id="an-audience-of-no-one",
        ),
    ],
)
def test_admission_refuses_audiences_that_cannot_mean_anything(
    kube: Kube, namespace: str, spec: dict[str, Any], message: str
) -> None:
    """The API server itself refuses them, with the rule's message."""
    refused = kube.run(
        "apply", "-n", namespace, "-f", "-", stdin=json.dumps(make_page(**spec)), check=False
    )
    assert refused.returncode != 0
    assert message in refused.stderr
