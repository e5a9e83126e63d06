"""`make bench`: the page server under load it does not choose (issue 18, parts 6 and 7).

Prints one figure a line:
- Event-loop hold while a page of 1,100 components (Statuspage's maximum) renders, per
  representation, cold (first rendering) and after one component changed: the longest lateness
  of a task sleeping 1 ms on the loop, and the rendering's wall time beside it. Measured
  in-process on the server's own code, rendering on the loop (`Server.rendering`, as before
  issue 18 part 6: its hold is its whole duration) and as the server does (`Server.render`, in
  its worker thread). Then /healthz over HTTP, back to back, while every representation of that
  page is fetched cold from the same in-process server (the client reading 6.4 MB runs on the
  same loop, so this is an upper bound).
- The real `statuspage-server` process against a local control plane holding 100 pages,
  1,100 components and 10,000 windows (a third of them recurring weekly): its RSS once every page
  has been rendered in every representation, beside the Deployment's memory limit.
- The same process under 1,000 slow clients that never finish their headers: p50/p99 of /healthz
  and of a page's HTML on fresh connections while they are held, its RSS while holding them, and
  how long the header deadline let them live. The slow clients run in a process of their own, so
  their thousand trickling tasks do not slow the probe's own event loop.

`--in-process-only` runs the first part; `--slow-clients-only` the last, with one small page.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientSession, web

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kubernetes import client, config  # noqa: E402

from controlplane.cluster import LocalCluster, build_binaries, free_port  # noqa: E402
from e2e.conftest import CRD_NAMES, ROOT  # noqa: E402
from e2e.kube import Kube, wait_for  # noqa: E402
from e2e.slow_clients import SlowClients, percentile, probe  # noqa: E402
from statuspage_operator.api.names import Kind  # noqa: E402
from statuspage_operator.server.app import ROUTES, Server, make_app  # noqa: E402
from statuspage_operator.server.cache import Cache  # noqa: E402

GROUP, VERSION = "statuspage.dev", "v1alpha1"
SERVER = str(Path(sys.executable).parent / "statuspage-server")
PAGES, COMPONENTS_PER_PAGE, WINDOWS = 100, 11, 10_000
SLOW, HEADER_TIMEOUT = 1000, 10.0
PLURALS = {"StatusPage": "statuspages", "Component": "components"}
PLURALS["MaintenanceWindow"] = "maintenancewindows"


def report(name: str, value: str, target: str = "") -> None:
    """One figure, one line."""
    print(f"{name:<66} {value:>16}  {target}", flush=True)


def stamp(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def make(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A custom object."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


# In-process: the loop hold of renderings of 1,100 components.


def cached(name: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """An object as the watch delivers it."""
    metadata = {"name": name, "namespace": "bench", "uid": f"uid-{name}", "generation": 1}
    metadata["creationTimestamp"] = "2026-06-01T00:00:00Z"
    return {"metadata": metadata, "spec": spec, "status": status}


def big_page(now: datetime) -> Cache:
    """A page of 1,100 components in 50 groups, each with an outage in the last 20 days."""
    cache = Cache()
    cache.upsert(Kind.PAGE, cached("big", {"title": "Big", "timeZone": "Europe/Berlin"}, {}))
    for index in range(1100):
        day = now - timedelta(days=1 + index % 20)
        history = [
            {"status": "MajorOutage", "since": stamp(day), "until": stamp(day + timedelta(hours=2))}
        ]
        spec = {"page": "big", "group": f"G{index % 50}", "position": index}
        status = {"status": "Operational", "history": history}
        cache.upsert(Kind.COMPONENT, cached(f"c{index:04d}", spec, status))
    return cache


class Probe:
    """How late the event loop wakes a task that sleeps 1 ms: the longest is the longest hold."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(0.001)
            self.lateness.append((loop.time() - asked - 0.001) * 1000)

    def __enter__(self) -> Probe:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def idle_probe() -> None:
    """The probe's lateness over 300 ms with nothing rendering: the machine's own noise."""
    with Probe() as probe:
        await asyncio.sleep(0.3)
    report("idle loop: longest lateness of a 1 ms sleep (ms)", f"{max(probe.lateness):.0f}")


