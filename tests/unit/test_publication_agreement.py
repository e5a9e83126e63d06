"""One derivation: what the operator's Published condition says is exactly what the server serves.

Generated policies and pages go into the fake API server; the operator's runtime writes each
page's condition; the page server, fed the same objects as the operator left them, answers each
page's path and each hostname it claims. A page is served by path, or on a host, exactly when its
condition's message says so (a Private page is served to audiences only: never here).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statuspage_operator.api.names import Kind
from statuspage_operator.control.runtime import Runtime
from statuspage_operator.server.app import Server, make_app
from statuspage_operator.server.cache import Cache
from unit.fake_time import FakeClock
from unit.fakes import FakeClient, resource
from unit.running import run
from unit.test_publication_condition import condition, pages_seen

NAMESPACES = ["team-a", "team-b"]
HOSTS = ["one.test", "two.test"]

grants = st.dictionaries(st.sampled_from(HOSTS), st.sampled_from(NAMESPACES), max_size=2)
policies = st.lists(
    st.tuples(st.lists(st.sampled_from(NAMESPACES), max_size=2, unique=True), grants), max_size=2
)
pages = st.dictionaries(
    st.tuples(st.sampled_from(NAMESPACES), st.sampled_from(["x", "y"])),
    st.tuples(
        st.sampled_from(["Public", "Unpublished", "Private"]),
        st.lists(st.sampled_from(HOSTS), max_size=2, unique=True),
    ),
    min_size=1,
    max_size=4,
)


def world(
    policy_specs: list[tuple[list[str], dict[str, str]]],
    page_specs: dict[tuple[str, str], tuple[str, list[str]]],
) -> FakeClient:
    """The fake API server holding the generated policies and pages."""
    client = FakeClient()
    for index, (namespaces, granted) in enumerate(policy_specs):
        spec: dict[str, Any] = {"namespaces": namespaces}
        spec["hostnames"] = [{"hostname": h, "namespace": ns} for h, ns in granted.items()]
        client.add(resource(Kind.POLICY, "", f"p{index}", spec))
    for (namespace, name), (visibility, claimed) in page_specs.items():
        # Titles tell pages apart on a host: unique across namespaces.
        title = f"{namespace}/{name}"
        page: dict[str, Any] = {"title": title, "visibility": visibility, "hostnames": claimed}
        client.add(resource(Kind.PAGE, namespace, name, page))
    return client


def served(client: FakeClient) -> dict[tuple[str, str, str], int]:
    """The server's status for each page's path ("") and each hostname it claims."""
    cache = Cache()
    for kind in (Kind.POLICY, Kind.PAGE):
        for namespace, name in client.keys(kind):
            found = client.get(kind, namespace, name)
            assert found is not None
            cache.upsert(kind, found)
    server = Server(cache)

    async def ask() -> dict[tuple[str, str, str], int]:
        answers: dict[tuple[str, str, str], int] = {}
        async with TestClient(TestServer(make_app(server))) as http:
            for namespace, name in client.keys(Kind.PAGE):
                page = client.get(Kind.PAGE, namespace, name)
                assert page is not None
                path = f"/{namespace}/{name}/api/v2/status.json"
                answers[(namespace, name, "")] = (await http.get(path)).status
                for host in page["spec"]["hostnames"]:
                    response = await http.get("/api/v2/status.json", headers={"Host": host})
                    if response.status == 200:
                        shown = (await response.json())["page"]["name"]
                        mine = shown == f"{namespace}/{name}"
                        answers[(namespace, name, host)] = 200 if mine else 409
                    else:
                        answers[(namespace, name, host)] = response.status
        return answers

    return asyncio.run(ask())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies, pages)
def test_the_condition_says_what_the_server_serves(
    policy_specs: list[tuple[list[str], dict[str, str]]],
    page_specs: dict[tuple[str, str], tuple[str, list[str]]],
) -> None:
    """By path and on each claimed host: served (200) exactly when Published's message says so."""
    client = world(policy_specs, page_specs)

    async def scenario(runtime: Runtime) -> None:
        await pages_seen(runtime, client)

    run(client, FakeClock(), scenario)
    for (namespace, name, host), status in served(client).items():
        message = condition(client, namespace, name, "Published")["message"]
        public = page_specs[(namespace, name)][0] == "Public"
        said = f"by path /{namespace}/{name}/" if not host else f"on host {host}"
        assert (status == 200) == (public and said in message), (namespace, name, host, message)
