"""Slow clients (slowloris) and a latency probe, for the server's e2e test and its bench.

A slow client opens a connection, sends a request line and then one header line every `trickle`
seconds, never the blank line that ends the head, and records how long the server kept it open.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import aiohttp


@dataclass
class SlowClients:
    """`count` connections to host:port that never finish their headers."""

    host: str
    port: int
    count: int
    trickle: float = 0.5
    lifetimes: list[float] = field(default_factory=list)
    refused: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _opened: int = 0

    async def start(self) -> None:
        """Open every connection (in batches, as a real flood does) and start trickling."""
        for first in range(0, self.count, 100):
            batch = [self._open() for _ in range(first, min(self.count, first + 100))]
            self._tasks += [task for task in await asyncio.gather(*batch) if task is not None]

    @property
    def opened(self) -> int:
        """How many connections the server accepted and had not closed at once."""
        return self._opened

    @property
    def holding(self) -> int:
        """How many connections are open now."""
        return sum(not task.done() for task in self._tasks)

    async def closed(self, within: float) -> bool:
        """Wait until the server has closed every connection; False if some are still open."""
        _, pending = await asyncio.wait(self._tasks, timeout=within)
        for task in pending:
            task.cancel()
        return not pending

    async def _open(self) -> asyncio.Task[None] | None:
        # Timed from before the connect: the server's deadline runs from its accept, and with a
        # thousand connects in flight this coroutine may resume well after it (a lifetime timed
        # from here can only be longer than the server's view, never shorter).
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            self.refused += 1
            return None
        self._opened += 1
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: slow.example\r\n")
        return asyncio.create_task(self._hold(reader, writer, started))

    async def _hold(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, started: float
    ) -> None:
        eof = asyncio.create_task(reader.read())
        try:
            while not eof.done():
                await asyncio.wait({eof}, timeout=self.trickle)
                if not eof.done():
                    writer.write(b"X-Slow: 1\r\n")
        except (ConnectionError, RuntimeError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                await eof
            self.lifetimes.append(time.monotonic() - started)
            writer.close()


async def probe(urls: list[str], rounds: int) -> tuple[dict[str, list[float]], int]:
    """GET each URL `rounds` times on fresh connections; latencies in ms by URL, and failures."""
    latencies: dict[str, list[float]] = {url: [] for url in urls}
    failures = 0
    timeout = aiohttp.ClientTimeout(total=10)
    for _ in range(rounds):
        for url in urls:
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                started = time.perf_counter()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        ok = response.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    latencies[url].append((time.perf_counter() - started) * 1000)
                else:
                    failures += 1
    return latencies, failures


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]
