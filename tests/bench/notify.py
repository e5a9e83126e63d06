"""Subscriber notifications against a real local control plane.

    cd /work/main && PYTHONPATH=operator:tests .venv/bin/python tests/bench/notify.py [--rounds 2]

- lateness from a window's scheduled start or end to the webhook's arrival, 1 subscriber
  (60 windows, each at its own instant): p50 / p99 (target p99 <= 200 ms);
- the burst, side by side in the same run: 1,000 windows sharing one start over the same 100
  components of one page, measured without subscribers and with 5 (maintenance.started), in
  turns (without, with, without, with, ...; each in a namespace of its own, deleted before the
  next): how long after the instant all windows are InProgress (seen in a watch, as a user sees
  it), with the first window and the 10/50/90 % marks, the operator's and the API server's CPU
  and the API calls until then, and the ratio with / without; with subscribers, every webhook
  received, raw repeats (requests per Idempotency-Key beyond the first), keys with two bodies,
  the throughput, the Subscriber status writes and CPU of the deliveries, the operator's RSS.

`--py-spy PATH` records the operator's stacks during each burst (`burstN.collapsed` beside the
operator's log), to see where a slower burst spent its time.

Lateness is taken from each window's own instants (the webhook says them in whole seconds).

The receiver is an aiohttp server in a process of its own (no GIL shared with the watch that
times the transitions); it appends one line per request to a file. The machine's cores are
shared by the API server, etcd, the operator, the receiver and this process: every run is
printed, not only the best.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.run import (  # noqa: E402
    Watcher,
    apiserver_counters,
    cpu_seconds,
    create_all,
    delta,
    phase_is,
    prepare,
    rss_mb,
)
from controlplane.cluster import LocalCluster, build_binaries, free_port  # noqa: E402
from e2e.conftest import OperatorProcess  # noqa: E402
from e2e.kube import Kube, wait_for  # noqa: E402
from e2e.objects import make_component, make_page, make_window  # noqa: E402
from e2e.test_notifications import secret, subscriber, wait_ready  # noqa: E402

LATENESS_WINDOWS = 60
BURST_WINDOWS = 1000
BURST_COMPONENTS = 100
BURST_SUBSCRIBERS = 5
# The windows are created this long before their shared start, and end this long after it.
LEAD = 45.0
LENGTH = 30.0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def report(name: str, value: str, target: str = "") -> None:
    """One figure a line."""
    print(f"{name:<66} {value:>12}  {target}", flush=True)


# -- the receiver, in its own process -------------------------------------------------------


def serve(port: int, out: Path) -> None:
    """Receive webhooks on 127.0.0.1:port; one JSON line per request into `out`."""
    from aiohttp import web

    sink = out.open("a", buffering=1)

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        at = time.time()
        body = json.loads(raw)
        incident = body.get("incident") or {}
        line = {
            "at": at,
            "path": request.path,
            "key": request.headers.get("Idempotency-Key", ""),
            "digest": hashlib.sha256(raw).hexdigest()[:16],
            "event": body["meta"]["event"],
            "name": incident.get("name"),
        }
        sink.write(json.dumps(line) + "\n")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@dataclass
class Hook:
    """One request as the receiver logged it."""

    at: float
    path: str
    key: str
    digest: str
    event: str
    name: str


class Receiver:
    """The receiver process and what it has logged so far."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.out = workdir / "hooks.jsonl"
        self.out.touch()
        self.process: subprocess.Popen[bytes] | None = None
        self.hooks: list[Hook] = []
        self._offset = 0

    def start(self) -> None:
        """Start it and wait until it listens."""
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--receive", str(self.port), str(self.out)],
            env={**os.environ, "PYTHONPATH": str(HERE.parent)},
        )
        wait_for(self._listening, 20, interval=0.2, what="the receiver")

    def _listening(self) -> bool:
        import socket

        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        """Stop it."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    def read(self) -> list[Hook]:
        """Every request logged so far."""
        with self.out.open() as source:
            source.seek(self._offset)
            text = source.read()
        complete = text[: text.rfind("\n") + 1]
        self._offset += len(complete.encode())
        for line in complete.splitlines():
            item: dict[str, Any] = json.loads(line)
            self.hooks.append(
                Hook(
                    item["at"],
                    item["path"],
                    item["key"],
                    item["digest"],
                    item["event"],
                    item["name"],
                )
            )
        return self.hooks

    def under(self, prefix: str) -> list[Hook]:
        """The requests to paths under a prefix."""
        return [h for h in self.read() if h.path.startswith(prefix)]


# -- scenarios --------------------------------------------------------------------------------


def url(receiver: Receiver, namespace: str, name: str) -> str:
    """A subscriber's destination at the receiver."""
    return f"json://127.0.0.1:{receiver.port}/{namespace}/{name}"


