"""The tail of edge lateness: hundreds of edges at random instants, under a stated background.

Used by tests/bench/run.py. One round:
- `edges` window edges (starts and ends, half each) at uniformly random instants over `seconds`,
  each window on its own component, so that no overlap note or shared component joins them;
- a background of about `rate` updates per second for the whole round, to held windows (their
  description: a new generation, so the operator re-plans and writes its status) and to
  incidents (their incidentRef: the same), the way people and pipelines edit objects;
- optionally the upstream CronJob controller beside it: `cronjobs` CronJobs every minute, so it
  works under the same API server load, one sample per CronJob and minute.

Lateness is what a user sees: from the scheduled instant to the watch event that carries the new
phase, in this process (a Job's ADDED event for the CronJob controller).
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import random
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client

from bench.run import (
    GROUP,
    VERSION,
    Watcher,
    create_all,
    make_namespace,
    percentile,
    phase_is,
    report,
    window,
)
from e2e.kube import Kube


@dataclass
class Spread:
    """A distribution of samples, in ms."""

    values: list[float]

    def line(self) -> str:
        """p50 / p90 / p99 / max (n)."""
        if not self.values:
            return "no samples"
        return (
            f"{percentile(self.values, 50):.0f} / {percentile(self.values, 90):.0f} / "
            f"{percentile(self.values, 99):.0f} / {max(self.values):.0f} ms (n={len(self.values)})"
        )

    @property
    def p99(self) -> float:
        """The 99th percentile (nearest rank)."""
        return percentile(self.values, 99) if self.values else math.inf


@dataclass
class Background:
    """About `rate` updates per second to held windows and incidents, from another process.

    Its own process, so that its client's work never holds up this process's watches (which
    time the edges). Paced by the clock, not by the answers: an update that cannot start because
    eight are still under way is counted as skipped, so a slow API server shows as a lower
    achieved rate instead of a growing backlog.
    """

    namespace: str
    windows: list[str]
    incidents: list[str]
    rate: float
    done: int = 0
    failed: int = 0
    skipped: int = 0
    elapsed: float = 0.0
    first_error: str = ""
    # How long the API server took to answer each update (ms): what one write costs under
    # this background, for anyone, before an operator or a controller does anything with it.
    answers: list[float] = field(default_factory=list)
    _stop: Any = None
    _results: Any = None
    _process: Any = None

    def start(self) -> Background:
        """Begin the updates (a forked process: it has this one's client configuration)."""
        context = multiprocessing.get_context("fork")
        self._stop, self._results = context.Event(), context.Queue()
        self._process = context.Process(
            target=_pace,
            args=(
                self.namespace,
                self.windows,
                self.incidents,
                self.rate,
                self._stop,
                self._results,
            ),
            daemon=True,
        )
        self._process.start()
        return self

    def stop(self) -> None:
        """End them; `elapsed` and the counts are final after this."""
        self._stop.set()
        (
            self.done,
            self.failed,
            self.skipped,
            self.elapsed,
            self.first_error,
            self.answers,
        ) = self._results.get(timeout=60)
        self._process.join(10)

    def achieved(self) -> float:
        """Updates per second that were answered."""
        return self.done / self.elapsed if self.elapsed else 0.0


def _pace(
    namespace: str,
    windows: list[str],
    incidents: list[str],
    rate: float,
    stop: Any,
    results: Any,
) -> None:
    """The background process: paced updates until `stop`; puts its counts on `results`."""
    api = client.CustomObjectsApi()
    lock = threading.Lock()
    counts = {"done": 0, "failed": 0, "skipped": 0, "under_way": 0}
    answers: list[float] = []
    first_error = ""
    # Seven in ten updates go to windows, three to incidents (when there are any).
    targets: list[tuple[str, list[str]]] = [("maintenancewindows", windows)] * 7
    if incidents:
        targets += [("statusincidents", incidents)] * 3

    def update(plural: str, name: str, serial: int) -> None:
        nonlocal first_error
        spec = (
            {"description": f"background edit {serial}"}
            if plural == "maintenancewindows"
            else {"incidentRef": f"INC-{serial}"}
        )
        sent = time.monotonic()
        try:
            answer = api.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, {"spec": spec}, _preload_content=False
            )
            # Read to the end before the connection goes back to the pool (else the next
            # answer on it starts with this one's rest).
            answer.read()  # type: ignore[attr-defined]
            answer.release_conn()  # type: ignore[attr-defined]
            outcome = "done"
            with lock:
                answers.append((time.monotonic() - sent) * 1000)
        except Exception as error:
            outcome = "failed"
            first_error = first_error or f"{plural}/{name}: {error}"[:300]
        with lock:
            counts["under_way"] -= 1
            counts[outcome] += 1

    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        for serial in itertools.count():
            pause = began + serial / rate - time.monotonic()
            if (pause > 0 and stop.wait(pause)) or stop.is_set():
                break
            with lock:
                if counts["under_way"] >= 8:
                    counts["skipped"] += 1
                    continue
                counts["under_way"] += 1
            plural, names = targets[serial % len(targets)]
            pool.submit(update, plural, names[serial % len(names)], serial)
        elapsed = time.monotonic() - began
    results.put(
        (counts["done"], counts["failed"], counts["skipped"], elapsed, first_error, answers)
    )


