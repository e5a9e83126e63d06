"""`make bench`: what audience filtering costs the page server, filtering on against off.

Two pages of 1,100 components (Statuspage's maximum), 60 incidents and 30 windows each, in one
in-process server (the aiohttp app on a real loopback socket, the client on the same loop, so
both sides pay the same client cost). One page is Public (no filtering); the other is Private
with an audience that lists all 1,100 components, asked for through a trusted proxy's headers:
the same output, with every filtering step on. Requests alternate between the pages, in a random
order each round.

- summary.json, each request re-rendered (the rendering cache is invalidated before each): p50
  and p99 over SAMPLES requests each, of the CPU time the process spent on the request (client
  and server) and, for information, of wall time (which on a shared machine also counts the time
  other processes held the core);
- summary.json answered from the rendering cache (the usual case): p99 over CACHED requests, of
  CPU and of wall time;
- the HTML page, re-rendered: renderings per second;
- the same for an audience that sees half the components (for information).

Target: filtering costs at most 20% (p99 and throughput).
"""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from statuspage_operator.api.names import Kind  # noqa: E402
from statuspage_operator.server.app import Server, make_app  # noqa: E402
from statuspage_operator.server.cache import Cache  # noqa: E402
from statuspage_operator.server.identity import Trust  # noqa: E402

COMPONENTS = 1_100
INCIDENTS = 60
WINDOWS = 30
SAMPLES = 300
CACHED = 3_000
HTML_SAMPLES = 60
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HEADERS = {"X-Forwarded-User": "bench", "X-Forwarded-Groups": "everyone,half"}
STATUSES = ["Operational"] * 8 + ["DegradedPerformance", "PartialOutage"]
SHUFFLE = random.Random(18)


