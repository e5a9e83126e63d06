"""Publication by consent through the real API server, operator and page server process.

What is not served: an unpublished page, a namespace no policy lets publish, a hostname not
granted, a hostname two pages of a namespace claim. Each answers exactly as an unknown page does,
and the page's Published condition says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.conftest import OperatorProcess, publish
from e2e.kube import Kube, condition, wait_for
from e2e.objects import make_page, make_policy
from e2e.test_server import ServerProcess, get, make_server_kubeconfig

# Headers that differ between any two responses, whatever they answer.
VOLATILE = {"Date"}


@pytest.fixture(scope="module")
def server(
    kube: Kube, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The page server under its read-only role, while this module's tests run."""
    directory = tmp_path_factory.mktemp("publication-server")
    running = ServerProcess(make_server_kubeconfig(kube, directory), directory / "server.log")
    yield running
    running.stop()


def answer(server: ServerProcess, path: str, host: str | None = None) -> tuple[Any, ...]:
    """Status, headers (but Date) and body of a GET."""
    status, headers, body = get(server.url(path), {"Host": host} if host else None)
    return status, {k: v for k, v in headers.items() if k not in VOLATILE}, body


def published(kube: Kube, namespace: str, page: str = "example") -> dict[str, Any]:
    """The page's Published condition ({} until written)."""
    return condition(kube.status("sp", page, namespace), "Published")


def said(kube: Kube, namespace: str, page: str, reason: str) -> dict[str, Any]:
    """Wait until the page's Published condition has this reason; return it."""

    def probe() -> dict[str, Any] | None:
        found = published(kube, namespace, page)
        return found if found.get("reason") == reason else None

    return wait_for(probe, timeout=10, what=f"Published reason {reason} on {page}")


def test_an_unpublished_page_answers_as_an_unknown_one(
    kube: Kube, namespace: str, server: ServerProcess
) -> None:
    """Unpublished (the default): the same 404 as a page that does not exist, until made Public."""
    name = publish(kube, namespace)
    try:
        kube.apply(namespace, make_page())
        found = said(kube, namespace, "example", "Unpublished")
        assert found["status"] == "False"
        unknown = answer(server, f"/{namespace}/nothing-here/")
        assert unknown[0] == 404
        for rest in ("", "api/v2/summary.json", "badge.svg"):
            assert answer(server, f"/{namespace}/example/{rest}") == answer(
                server, f"/{namespace}/nothing-here/{rest}"
            )
        redirect = get(server.url(f"/{namespace}/example"))
        assert redirect[0] == get(server.url(f"/{namespace}/nothing-here"))[0]

        kube.apply(namespace, make_page(visibility="Public"))
        said(kube, namespace, "example", "Published")
        wait_for(
            lambda: answer(server, f"/{namespace}/example/")[0] == 200,
            timeout=5,
            what="the page served once Public",
        )
    finally:
        kube.run("delete", "publicationpolicy", name, "--wait=false", check=False)


def test_a_namespace_that_may_not_publish_is_not_served(
    kube: Kube, namespace: str, server: ServerProcess
) -> None:
    """A Public page of a namespace no policy lists: NamespaceNotAllowed and the unknown's 404."""
    kube.apply(namespace, make_page(visibility="Public"))
    found = said(kube, namespace, "example", "NamespaceNotAllowed")
    assert namespace in found["message"]
    assert answer(server, f"/{namespace}/example/api/v2/status.json") == answer(
        server, f"/{namespace}/nothing-here/api/v2/status.json"
    )
    name = publish(kube, namespace)
    try:
        said(kube, namespace, "example", "Published")
        wait_for(
            lambda: answer(server, f"/{namespace}/example/api/v2/status.json")[0] == 200,
            timeout=5,
            what="the page served once a policy lists the namespace",
        )
    finally:
        kube.run("delete", "publicationpolicy", name, "--wait=false", check=False)
    said(kube, namespace, "example", "NamespaceNotAllowed")
    wait_for(
        lambda: answer(server, f"/{namespace}/example/api/v2/status.json")[0] == 404,
        timeout=5,
        what="the page off the site once the policy is gone",
    )


