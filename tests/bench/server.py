"""`make bench`: the public page server's speed and memory against a real local control plane.

Prints one figure a line (issue #11). The server is one process pinned to one core (taskset -c 0);
the load generator (aiohttp client, bounded loops) runs here, on the other core:
- summary.json of a page with 100 components: latency at 1,000 requests/s (open loop), and peak
  throughput beside aiohttp serving a static file in the same conditions (the floor);
- the HTML page of 100 components: peak throughput;
- a component's status write to summary.json showing it (polled every 2 ms);
- server RSS with 10,000 windows and 1,000 components held.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kubernetes import client, config  # noqa: E402

from controlplane.cluster import LocalCluster, build_binaries, free_port  # noqa: E402
from e2e.conftest import CRD_NAMES, ROOT, publish  # noqa: E402
from e2e.kube import Kube, wait_for  # noqa: E402

GROUP, VERSION = "statuspage.dev", "v1alpha1"
SERVER = str(Path(sys.executable).parent / "statuspage-server")
STATIC_SERVER = """
import sys
from aiohttp import web
body = open(sys.argv[2], "rb").read()
async def static(_):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/static.json", static)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def report(name: str, value: str, target: str = "") -> None:
    """One figure, one line."""
    print(f"{name:<62} {value:>14}  {target}", flush=True)


def body(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A custom object."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def create_all(api: client.CustomObjectsApi, namespace: str, objects: list[dict[str, Any]]) -> None:
    """Create objects with 16 threads."""
    plurals = {
        "StatusPage": "statuspages",
        "Component": "components",
        "MaintenanceWindow": "maintenancewindows",
    }

    def create(obj: dict[str, Any]) -> None:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, plurals[obj["kind"]], obj)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, objects))


async def open_loop(url: str, rate: int, seconds: float) -> tuple[list[float], int]:
    """Requests at a fixed rate whatever the answers; latencies in ms and the errors."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            nonlocal errors
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

        tasks = []
        start = time.perf_counter()
        for index in range(int(rate * seconds)):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies, errors


async def closed_loop(url: str, workers: int, seconds: float) -> float:
    """Peak requests per second with `workers` connections each waiting for its answer."""
    done = 0
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers)) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(url) as response:
                    await response.read()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return done / (time.perf_counter() - started)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    """Run every scenario and print the figures."""
    with LocalCluster(build_binaries()) as cluster, tempfile.TemporaryDirectory() as scratch:
        kube = Kube(cluster.kubeconfig)
        kube.run("apply", "-k", str(ROOT / "crds"))
        kube.run("wait", "--for=condition=Established", "--timeout=60s", *CRD_NAMES)
        config.load_kube_config(str(cluster.kubeconfig))
        api = client.CustomObjectsApi()
        kube.run("create", "namespace", "bench")
        publish(kube, "bench")
        publish(kube, "load")
        page = [
            body(
                "StatusPage",
                "big",
                {"title": "Bench", "timeZone": "Europe/Berlin", "visibility": "Public"},
            )
        ]
        components = [
            body("Component", f"c{i:03d}", {"page": "big", "group": f"G{i % 10}", "position": i})
            for i in range(100)
        ]
        create_all(api, "bench", page + components)

        port, metrics_port, static_port = free_port(), free_port(), free_port()
        cpu = ["taskset", "-c", "0"]
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        server = subprocess.Popen(
            [*cpu, SERVER, f"--port={port}", f"--metrics-port={metrics_port}", "--host=127.0.0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}/bench/big/"
        try:
            import urllib.request

            def ready() -> bool:
                try:
                    with urllib.request.urlopen(base + "api/v2/components.json") as response:
                        return b'"c099"' in response.read() or response.status == 200
                except OSError:
                    return False

            wait_for(ready, timeout=60, what="the server")
            with urllib.request.urlopen(base + "api/v2/summary.json") as response:
                summary = response.read()
            static_file = Path(scratch) / "summary.json"
            static_file.write_bytes(summary)
            static = subprocess.Popen(
                [*cpu, sys.executable, "-c", STATIC_SERVER, str(static_port), str(static_file)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for(lambda: _up(f"http://127.0.0.1:{static_port}/static.json"), what="static")
                report("summary.json bytes (100 components)", f"{len(summary):,}")
                asyncio.run(closed_loop(base + "api/v2/summary.json", 8, 1.0))  # warm up
                latencies, errors = asyncio.run(open_loop(base + "api/v2/summary.json", 1000, 5))
                report(
                    "summary.json at 1,000 req/s: p50 / p99 (ms)",
                    f"{percentile(latencies, 50):.2f} / {percentile(latencies, 99):.2f}",
                    f"p99 <= 5 ms; {errors} errors",
                )
                peak = asyncio.run(closed_loop(base + "api/v2/summary.json", 32, 4))
                floor = asyncio.run(
                    closed_loop(f"http://127.0.0.1:{static_port}/static.json", 32, 4)
                )
                report("summary.json peak throughput (req/s)", f"{peak:,.0f}")
                report("same bytes as a static response, bare aiohttp (req/s)", f"{floor:,.0f}")
                html = asyncio.run(closed_loop(base, 32, 4))
                report("HTML page of 100 components, peak (req/s)", f"{html:,.0f}", ">= 1,000")
            finally:
                static.terminate()
                static.wait()

            delays = []
            for round_ in range(10):
                status = ("MajorOutage", "Operational")[round_ % 2]
                want = b'"indicator":"major"' if round_ % 2 == 0 else b'"indicator":"none"'
                api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, "bench", "components", "c000", {"status": {"status": status}}
                )
                written = time.perf_counter()
                while True:
                    with urllib.request.urlopen(base + "api/v2/status.json") as response:
                        if want in response.read():
                            break
                    time.sleep(0.002)
                delays.append((time.perf_counter() - written) * 1000)
            report(
                "status write -> summary.json shows it: p50 / max (ms)",
                f"{percentile(delays, 50):.0f} / {max(delays):.0f}",
                "<= 200 ms",
            )

            kube.run("create", "namespace", "load")
            load = [
                body("StatusPage", f"p{i}", {"title": f"Page {i}", "visibility": "Public"})
                for i in range(10)
            ] + [body("Component", f"c{i:04d}", {"page": f"p{i % 10}"}) for i in range(1000)]
            start = "2030-01-01T00:00:00Z"
            load += [
                body(
                    "MaintenanceWindow",
                    f"w{i:05d}",
                    {
                        "page": f"p{i % 10}",
                        "title": f"Window {i}",
                        "components": [f"c{i % 1000:04d}"],
                        "startTime": start,
                        "endTime": "2030-01-01T01:00:00Z",
                    },
                )
                for i in range(10_000)
            ]
            began = time.perf_counter()
            create_all(api, "load", load)
            report(
                "created 10,000 windows, 1,000 components (s)", f"{time.perf_counter() - began:.0f}"
            )

            def holds_all() -> bool:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as response:
                    text = response.read().decode()
                return 'statuspage_server_objects{kind="MaintenanceWindow"} 10000.0' in text

            wait_for(holds_all, timeout=120, what="the server to hold every window")
            for page_index in range(10):  # render every page once, as visitors would
                _up(f"http://127.0.0.1:{port}/load/p{page_index}/api/v2/summary.json")
            report(
                "server RSS, 10,000 windows + 1,100 components held (MB)",
                f"{rss_mb(server.pid):.0f}",
                "<= 150 MB",
            )
        finally:
            server.terminate()
            server.wait()


def _up(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    main()
