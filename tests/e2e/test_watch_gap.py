"""A real watch gap ended by a real `410 Gone`: the operator and the page server stay true.

The operator and the page server reach a dedicated API server only through Toxiproxy; the test's
admin talks to it directly. The API server runs without its watch cache and compacts etcd every
2 seconds, so a watch resumed after the gap asks for a compacted version and gets 410 Gone
(with the watch cache, it would be served from the cache's window instead).

The gap: a `timeout` toxic holds every stream open and silent while objects are deleted and etcd
compacts past the clients' last version. Then the toxic goes (which closes the connections it
held) and the proxy restarts in one call (a change of upstream), dropping any other, while new
connections are accepted at once: each client resumes its watch from its last version and gets
410. (Refused connections instead would send the page server down its list-again-on-any-error
path, without a 410.) kopf lists again without reporting the deletions; the operator's sweep drops
them. The page server replaces each kind on its re-list.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controlplane.cluster import LocalCluster, build_binaries, free_port
from e2e.conftest import OperatorProcess, install, publish
from e2e.kube import Kube, condition, wait_for
from e2e.objects import in_seconds, make_component, make_incident, make_page, make_window
from e2e.test_metrics import sample, scrape
from e2e.test_server import ServerProcess, get

TOXIPROXY_VERSION = "v2.5.0"
COMPACTION = "2s"


def toxiproxy_binary() -> Path:
    """Toxiproxy's server, built with `go install` once and cached outside the repository."""
    cache = Path(
        os.environ.get("STATUSPAGE_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "statuspage-operator"
    )
    binary = cache / "toxiproxy" / TOXIPROXY_VERSION / "toxiproxy-server"
    if binary.exists():
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=binary.parent) as gobin:
        subprocess.run(
            [go, "install", f"github.com/Shopify/toxiproxy/v2/cmd/server@{TOXIPROXY_VERSION}"],
            env={**os.environ, "GOBIN": gobin},
            check=True,
            timeout=600,
        )
        (Path(gobin) / "server").rename(binary)
    return binary


@dataclass
class Toxiproxy:
    """A Toxiproxy server and one proxy in front of the API server."""

    process: subprocess.Popen[bytes]
    api: str
    listen: str
    upstreams: tuple[str, str]
    upstream: int = 0

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call to Toxiproxy's HTTP API."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def hold(self) -> None:
        """Every stream stays open and silent: what the API server sends is dropped."""
        toxic = {"name": "hold", "type": "timeout", "stream": "downstream"}
        self.call("POST", "/proxies/apiserver/toxics", {**toxic, "attributes": {"timeout": 0}})

    def cut(self) -> None:
        """Drop every connection now; new ones are accepted at once, and data flows again."""
        self.call("DELETE", "/proxies/apiserver/toxics/hold")
        # A new upstream (the same API server by another name) makes Toxiproxy stop the proxy,
        # closing every connection, and start it again, in one call.
        self.upstream = 1 - self.upstream
        proxy = {"listen": self.listen, "upstream": self.upstreams[self.upstream], "enabled": True}
        self.call("POST", "/proxies/apiserver", proxy)


@pytest.fixture(scope="module")
def gap_cluster() -> Iterator[LocalCluster]:
    """An API server of its own: no watch cache, etcd compacted every 2 seconds."""
    flags = ["--watch-cache=false", f"--etcd-compaction-interval={COMPACTION}"]
    with LocalCluster(build_binaries(), apiserver_flags=flags) as running:
        yield running


@pytest.fixture(scope="module")
def admin(gap_cluster: LocalCluster) -> Kube:
    """kubectl as the admin, straight to the API server; our CRDs and the operator's role."""
    return install(Kube(gap_cluster.kubeconfig))


