"""What aiohttp's server lacks to face the internet: a header read deadline and a connection cap.

aiohttp 3.14 has a keep-alive timeout, armed when a connection opens and after each response and
not reset by incoming bytes, and bounds on header lines and counts; it has no timeout for reading
a request's headers (its `slow_request_timeout` went away in 2.0) and no limit on connections. So
each connection's protocol is wrapped here, as hyper and Go's ReadHeaderTimeout do it:

- Header deadline: a request's head (request line and headers) must be complete within
  `header_timeout` of the connection opening, or of its first byte on a kept-alive connection;
  else the connection is closed. Bytes that trickle in do not extend it.
- Head size: a head longer than `max_head` bytes closes the connection (the server is GET-only,
  so this also caps what a request body can make it read).
- Connection cap: at `max_connections`, a new connection takes the place of the one that made
  progress (opened, or completed a head) longest ago, if that was at least EVICT_AFTER ago: a
  connection holding a half-sent head or idling is what goes, so slow clients cannot lock real
  ones out. If every connection made progress within EVICT_AFTER, the new one is closed.
- Per client: at most `max_per_client` connections from one TCP peer address (0: no limit;
  behind a proxy every connection comes from the proxy, so leave it off there).

- Bodies (`max_body` > 0, the alerts receiver): a head's Content-Length bytes that follow it are
  its body, not the next head; the body must arrive within `header_timeout` of its head, and the
  deadline is lifted once it has (the request is then the application's). A body without
  Content-Length (chunked) counts as head bytes, so it is cut at `max_head`. With `max_body` 0
  (the page server, GET-only) every byte after a head counts as the next head.

The head is found by scanning for its blank line, not by parsing: the deadline needs to know only
where a head ends (and, with bodies, its Content-Length), and aiohttp's parser still judges the
request; the application refuses a body over `max_body` (413).
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter as Tally
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

EVICT_AFTER = 1.0
_HEAD_END = re.compile(rb"\n\r?\n")
_CARRY = 2  # bytes of a chunk kept to find a head's end split across two chunks
_CONTENT_LENGTH = re.compile(rb"\r?\ncontent-length[ \t]*:[ \t]*([0-9]{1,12})[ \t]*\r?\n", re.I)


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds of every connection (flags of `statuspage-server`, docs/server.md)."""

    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    max_connections: int = 2048
    max_per_client: int = 0
    max_head: int = 16 * 1024
    max_body: int = 0


def _content_length(head: bytes) -> int:
    """The Content-Length a head declares (0 when none or unreadable: aiohttp refuses those)."""
    found = _CONTENT_LENGTH.findall(head)
    return int(found[0]) if len(found) == 1 else 0


