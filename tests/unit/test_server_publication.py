"""The page server serves only what the publication decision publishes, and tells nothing else."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from statuspage_operator.api.names import Kind
from statuspage_operator.server.app import Server, make_app
from statuspage_operator.server.cache import Cache
from unit.test_server_app import NOW, make

HOST = "status.example.com"
# Headers that differ between any two responses, whatever they answer.
VOLATILE = {"Date"}


def page(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    """A page object of a namespace."""
    obj = make(name, {"title": name, **spec})
    obj["metadata"]["namespace"] = namespace
    return obj


def policy(name: str, **spec: Any) -> dict[str, Any]:
    """A cluster-scoped PublicationPolicy."""
    return {"metadata": {"name": name}, "spec": spec}


def make_cache() -> Cache:
    """Pages of every kind of consent: published, unpublished, private, forbidden, on a host."""
    cache = Cache()
    cache.upsert(
        Kind.POLICY,
        policy(
            "teams",
            namespaces=["team-a"],
            hostnames=[{"hostname": HOST, "namespace": "team-h"}],
        ),
    )
    cache.upsert(Kind.PAGE, page("team-a", "public", visibility="Public"))
    cache.upsert(Kind.PAGE, page("team-a", "draft"))
    cache.upsert(Kind.PAGE, page("team-a", "private", visibility="Private"))
    cache.upsert(Kind.PAGE, page("team-b", "public", visibility="Public"))
    cache.upsert(Kind.PAGE, page("team-h", "hosted", visibility="Public", hostnames=[HOST]))
    for kind in Kind:
        cache.synced.add(kind)
    return cache


Check = Callable[[TestClient[Any, Any], Server], Awaitable[None]]


def serve(check: Check, **options: Any) -> None:
    """Run `check` against the app on a real socket."""
    server = Server(make_cache(), clock=lambda: NOW, **options)

    async def run() -> None:
        async with TestClient(TestServer(make_app(server))) as client:
            await check(client, server)

    asyncio.run(run())


async def answer(response: ClientResponse) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers, without what varies by the clock."""
    headers = {k: v for k, v in response.headers.items() if k not in VOLATILE}
    return response.status, await response.read(), headers


UNSERVED = {
    "unknown": "/team-a/nope/",
    "unpublished": "/team-a/draft/",
    "private": "/team-a/private/",
    "namespace-not-allowed": "/team-b/public/",
    "host-only-namespace": "/team-h/hosted/",
}


def test_unknown_unpublished_and_forbidden_answer_exactly_alike() -> None:
    """Every page not served gets the same status, body and headers, on every representation."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        for rest in ("", "api/v2/summary.json", "history.atom", "badge.svg"):
            answers = {
                what: await answer(await client.get(path + rest)) for what, path in UNSERVED.items()
            }
            assert len(set(map(repr, answers.values()))) == 1, answers
            assert next(iter(answers.values()))[0] == 404
        served = await client.get("/team-a/public/api/v2/summary.json")
        assert served.status == 200

    serve(check)


@pytest.mark.parametrize("method", ["OPTIONS", "POST", "HEAD"])
def test_other_methods_tell_nothing_either(method: str) -> None:
    """OPTIONS, a refused method and HEAD answer an unserved page as they answer an unknown one."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        answers = [await answer(await client.request(method, path)) for path in UNSERVED.values()]
        assert len(set(map(repr, answers))) == 1

    serve(check)


def test_the_trailing_slash_redirect_does_not_reveal_existence() -> None:
    """`/<ns>/<page>` redirects whether the page exists, is served, or not."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        for path in (*UNSERVED.values(), "/team-a/public/"):
            response = await client.get(path.rstrip("/"), allow_redirects=False)
            assert response.status == 308
            assert response.headers["Location"] == path

    serve(check)


def test_median_times_of_unknown_unpublished_and_forbidden_are_within_a_millisecond() -> None:
    """1,000 requests of each, interleaved: the medians differ by less than 1 ms."""
    paths = {
        "unknown": "/team-a/nope/api/v2/summary.json",
        "unpublished": "/team-a/draft/api/v2/summary.json",
        "forbidden": "/team-b/public/api/v2/summary.json",
    }

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        times: dict[str, list[float]] = {what: [] for what in paths}
        for path in paths.values():  # warm up the connection and code paths
            await (await client.get(path)).read()
        for _round in range(1000):
            for what, path in paths.items():
                started = time.perf_counter()
                response = await client.get(path)
                await response.read()
                times[what].append(time.perf_counter() - started)
                assert response.status == 404
        medians = {what: statistics.median(values) for what, values in times.items()}
        assert max(medians.values()) - min(medians.values()) < 0.001, medians

    serve(check)


def test_a_held_host_serves_its_page_at_root_and_no_path() -> None:
    """On the page's own host: the page at /, nothing by path (not even a published page)."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        root = await client.get("/api/v2/status.json", headers={"Host": HOST})
        assert root.status == 200
        by_path = await client.get("/team-a/public/", headers={"Host": HOST})
        assert by_path.status == 404
        redirect = await client.get("/team-a/public", headers={"Host": HOST}, allow_redirects=False)
        assert redirect.status == 404

    serve(check)


def test_path_routing_off_serves_hosts_only() -> None:
    """`--path-routing=off`: no page by path on any host; held hosts still serve theirs."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        assert (await client.get("/team-a/public/")).status == 404
        assert (await client.get("/team-a/public", allow_redirects=False)).status == 404
        assert (await client.get("/", headers={"Host": HOST})).status == 200

    serve(check, path_routing_on=False)


def test_path_routing_hosts_limit_where_paths_are_routed() -> None:
    """`--path-routing-host`: paths are routed on the listed Hosts only."""

    async def check(client: TestClient[Any, Any], _: Server) -> None:
        listed = await client.get("/team-a/public/", headers={"Host": "pages.example.com:8080"})
        assert listed.status == 200
        other = await client.get("/team-a/public/", headers={"Host": "other.example.com"})
        assert other.status == 404

    serve(check, path_hosts=frozenset({"pages.example.com"}))


def test_a_policy_withdrawn_stops_serving_at_once() -> None:
    """Deleting the policy takes the namespace's pages off the site on the next request."""

    async def check(client: TestClient[Any, Any], server: Server) -> None:
        assert (await client.get("/team-a/public/")).status == 200
        server.cache.delete(Kind.POLICY, ("", "teams"))
        assert (await client.get("/team-a/public/")).status == 404
        assert (await client.get("/", headers={"Host": HOST})).status == 404

    serve(check)


def test_a_private_page_on_its_host_is_not_served_without_an_audience() -> None:
    """A Private page holding a hostname answers 404 there, like an unknown host."""
    cache = make_cache()
    cache.upsert(Kind.PAGE, page("team-h", "hosted", visibility="Private", hostnames=[HOST]))
    server = Server(cache, clock=lambda: NOW)

    async def run() -> None:
        async with TestClient(TestServer(make_app(server))) as client:
            held = await answer(await client.get("/", headers={"Host": HOST}))
            unknown = await answer(await client.get("/", headers={"Host": "nobody.example.com"}))
            assert held == unknown
            assert held[0] == 404

    asyncio.run(run())
