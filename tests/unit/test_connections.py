"""Connection limits of the page server on a real socket: header deadline, head size, the cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from statuspage_operator.server import main
from statuspage_operator.server.app import Server, make_app
from statuspage_operator.server.cache import Cache
from statuspage_operator.server.connections import (
    EVICT_AFTER,
    Connections,
    GuardedSite,
    Limits,
    handler_options,
)

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: status.example.com\r\n\r\n"
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class FakeClock:
    """The monotonic clock the cap reads to pick whom to evict; moved by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    """A guarded server on a free loopback port."""

    port: int
    connections: Connections
    clock: FakeClock
    registry: CollectorRegistry

    async def connect(self, host: str = "127.0.0.1") -> Stream:
        """A raw TCP connection."""
        return await asyncio.open_connection(host, self.port)


@asynccontextmanager
async def running(limits: Limits) -> AsyncIterator[Running]:
    """The real app behind GuardedSite, as `statuspage-server` runs it."""
    clock = FakeClock()
    server = Server(Cache())
    connections = Connections(limits, server.metrics.registry, clock)
    runner = web.AppRunner(make_app(server), access_log=None, **handler_options(limits))
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, connections)
    await site.start()
    try:
        yield Running(site.port, connections, clock, server.metrics.registry)
    finally:
        await runner.cleanup()


def closed_by(server: Running, reason: str) -> float:
    """How many connections a limit closed, as the metrics port says."""
    labels = {"reason": reason}
    value = server.registry.get_sample_value("statuspage_server_connections_closed_total", labels)
    return value or 0.0


def run(limits: Limits, check: Callable[[Running], Awaitable[None]]) -> None:
    """Run `check` against a guarded server."""

    async def main() -> None:
        async with running(limits) as server:
            await check(server)

    asyncio.run(main())


async def answer(stream: Stream, request: bytes = HEALTHZ) -> bytes:
    """Send a request, read the response's status line."""
    reader, writer = stream
    writer.write(request)
    await writer.drain()
    return await asyncio.wait_for(reader.readline(), 2)


async def closed(stream: Stream, within: float) -> bool:
    """Whether the server closes the connection within `within` seconds (EOF or reset)."""
    try:
        await asyncio.wait_for(stream[0].read(), within)
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_half_sent_headers_are_cut_at_the_deadline_trickling_or_not() -> None:
    """A client that never finishes its headers is closed after header_timeout, bytes or not."""

    async def check(server: Running) -> None:
        silent = await server.connect()
        trickling = await server.connect()
        trickling[1].write(b"GET /healthz HTTP/1.1\r\n")
        for _ in range(3):
            await asyncio.sleep(0.1)
            trickling[1].write(b"X-A: b\r\n")
        assert await closed(silent, 1.0)
        assert await closed(trickling, 1.0)
        assert closed_by(server, "header-timeout") == 2

    run(Limits(header_timeout=0.5), check)


def test_a_kept_alive_connection_may_idle_past_the_header_deadline() -> None:
    """After a complete request, only the keep-alive timeout applies to an idle connection."""

    async def check(server: Running) -> None:
        stream = await server.connect()
        assert await answer(stream) == b"HTTP/1.1 200 OK\r\n"
        await stream[0].readuntil(b"ok\n")
        assert not await closed(stream, 0.6)
        assert await answer(stream) == b"HTTP/1.1 200 OK\r\n"

    run(Limits(header_timeout=0.3, keepalive_timeout=5), check)


def test_a_head_split_across_packets_is_complete() -> None:
    """The blank line that ends a head may arrive split: the request is answered, not cut."""

    async def check(server: Running) -> None:
        reader, writer = await server.connect()
        writer.write(HEALTHZ[:-1])
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(HEALTHZ[-1:])
        assert await asyncio.wait_for(reader.readline(), 2) == b"HTTP/1.1 200 OK\r\n"
        await reader.readuntil(b"ok\n")
        assert not await closed((reader, writer), 0.6)

    run(Limits(header_timeout=0.4, keepalive_timeout=5), check)


