"""The public page server against the real control plane, fed by its watch, with a real browser.

The server runs as a subprocess under a ServiceAccount token bound only to
manifests/server/clusterrole.yaml (list/watch on our four kinds and PublicationPolicies), so
every test here also proves that role is enough. The operator writes status; the server shows it.
Every page here is published: `spec.visibility: Public` and a policy for the test's namespace
(the `published` fixture; tests/e2e/test_unserved_pages.py is about what is not served).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from controlplane.cluster import free_port
from e2e.conftest import OperatorProcess, publish
from e2e.kube import Kube, component, wait_for
from e2e.objects import in_seconds, make_component, make_incident, make_page, make_window
from unit.statuspage_v2_schema import SCHEMAS, schema_errors

ROOT = Path(__file__).resolve().parents[2]
SERVER = str(Path(sys.executable).parent / "statuspage-server")
SA_NAMESPACE = "statuspage-server-e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
XSS = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
Http = tuple[int, dict[str, str], bytes]


def get(url: str, headers: dict[str, str] | None = None) -> Http:
    """GET a URL: status, headers, body; 4xx/5xx are returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class ServerProcess:
    """statuspage-server as a subprocess with its own kubeconfig."""

    def __init__(self, kubeconfig: Path, log: Path, *args: str) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.log = log
        self.process = subprocess.Popen(
            [
                SERVER,
                f"--port={self.port}",
                f"--metrics-port={self.metrics_port}",
                "--host=127.0.0.1",
                *args,
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"},
        )
        wait_for(self.ready, timeout=60, what="the server to list everything")

    def ready(self) -> bool:
        """Whether /readyz answers 200."""
        try:
            return get(self.url("/readyz"))[0] == 200
        except OSError:
            return False

    def url(self, path: str) -> str:
        """An absolute URL on the server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def json(self, path: str) -> Any:
        """A JSON document from the server."""
        status, _, body = get(self.url(path))
        assert status == 200, (path, status, body[:200])
        return json.loads(body)

    def stop(self) -> int:
        """SIGTERM, as Kubernetes stops a pod; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def make_server_kubeconfig(kube: Kube, directory: Path) -> Path:
    """A kubeconfig with a ServiceAccount token bound only to the server's ClusterRole."""
    kube.run("apply", "-f", str(ROOT / "manifests" / "server" / "clusterrole.yaml"))
    kube.run("create", "namespace", SA_NAMESPACE, check=False)
    kube.run("create", "serviceaccount", "statuspage-server", "-n", SA_NAMESPACE, check=False)
    kube.run(
        "create",
        "clusterrolebinding",
        "statuspage-server-e2e",
        "--clusterrole=statuspage-server",
        f"--serviceaccount={SA_NAMESPACE}:statuspage-server",
        check=False,
    )
    return kube.token_kubeconfig(
        SA_NAMESPACE, "statuspage-server", directory / "kubeconfig", context="server"
    ).kubeconfig


@pytest.fixture(scope="module")
def server_kubeconfig(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig with a ServiceAccount token bound only to the server's ClusterRole."""
    return make_server_kubeconfig(kube, tmp_path_factory.mktemp("server"))


@pytest.fixture(scope="module")
def server(
    server_kubeconfig: Path, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The server, running while this module's tests do (the operator runs too)."""
    log = tmp_path_factory.mktemp("server-log") / "server.log"
    running = ServerProcess(server_kubeconfig, log)
    yield running
    running.stop()
    print("\n--- server log (tail) ---\n" + "\n".join(log.read_text().splitlines()[-20:]))


def test_server_role_is_read_only(kube: Kube, server_kubeconfig: Path) -> None:
    """The server's identity can list our kinds but write nothing and read no Secrets."""
    as_server = Kube(server_kubeconfig, "server")
    assert (
        as_server.run("auth", "can-i", "list", "components.statuspage.dev").stdout.strip() == "yes"
    )
    can_list = as_server.run("auth", "can-i", "watch", "publicationpolicies.statuspage.dev")
    assert can_list.stdout.strip() == "yes"
    for verb, resource in [
        ("patch", "components.statuspage.dev"),
        ("update", "statusincidents.statuspage.dev/status"),
        ("create", "maintenancewindows.statuspage.dev"),
        ("list", "secrets"),
        ("list", "customresourcedefinitions"),
    ]:
        result = as_server.run("auth", "can-i", verb, resource, check=False)
        assert result.stdout.strip() == "no", (verb, resource)


def test_every_endpoint_serves_the_page(kube: Kube, published: str, server: ServerProcess) -> None:
    """Every endpoint answers from the watch; JSON has the v2 shapes; HTML escapes; 404s."""
    namespace = published
    publish(kube, namespace, hostnames=[f"{namespace}.status.test"])
    kube.apply(
        namespace,
        make_page(
            hostnames=[f"{namespace}.status.test"], timeZone="Europe/Berlin", visibility="Public"
        ),
        make_component("api", group="Core", position=1),
        make_component("db", group="Core", position=2),
        make_incident(
            "errors",
            components=[{"name": "api"}],
            updates=[{"status": "Investigating", "message": XSS}],
            impact="Major",
        ),
        make_window("later", in_seconds(3600), in_seconds(7200), ["db"]),
    )
    wait_for(lambda: component(kube, namespace, "api") == "PartialOutage", what="api in outage")
    base = f"/{namespace}/example/"

    def shows_outage() -> bool:
        summary = server.json(f"{base}api/v2/summary.json")
        return summary["status"]["indicator"] == "minor" and bool(summary["incidents"])

    wait_for(shows_outage, timeout=5, what="summary.json to show the incident")
    for endpoint in SCHEMAS:
        document = server.json(f"{base}api/v2/{endpoint}")
        assert schema_errors(endpoint, document) == [], endpoint
    summary = server.json(f"{base}api/v2/summary.json")
    assert summary["incidents"][0]["incident_updates"][0]["body"] == XSS
    assert [m["status"] for m in summary["scheduled_maintenances"]] == ["scheduled"]

    status, headers, body = get(server.url(base))
    assert status == 200
    assert "script-src" not in headers["Content-Security-Policy"]
    assert b"<script" not in body
    assert b"&lt;script&gt;window.pwned = 1&lt;/script&gt;" in body

    def revalidates() -> bool:
        etag = get(server.url(base))[1]["ETag"]
        return get(server.url(base), {"If-None-Match": etag})[0] == 304

    wait_for(revalidates, timeout=10, what="a 304 once the operator is done writing")

    for path, kind in [("history.atom", "atom"), ("history.rss", "rss"), ("badge.svg", "svg")]:
        status, headers, body = get(server.url(base + path))
        assert status == 200
        assert kind in headers["Content-Type"]
    by_host = get(server.url("/api/v2/status.json"), {"Host": f"{namespace}.status.test"})
    assert json.loads(by_host[2])["page"]["name"] == "Example"
    assert get(server.url(f"/{namespace}/missing/"))[0] == 404
    assert get(server.url(base), {"Host": "bad host\\"})[0] == 400


def test_window_start_shows_within_a_second(
    kube: Kube, published: str, server: ServerProcess
) -> None:
    """A window that starts puts its component under maintenance in summary.json within 1 s."""
    namespace = published
    kube.apply(namespace, make_page(visibility="Public"), make_component("cdn"))
    wait_for(lambda: component(kube, namespace, "cdn") == "Operational", what="cdn ready")
    start = in_seconds(4)
    kube.apply(namespace, make_window("flush", start, start + timedelta(minutes=5), ["cdn"]))
    path = f"/{namespace}/example/api/v2/summary.json"

    def under_maintenance() -> bool:
        summary = server.json(path)
        return bool(summary["components"][0]["status"] == "under_maintenance")

    wait_for(under_maintenance, timeout=15, interval=0.02, what="cdn under maintenance")
    seen = time.time()
    delay = seen - start.timestamp()
    assert delay < 1.0, f"shown {delay:.3f}s after the window's start"
    summary = server.json(path)
    assert summary["status"]["indicator"] == "maintenance"
    active = f"/{namespace}/example/api/v2/scheduled-maintenances/active.json"
    # The operator writes the components first, then the window's phase.
    wait_for(
        lambda: (
            [m["name"] for m in server.json(active)["scheduled_maintenances"]]
            == ["Maintenance flush"]
        ),
        timeout=2,
        what="the window in progress in active.json",
    )
    html = get(server.url(f"/{namespace}/example/"))[2].decode()
    assert "Maintenance in progress" in html


def test_deleted_objects_leave_the_page(kube: Kube, published: str, server: ServerProcess) -> None:
    """Deleting a component removes it from the page, and deleting the page gives 404."""
    namespace = published
    kube.apply(
        namespace, make_page(visibility="Public"), make_component("api"), make_component("old")
    )
    path = f"/{namespace}/example/api/v2/components.json"
    wait_for(lambda: len(server.json(path)["components"]) == 2, what="two components")
    kube.run("delete", "component", "old", "-n", namespace)
    wait_for(lambda: len(server.json(path)["components"]) == 1, what="one component")
    kube.run("delete", "sp", "example", "-n", namespace)
    wait_for(lambda: get(server.url(path))[0] == 404, what="the page to be gone")


def _browser(user_data: Path) -> Any:
    """Chromium headless through chromedriver; fails (never skips) when they are missing."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing: run `make browser` "
            "(apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=900,1300",
        f"--user-data-dir={user_data}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def test_browser_shows_the_sample_page(
    kube: Kube, published: str, server: ServerProcess, tmp_path: Path
) -> None:
    """Chromium shows the sample page's text; a <script> in a message is text, never run."""
    namespace = published
    # The sample page is Public; its sample policy names `default`, `published` this namespace.
    kube.run("apply", "-n", namespace, "-k", str(ROOT / "manifests" / "samples"))
    wait_for(lambda: component(kube, namespace, "api") == "DegradedPerformance", what="api")
    url = server.url(f"/{namespace}/example/")
    wait_for(lambda: b"Elevated error rates" in get(url)[2], timeout=5, what="the sample page")
    driver = _browser(tmp_path / "chromium-profile")
    try:
        driver.get(url)
        text = driver.find_element("tag name", "body").text
        for visible in (
            "Example Inc.",
            "Partially Degraded Service",
            "Elevated error rates on the API",
            "Degraded performance",
            "Weekly patching",
            "Upcoming maintenance",
            "% uptime",
        ):
            assert visible in text, visible
        assert driver.title == "Example Inc. status"
        screenshot = tmp_path / "page.png"
        assert driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
        target = os.environ.get("STATUSPAGE_SCREENSHOT")
        if target:
            shutil.copy(screenshot, target)

        kube.apply(
            namespace,
            make_incident(
                "xss",
                components=[{"name": "cdn"}],
                updates=[{"status": "Investigating", "message": XSS}],
            ),
        )
        wait_for(lambda: b"window.pwned" in get(url)[2], timeout=10, what="the XSS incident")
        driver.get(url + "?again")  # another URL: the first answer may be in the browser's cache
        text = driver.find_element("tag name", "body").text
        assert XSS in text
        assert driver.execute_script("return window.pwned === undefined") is True
        driver.save_screenshot(str(tmp_path / "xss.png"))
    finally:
        driver.quit()


def test_graceful_shutdown(server_kubeconfig: Path, tmp_path: Path) -> None:
    """SIGTERM: the server reports not ready, stops, and exits 0."""
    running = ServerProcess(server_kubeconfig, tmp_path / "server.log")
    assert get(running.url("/healthz"))[0] == 200
    assert running.stop() == 0
    assert "stopped" in (tmp_path / "server.log").read_text()