def incidents(namespace: str, page: str, components: list[str], count: int) -> list[str]:
    """`count` open incidents of no impact (their components stay Operational)."""
    names = [f"bg{i}" for i in range(count)]
    create_all(
        namespace,
        "statusincidents",
        [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "StatusIncident",
                "metadata": {"name": name},
                "spec": {
                    "page": page,
                    "title": f"Background {name}",
                    "impact": "None",
                    "components": [{"name": components[i % len(components)]}],
                    "updates": [{"status": "Investigating", "message": "Looking into it."}],
                },
            }
            for i, name in enumerate(names)
        ],
    )
    return names


class Cron:
    """The upstream CronJob controller as a peer: `count` CronJobs firing every minute."""

    JOB = re.compile(r"^cj\d+-(\d+)$")

    def __init__(self, kube: Kube, namespace: str, count: int) -> None:
        self.kube, self.namespace, self.count = kube, namespace, count
        self.jobs = Watcher(namespace, "jobs", lambda obj: True, group="batch")

    def start(self) -> Cron:
        """Create the namespace, watch its Jobs, create the CronJobs."""
        self.kube.run("create", "namespace", self.namespace)
        self.jobs.start()
        manifests = "\n---\n".join(
            f"""apiVersion: batch/v1
kind: CronJob
metadata: {{name: cj{i}, namespace: {self.namespace}}}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{{name: c, image: busybox, command: ["true"]}}]"""
            for i in range(self.count)
        )
        self.kube.run("apply", "-f", "-", stdin=manifests)
        return self

    def stop(self, since: float) -> Spread:
        """Suspend the CronJobs; the lateness of each Job scheduled at `since` or later."""
        self.kube.run("delete", "cronjobs", "--all", "-n", self.namespace, "--wait=false")
        self.jobs.stop()
        samples = []
        for name, seen in self.jobs.seen.items():
            match = self.JOB.match(name)
            if match is None:
                continue
            scheduled = int(match.group(1)) * 60  # the controller names a Job by its minute
            if scheduled >= since:
                samples.append((seen - scheduled) * 1000)
        return Spread(samples)


@dataclass
class Round:
    """What one round measured."""

    ours: Spread
    starts: Spread
    ends: Spread
    missed: int
    background: Background
    cron: Spread | None
    histograms: dict[str, dict[str, float]]


BUCKET = re.compile(r'^(\w+)_bucket\{le="([^"]+)"\} (\S+)$')
LATENESS = "statuspage_transition_lateness_seconds"
LOOP_LAG = "statuspage_event_loop_lag_seconds"


def histograms(url: str) -> dict[str, dict[str, float]]:
    """The operator's histograms: name -> le -> cumulative count."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    found: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = BUCKET.match(line)
        if match:
            found.setdefault(match.group(1), {})[match.group(2)] = float(match.group(3))
    return found


def increase(
    after: dict[str, dict[str, float]], before: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """What each histogram's buckets gained between two scrapes."""
    return {
        name: {le: count - before.get(name, {}).get(le, 0.0) for le, count in buckets.items()}
        for name, buckets in after.items()
    }


def within(buckets: dict[str, float], le: str) -> str:
    """The share of observations at or under a bucket bound."""
    total, under = buckets.get("+Inf", 0.0), buckets.get(le, 0.0)
    return f"{under / total:.1%} of {total:.0f}" if total else "none"