def test_a_head_past_the_size_cap_closes_the_connection() -> None:
    """Headers beyond max_head bytes: closed without an answer, whatever the pace."""

    async def check(server: Running) -> None:
        stream = await server.connect()
        stream[1].write(b"GET /healthz HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 2000 + b"\r\n")
        assert await closed(stream, 1.0)
        assert closed_by(server, "head-too-large") == 1

    run(Limits(max_head=1024), check)


def test_at_the_cap_the_stalest_connection_makes_room() -> None:
    """A full server closes the connection that made progress longest ago for a new one."""

    async def check(server: Running) -> None:
        stalled = [await server.connect() for _ in range(3)]
        await asyncio.sleep(0.05)
        server.clock.now += EVICT_AFTER
        fresh = await server.connect()
        assert await answer(fresh) == b"HTTP/1.1 200 OK\r\n"
        assert await closed(stalled[0], 1.0)
        assert not await closed(stalled[1], 0.1)
        assert len(server.connections) == 3

    run(Limits(max_connections=3), check)


def test_at_the_cap_with_every_connection_busy_a_new_one_is_refused() -> None:
    """When all made progress within EVICT_AFTER, the newcomer is closed and they stay."""

    async def check(server: Running) -> None:
        held = [await server.connect() for _ in range(2)]
        await asyncio.sleep(0.05)
        refused = await server.connect()
        assert await closed(refused, 1.0)
        for stream in held:
            assert await answer(stream) == b"HTTP/1.1 200 OK\r\n"
        assert closed_by(server, "full") == 1

    run(Limits(max_connections=2), check)


def test_the_per_client_cap_counts_by_peer_address() -> None:
    """One address gets at most max_per_client connections; another address is not affected."""

    async def check(server: Running) -> None:
        first = [await server.connect() for _ in range(2)]
        await asyncio.sleep(0.05)
        third = await server.connect()
        assert await closed(third, 1.0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, local_addr=("127.0.0.2", 0)
        )
        assert await answer((reader, writer)) == b"HTTP/1.1 200 OK\r\n"
        for stream in first:
            assert await answer(stream) == b"HTTP/1.1 200 OK\r\n"

    run(Limits(max_per_client=2), check)


def test_closed_connections_are_forgotten() -> None:
    """Connections that end leave no count behind (the cap and per-client tallies recover)."""

    async def check(server: Running) -> None:
        streams = [await server.connect() for _ in range(4)]
        await asyncio.sleep(0.05)
        assert len(server.connections) == 4
        for _, writer in streams:
            writer.close()
        for _ in range(50):
            if len(server.connections) == 0:
                break
            await asyncio.sleep(0.02)
        assert len(server.connections) == 0
        again = await server.connect()
        assert await answer(again) == b"HTTP/1.1 200 OK\r\n"

    run(Limits(max_per_client=4), check)


def test_a_request_body_over_the_cap_is_refused_and_the_connection_closed() -> None:
    """A declared body over 1 KB, or a chunked one, is answered 413 without reading it."""

    async def check(server: Running) -> None:
        for framing in (b"Content-Length: 100000\r\n", b"Transfer-Encoding: chunked\r\n"):
            stream = await server.connect()
            request = b"POST /healthz HTTP/1.1\r\nHost: a\r\n" + framing + b"\r\n"
            assert await answer(stream, request) == b"HTTP/1.1 413 Request Entity Too Large\r\n"
            assert await closed(stream, 1.0)

    run(Limits(), check)


def test_the_flags_make_the_limits() -> None:
    """statuspage-server's flags set the limits; the defaults are the documented ones."""
    assert main.limits_of(main.parse_args([])) == Limits()
    args = main.parse_args(
        [
            "--header-timeout=5",
            "--keepalive-timeout=30",
            "--max-connections=100",
            "--max-connections-per-client=8",
        ]
    )
    assert main.limits_of(args) == Limits(
        header_timeout=5, keepalive_timeout=30, max_connections=100, max_per_client=8
    )


@pytest.mark.parametrize(
    "flag",
    [
        pytest.param("--header-timeout=0", id="no-deadline"),
        pytest.param("--keepalive-timeout=-1", id="negative-keepalive"),
        pytest.param("--max-connections=0", id="no-connection"),
        pytest.param("--max-connections-per-client=-1", id="negative-per-client"),
    ],
)
def test_a_limit_cannot_be_turned_off_by_a_flag(flag: str) -> None:
    """A deadline of zero or a cap below one is refused at start, not silently unbounded."""
    with pytest.raises(SystemExit):
        main.parse_args([flag])


def test_shutdown_closes_half_sent_connections_at_once() -> None:
    """Stopping the server does not wait for slow clients' deadlines: their connections close."""

    async def main() -> None:
        limits = Limits(header_timeout=60)
        server = Server(Cache())
        connections = Connections(limits, server.metrics.registry)
        runner = web.AppRunner(make_app(server), access_log=None, **handler_options(limits))
        await runner.setup()
        site = GuardedSite(runner, "127.0.0.1", 0, connections)
        await site.start()
        slow = [await asyncio.open_connection("127.0.0.1", site.port) for _ in range(5)]
        for _, writer in slow:
            writer.write(b"GET /healthz HTTP/1.1\r\n")
        await asyncio.sleep(0.05)
        await asyncio.wait_for(runner.cleanup(), 5)
        for stream in slow:
            assert await closed(stream, 1.0)
        assert len(connections) == 0

    asyncio.run(main())
