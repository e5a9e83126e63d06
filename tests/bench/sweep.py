"""The cost of one sweep (control/sweep.py) at 10,000 windows, against a real local control plane.

10,000 windows (1,000 to come, 9,000 ended), 1,000 components on 10 pages, each window with a
status written by another field manager (as the operator's writes leave it: its own managedFields
entry), then: the time of one sweep of every kind as the operator runs it (our client, pages of
500, nothing to drop), the operator's CPU for it, and the bytes on the wire of its lists, with and
without gzip, beside a full list of the windows.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import ssl
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kubernetes import client  # noqa: E402

from bench.run import GROUP, VERSION, create_all, make_namespace, past_and_future, prepare  # noqa: E402
from controlplane.cluster import LocalCluster, build_binaries  # noqa: E402
from statuspage_operator.api.conditions import Reason, Verdict, render_conditions  # noqa: E402
from statuspage_operator.api.notices import make_notices, render_notices  # noqa: E402
from statuspage_operator.control.runtime import SWEPT  # noqa: E402
from statuspage_operator.control.sweep import Sweeper  # noqa: E402
from statuspage_operator.control.view import Key  # noqa: E402
from statuspage_operator.k8s.client import METADATA_LIST, Client, Credentials  # noqa: E402

ENDED = datetime(2026, 11, 1, 10, 30, tzinfo=UTC)


def status_of(name: str, uid: str) -> dict[str, Any]:
    """A completed window's status, in the operator's own rendering."""
    items = [
        (Reason.MAINTENANCE_STARTED, f"Maintenance {name!r} started (c)", False),
        (Reason.MAINTENANCE_COMPLETED, f"Maintenance {name!r} completed (c)", False),
    ]
    return {
        "phase": "Completed",
        "observedGeneration": 1,
        "conditions": render_conditions(Verdict.ok(), 1, ENDED, None),
        "notices": render_notices(make_notices(name, uid, ENDED, items)),
    }


def write_statuses(namespace: str, names: list[str], threads: int = 16) -> None:
    """A status on every window, by a field manager of its own (as the operator's writes)."""
    api = client.CustomObjectsApi()

    def patch(name: str) -> None:
        api.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            "maintenancewindows",
            name,
            {"status": status_of(name, name)},
            field_manager="statuspage-operator",
        )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(patch, names))


def credentials(kubeconfig: Path) -> Credentials:
    """The admin's credentials from the cluster's kubeconfig."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    user = next(u["user"] for u in config["users"] if u["name"] == "admin")
    context = ssl.create_default_context(cafile=cluster["certificate-authority"])
    context.load_cert_chain(user["client-certificate"], user["client-key"])
    return Credentials(cluster["server"], context, {})


async def wire_bytes(creds: Credentials, plural: str, accept: str, encoding: str) -> int:
    """Bytes received for a paginated list of a plural (pages of 500), as sent."""
    total = 0
    connector = aiohttp.TCPConnector(ssl=creds.ssl_context or True)
    async with aiohttp.ClientSession(
        creds.server, connector=connector, auto_decompress=False
    ) as session:
        token = ""
        while True:
            params = {"limit": "500", **({"continue": token} if token else {})}
            headers = {"Accept": accept, "Accept-Encoding": encoding}
            async with session.get(
                f"/apis/{GROUP}/{VERSION}/{plural}", params=params, headers=headers
            ) as response:
                raw = await response.read()
                compressed = response.headers.get("Content-Encoding") == "gzip"
            total += len(raw)
            body = json.loads(gzip.decompress(raw) if compressed else raw)
            token = (body.get("metadata") or {}).get("continue") or ""
            if not token:
                return total


async def sweeps(creds: Credentials, runs: int) -> tuple[list[float], list[float], int]:
    """Time and CPU of whole sweeps as the operator makes them; objects listed per sweep."""
    api = Client(creds)
    listed: dict[str, dict[Key, str]] = {}

    async def forget(kind: str, key: Key, uid: str) -> bool:
        raise AssertionError(f"nothing is gone, yet {kind} {key} was dropped")

    sweeper = Sweeper(api, lambda kind: listed.get(kind, {}), forget, SWEPT)
    for kind, plural in SWEPT.items():
        items: dict[Key, str] = {}
        async for page in api.list_metadata(plural, []):
            for item in page:
                meta = item["metadata"]
                items[(meta["namespace"], meta["name"])] = meta["uid"]
        listed[kind] = items
    seconds, cpu = [], []
    for _ in range(runs):
        started, used = time.perf_counter(), time.process_time()
        await sweeper.sweep([])
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    await api.close()
    return seconds, cpu, sum(len(items) for items in listed.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--to-come", type=int, default=1_000)
    parser.add_argument("--components", type=int, default=1_000)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with LocalCluster(build_binaries()) as cluster:
        kube = prepare(cluster)
        per_page = args.components // args.pages
        components = make_namespace(kube, "bench", args.pages, per_page)
        bodies = past_and_future(
            "w",
            args.pages,
            per_page,
            [c for page in components for c in page],
            args.windows,
            args.to_come,
        )
        created = create_all("bench", "maintenancewindows", bodies)
        write_statuses("bench", [b["metadata"]["name"] for b in bodies])
        print(f"# {os.cpu_count()} cores; {args.windows} windows created in {created:.0f} s")
        creds = credentials(cluster.kubeconfig)
        seconds, cpu, objects = asyncio.run(sweeps(creds, args.runs))
        print(
            f"sweep of every kind ({objects} objects): median {statistics.median(seconds):.2f} s "
            f"(min {min(seconds):.2f}, max {max(seconds):.2f}); operator CPU median "
            f"{statistics.median(cpu):.2f} s"
        )
        for accept, what in [(METADATA_LIST, "metadata"), ("application/json", "full")]:
            for encoding in ("identity", "gzip"):
                size = asyncio.run(wire_bytes(creds, "maintenancewindows", accept, encoding))
                print(
                    f"{what} list of {args.windows} windows, {encoding}: {size / 1e6:.2f} MB "
                    f"({size / args.windows:.0f} B a window)"
                )


if __name__ == "__main__":
    main()