def bucket_quantile(buckets: dict[str, float], q: float) -> str:
    """The upper bound of the bucket holding the q-quantile (`> last` past the last bound)."""
    total = buckets.get("+Inf", 0.0)
    bounds = sorted((float(le), count) for le, count in buckets.items() if le != "+Inf")
    for bound, count in bounds:
        if total and count >= q * total:
            return f"<= {bound * 1000:g} ms"
    return f"> {bounds[-1][0] * 1000:g} ms" if bounds else "none"


def tail_round(
    kube: Kube,
    namespace: str,
    *,
    edges: int,
    seconds: float,
    background: Background,
    metrics_url: str | None,
    cron: Cron | None = None,
    seed: int = 21,
    profile: Callable[[float], None] = lambda seconds: None,
) -> Round:
    """One round: create the edge windows, run the background (and cron), collect lateness."""
    count = (edges + 1) // 2
    components = make_namespace(kube, namespace, 1, count)[0]
    rng = random.Random(seed)
    lead = 20.0
    if cron is not None:
        # Begin just before a minute so that every minute of the round has its Jobs.
        now = time.time()
        lead = max(lead, 60 - (now + lead) % 60 + lead - 3)
    t0 = datetime.now(UTC) + timedelta(seconds=lead)
    span = seconds - 5
    bodies, starts, ends = [], {}, {}
    for i in range(count):
        length = rng.uniform(3.0, 30.0)
        start = t0 + timedelta(seconds=rng.uniform(1.0, span - length))
        end = start + timedelta(seconds=length)
        name = f"e{i}"
        starts[name], ends[name] = start.timestamp(), end.timestamp()
        bodies.append(window(name, "p0", [components[i]], start, end))
    began_in = Watcher(namespace, "maintenancewindows", phase_is("InProgress")).start()
    began_done = Watcher(namespace, "maintenancewindows", phase_is("Completed")).start()
    create_all(namespace, "maintenancewindows", bodies, threads=8)
    if cron is not None:
        cron.start()
    before = histograms(metrics_url) if metrics_url else {}
    time.sleep(max(0.0, t0.timestamp() - time.time() - 2))
    background.start()
    profile(seconds + 2)
    time.sleep(max(0.0, t0.timestamp() + seconds - time.time()))
    background.stop()
    began_done.wait(count, 30)
    began_in.stop()
    began_done.stop()
    cron_spread = cron.stop(t0.timestamp()) if cron is not None else None
    start_late = [(began_in.seen[n] - starts[n]) * 1000 for n in starts if n in began_in.seen]
    end_late = [(began_done.seen[n] - ends[n]) * 1000 for n in ends if n in began_done.seen]
    after = histograms(metrics_url) if metrics_url else {}
    return Round(
        ours=Spread(start_late + end_late),
        starts=Spread(start_late),
        ends=Spread(end_late),
        missed=2 * count - len(start_late) - len(end_late),
        background=background,
        cron=cron_spread,
        histograms=increase(after, before),
    )


def report_round(title: str, result: Round) -> None:
    """Print one round's figures."""
    bg = result.background
    report(
        f"{title}: edge lateness p50 / p90 / p99 / max",
        result.ours.line(),
        "(target p99 <= 100 ms)",
    )
    report("  starts", result.starts.line())
    report("  ends", result.ends.line())
    report("  edges missed (no event within 30 s)", str(result.missed), "(0)")
    report(
        "  background: updates answered / failed / skipped",
        f"{bg.done} / {bg.failed} / {bg.skipped}",
        f"({bg.achieved():.0f} per second over {bg.elapsed:.0f} s)",
    )
    if bg.first_error:
        report("  background: the first failure", bg.first_error.splitlines()[0])
    report("  background: the API server's answer to one update", Spread(bg.answers).line())
    lateness, lag = result.histograms.get(LATENESS), result.histograms.get(LOOP_LAG)
    if lateness:
        report(
            "  the operator's lateness histogram (to its status write): <= 100 ms",
            within(lateness, "0.1"),
        )
    if lag:
        report(
            "  event loop lag (a 100 ms sleep's overshoot): p50 / p99 / <= 50 ms",
            f"{bucket_quantile(lag, 0.5)} / {bucket_quantile(lag, 0.99)} / {within(lag, '0.05')}",
        )
    if result.cron is not None:
        report("CronJob controller, same round: p50 / p90 / p99 / max", result.cron.line())
        report(
            "ratio CronJob p99 / ours p99",
            f"{result.cron.p99 / max(result.ours.p99, 1):.1f}x",
            "(target >= 10x)",
        )
