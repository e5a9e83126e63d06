"""The operator's memory at 10,000 windows (issue 21): RSS once settled, and what holds it.

Against its own local control plane, with the population of `make bench` (tests/bench/run.py):
10,000 windows (1,000 to come in 30 days, 9,000 that ended days ago), 1,000 components on 10
pages. Phases, each with the operator as a subprocess under its own user and role:

- cold: the windows have no status yet; the operator settles every one (Completed, Scheduled);
  RSS and VmHWM a while after every window has its phase and the count of labelled windows
  stopped moving;
- restart: the same operator started again over the settled population: the same figures
  (`--first-operator PATH` runs another build for the cold phase, e.g. the release before the
  settled label, so that the restart is an upgrade over windows it never labelled);
- life (`--life N`): N windows on 100 components start 30 s ahead and end 20 s later; the API
  server's request counters give the writes per window over its life (status patches, metadata
  patches), as run.py's burst does.

`--census` asks the operator (SIGUSR1, through a sitecustomize put on its PYTHONPATH) to count
what it holds once settled: kopf's per-object memories and the bodies they keep, the operator's
view, the largest object types by count; `--tracemalloc` adds the top allocation sites (it slows
the operator and adds its own memory: its RSS is then not the figure).

Timings on a shared 2-core machine are noisy; RSS, VmHWM and the counts are not.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import textwrap
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kubernetes import client  # noqa: E402

from bench.run import (  # noqa: E402
    GROUP,
    VERSION,
    apiserver_counters,
    count_phase,
    count_with_phase,
    create_all,
    delta,
    make_namespace,
    populate,
    prepare,
    report,
    rss_mb,
    wait_until,
    window,
    windows_holding,
)
from controlplane.cluster import LocalCluster, build_binaries  # noqa: E402
from e2e import conftest  # noqa: E402
from e2e.conftest import OperatorProcess  # noqa: E402

# api/names.py SETTLED_LABEL, written out: the bench also measures code from before it existed.
SETTLED_LABEL = "statuspage.dev/settled"

# Run in the operator at its start (PYTHONPATH): SIGUSR1 writes a census to $STATUSPAGE_CENSUS.
SITECUSTOMIZE = textwrap.dedent(
    """
    import os
    import signal

    def _census(signum, frame):
        import collections, gc, json, sys
        target = os.environ["STATUSPAGE_CENSUS"]
        found = {"memories": [], "view": {}, "types": []}
        objects = gc.get_objects()
        counts = collections.Counter(type(o).__qualname__ for o in objects)
        found["types"] = counts.most_common(25)
        inventory = sys.modules.get("kopf._core.reactor.inventory")
        runtime_module = sys.modules.get("statuspage_operator.control.runtime")
        for obj in objects:
            if inventory is not None and isinstance(obj, inventory.ResourceMemories):
                items = list(obj._items.values())
                bodies = [m.daemons_memory.live_fresh_body for m in items]
                bodies = [b for b in bodies if b is not None]
                kinds = collections.Counter(str(dict(b).get("kind")) for b in bodies)
                sample = bodies[:: max(1, len(bodies) // 200)]
                size = [len(json.dumps(dict(b), default=str)) for b in sample]
                managed = [
                    len(json.dumps((dict(b).get("metadata") or {}).get("managedFields")))
                    for b in sample
                ]
                found["memories"].append({
                    "objects": len(items),
                    "bodies": len(bodies),
                    "kinds": dict(kinds),
                    "json_bytes_per_body": sum(size) // len(size) if size else 0,
                    "managed_fields_bytes_per_body": sum(managed) // len(managed) if managed else 0,
                    "running_daemons": sum(len(m.daemons_memory.running_daemons) for m in items),
                })
            elif runtime_module is not None and isinstance(obj, runtime_module.Runtime):
                view = obj.view
                found["view"] = {
                    "pages": len(view.pages),
                    "components": len(view.components),
                    "live_windows": len(view.windows),
                    "incidents": len(view.incidents),
                    "waiting": len(view.waiting),
                    "daemons": len(view.wakers),
                    "written": len(obj.writer._written),
                    "parsed_cache": len(obj.windows._parsed),
                }
        try:
            import tracemalloc
            if tracemalloc.is_tracing():
                snapshot = tracemalloc.take_snapshot()
                top = snapshot.statistics("lineno")[:25]
                found["tracemalloc"] = [
                    [str(stat.traceback[0]), stat.size, stat.count] for stat in top
                ]
                found["tracemalloc_total"] = sum(s.size for s in snapshot.statistics("filename"))
        except Exception as error:
            found["tracemalloc_error"] = repr(error)
        with open(target + ".tmp", "w") as out:
            json.dump(found, out)
        os.replace(target + ".tmp", target)

    if os.environ.get("STATUSPAGE_CENSUS"):
        signal.signal(signal.SIGUSR1, _census)
    """
)


def labelled(namespace: str) -> int:
    """How many windows of a namespace carry the settled label."""
    api = client.CustomObjectsApi()
    total, token = 0, None
    while True:
        kwargs: dict[str, Any] = {"limit": 2000, "label_selector": SETTLED_LABEL}
        if token:
            kwargs["_continue"] = token
        page = cast(
            dict[str, Any],
            api.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "maintenancewindows", **kwargs
            ),
        )
        total += len(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            return total


def sweeps(operator: OperatorProcess) -> float:
    """The operator's sweeps so far: the first follows the end of kopf's first listing."""
    with urllib.request.urlopen(operator.metrics_url, timeout=10) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("statuspage_sweeps_total{")
    )


def settle(operator: OperatorProcess, namespace: str, windows: int, quiet: float) -> float:
    """Wait until every window has its phase, kopf's first listing is over (the first sweep),
    and the labelled count held still for `quiet` seconds."""
    started = time.monotonic()
    wait_until(lambda: count_with_phase(namespace) >= windows, 900, interval=2)
    wait_until(lambda: sweeps(operator) >= 1, 900, interval=2)
    last, since = -1, time.monotonic()
    while time.monotonic() - since < quiet:
        now = labelled(namespace)
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(2)
    return time.monotonic() - started


def census(operator: OperatorProcess, path: Path) -> dict[str, Any] | None:
    """Ask the operator for its census (SIGUSR1); None if it gave none within a minute."""
    assert operator.process is not None
    path.unlink(missing_ok=True)
    operator.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists():
            return cast(dict[str, Any], json.loads(path.read_text()))
        time.sleep(0.5)
    return None


def print_census(found: dict[str, Any] | None) -> None:
    """The census, a few lines."""
    if found is None:
        report("  census", "none (no answer)")
        return
    for memories in found["memories"]:
        if not memories["objects"]:
            continue
        kinds = ",".join(f"{k}:{n}" for k, n in sorted(memories["kinds"].items()))
        report(
            f"  kopf memories: objects / bodies held ({kinds})",
            f"{memories['objects']} / {memories['bodies']}",
        )
        if memories["bodies"]:
            report(
                "    JSON bytes per body held (managedFields)",
                f"{memories['json_bytes_per_body']} ({memories['managed_fields_bytes_per_body']})",
            )
    report("  operator view", json.dumps(found["view"]))
    report("  most common objects", ", ".join(f"{t}:{n}" for t, n in found["types"][:10]))
    for site, size, count in found.get("tracemalloc", [])[:15]:
        report(f"    {site[-56:]}", f"{size / 1e6:.1f} MB", f"{count} blocks")
    if "tracemalloc_total" in found:
        report("  traced total", f"{found['tracemalloc_total'] / 1e6:.1f} MB")


def measure(
    label: str, operator: OperatorProcess, args: argparse.Namespace, path: Path, namespace: str
) -> None:
    """Settle, then RSS, VmHWM, labelled windows, kopf's finalizers, and the census."""
    assert operator.process is not None
    took = settle(operator, namespace, args.windows, args.quiet)
    report(f"{label}: every window has its phase, kopf listed all, labels still", f"{took:.0f} s")
    time.sleep(args.settle)
    rss, peak = rss_mb(operator.process.pid)
    report(f"{label}: operator RSS", f"{rss:.0f} MB", "(target <= 268 MB = 256 MiB)")
    report(f"{label}: operator peak RSS (VmHWM)", f"{peak:.0f} MB")
    finalized, _ = windows_holding(namespace)
    report(
        f"{label}: windows labelled / Completed / with finalizer",
        f"{labelled(namespace)} / {count_phase(namespace, 'Completed')} / {finalized}",
    )
    if args.census:
        print_census(census(operator, path))


def life(kube: Any, operator: OperatorProcess, count: int) -> None:
    """Writes per window over its life: N windows start 30 s ahead and end 20 s later."""
    comps = make_namespace(kube, "life", 1, 100)[0]
    before = apiserver_counters(kube)
    start = datetime.now(UTC) + timedelta(seconds=max(30, count // 25 + 15))
    end = start + timedelta(seconds=20)
    create_all(
        "life",
        "maintenancewindows",
        [window(f"l{i}", "p0", [comps[i % 100]], start, end) for i in range(count)],
    )
    wait_until(
        lambda: count_phase("life", "Completed") >= count,
        (end - datetime.now(UTC)).total_seconds() + 120,
    )
    after = apiserver_counters(kube)
    for _ in range(30):
        time.sleep(2)
        settled, after = after, apiserver_counters(kube)
        if (
            all(
                delta(settled, after, verb, "maintenancewindows", sub) == 0
                for verb, sub in (("PATCH", ""), ("PATCH", "status"))
            )
            and labelled("life") >= count
        ):
            break
    for sub, what in (("", "metadata"), ("status", "status")):
        done = delta(before, after, "PATCH", "maintenancewindows", sub, code="200")
        # Refused: kopf's JSON patches guarded by resourceVersion (422), or a conflict (409).
        refused = sum(
            delta(before, after, "PATCH", "maintenancewindows", sub, code=code)
            for code in ("409", "422")
        )
        report(
            f"life: {what} patches per window applied / refused (conflict)",
            f"{done / count:.2f} / {refused / count:.2f}",
            "(target <= 3)" if sub else "(target <= 2)",
        )
    finalized, annotated = windows_holding("life")
    report(
        "life: labelled / with finalizer / with an annotation of ours",
        f"{labelled('life')} / {finalized} / {annotated}",
    )
    assert operator.process is not None
    rss, _ = rss_mb(operator.process.pid)
    report("life: operator RSS after", f"{rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--to-come", type=int, default=1_000)
    parser.add_argument("--components", type=int, default=1_000)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before reading RSS")
    parser.add_argument("--quiet", type=float, default=10.0, help="labels still this long")
    parser.add_argument("--no-restart", action="store_true", help="skip the restart phase")
    parser.add_argument("--life", type=int, default=0, help="windows for the writes-per-life run")
    parser.add_argument("--census", action="store_true", help="count what the operator holds")
    parser.add_argument("--tracemalloc", action="store_true", help="with --census: top sites")
    parser.add_argument(
        "--first-operator", help="the statuspage-operator executable of the cold phase"
    )
    args = parser.parse_args()
    workdir = Path(os.environ.get("BENCH_DIR", "/tmp")) / f"statuspage-memory-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "census.json"
    if args.census:
        site = Path(tempfile.mkdtemp(prefix="census-", dir=workdir))
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p
        )
        os.environ["STATUSPAGE_CENSUS"] = str(path)
        if args.tracemalloc:
            os.environ["PYTHONTRACEMALLOC"] = "1"

    with LocalCluster(build_binaries()) as cluster:
        kube = prepare(cluster)
        server = json.loads(kube.run("version", "-o", "json").stdout)["serverVersion"]
        print(f"# {os.cpu_count()} cores; kube-apiserver {server['gitVersion']}; {workdir}")
        populate(kube, args)
        operator = OperatorProcess(kube, workdir / "operator.log")
        ours = conftest.OPERATOR
        if args.first_operator:
            conftest.OPERATOR = args.first_operator
        operator.start()
        conftest.OPERATOR = ours
        try:
            measure("cold", operator, args, path, "bench")
            if not args.no_restart:
                operator.stop()
                operator.start()
                measure("restart", operator, args, path, "bench")
            if args.life:
                life(kube, operator, args.life)
        finally:
            operator.stop()


if __name__ == "__main__":
    main()
