"""The page server as an internet-facing process: it answers while slow clients hold connections.

The real `statuspage-server` runs against the local control plane with a short header deadline.
A thousand connections send a request line and then a header line every half second, never
finishing their heads (slowloris). While they are held, /healthz and the page are fetched on fresh
connections: every one is answered. Then each slow connection is closed by the deadline, trickling
or not, and the metrics port counts them. Latency figures belong to `make bench`
(tests/bench/server_load.py); this test only prints them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.cluster import free_port
from e2e.kube import Kube, wait_for
from e2e.objects import make_component, make_page
from e2e.slow_clients import SlowClients, percentile, probe

SERVER = str(Path(sys.executable).parent / "statuspage-server")
HEADER_TIMEOUT = 8.0
SLOW = 1000


class GuardedServer:
    """statuspage-server with a short header deadline, as a subprocess."""

    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.process = subprocess.Popen(
            [
                SERVER,
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--metrics-port={self.metrics_port}",
                f"--header-timeout={HEADER_TIMEOUT}",
            ],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"},
        )

    def url(self, path: str) -> str:
        """An absolute URL on the server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def answers(self, path: str) -> bool:
        """Whether `path` answers 200."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def closed_by_deadline(self) -> float:
        """The count of connections closed by the header deadline, from the metrics port."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith('statuspage_server_connections_closed_total{reason="header-'):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self) -> None:
        """Terminate and reap."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def guarded(kube: Kube, tmp_path: Path) -> Iterator[GuardedServer]:
    """The server, running for one test."""
    running = GuardedServer(kube.kubeconfig, tmp_path / "server.log")
    yield running
    running.stop()
    print("\n--- server log (tail) ---\n" + (tmp_path / "server.log").read_text()[-2000:])


def test_answers_while_slow_clients_hold_a_thousand_connections(
    kube: Kube, published: str, guarded: GuardedServer
) -> None:
    """/healthz and a page are served under 1,000 half-sent heads, which the deadline closes."""
    namespace = published
    kube.apply(
        namespace, make_page(visibility="Public"), make_component("api"), make_component("db")
    )
    page = f"/{namespace}/example/"
    wait_for(lambda: guarded.answers(page), timeout=60, what="the server to serve the page")

    async def scenario() -> tuple[SlowClients, dict[str, list[float]], int]:
        slow = SlowClients("127.0.0.1", guarded.port, SLOW)
        await slow.start()
        urls = [guarded.url("/healthz"), guarded.url(page)]
        latencies, failures = await probe(urls, rounds=100)
        assert slow.holding == SLOW, "the probe outlasted the slow connections"
        assert await slow.closed(within=HEADER_TIMEOUT + 20)
        return slow, latencies, failures

    slow, latencies, failures = asyncio.run(scenario())
    assert slow.opened == SLOW
    assert failures == 0
    assert all(len(found) == 100 for found in latencies.values())
    # Each slow connection lived about the deadline (trickled bytes did not extend it).
    assert min(slow.lifetimes) >= HEADER_TIMEOUT - 0.5
    assert max(slow.lifetimes) < HEADER_TIMEOUT + 4
    assert guarded.closed_by_deadline() >= SLOW
    for url, found in latencies.items():
        print(f"{url}: p50 {percentile(found, 50):.1f} ms, p99 {percentile(found, 99):.1f} ms")