async def renderings_under_probe(inline: bool, now: datetime) -> None:
    """Every representation of 1,100 components, cold then after a change, probing the loop.

    `inline`: each rendering on the loop (`Server.rendering`, as before issue 18 part 6);
    otherwise as the server does it (`Server.render`: in its worker thread).
    """
    cache = big_page(now)
    shift = [0.0]  # moved on between phases, past any re-rendering delay of an expensive page
    server = Server(cache, clock=lambda: now, monotonic=lambda: time.monotonic() + shift[0])
    key = ("bench", "big")
    how = "on the loop" if inline else "worker thread"
    for phase in ("cold", "after a change"):
        if phase != "cold":
            shift[0] += 3600
            spec, status = {"page": "big", "group": "G0"}, {"status": "MajorOutage"}
            cache.upsert(Kind.COMPONENT, cached("c0000", spec, status))
        walls, holds = {}, {}
        for representation in ROUTES:
            started = time.perf_counter()
            with Probe() as probe:
                await asyncio.sleep(0.005)
                if inline:
                    server.rendering(key, representation)
                else:
                    await server.render(key, representation)
                await asyncio.sleep(0.005)
            name = representation or "(html)"
            walls[name] = (time.perf_counter() - started) * 1000 - 10
            holds[name] = max(probe.lateness)
        worst = max(holds, key=holds.__getitem__)
        report(
            f"1,100 components, {phase}, {how}: longest hold (ms)",
            f"{holds[worst]:.0f}",
            f"<= 50 ms ({worst})",
        )
        for name in ("(html)", "api/v2/components.json", "api/v2/summary.json"):
            report(
                f"1,100 components, {phase}, {how}: {name}, wall / hold (ms)",
                f"{walls[name]:.0f} / {holds[name]:.0f}",
            )
    server.close()