def obj(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An object as the watch gives it."""
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"{namespace}-{name}",
            "creationTimestamp": "2026-06-01T00:00:00Z",
            "generation": 1,
        },
        "spec": spec,
        "status": {},
    }


def fill(cache: Cache, namespace: str, page: dict[str, Any]) -> None:
    """A page of COMPONENTS components in groups of 20, incidents and windows on some."""
    cache.upsert(Kind.PAGE, obj("example", namespace, page))
    names = [f"c{i:04d}" for i in range(COMPONENTS)]
    for i, name in enumerate(names):
        spec = {"page": "example", "group": f"group {i // 20}", "position": i}
        if i % 37 == 0:
            spec["manualStatus"] = STATUSES[i % len(STATUSES)]
        cache.upsert(Kind.COMPONENT, obj(name, namespace, spec))
    for i in range(INCIDENTS):
        updates = [{"status": "Investigating", "message": f"Incident {i}."}]
        if i % 2:
            updates.append({"status": "Resolved", "message": "Fixed."})
        listed = [{"name": names[(i * 17 + k) % COMPONENTS]} for k in range(3)]
        spec = {"page": "example", "title": f"Incident {i}", "components": listed}
        cache.upsert(Kind.INCIDENT, obj(f"i{i}", namespace, {**spec, "updates": updates}))
    for i in range(WINDOWS):
        start = NOW + timedelta(hours=i - 2)
        spec = {
            "page": "example",
            "title": f"Window {i}",
            "components": [names[(i * 31 + k) % COMPONENTS] for k in range(4)],
            "startTime": start.isoformat(),
            "endTime": (start + timedelta(hours=1)).isoformat(),
        }
        cache.upsert(Kind.WINDOW, obj(f"w{i}", namespace, spec))


def make_server() -> Server:
    """The two pages (and a half-audience one) in one server trusting the loopback client."""
    cache = Cache()
    names = [f"c{i:04d}" for i in range(COMPONENTS)]
    fill(cache, "open", {"title": "Open", "visibility": "Public"})
    audience = {"name": "everyone", "groups": ["everyone"], "components": names}
    fill(cache, "closed", {"title": "Closed", "visibility": "Private", "audiences": [audience]})
    half = {"name": "half", "groups": ["half"], "components": names[::2]}
    fill(cache, "half", {"title": "Half", "visibility": "Private", "audiences": [half]})
    for kind in Kind:
        cache.synced.add(kind)
    return Server(cache, clock=lambda: NOW, trust=Trust.of(["127.0.0.1/32"]))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def report(name: str, value: str, target: str = "") -> None:
    """One figure, one line."""
    print(f"{name:<62} {value:>14}  {target}", flush=True)


async def timed(
    client: TestClient[Any, Any], server: Server, namespace: str, path: str, cold: bool
) -> tuple[float, float]:
    """CPU and wall seconds for one GET (after invalidating the page's renderings if `cold`)."""
    if cold:
        server.cache.versions[namespace] += 1
    cpu, wall = time.process_time(), time.perf_counter()
    response = await client.get(f"/{namespace}/example/{path}", headers=HEADERS)
    await response.read()
    elapsed = time.process_time() - cpu, time.perf_counter() - wall
    assert response.status == 200, (namespace, path, response.status)
    return elapsed


Samples = dict[str, list[float]]


async def alternate(
    client: TestClient[Any, Any], server: Server, path: str, samples: int, cold: bool
) -> tuple[Samples, Samples]:
    """Interleaved (CPU, wall) samples of the three pages, in a random order each round, so
    drift and garbage collections hit all alike."""
    cpu: Samples = {"open": [], "closed": [], "half": []}
    wall: Samples = {"open": [], "closed": [], "half": []}
    order = list(cpu)
    for _ in range(samples):
        SHUFFLE.shuffle(order)
        for namespace in order:
            spent, took = await timed(client, server, namespace, path, cold)
            cpu[namespace].append(spent)
            wall[namespace].append(took)
    return cpu, wall


def cost(on: float, off: float) -> str:
    """Filtering's cost in percent of the unfiltered figure."""
    return f"{100 * (on - off) / off:+.1f}%"


async def main() -> None:
    """Print the figures."""
    server = make_server()
    # The pages held are long-lived: out of the collector's way, as in a server that has listed.
    gc.collect()
    gc.freeze()
    async with TestClient(TestServer(make_app(server))) as client:
        await alternate(client, server, "api/v2/summary.json", 5, cold=True)  # warm-up
        cpu, wall = await alternate(client, server, "api/v2/summary.json", SAMPLES, cold=True)
        for clock, summary in (("CPU", cpu), ("wall", wall)):
            for q in (50, 99):
                off, on = percentile(summary["open"], q), percentile(summary["closed"], q)
                half = percentile(summary["half"], q)
                what = f"summary.json re-rendered {clock} p{q}"
                target = " (target <= +20%)" if (clock, q) == ("CPU", 99) else ""
                report(f"{what}, filtering off", f"{off * 1000:.1f} ms")
                report(f"{what}, on (all 1,100)", f"{on * 1000:.1f} ms", cost(on, off) + target)
                report(f"{what}, audience of half", f"{half * 1000:.1f} ms")
        cpu, wall = await alternate(client, server, "api/v2/summary.json", CACHED, cold=False)
        for clock, cached in (("CPU", cpu), ("wall", wall)):
            off, on = percentile(cached["open"], 99), percentile(cached["closed"], 99)
            target = " (target <= +20%)" if clock == "CPU" else ""
            report(f"summary.json cached {clock} p99, filtering off", f"{off * 1000:.2f} ms")
            report(
                f"summary.json cached {clock} p99, on",
                f"{on * 1000:.2f} ms",
                cost(on, off) + target,
            )
        html, _ = await alternate(client, server, "", HTML_SAMPLES, cold=True)
        rates = {name: len(times) / sum(times) for name, times in html.items()}
        report("HTML re-rendered (per CPU second), filtering off", f"{rates['open']:.1f} /s")
        drop = -100 * (rates["closed"] - rates["open"]) / rates["open"]
        report(
            "HTML re-rendered (per CPU second), on (all 1,100)",
            f"{rates['closed']:.1f} /s",
            f"throughput {-drop:+.1f}% (target >= -20%)",
        )
        report("HTML re-rendered (per CPU second), audience of half", f"{rates['half']:.1f} /s")


if __name__ == "__main__":
    asyncio.run(main())
