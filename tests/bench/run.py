"""`make bench`: the operator's speed and memory against a real local control plane.

Prints one figure a line, with the target beside it (issue #9). Scenarios, in order:
- the common size: 1,000 windows (100 to come, 900 completed), 100 components: RSS;
- 10,000 windows (1,000 to come, 9,000 completed), 1,000 components, 10 pages: cold start, RSS;
  the tail of edge lateness (tests/bench/tail.py: 500 edges at random instants over four minutes,
  under about 100 updates per second to other windows and incidents) with the upstream CronJob
  controller beside it (100 CronJobs every minute: 400 samples in the same round, under the same
  API server load), then the same round under a lighter background (50 a second: what the
  API server answers in full); a burst of 1,000 windows sharing one start (components and
  windows, beside the bare-client floor measured in the same run), API writes per window over its
  life, restart with 1,000 windows due while the operator was down;
- the shipped configuration, two replicas with the Lease over all of it: the tail again, then
  the takeover after SIGKILL of the leader.

Lateness is measured as a user sees it: from the scheduled instant to the watch event that
carries the new status, in this process. `--profile DIR` records the operator with py-spy
(sampling without stopping it) during the first tail round and the burst.

tests/bench/held.py measures 10,000 windows all to come (a daemon each), and the restart after
they all completed while the operator was down.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kubernetes import client, config, watch  # noqa: E402

from controlplane.cluster import OPERATOR_USER, LocalCluster, build_binaries  # noqa: E402
from e2e.conftest import OperatorProcess, install  # noqa: E402
from e2e.kube import Kube  # noqa: E402

GROUP, VERSION = "statuspage.dev", "v1alpha1"
Predicate = Callable[[dict[str, Any]], bool]


def stamp(instant: datetime) -> str:
    """RFC 3339 with milliseconds."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def report(name: str, value: str, target: str = "") -> None:
    """One figure, one line."""
    print(f"{name:<58} {value:>14}  {target}", flush=True)


class Watcher:
    """Records, per object name, the first time a watch event satisfies a predicate."""

    def __init__(
        self, namespace: str, plural: str, predicate: Predicate, group: str = GROUP
    ) -> None:
        self.namespace, self.plural, self.predicate, self.group = (
            namespace,
            plural,
            predicate,
            group,
        )
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def _list(self, **kwargs: Any) -> Any:
        if self.group == "batch":
            return client.BatchV1Api().list_namespaced_job(self.namespace, **kwargs)
        return client.CustomObjectsApi().list_namespaced_custom_object(
            self.group, VERSION, self.namespace, self.plural, **kwargs
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            stream = watch.Watch()
            self._ready.set()
            try:
                for event in stream.stream(self._list, timeout_seconds=60):
                    obj = event["object"]
                    if not isinstance(obj, dict):
                        obj = client.ApiClient().sanitize_for_serialization(obj)
                    name = obj["metadata"]["name"]
                    if name not in self.seen and self.predicate(obj):
                        self.seen[name] = time.time()
                    if self._stop.is_set():
                        break
            except Exception:
                time.sleep(0.1)

    def start(self) -> Watcher:
        """Start watching (returns once the stream is being opened)."""
        self._thread.start()
        self._ready.wait()
        time.sleep(0.5)
        return self

    def stop(self) -> None:
        """Stop after the next event or timeout."""
        self._stop.set()

    def wait(self, count: int, timeout: float) -> bool:
        """Wait until `count` objects were seen."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.seen) >= count


def phase_is(phase: str) -> Predicate:
    """A window (or incident) in this phase."""
    return lambda obj: (obj.get("status") or {}).get("phase") == phase


def status_is(value: str) -> Predicate:
    """A component with this status."""
    return lambda obj: (obj.get("status") or {}).get("status") == value


def window(
    name: str, page: str, components: list[str], start: datetime, end: datetime
) -> dict[str, Any]:
    """A MaintenanceWindow body."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MaintenanceWindow",
        "metadata": {"name": name},
        "spec": {
            "page": page,
            "title": name,
            "components": components,
            "startTime": stamp(start),
            "endTime": stamp(end),
        },
    }