@pytest.fixture(scope="module")
def toxiproxy(
    gap_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Toxiproxy]:
    """Toxiproxy with a proxy to the API server."""
    port = free_port()
    log = tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(toxiproxy_binary()), "-host", "127.0.0.1", "-port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    apiserver_port = gap_cluster.server.rsplit(":", 1)[1]
    proxy = Toxiproxy(
        process,
        f"http://127.0.0.1:{port}",
        f"127.0.0.1:{free_port()}",
        (f"127.0.0.1:{apiserver_port}", f"localhost:{apiserver_port}"),
    )
    try:

        def up() -> bool:
            try:
                return proxy.call("GET", "/proxies") is not None
            except OSError:
                return False

        wait_for(up, timeout=30, what="toxiproxy")
        proxy.call(
            "POST",
            "/proxies",
            {"name": "apiserver", "listen": proxy.listen, "upstream": proxy.upstreams[0]},
        )
        yield proxy
    finally:
        process.terminate()
        process.wait(timeout=10)


def through(kubeconfig: Path, toxiproxy: Toxiproxy) -> None:
    """Point a kubeconfig at the proxy (the serving certificate names 127.0.0.1)."""
    text = kubeconfig.read_text()
    lines = [
        f"    server: https://{toxiproxy.listen}" if line.startswith("    server: ") else line
        for line in text.splitlines()
    ]
    kubeconfig.write_text("\n".join(lines) + "\n")


def ready_reason(kube: Kube, resource: str, name: str, namespace: str) -> str | None:
    """The reason of an object's Ready condition."""
    return condition(kube.status(resource, name, namespace), "Ready").get("reason")


def compacted_past(kube: Kube, namespace: str, version: str) -> bool:
    """Whether a watch from `version` now gets 410 Gone (etcd compacted past it)."""
    path = (
        f"/apis/statuspage.dev/v1alpha1/namespaces/{namespace}/components"
        f"?watch=1&resourceVersion={version}&timeoutSeconds=1"
    )
    result = kube.run("get", "--raw", path, check=False)
    return '"code":410' in result.stdout.replace(" ", "")


def said_since(operator: OperatorProcess, offset: int) -> str:
    """What the operator logged after `offset`, without its debug chatter, and its sweeps."""
    lines = operator.log.read_text(errors="replace")[offset:].splitlines()
    said = [line for line in lines if not line.startswith(("Handler ", "Daemon ", "Timer "))]
    metrics = scrape(operator)
    sweeps = {
        trigger: sample(metrics, "statuspage_sweeps_total", trigger=trigger)
        for trigger in ("listing", "retry", "interval")
    }
    return f"sweeps: {sweeps}\nthe operator said since the gap:\n" + "\n".join(said[-80:])