async def healthz_while_rendering() -> None:
    """/healthz over HTTP on loopback, back to back, while every representation renders cold."""
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    cache = big_page(now)
    cache.upsert(Kind.POLICY, {"metadata": {"name": "p"}, "spec": {"namespaces": ["bench"]}})
    page = cache.objects[Kind.PAGE][("bench", "big")]
    page["spec"] = {**page["spec"], "visibility": "Public"}
    cache.upsert(Kind.PAGE, page)
    server = Server(cache, clock=lambda: now)
    runner = web.AppRunner(make_app(server), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    async with ClientSession() as session:

        async def pages() -> None:
            for representation in ROUTES:
                async with session.get(f"{base}/bench/big/{representation}") as response:
                    assert response.status == 200, response.status
                    await response.read()

        rendering = asyncio.ensure_future(pages())
        while not rendering.done():
            started = time.perf_counter()
            async with session.get(f"{base}/healthz") as response:
                await response.read()
            latencies.append((time.perf_counter() - started) * 1000)
        await rendering
    await runner.cleanup()
    server.close()
    report(
        "1,100 components rendering, /healthz meanwhile: p50 / max (ms)",
        f"{percentile(latencies, 50):.1f} / {max(latencies):.0f}",
        f"{len(latencies)} requests",
    )


def hold_of_renderings() -> None:
    """The event loop's longest hold while 1,100 components render, before and after."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    asyncio.run(idle_probe())
    # Another minute for each: uptime is memoised per minute, so each run starts cold.
    asyncio.run(renderings_under_probe(inline=True, now=now - timedelta(minutes=1)))
    asyncio.run(renderings_under_probe(inline=False, now=now))
    asyncio.run(healthz_while_rendering())


# The real server process: memory at 10,000 windows, and slow clients.


def create_all(api: client.CustomObjectsApi, objects: list[dict[str, Any]]) -> None:
    """Create objects in namespace `load` with 8 threads."""

    def create(obj: dict[str, Any]) -> None:
        api.create_namespaced_custom_object(GROUP, VERSION, "load", PLURALS[obj["kind"]], obj)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, objects))


def load_objects(now: datetime) -> list[dict[str, Any]]:
    """100 pages of 11 components, 10,000 windows: past, in progress, to come, weekly."""
    objects = [make("StatusPage", f"p{i:03d}", {"title": f"Page {i}"}) for i in range(PAGES)]
    objects += [
        make(
            "Component",
            f"p{i // COMPONENTS_PER_PAGE:03d}-c{i % COMPONENTS_PER_PAGE:02d}",
            {"page": f"p{i // COMPONENTS_PER_PAGE:03d}"},
        )
        for i in range(PAGES * COMPONENTS_PER_PAGE)
    ]
    hour = timedelta(hours=1)
    for index in range(WINDOWS):
        page = index % PAGES
        start = now + (index % 7 - 3) * 24 * hour + (index % 24) * hour
        spec: dict[str, Any] = {
            "page": f"p{page:03d}",
            "title": f"Window {index}",
            "description": "Planned work on the database cluster " * 3,
            "components": [f"p{page:03d}-c{index % COMPONENTS_PER_PAGE:02d}"],
            "startTime": stamp(start),
            "endTime": stamp(start + hour),
        }
        if index % 3 == 0:
            spec["recurrence"] = {"rrule": "FREQ=WEEKLY", "timeZone": "UTC"}
        objects.append(make("MaintenanceWindow", f"w{index:05d}", spec))
    return objects


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory_limit() -> str:
    """The server Deployment's memory limit."""
    deployment = yaml.safe_load((ROOT / "manifests/server/deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return str(container["resources"]["limits"]["memory"])


def fetch(url: str) -> int:
    """GET, the status code."""
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        return int(response.status)


def _answers(url: str) -> bool:
    try:
        return fetch(url) == 200
    except OSError:
        return False


def real_server() -> None:
    """The server process: RSS at 10,000 windows and 100 pages, then under slow clients."""
    with LocalCluster(build_binaries()) as cluster:
        kube = Kube(cluster.kubeconfig)
        kube.run("apply", "-k", str(ROOT / "crds"))
        kube.run("wait", "--for=condition=Established", "--timeout=60s", *CRD_NAMES)
        config.load_kube_config(str(cluster.kubeconfig))
        api = client.CustomObjectsApi()
        kube.run("create", "namespace", "load")
        began = time.perf_counter()
        objects = load_objects(datetime.now(UTC).replace(microsecond=0))
        if "--slow-clients-only" in sys.argv:  # one page and its components, no windows
            objects = [o for o in objects if o["metadata"]["name"].startswith("p000")]
        create_all(api, objects)
        report(
            f"created {len(objects):,} objects (s)",
            f"{time.perf_counter() - began:.0f}",
        )

        port, metrics_port = free_port(), free_port()
        command = [SERVER, "--host=127.0.0.1", f"--port={port}", f"--metrics-port={metrics_port}"]
        command.append(f"--header-timeout={HEADER_TIMEOUT}")
        server = subprocess.Popen(
            ["taskset", "-c", "0", *command],
            env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:

            def holds_all() -> bool:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as got:
                        text = got.read().decode()
                except OSError:
                    return False
                return 'statuspage_server_objects{kind="MaintenanceWindow"} 10000.0' in text

            if "--slow-clients-only" in sys.argv:
                wait_for(lambda: _answers(f"{base}/load/p000/"), timeout=60, what="the page")
                slow_clients(port, server.pid, f"{base}/load/p000/")
                return
            wait_for(holds_all, timeout=300, what="the server to hold every window")
            began = time.perf_counter()
            for page in range(PAGES):
                for representation in ROUTES:
                    fetch(f"{base}/load/p{page:03d}/{representation}")
            report(
                "rendered 100 pages x 12 representations (s)", f"{time.perf_counter() - began:.1f}"
            )
            report(
                "server RSS, 100 pages, 1,100 components, 10,000 windows (MB)",
                f"{rss_mb(server.pid):.0f}",
                f"limit {memory_limit()}",
            )
            slow_clients(port, server.pid, f"{base}/load/p000/")
        finally:
            server.terminate()
            server.wait()


def hold_slow_clients(port: int, started: Any, done: Any) -> None:
    """In a child process: open the slow clients, say so, and report their lifetimes."""

    async def run() -> None:
        slow = SlowClients("127.0.0.1", port, SLOW)
        await slow.start()
        started.put(slow.opened)
        await slow.closed(within=HEADER_TIMEOUT + 30)
        done.put(slow.lifetimes)

    asyncio.run(run())


def slow_clients(port: int, pid: int, page: str) -> None:
    """p99 of /healthz and a page while 1,000 slow clients (another process) hold connections."""
    urls = [f"http://127.0.0.1:{port}/healthz", page]
    quiet, _ = asyncio.run(probe(urls, rounds=200))
    context = multiprocessing.get_context("spawn")
    started, done = context.Queue(), context.Queue()
    holder = context.Process(target=hold_slow_clients, args=(port, started, done))
    holder.start()
    opened = started.get(timeout=120)
    began = time.monotonic()
    latencies, failures = asyncio.run(probe(urls, rounds=200))
    probed = time.monotonic() - began
    rss = rss_mb(pid)
    lifetimes = done.get(timeout=HEADER_TIMEOUT + 60)
    holder.join()
    for url, name in zip(urls, ("/healthz", "page HTML"), strict=True):
        report(
            f"{name}, no slow clients: p50 / p99 (ms)",
            f"{percentile(quiet[url], 50):.1f} / {percentile(quiet[url], 99):.1f}",
        )
        report(
            f"{name}, {opened:,} slow clients held: p50 / p99 (ms)",
            f"{percentile(latencies[url], 50):.1f} / {percentile(latencies[url], 99):.1f}",
            f"p99 <= 100 ms; {failures} failed",
        )
    report("probes while the slow clients were held (s)", f"{probed:.1f}", "< deadline")
    report("server RSS while holding them (MB)", f"{rss:.0f}")
    report(
        f"slow connections' lifetime, deadline {HEADER_TIMEOUT:.0f} s: min / max (s)",
        f"{min(lifetimes):.1f} / {max(lifetimes):.1f}",
    )


if __name__ == "__main__":
    if "--slow-clients-only" not in sys.argv:
        hold_of_renderings()
    if "--in-process-only" not in sys.argv:
        real_server()