def lateness(kube: Kube, receiver: Receiver) -> None:
    """One subscriber, windows at distinct instants: arrival minus the scheduled instant."""
    namespace = "lateness"
    kube.run("create", "namespace", namespace)
    kube.apply(
        namespace,
        make_page(),
        make_component("api"),
        secret("one", url=url(receiver, namespace, "one")),
        subscriber("one", "one", events=["maintenance.started", "maintenance.completed"]),
    )
    wait_ready(kube, namespace, "one", timeout=30)
    base = datetime.now(UTC) + timedelta(seconds=10)
    # The instants by window title: the webhook's `scheduled_for` is in whole seconds.
    starts = {
        f"Maintenance w{i}": base + timedelta(seconds=i * 0.25) for i in range(LATENESS_WINDOWS)
    }
    windows = [
        make_window(
            f"w{i}",
            base + timedelta(seconds=i * 0.25),
            base + timedelta(seconds=i * 0.25 + 5),
            ["api"],
            notifySubscribers=True,
        )
        for i in range(LATENESS_WINDOWS)
    ]
    create_all(namespace, "maintenancewindows", windows, threads=4)
    prefix = f"/{namespace}/"
    wait_for(lambda: len(receiver.under(prefix)) >= 2 * LATENESS_WINDOWS, 60, what="all webhooks")
    late = []
    for hook in receiver.under(prefix):
        instant = starts[hook.name]
        if hook.event == "maintenance.completed":
            instant += timedelta(seconds=5)
        late.append((hook.at - instant.timestamp()) * 1000)
    report(
        f"notice lateness, 1 subscriber, {len(late)} notices, p50 / p99",
        f"{percentile(late, 50):.0f} / {percentile(late, 99):.0f} ms",
        "(target p99 <= 200 ms)",
    )


@dataclass
class Burst:
    """What one burst showed."""

    subscribers: int
    # When the windows were InProgress: the first, 10th, 50th, 90th percentile and the last.
    deciles: list[float]
    all_completed: float
    cpu: dict[str, float]
    calls: dict[str, float]
    received: int = 0
    expected: int = 0
    repeats: int = 0
    differing: int = 0
    keys_per_news: int = 0
    first_hook: float = 0.0
    last_hook: float = 0.0
    rss: float = 0.0
    peak: float = 0.0
    delivery_cpu: dict[str, float] = field(default_factory=dict)
    record_writes: float = 0.0

    @property
    def all_in(self) -> float:
        return self.deciles[-1]

    @property
    def label(self) -> str:
        return f"{self.subscribers} subscribers" if self.subscribers else "no subscriber"