def test_watch_gap_ends_in_410_and_the_view_is_as_without_gap(
    admin: Kube, toxiproxy: Toxiproxy, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Objects deleted during a gap: after the 410 re-list, page, components, overlaps, server."""
    ns = "gap"
    admin.run("create", "namespace", ns)
    publish(admin, ns)
    admin.apply(
        ns,
        make_page(visibility="Public"),
        make_component("api"),
        make_component("db"),
        make_component("broken", manualStatus="MajorOutage"),
        make_page("gone", visibility="Public"),
        make_component("orphan", page="gone"),
        # Two windows on db at the same time; neither changes a component, so neither carries a
        # finalizer: a deletion during the gap is final at once.
        make_window("keep", in_seconds(3600), in_seconds(7200), ["db"], autoUpdateStatus=False),
        make_window("dropped", in_seconds(3600), in_seconds(7200), ["db"], autoUpdateStatus=False),
        # Open, without impact: listed on api and counted by the page, no finalizer.
        make_incident(
            "slow",
            components=[{"name": "api"}],
            updates=[{"status": "Investigating", "message": "looking"}],
            impact="None",
        ),
    )

    folder = tmp_path_factory.mktemp("gap-operator")
    operator = OperatorProcess(admin, folder / "operator.log")
    through(operator.kube.kubeconfig, toxiproxy)
    # kopf says at debug level when a watch got 410 Gone ("Restarting the watch-stream").
    operator.extra_args = ["--verbose", "--sweep-interval=0"]
    operator.start()
    server: ServerProcess | None = None
    try:
        server = ServerProcess(operator.kube.kubeconfig, folder / "server.log")

        def page_settled() -> bool:
            status = admin.status("sp", "example", ns)
            return (status.get("indicator"), status.get("components")) == ("Major", 3) and (
                status.get("unresolvedIncidents") == 1
            )

        wait_for(page_settled, timeout=30, what="the page before the gap")
        assert admin.status("comp", "api", ns).get("unresolvedIncidents") == ["slow"]
        wait_for(
            lambda: ready_reason(admin, "comp", "orphan", ns) == "Reconciled", what="orphan ready"
        )
        components = f"/{ns}/example/api/v2/components.json"
        wait_for(lambda: len(server.json(components)["components"]) == 3, what="server: 3")
        assert get(server.url(f"/{ns}/gone/"))[0] == 200
        # The start-up sweep (after kopf's listing) is done: the next listing is a re-list.
        wait_for(
            lambda: sample(scrape(operator), "statuspage_sweeps_total", trigger="listing") >= 1,
            timeout=30,
            what="the start-up sweep",
        )
        operator_log, server_log = (len(p.read_text()) for p in (operator.log, server.log))

        # The list's own version (kubectl's `-o json` of a list has none).
        path = f"/apis/statuspage.dev/v1alpha1/namespaces/{ns}/components"
        version = json.loads(admin.run("get", "--raw", path).stdout)["metadata"]["resourceVersion"]
        toxiproxy.hold()
        for resource, name in [
            ("comp", "broken"),
            ("sp", "gone"),
            ("mw", "dropped"),
            ("statusincident", "slow"),
        ]:
            admin.run("delete", resource, name, "-n", ns, "--wait=false")
        wait_for(lambda: compacted_past(admin, ns, version), timeout=30, what="compaction")
        toxiproxy.cut()

        # As if there had been no gap.
        def page_after() -> tuple[Any, ...]:
            status = admin.status("sp", "example", ns)
            return tuple(status.get(f) for f in ("indicator", "components", "unresolvedIncidents"))

        # kopf reconnects at once, gets 410 and lists again; the sweep follows 2 s later.
        try:
            wait_for(
                lambda: page_after() == ("None", 2, 0),
                timeout=40,
                what="the page as without the gap",
            )
        except AssertionError as error:
            raise AssertionError(
                f"{error}\nthe page: {page_after()}\n{said_since(operator, operator_log)}"
            ) from None
        wait_for(
            lambda: admin.status("comp", "api", ns).get("unresolvedIncidents") == [],
            what="api without the deleted incident",
        )
        wait_for(
            lambda: ready_reason(admin, "comp", "orphan", ns) == "PageNotFound",
            what="orphan without its deleted page",
        )
        admin.apply(
            ns,
            make_window(
                "later", in_seconds(3600), in_seconds(7200), ["db"], autoUpdateStatus=False
            ),
        )
        overlaps = wait_for(
            lambda: admin.status("mw", "later", ns).get("overlaps"), what="later's overlaps"
        )
        assert [o["window"] for o in overlaps] == ["keep"]

        # The operator: kopf's own word that its watches got 410 Gone, and the sweep after its
        # re-list, which dropped each object deleted during the gap once.
        text = operator.log.read_text(errors="replace")[operator_log:]
        assert "Restarting the watch-stream for maintenancewindows" in text
        assert "swept (listing)" in text
        metrics = scrape(operator)
        for kind in ("Component", "StatusPage", "MaintenanceWindow", "StatusIncident"):
            assert sample(metrics, "statuspage_swept_objects_total", kind=kind) == 1, kind

        # The page server: its own watch got 410 too, and its re-list dropped the deleted.
        wait_for(
            lambda: (
                "watch expired (410 Gone); listing again"
                in server.log.read_text(errors="replace")[server_log:]
            ),
            timeout=30,
            what="410 and re-list (server)",
        )
        wait_for(lambda: get(server.url(f"/{ns}/gone/"))[0] == 404, what="server: page gone")
        names = [c["name"] for c in server.json(components)["components"]]
        assert sorted(names) == ["api", "db"]
    finally:
        if server is not None:
            server.stop()
        operator.stop()