def test_a_hostname_not_granted_is_refused(
    kube: Kube, namespace: str, server: ServerProcess
) -> None:
    """HostnameNotGranted on the page; the host answers as an unknown one; the path still works."""
    host = f"{namespace}.claimed.test"
    name = publish(kube, namespace)
    try:
        kube.apply(namespace, make_page(visibility="Public", hostnames=[host]))
        found = said(kube, namespace, "example", "HostnameNotGranted")
        assert found["status"] == "False"
        assert host in found["message"]
        assert condition(kube.status("sp", "example", namespace), "Ready")["status"] == "True"
        wait_for(
            lambda: answer(server, f"/{namespace}/example/")[0] == 200,
            timeout=5,
            what="the page served by path",
        )
        assert answer(server, "/", host) == answer(server, "/", "nobody.claimed.test")
    finally:
        kube.run("delete", "publicationpolicy", name, "--wait=false", check=False)


def test_a_hostname_two_pages_claim_goes_to_neither(
    kube: Kube, namespace: str, server: ServerProcess
) -> None:
    """Both pages say HostnameConflict, the host serves nothing; one stepping back gives it over."""
    host = f"{namespace}.shared.test"
    name = publish(kube, namespace, hostnames=[host])
    try:
        kube.apply(
            namespace,
            make_page("first", visibility="Public", hostnames=[host]),
            make_page("second", visibility="Public", hostnames=[host]),
        )
        for page, other in (("first", "second"), ("second", "first")):
            found = said(kube, namespace, page, "HostnameConflict")
            assert other in found["message"]
        assert answer(server, "/", host) == answer(server, "/", "nobody.shared.test")

        kube.apply(namespace, make_page("second", visibility="Public"))
        said(kube, namespace, "first", "Published")
        said(kube, namespace, "second", "Published")
        wait_for(
            lambda: get(server.url("/api/v2/status.json"), {"Host": host})[0] == 200,
            timeout=5,
            what="the host serving the page that holds it",
        )
        status = get(server.url("/api/v2/summary.json"), {"Host": host})
        assert b'"name":"First"' in status[2]
        # On the held host no page is reachable by path, not even a published one.
        assert get(server.url(f"/{namespace}/second/"), {"Host": host})[0] == 404
    finally:
        kube.run("delete", "publicationpolicy", name, "--wait=false", check=False)


def test_path_routing_can_be_switched_off(
    kube: Kube, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    """`--path-routing=off`: a published page is served on its host only."""
    host = f"{namespace}.only.test"
    name = publish(kube, namespace, hostnames=[host])
    running = ServerProcess(
        make_server_kubeconfig(kube, tmp_path), tmp_path / "server.log", "--path-routing=off"
    )
    try:
        kube.apply(namespace, make_page(visibility="Public", hostnames=[host]))
        said(kube, namespace, "example", "Published")
        wait_for(
            lambda: get(running.url("/"), {"Host": host})[0] == 200,
            timeout=5,
            what="the page on its host",
        )
        assert get(running.url(f"/{namespace}/example/"))[0] == 404
    finally:
        running.stop()
        kube.run("delete", "publicationpolicy", name, "--wait=false", check=False)


def test_the_api_server_refuses_policies_that_cannot_mean_anything(kube: Kube) -> None:
    """A policy granting nothing, or one hostname twice, is refused at admission."""
    empty = make_policy("grants-nothing")
    result = kube.run("apply", "-f", "-", stdin=yaml.safe_dump(empty), check=False)
    assert result.returncode != 0
    assert "a policy grants namespaces, hostnames or both" in result.stderr
    twice = make_policy("twice")
    twice["spec"]["hostnames"] = [
        {"hostname": "twice.test", "namespace": "team-a"},
        {"hostname": "twice.test", "namespace": "team-b"},
    ]
    result = kube.run("apply", "-f", "-", stdin=yaml.safe_dump(twice), check=False)
    assert result.returncode != 0
    assert "Duplicate value" in result.stderr
