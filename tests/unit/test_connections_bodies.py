"""The connection guard with request bodies (`max_body`, the alerts receiver's setting)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from statuspage_operator.server.connections import Connections, GuardedSite, Limits, handler_options

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
LIMITS = Limits(header_timeout=0.5, max_head=1024, max_body=1024 * 1024)


async def length(request: web.Request) -> web.Response:
    body = await request.read()
    # Slower than the header deadline: a request being handled is not the guard's to cut.
    await asyncio.sleep(float(request.query.get("think", "0")))
    return web.Response(text=str(len(body)))


@asynccontextmanager
async def running(limits: Limits) -> AsyncIterator[int]:
    app = web.Application(client_max_size=limits.max_body)
    app.router.add_post("/", length)
    runner = web.AppRunner(app, access_log=None, **handler_options(limits))
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, Connections(limits))
    await site.start()
    try:
        yield site.port
    finally:
        await runner.cleanup()


def run(check: Callable[[int], Awaitable[None]], limits: Limits = LIMITS) -> None:
    async def main() -> None:
        async with running(limits) as port:
            await check(port)

    asyncio.run(main())


def head(size: int, path: str = "/") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n".encode()


async def response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Status line and body of one response (Content-Length framed)."""
    status = await asyncio.wait_for(reader.readline(), 5)
    size = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            size = int(line.split(b":")[1])
    return status, await reader.readexactly(size)


def test_a_body_larger_than_a_head_passes_in_pieces() -> None:
    """200 KB of body, sent in 1 KB pieces with a blank line inside: read whole."""

    async def check(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = (b"x" * 1000 + b"\n\n") * 200
        writer.write(head(len(body)))
        for start in range(0, len(body), 1024):
            writer.write(body[start : start + 1024])
            await writer.drain()
        status, text = await response(reader)
        assert status.startswith(b"HTTP/1.1 200")
        assert int(text) == len(body)
        # The body did not count as the next head: the connection takes another request.
        writer.write(head(3) + b"abc")
        status, text = await response(reader)
        assert (status[9:12], text) == (b"200", b"3")
        writer.close()

    run(check)


def test_a_body_that_stops_coming_is_cut_at_the_deadline() -> None:
    """Half a body, then nothing: closed after header_timeout, unanswered."""

    async def check(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head(100) + b"x" * 50)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 2) == b""

    run(check)


def test_a_slow_handler_is_not_cut() -> None:
    """A complete request whose handling outlasts the deadline is answered."""

    async def check(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head(2, "/?think=1") + b"ok")
        status, text = await response(reader)
        assert (status[9:12], text) == (b"200", b"2")
        writer.close()

    run(check)


def test_a_body_without_length_counts_as_head() -> None:
    """Chunked bodies are not followed: past max_head, the connection is closed."""

    async def check(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"800\r\n" + b"x" * 2048 + b"\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 2) == b""

    run(check)