def create_all(
    namespace: str, plural: str, bodies: list[dict[str, Any]], threads: int = 16
) -> float:
    """Create objects concurrently; return the seconds it took."""
    api = client.CustomObjectsApi()
    started = time.monotonic()

    def create(body: dict[str, Any]) -> None:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, bodies))
    return time.monotonic() - started


def make_namespace(kube: Kube, name: str, pages: int, components_per_page: int) -> list[list[str]]:
    """A namespace with pages p0.. and components c<page>-<i>; returns component names by page."""
    kube.run("create", "namespace", name)
    api = client.CustomObjectsApi()
    names: list[list[str]] = []
    for page in range(pages):
        api.create_namespaced_custom_object(
            GROUP,
            VERSION,
            name,
            "statuspages",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "StatusPage",
                "metadata": {"name": f"p{page}"},
                "spec": {"title": f"Page {page}"},
            },
        )
        comps = [f"c{page}-{i}" for i in range(components_per_page)]
        create_all(
            name,
            "components",
            [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "Component",
                    "metadata": {"name": c},
                    "spec": {"page": f"p{page}"},
                }
                for c in comps
            ],
        )
        names.append(comps)
    return names


def count_phase(namespace: str, phase: str) -> int:
    """How many windows of a namespace are in a phase (a paginated list)."""
    api = client.CustomObjectsApi()
    total, token = 0, None
    while True:
        kwargs: dict[str, Any] = {"limit": 2000}
        if token:
            kwargs["_continue"] = token
        page = cast(
            dict[str, Any],
            api.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "maintenancewindows", **kwargs
            ),
        )
        total += sum(
            1 for item in page["items"] if (item.get("status") or {}).get("phase") == phase
        )
        token = page["metadata"].get("continue")
        if not token:
            return total


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process, in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    hwm = int(re.search(r"VmHWM:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    return rss / 1024, hwm / 1024


def apiserver_counters(kube: Kube) -> dict[tuple[str, str, str, str], float]:
    """kube-apiserver's apiserver_request_total by (verb, resource, subresource, code)."""
    text = kube.run("get", "--raw", "/metrics").stdout
    counters: dict[tuple[str, str, str, str], float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        key = tuple(labels.get(label, "") for label in ("verb", "resource", "subresource", "code"))
        counters[key] = counters.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return counters


def delta(
    before: dict[tuple[str, str, str, str], float],
    after: dict[tuple[str, str, str, str], float],
    verb: str,
    resource: str,
    subresource: str = "",
    code: str | None = None,
) -> float:
    """The increase of one request counter, over every response code unless `code` is given."""

    def total(counters: dict[tuple[str, str, str, str], float]) -> float:
        return sum(
            value
            for (v, r, s, c), value in counters.items()
            if (v, r, s) == (verb, resource, subresource) and code in (None, c)
        )

    return total(after) - total(before)


@contextmanager
def running_operator(kube: Kube, log: Path) -> Iterator[OperatorProcess]:
    """The operator as a subprocess for the duration of a block."""
    operator = OperatorProcess(kube, log)
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()


def past_and_future(
    name: str, pages: int, per_page: int, components: list[str], count: int, to_come: int
) -> list[dict[str, Any]]:
    """`count` windows over the components: `to_come` in 30 days, the rest ended days ago."""
    now = datetime.now(UTC)
    far = now + timedelta(days=30)
    gone = now - timedelta(days=30)
    bodies = []
    for i in range(count):
        component = components[i % len(components)]
        page = f"p{(i % len(components)) // per_page}"
        base = far if i < to_come else gone
        start = base + timedelta(minutes=i)
        bodies.append(window(f"{name}{i}", page, [component], start, start + timedelta(minutes=30)))
    return bodies


def count_with_phase(namespace: str) -> int:
    """How many windows of a namespace have a phase (the operator settled them)."""
    return sum(count_phase(namespace, phase) for phase in ("Scheduled", "InProgress", "Completed"))


def windows_holding(namespace: str) -> tuple[int, int]:
    """How many windows carry our finalizer, and how many carry an annotation of ours."""
    api = client.CustomObjectsApi()
    finalized = annotated = 0
    token = None
    while True:
        kwargs: dict[str, Any] = {"limit": 2000}
        if token:
            kwargs["_continue"] = token
        page = cast(
            dict[str, Any],
            api.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "maintenancewindows", **kwargs
            ),
        )
        for item in page["items"]:
            meta = item["metadata"]
            finalized += bool(meta.get("finalizers"))
            annotated += any(k.startswith(f"{GROUP}/") for k in meta.get("annotations") or {})
        token = page["metadata"].get("continue")
        if not token:
            return finalized, annotated


def wait_until(probe: Callable[[], bool], timeout: float, interval: float = 0.5) -> float:
    """Poll until true; return the seconds it took (raises after `timeout`)."""
    started = time.monotonic()
    while not probe():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not reached within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started


def populate(kube: Kube, args: argparse.Namespace) -> list[list[str]]:
    """The bench's population in namespace `bench`: `args.windows` windows (`args.to_come` to
    come, the rest ended days ago) over `args.components` components on `args.pages` pages;
    returns the component names by page."""
    per_page = args.components // args.pages
    components = make_namespace(kube, "bench", args.pages, per_page)
    flat = [c for comps in components for c in comps]
    took = create_all(
        "bench",
        "maintenancewindows",
        past_and_future("w", args.pages, per_page, flat, args.windows, args.to_come),
    )
    report(
        f"created {args.windows} windows ({args.to_come} to come), {len(flat)} components",
        f"{took:.1f} s",
    )
    return components


def lease_role(kube: Kube, namespace: str) -> None:
    """Let the operator user hold a Lease in a namespace (the Deployment's Role does this)."""
    kube.run(
        "create",
        "role",
        "lease",
        "-n",
        namespace,
        "--verb=get,create,update",
        "--resource=leases.coordination.k8s.io",
    )
    kube.run(
        "create",
        "rolebinding",
        "lease",
        "-n",
        namespace,
        "--role=lease",
        f"--user={OPERATOR_USER}",
    )


def prepare(cluster: LocalCluster) -> Kube:
    """A bench cluster: the CRDs, the operator's roles bound to its user, the client as admin."""
    kube = install(Kube(cluster.kubeconfig))
    config.load_kube_config(config_file=str(cluster.kubeconfig), context="admin")
    pooled = client.Configuration.get_default_copy()
    pooled.connection_pool_maxsize = 32
    client.Configuration.set_default(pooled)
    return kube


class Profiler:
    """py-spy recording a process without stopping it (`--nonblocking`), one file per phase."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.running: list[subprocess.Popen[bytes]] = []

    def record(self, pid: int, name: str, seconds: float) -> None:
        """Sample `pid` for `seconds` in the background into DIR/NAME.txt (collapsed stacks)."""
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        spy = str(Path(sys.executable).parent / "py-spy")
        self.running.append(
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--nonblocking",
                    "--rate=200",
                    "--format=raw",
                    f"--duration={max(1, round(seconds))}",
                    f"--pid={pid}",
                    f"--output={self.directory / name}.txt",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def wait(self) -> None:
        """Until every recording is written."""
        for spy in self.running:
            spy.wait()
        self.running.clear()


def main() -> None:
    from bench.tail import Background, Cron, incidents, report_round, tail_round

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--to-come", type=int, default=1_000)
    parser.add_argument("--components", type=int, default=1_000)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--small-windows", type=int, default=1_000)
    parser.add_argument("--small-components", type=int, default=100)
    parser.add_argument("--burst", type=int, default=1_000)
    parser.add_argument("--edges", type=int, default=500, help="edges in a tail round")
    parser.add_argument("--tail-seconds", type=float, default=240.0, help="a tail round's length")
    parser.add_argument("--background", type=float, default=100.0, help="updates per second")
    parser.add_argument(
        "--light-background",
        type=float,
        default=50.0,
        help="updates per second of a second round with one operator (0: no such round)",
    )
    parser.add_argument("--cronjobs", type=int, default=100)
    parser.add_argument("--lease", type=int, default=15)
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR")
    parser.add_argument(
        "--only-single", action="store_true", help="skip the two replicas (a quicker run)"
    )
    args = parser.parse_args()
    workdir = Path(os.environ.get("BENCH_DIR", "/tmp")) / f"statuspage-bench-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(args.profile)

    with LocalCluster(build_binaries()) as cluster:
        kube = prepare(cluster)

        server = json.loads(kube.run("version", "-o", "json").stdout)["serverVersion"]
        print(f"# {os.cpu_count()} cores; kube-apiserver {server['gitVersion']}")

        # -- the common size -------------------------------------------------------------------
        small = make_namespace(kube, "small", 1, args.small_components)[0]
        create_all(
            "small",
            "maintenancewindows",
            past_and_future(
                "s", 1, len(small), small, args.small_windows, args.small_windows // 10
            ),
        )
        with running_operator(kube, workdir / "small.log") as operator:
            assert operator.process is not None
            wait_until(lambda: count_with_phase("small") >= args.small_windows, 120)
            time.sleep(3)
            rss, _ = rss_mb(operator.process.pid)
            report(
                f"operator RSS, {args.small_windows} windows, {args.small_components} components",
                f"{rss:.0f} MB",
                "(target <= 134 MB = 128 MiB)",
            )

        # -- 10,000 windows, 1,000 to come -------------------------------------------------------
        components = populate(kube, args)
        flat = [c for comps in components for c in comps]
        # The tail rounds' background edits these: the windows to come, and open incidents.
        to_come = [f"w{i}" for i in range(args.to_come)]
        open_incidents = incidents("bench", "p0", components[0], 100)

        with running_operator(kube, workdir / "operator.log") as operator:
            assert operator.process is not None
            pid = operator.process.pid
            cold = wait_until(lambda: count_with_phase("bench") >= args.windows, 600, interval=2)
            report("operator start until every window has its phase (cold)", f"{cold:.1f} s")
            time.sleep(5)
            rss, peak = rss_mb(pid)
            report(
                f"operator RSS, {args.windows} windows, {len(flat)} components",
                f"{rss:.0f} MB",
                "(target <= 268 MB = 256 MiB)",
            )
            report("operator peak RSS (VmHWM)", f"{peak:.0f} MB")

            # -- the tail: edges at random instants, a background, the CronJob peer ------------
            rounds = [("tail", args.background, f"one operator, {args.windows} held")]
            if args.light_background:
                # The same round under a background the API server answers in full: what is
                # the operator's own and what is the API server's queue.
                light = f"one operator, a lighter background ({args.light_background:.0f}/s)"
                rounds.append(("light", args.light_background, light))

            def profile(seconds: float) -> None:
                # Of the first round only (DIR/tail.txt).
                profiler.record(pid, "tail", seconds)

            for index, (name, rate, title) in enumerate(rounds):
                cpu_start = cpu_seconds(pid)
                result = tail_round(
                    kube,
                    name,
                    edges=args.edges,
                    seconds=args.tail_seconds,
                    background=Background("bench", to_come, open_incidents, rate),
                    metrics_url=operator.metrics_url,
                    cron=Cron(kube, f"cron-{name}", args.cronjobs),
                    seed=21 + index,
                    profile=profile if index == 0 else lambda seconds: None,
                )
                report_round(title, result)
                report(
                    "  operator CPU over the round",
                    f"{cpu_seconds(pid) - cpu_start:.1f} s",
                    f"(of {args.tail_seconds:.0f} s)",
                )

            # -- a burst sharing one instant ----------------------------------------------------
            burst_components = make_namespace(kube, "burst", 1, 100)[0]
            before = apiserver_counters(kube)
            pids = {"operator": pid, **cluster.pids}
            start = datetime.now(UTC) + timedelta(seconds=max(30, args.burst // 25 + 15))
            end = start + timedelta(seconds=20)
            windows_in = Watcher("burst", "maintenancewindows", phase_is("InProgress")).start()
            comps_in = Watcher("burst", "components", status_is("UnderMaintenance")).start()
            took = create_all(
                "burst",
                "maintenancewindows",
                [
                    window(f"b{i}", "p0", [burst_components[i % 100]], start, end)
                    for i in range(args.burst)
                ],
            )
            if datetime.now(UTC) >= start:
                report("burst: windows created too late for the shared instant", f"{took:.1f} s")
            time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds() - 0.5))
            profiler.record(pid, "burst", 12)
            cpu_before = {name: cpu_seconds(p) for name, p in pids.items()}
            windows_in.wait(args.burst, (start - datetime.now(UTC)).total_seconds() + 30)
            cpu_after = {name: cpu_seconds(p) for name, p in pids.items()}
            comps_in.wait(100, 10)
            windows_in.stop()
            comps_in.stop()
            last_window = max(windows_in.seen.values()) - start.timestamp()
            first_window = min(windows_in.seen.values()) - start.timestamp()
            last_comp = max(comps_in.seen.values()) - start.timestamp()
            report(
                f"burst of {args.burst}: first window InProgress", f"{first_window * 1000:.0f} ms"
            )
            report(f"burst of {args.burst}: all windows InProgress", f"{last_window * 1000:.0f} ms")
            report(
                "burst: all 100 components UnderMaintenance",
                f"{last_comp * 1000:.0f} ms",
                "(target <= 1000 ms)",
            )
            for name in pids:
                report(
                    f"  CPU used by {name} during the start burst",
                    f"{cpu_after[name] - cpu_before[name]:.2f} s",
                )
            done = Watcher("burst", "maintenancewindows", phase_is("Completed")).start()
            done.wait(args.burst, (end - datetime.now(UTC)).total_seconds() + 30)
            done.stop()
            last_done = max(done.seen.values()) - end.timestamp()
            report(
                f"burst of {args.burst}: all windows Completed after end",
                f"{last_done * 1000:.0f} ms",
            )
            # Events and finalizer removals trail the status writes: count once writes settle.
            after = apiserver_counters(kube)
            for _ in range(20):
                time.sleep(2)
                settled, after = after, apiserver_counters(kube)
                if all(
                    delta(settled, after, verb, resource, sub) == 0
                    for verb, resource, sub in (
                        ("POST", "events", ""),
                        ("PATCH", "maintenancewindows", ""),
                        ("PATCH", "maintenancewindows", "status"),
                    )
                ):
                    break
            status_writes = delta(before, after, "PATCH", "maintenancewindows", "status", "200")
            status_unwritten = (
                delta(before, after, "PATCH", "maintenancewindows", "status") - status_writes
            )
            meta_writes = delta(before, after, "PATCH", "maintenancewindows", code="200")
            # kopf's JSON patch of its finalizer tests the resourceVersion of the body it handled;
            # when our first status write came in between, the API server refuses it (422, no
            # write) and kopf adds the finalizer on the next event.
            meta_refused = delta(before, after, "PATCH", "maintenancewindows", code="422")
            events = delta(before, after, "POST", "events")
            component_writes = delta(before, after, "PATCH", "components", "status")
            finalized, annotated = windows_holding("burst")
            n = args.burst
            report(
                "API writes per window over its life: status patches written",
                f"{status_writes / n:.2f}",
                "(target <= 3)",
            )
            report(
                "  status patches per window not written (refused or failed)",
                f"{status_unwritten / n:.2f}",
            )
            report(
                "  metadata patches per window written (finalizer on, off with the label)",
                f"{meta_writes / n:.2f}",
                "(target <= 2)",
            )
            report(
                "  metadata patches per window refused by kopf's resourceVersion test (422)",
                f"{meta_refused / n:.2f}",
            )
            report(
                "  windows left with our finalizer / with an annotation of ours",
                f"{finalized} / {annotated}",
                "(target 0 / 0)",
            )
            report("  Events per window (incl. component Events)", f"{events / n:.2f}")
            report("  component status patches (100 components)", f"{component_writes:.0f}")

            # -- restart with windows that became due while down --------------------------------
            make_namespace(kube, "restart", 1, 100)
            due = datetime.now(UTC) + timedelta(seconds=40)
            create_all(
                "restart",
                "maintenancewindows",
                [
                    window(f"r{i}", "p0", [f"c0-{i % 100}"], due, due + timedelta(hours=1))
                    for i in range(args.burst)
                ],
            )
            wait_until(lambda: count_phase("restart", "Scheduled") >= args.burst, 120)
            operator.stop(signal.SIGTERM)
            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 2)
            restarted = time.monotonic()
            edge_windows = len(rounds) * ((args.edges + 1) // 2)
            held = args.small_windows + args.windows + 2 * args.burst + edge_windows
            operator.start()
            while count_phase("restart", "InProgress") < args.burst:
                time.sleep(0.2)
            report(
                f"restart: {args.burst} due while down, all InProgress (held {held})",
                f"{time.monotonic() - restarted:.1f} s",
                "(target <= 30 s)",
            )
            time.sleep(3)
            assert operator.process is not None
            rss, peak = rss_mb(operator.process.pid)
            report(f"operator RSS after the restart, {held} windows held", f"{rss:.0f} MB")
            report("  peak RSS (VmHWM) since the restart", f"{peak:.0f} MB")

        # -- the floor: the same number of status writes, from a bare client ------------------
        # With the operator stopped, patch the burst windows' status as fast as 16 threads can:
        # no operator could make its transitions faster than the API server takes the writes.
        floor_watch = Watcher("burst", "maintenancewindows", phase_is("Cancelled")).start()
        api = client.CustomObjectsApi()

        def patch(index: int) -> None:
            status = {"phase": "Cancelled", "startedAt": stamp(start), "completedAt": stamp(end)}
            api.patch_namespaced_custom_object_status(
                GROUP, VERSION, "burst", "maintenancewindows", f"b{index}", {"status": status}
            )

        began = time.time()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(patch, range(args.burst)))
        floor_watch.wait(args.burst, 30)
        floor_watch.stop()
        floor = max(floor_watch.seen.values()) - began
        report(
            f"floor: {args.burst} status patches by a bare client, all seen",
            f"{floor * 1000:.0f} ms",
        )
        report(
            "burst: all windows InProgress / floor",
            f"{last_window / floor:.2f}x",
            "(target <= 1.5x)",
        )

        # -- the shipped configuration: two replicas with the Lease ----------------------------
        if not args.only_single:
            replicas(kube, args, workdir, to_come, open_incidents)
    profiler.wait()

    # kopf cancels a daemon that has not returned within 1 s of its stop, and logs it.
    cancelled = sum(
        log.read_text(errors="replace").count("Will escalate") for log in workdir.glob("*.log")
    )
    report('daemons kopf had to cancel ("Will escalate" in the logs)', str(cancelled), "(0)")


def replicas(
    kube: Kube,
    args: argparse.Namespace,
    workdir: Path,
    to_come: list[str],
    open_incidents: list[str],
) -> None:
    """Two replicas over the whole cluster: the tail under the leader, then its SIGKILL."""
    from bench.tail import Background, report_round, tail_round

    lease_role(kube, "bench")
    pair = []
    for index in range(2):
        replica = OperatorProcess(kube, workdir / f"replica-{index}.log")
        replica.extra_args = [
            "--leader-elect",
            "--leader-election-namespace=bench",
            f"--lease-duration={args.lease}",
        ]
        pair.append(replica)
    try:
        pair[0].start()
        wait_until(lambda: "listed " in pair[0].log.read_text(), 300)
        pair[1].start()
        # The leader has settled what its start-up found (restart's windows, the tail's).
        time.sleep(20)
        assert pair[0].process is not None
        leader = pair[0].process.pid
        cpu_before = cpu_seconds(leader)
        second = tail_round(
            kube,
            "tail2",
            edges=args.edges,
            seconds=args.tail_seconds,
            background=Background("bench", to_come, open_incidents, args.background),
            metrics_url=pair[0].metrics_url,
            seed=2121,
        )
        report_round("two replicas with the Lease (the shipped configuration)", second)
        report(
            "  leader CPU over the round",
            f"{cpu_seconds(leader) - cpu_before:.1f} s",
            f"(of {args.tail_seconds:.0f} s)",
        )
        rss, _ = rss_mb(leader)
        report("  leader RSS", f"{rss:.0f} MB")

        killed = time.monotonic()
        pair[0].stop(signal.SIGKILL)
        now = datetime.now(UTC)
        create_all(
            "tail2",
            "maintenancewindows",
            [window("takeover", "p0", ["c0-0"], now, now + timedelta(hours=1))],
        )
        elected = wait_until(lambda: "became the leader" in pair[1].log.read_text(), 120, 0.1)
        wait_until(
            lambda: kube.status("mw", "takeover", "tail2").get("phase") == "InProgress",
            300,
            0.1,
        )
        report(
            "takeover after SIGKILL of the leader: Lease taken",
            f"{elected:.1f} s",
            f"(lease {args.lease} s)",
        )
        report(
            "  a window due at the kill InProgress, after the kill (the standby starts cold)",
            f"{time.monotonic() - killed:.1f} s",
        )
    finally:
        for replica in pair:
            replica.stop()


if __name__ == "__main__":
    main()