class Connections:
    """The open connections, least recent progress first, with per-client counts and metrics."""

    def __init__(
        self,
        limits: Limits,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._open: OrderedDict[GuardedProtocol, float] = OrderedDict()
        self._per_client: Tally[str] = Tally()
        registry = registry if registry is not None else CollectorRegistry()
        self.gauge = Gauge(
            "statuspage_server_connections", "Open client connections", registry=registry
        )
        self.gauge.set_function(lambda: len(self._open))
        self.closed = Counter(
            "statuspage_server_connections_closed",
            "Connections closed by a limit, by reason",
            ["reason"],
            registry=registry,
        )

    def __len__(self) -> int:
        return len(self._open)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for loop.create_server that guards each of `inner`'s protocols."""
        return lambda: GuardedProtocol(inner(), self)

    def admit(self, connection: GuardedProtocol) -> bool:
        """Make room for a new connection (evicting a stalled one) or refuse it."""
        limits = self.limits
        if limits.max_per_client and self._per_client[connection.client] >= limits.max_per_client:
            self.closed.labels("per-client").inc()
            return False
        now = self._clock()
        if len(self._open) >= limits.max_connections:
            oldest, since = next(iter(self._open.items()))
            if now - since < EVICT_AFTER:
                self.closed.labels("full").inc()
                return False
            self.closed.labels("evicted").inc()
            oldest.close()
        self._open[connection] = now
        self._per_client[connection.client] += 1
        return True

    def progressed(self, connection: GuardedProtocol) -> None:
        """A connection opened or completed a head: it goes last in the eviction order."""
        if connection in self._open:
            self._open[connection] = self._clock()
            self._open.move_to_end(connection)

    def forget(self, connection: GuardedProtocol) -> None:
        """A connection is closed (no error if already forgotten)."""
        if self._open.pop(connection, None) is not None:
            self._per_client[connection.client] -= 1
            if self._per_client[connection.client] <= 0:
                del self._per_client[connection.client]


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the deadline and the cap."""

    def __init__(self, inner: asyncio.Protocol, connections: Connections) -> None:
        self._inner = inner
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._head = 0  # bytes of a head under way
        self._carry = b""
        self._body = 0  # bytes of a body still to come
        self.client = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._connections.admit(self):
            transport.abort()
            return
        self._admitted = True
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._admitted or self._transport is None:
            return
        if self._connections.limits.max_body:
            if self._consume(data):
                self._inner.data_received(data)
            return
        scanned = self._carry + data
        ends = [match.end() for match in _HEAD_END.finditer(scanned)]
        if ends:
            after = len(scanned) - ends[-1]
            self._connections.progressed(self)
            self._disarm()
            self._head = after
            self._carry = scanned[-min(after, _CARRY) :] if after else b""
            if after:
                self._arm()
        else:
            if self._deadline is None:
                self._arm()
            self._head += len(data)
            self._carry = scanned[-_CARRY:]
        if self._head > self._connections.limits.max_head:
            self._connections.closed.labels("head-too-large").inc()
            self.close()
            return
        self._inner.data_received(data)

    def _consume(self, data: bytes) -> bool:
        """Heads and bodies (max_body > 0): False when the connection was closed."""
        limits = self._connections.limits
        while data:
            if self._body:
                taken = min(self._body, len(data))
                self._body -= taken
                data = data[taken:]
                if not self._body:
                    self._disarm()
                continue
            # The whole head so far is kept (at most max_head): its Content-Length is needed.
            scanned = self._carry + data
            match = _HEAD_END.search(scanned)
            if match is None:
                if self._deadline is None:
                    self._arm()
                self._head += len(data)
                self._carry = scanned
                data = b""
            else:
                used = match.end() - len(self._carry)
                self._connections.progressed(self)
                self._disarm()
                self._body = _content_length(scanned[: match.end()])
                self._head = 0
                self._carry = b""
                data = data[used:]
                if self._body or data:
                    self._arm()
            if self._head > limits.max_head:
                self._connections.closed.labels("head-too-large").inc()
                self.close()
                return False
        return True

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._connections.forget(self)
        if self._admitted:
            self._inner.connection_lost(exc)
        self._transport = None

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def close(self) -> None:
        """Drop the connection now: what it has not sent in time is not worth a response."""
        self._disarm()
        self._connections.forget(self)
        if self._transport is not None:
            self._transport.abort()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._connections.limits.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        self._connections.closed.labels("header-timeout").inc()
        self.close()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through `Connections` (aiohttp's TCPSite, guarded)."""

    __slots__ = ("_connections", "_host", "_port")

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, connections: Connections
    ) -> None:
        super().__init__(runner, backlog=1024)
        self._host, self._port, self._connections = host, port, connections

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._connections.factory(server),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )

    @property
    def port(self) -> int:
        """The port bound (the one asked for, or the one the system chose for 0)."""
        if self._server is not None and isinstance(self._server, asyncio.Server):
            return int(self._server.sockets[0].getsockname()[1])
        return self._port


def handler_options(limits: Limits) -> dict[str, Any]:
    """aiohttp's own bounds, for web.AppRunner(**...): keep-alive and header line sizes."""
    return {
        "keepalive_timeout": limits.keepalive_timeout,
        # A body the server did not read is not drained (aiohttp would read it for 10 s): the
        # connection closes after the response.
        "lingering_time": 0,
        "max_line_size": 4096,
        "max_field_size": 8190,
        "max_headers": 64,
    }


async def serve_until_stopped(
    app: web.Application,
    metrics_app: web.Application | None,
    address: tuple[str, int, int],
    connections: Connections,
    shutdown_delay: float,
    stopping: Callable[[], None],
) -> None:
    """Serve `app` behind the guard (and `metrics_app` on its own port) until SIGTERM or SIGINT.

    `address` is (host, port, metrics port). On the signal `stopping` is called (the process
    says it is not ready), requests are still answered for `shutdown_delay` seconds while the
    load balancer lets go, then both sites close. The page server and the alerts receiver run
    this way.
    """
    host, port, metrics_port = address
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=10.0, **handler_options(connections.limits)
    )
    await runner.setup()
    await GuardedSite(runner, host, port, connections).start()
    metrics_runner: web.AppRunner | None = None
    if metrics_app is not None and metrics_port:
        metrics_runner = web.AppRunner(metrics_app, access_log=None)
        await metrics_runner.setup()
        await web.TCPSite(metrics_runner, host, metrics_port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    stopping()
    await asyncio.sleep(shutdown_delay)
    await runner.cleanup()
    if metrics_runner is not None:
        await metrics_runner.cleanup()