def burst(
    kube: Kube,
    receiver: Receiver,
    operator: OperatorProcess,
    cluster: LocalCluster,
    index: int,
    subscribers: int,
    py_spy: str | None = None,
) -> Burst:
    """1,000 windows sharing a start over 100 components; `subscribers` of maintenance.started."""
    namespace = f"burst{index}"
    kube.run("create", "namespace", namespace)
    names = [f"s{i}" for i in range(subscribers)]
    kube.apply(
        namespace,
        make_page(),
        *[secret(n, url=url(receiver, namespace, n)) for n in names],
        *[subscriber(n, n, events=["maintenance.started"]) for n in names],
    )
    create_all(
        namespace,
        "components",
        [make_component(f"c{i}") for i in range(BURST_COMPONENTS)],
    )
    wait_ready(kube, namespace, *names, timeout=30)
    start = datetime.now(UTC) + timedelta(seconds=LEAD)
    end = start + timedelta(seconds=LENGTH)
    windows_in = Watcher(namespace, "maintenancewindows", phase_is("InProgress")).start()
    took = create_all(
        namespace,
        "maintenancewindows",
        [
            make_window(f"w{i}", start, end, [f"c{i % BURST_COMPONENTS}"], notifySubscribers=True)
            for i in range(BURST_WINDOWS)
        ],
    )
    if datetime.now(UTC) > start - timedelta(seconds=10):
        print(f"  (windows created only {took:.1f} s after their lead began)", flush=True)
    time.sleep(max(0.0, start.timestamp() - time.time() - 0.5))
    assert operator.process is not None
    pids = {"operator": operator.process.pid, **cluster.pids}
    profiler = None
    if py_spy:
        profile = Path(operator.log).parent / f"burst{index}.collapsed"
        profiler = subprocess.Popen(
            [py_spy, "record", "-p", str(pids["operator"]), "-f", "raw", "-o", str(profile)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    calls_before = apiserver_counters(kube)
    windows_in.wait(BURST_WINDOWS, start.timestamp() - time.time() + 60)
    cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    calls_after = apiserver_counters(kube)
    windows_in.stop()
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(30)
    if len(windows_in.seen) < BURST_WINDOWS:
        raise AssertionError(f"only {len(windows_in.seen)} windows InProgress")
    seen = [at - start.timestamp() for at in windows_in.seen.values()]
    result = Burst(
        subscribers,
        [percentile(seen, q) for q in (0, 10, 50, 90, 100)],
        0.0,
        {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in pids},
        {
            what: delta(calls_before, calls_after, *call)
            for what, call in (
                ("window status patches", ("PATCH", "maintenancewindows", "status")),
                ("component status patches", ("PATCH", "components", "status")),
                ("Events", ("POST", "events", "")),
                ("Subscriber status patches", ("PATCH", "subscribers", "status")),
            )
        },
    )
    prefix = f"/{namespace}/"
    if subscribers:
        result.expected = BURST_WINDOWS * subscribers
        wait_for(
            lambda: len({h.key for h in receiver.under(prefix)}) >= result.expected,
            120,
            interval=0.5,
            what="all webhooks",
        )
        time.sleep(2)
        result.delivery_cpu = {
            name: cpu_seconds(pid) - cpu_after[name] for name, pid in pids.items()
        }
        result.record_writes = delta(
            calls_after, apiserver_counters(kube), "PATCH", "subscribers", "status"
        )
        hooks = receiver.under(prefix)
        per_key = Counter(h.key for h in hooks)
        result.received = len(per_key)
        result.repeats = sum(n - 1 for n in per_key.values())
        # A key sent again must carry the same body: the receiver drops it by its key.
        bodies = Counter(key for key, _ in {(h.key, h.digest) for h in hooks})
        result.differing = sum(n > 1 for n in bodies.values())
        keys = Counter(news for news, _ in {((h.path, h.name, h.event), h.key) for h in hooks})
        result.keys_per_news = max(keys.values(), default=0)
        result.first_hook = min(h.at for h in hooks) - start.timestamp()
        result.last_hook = max(h.at for h in hooks) - start.timestamp()
    result.rss, result.peak = rss_mb(operator.process.pid)
    done = Watcher(namespace, "maintenancewindows", phase_is("Completed")).start()
    done.wait(BURST_WINDOWS, end.timestamp() - time.time() + 60)
    done.stop()
    result.all_completed = max(done.seen.values(), default=float("nan")) - end.timestamp()
    kube.run("delete", "namespace", namespace, "--timeout=120s")
    time.sleep(3)
    return result


def print_burst(run: int, result: Burst) -> None:
    """Every figure of one burst."""
    name = f"burst {run}, {BURST_WINDOWS} windows, {result.label}"
    report(
        f"{name}: all InProgress",
        f"{result.all_in * 1000:.0f} ms",
        "(first, 10%, 50%, 90%: "
        + ", ".join(f"{d * 1000:.0f}" for d in result.deciles[:-1])
        + " ms)",
    )
    report(f"{name}: all Completed after the end", f"{result.all_completed * 1000:.0f} ms")
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in result.cpu.items() if k != "kube-controller-manager")
    report(f"  CPU seconds until all InProgress: {cpu}", "")
    calls = ", ".join(f"{v:.0f} {k}" for k, v in result.calls.items())
    report(f"  API calls until then: {calls}", "")
    if result.subscribers:
        report(
            f"{name}: webhooks received (distinct keys)",
            f"{result.received}",
            f"(of {result.expected})",
        )
        report(
            "  raw repeats (same key again) / keys with two bodies",
            f"{result.repeats} / {result.differing}",
            "(target 0 / 0)",
        )
        report(
            "  most keys for one (subscriber, window, event)",
            f"{result.keys_per_news}",
            "(target 1)",
        )
        span = result.last_hook - result.first_hook
        cpu = ", ".join(
            f"{k} {v:.1f}" for k, v in result.delivery_cpu.items() if k != "kube-controller-manager"
        )
        report(
            f"  after all InProgress: {result.record_writes:.0f} Subscriber status patches; CPU "
            f"seconds {cpu}",
            "",
        )
        report(
            "  first / last webhook after the start",
            f"{result.first_hook:.1f} / {result.last_hook:.1f} s",
            f"({result.received / max(span, 1e-3):.0f}/s first to last, "
            f"{result.received / result.last_hook:.0f}/s from the start)",
        )
    report("  operator RSS (peak since start)", f"{result.rss:.0f} ({result.peak:.0f}) MB")


def main() -> None:
    """Start a control plane, the operator and a receiver; run the scenarios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of bursts (without, with)")
    parser.add_argument("--no-lateness", action="store_true")
    parser.add_argument("--py-spy", help="profile the operator in each burst with this py-spy")
    parser.add_argument("--receive", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        serve(int(args.receive[0]), Path(args.receive[1]))
        return

    workdir = Path(tempfile.mkdtemp(prefix="statuspage-notify-bench-"))
    with LocalCluster(build_binaries()) as cluster:
        kube = prepare(cluster)
        print(f"# {os.cpu_count()} cores; operator log {workdir / 'operator.log'}", flush=True)
        receiver = Receiver(workdir)
        receiver.start()
        operator = OperatorProcess(kube, workdir / "operator.log")
        operator.extra_args = ["--notify-retry-base=0.2"]
        operator.start()
        results: list[Burst] = []
        try:
            if not args.no_lateness:
                lateness(kube, receiver)
            for run in range(2 * args.rounds):
                result = burst(
                    kube,
                    receiver,
                    operator,
                    cluster,
                    run,
                    BURST_SUBSCRIBERS if run % 2 else 0,
                    args.py_spy,
                )
                print_burst(run, result)
                results.append(result)
        finally:
            operator.stop()
            receiver.stop()
        without = [r.all_in for r in results if not r.subscribers]
        with_ = [r.all_in for r in results if r.subscribers]
        if without and with_:
            print()
            report(
                "all InProgress without subscribers, each run",
                " ".join(f"{v * 1000:.0f}" for v in without) + " ms",
            )
            report(
                f"all InProgress with {BURST_SUBSCRIBERS} subscribers, each run",
                " ".join(f"{v * 1000:.0f}" for v in with_) + " ms",
            )
            ratios = " ".join(f"{w / o:.2f}" for o, w in zip(without, with_, strict=False))
            report("  ratio with / without, pair by pair", ratios, "(target <= 1)")
            report(
                "  ratio of the medians",
                f"{percentile(with_, 50) / percentile(without, 50):.2f}",
                "(target <= 1)",
            )


if __name__ == "__main__":
    main()
