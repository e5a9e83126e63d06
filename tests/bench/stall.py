"""Recovery after the API server stalls (issue 21, item 5), against a real local control plane.

kube-apiserver is stopped (SIGSTOP) for `--stall` seconds (60) while 10 windows start and 10 more
start and end inside the stall; then it resumes (SIGCONT). "Settled" is the time from SIGCONT until
everything is right as read from the API server, polled every 50 ms: every window's phase (10
InProgress, 10 Completed), every component's status (UnderMaintenance with its running window
in activeMaintenanceWindows, or Operational with none) and the page (indicator Maintenance).
Two modes: one standalone operator; two replicas with `--leader-elect` and the Lease's default
durations (the shipped configuration). Three stalls per mode, each in a namespace of its own;
prints median and range.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kubernetes import client, config  # noqa: E402

from controlplane.cluster import LocalCluster, build_binaries  # noqa: E402
from e2e.conftest import OperatorProcess, install  # noqa: E402
from e2e.kube import Kube, wait_for  # noqa: E402
from e2e.objects import make_component, make_page, make_window  # noqa: E402

GROUP, VERSION = "statuspage.dev", "v1alpha1"
RUNNING = 10  # windows that start inside the stall and are still on after it
PASSING = 10  # windows that start and end inside the stall
POLL = 0.05


def custom_objects(kubeconfig: Path) -> client.CustomObjectsApi:
    """Our objects as the admin of `kubeconfig`, without touching the client's global config."""
    settings = client.Configuration()
    config.load_kube_config(
        config_file=str(kubeconfig), context="admin", client_configuration=settings
    )
    return client.CustomObjectsApi(client.ApiClient(settings))


def apiserver_pid(cluster: LocalCluster) -> int:
    """The kube-apiserver process of the local control plane."""
    return cluster._processes["kube-apiserver"].pid


def scenario(t0: datetime, stall: float) -> tuple[list[dict[str, Any]], set[str], set[str]]:
    """The page, one component per window, and the windows placed inside a stall from `t0`;
    returns (objects, names of the windows running after it, names of those over by then)."""
    objects: list[dict[str, Any]] = [make_page()]
    running, passing = set(), set()
    for i in range(RUNNING):
        name = f"run-{i}"
        start = t0 + timedelta(seconds=stall * (0.10 + 0.03 * i))
        objects += [
            make_component(f"c-{name}"),
            make_window(name, start, t0 + timedelta(seconds=stall + 600), [f"c-{name}"]),
        ]
        running.add(name)
    for i in range(PASSING):
        name = f"pass-{i}"
        start = t0 + timedelta(seconds=stall * (0.45 + 0.02 * i))
        end = start + timedelta(seconds=stall * 0.3)
        objects += [make_component(f"c-{name}"), make_window(name, start, end, [f"c-{name}"])]
        passing.add(name)
    return objects, running, passing


def wrong(
    api: client.CustomObjectsApi, namespace: str, running: set[str], passing: set[str]
) -> str:
    """What is not yet right after the stall ('' when everything is)."""

    def listed(plural: str) -> dict[str, dict[str, Any]]:
        body: Any = api.list_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, _request_timeout=5
        )
        return {item["metadata"]["name"]: item.get("status") or {} for item in body["items"]}

    windows = listed("maintenancewindows")
    for name in running | passing:
        want = "InProgress" if name in running else "Completed"
        if windows.get(name, {}).get("phase") != want:
            return f"window {name}: {windows.get(name, {}).get('phase')}"
    components = listed("components")
    for name in running | passing:
        wanted = ("UnderMaintenance", [name]) if name in running else ("Operational", [])
        status = components.get(f"c-{name}", {})
        if (status.get("status"), status.get("activeMaintenanceWindows") or []) != wanted:
            return f"component c-{name}: {status.get('status')}"
    page = listed("statuspages").get("example", {})
    if page.get("indicator") != "Maintenance":
        return f"page indicator {page.get('indicator')}"
    return ""


def scheduled(api: client.CustomObjectsApi, namespace: str, names: set[str]) -> bool:
    """Whether every window has been seen and is Scheduled (before the stall)."""
    body: Any = api.list_namespaced_custom_object(GROUP, VERSION, namespace, "maintenancewindows")
    phases = {i["metadata"]["name"]: (i.get("status") or {}).get("phase") for i in body["items"]}
    return all(phases.get(name) == "Scheduled" for name in names)


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """SIGSTOP the process; SIGCONT it on the way out, whatever happens."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def stall_once(
    admin: Kube,
    api: client.CustomObjectsApi,
    pid: int,
    namespace: str,
    stall: float,
    on_resumed: Callable[[], None] = lambda: None,
) -> float:
    """One stall in a fresh namespace; the seconds from SIGCONT until everything is right
    (`on_resumed` is called at every poll after it)."""
    admin.run("create", "namespace", namespace)
    t0 = datetime.now(UTC) + timedelta(seconds=6)
    objects, running, passing = scenario(t0, stall)
    admin.apply(namespace, *objects)
    wait_for(lambda: scheduled(api, namespace, running | passing), 30, 0.2, "windows Scheduled")
    time.sleep(max(0.0, (t0 - datetime.now(UTC)).total_seconds()))
    with stopped(pid):
        time.sleep(stall)
    resumed = time.monotonic()
    last = ""
    while time.monotonic() - resumed < 120:
        on_resumed()
        try:
            last = wrong(api, namespace, running, passing)
        except Exception as error:  # the API server is waking up
            last = str(error)
        if not last:
            return time.monotonic() - resumed
        time.sleep(POLL)
    raise TimeoutError(f"not settled 120 s after the stall: {last}")


def lease_role(admin: Kube, namespace: str) -> None:
    """Let the operator's user hold the Lease in `namespace` (as manifests/ do)."""
    admin.run("create", "namespace", namespace)
    verbs = "--verb=get,create,update"
    admin.run("create", "role", "lease", "-n", namespace, verbs, "--resource=leases")
    admin.run(
        "create",
        "rolebinding",
        "lease",
        "-n",
        namespace,
        "--role=lease",
        "--user=statuspage-operator",
    )


def elections(replicas: list[OperatorProcess]) -> int:
    """How many times a replica has become the leader so far."""
    return sum(r.log.read_text(errors="replace").count("became the leader") for r in replicas)


def run_mode(
    cluster: LocalCluster, admin: Kube, api: client.CustomObjectsApi, mode: str, args: Any
) -> list[float]:
    """Start the operator(s) of the mode, stall `args.stalls` times, stop them."""
    logs = Path(tempfile.mkdtemp(prefix=f"stall-{mode}-"))
    replicas = []
    count = 2 if mode == "lease" else 1
    if mode == "lease":
        lease_role(admin, "lease-home")
    for index in range(count):
        replica = OperatorProcess(admin, logs / f"operator-{index}.log")
        if mode == "lease":
            replica.extra_args = ["--leader-elect", "--leader-election-namespace=lease-home"]
        replicas.append(replica)
    figures = []
    try:
        for replica in replicas:
            replica.start()
        if mode == "lease":
            wait_for(
                lambda: any("became the leader" in r.log.read_text() for r in replicas),
                30,
                what="a leader",
            )

        def restart() -> None:
            # A replica that exited is started again at once, as its Deployment's kubelet would
            # (sooner, even: no restart back-off).
            for replica in replicas:
                if replica.process is not None and replica.process.poll() is not None:
                    print(f"  {replica.log.name}: exited; starting it again", flush=True)
                    replica.start()

        for n in range(args.stalls):
            restart()
            namespace = f"{mode}-{n}"
            before = elections(replicas)
            settled = stall_once(admin, api, apiserver_pid(cluster), namespace, args.stall, restart)
            figures.append(settled)
            took = " (a standby took over: cold start)" if elections(replicas) > before else ""
            print(
                f"  {mode} stall {n + 1}: settled {settled:.2f} s after SIGCONT{took}", flush=True
            )
    finally:
        for replica in replicas:
            replica.stop()
        print(f"  logs: {logs}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stall", type=float, default=60.0, help="seconds stopped (60)")
    parser.add_argument("--stalls", type=int, default=3, help="stalls per mode (3)")
    parser.add_argument("--mode", choices=["single", "lease", "both"], default="both")
    args = parser.parse_args()
    modes = ["single", "lease"] if args.mode == "both" else [args.mode]
    with LocalCluster(build_binaries()) as cluster:
        admin = install(Kube(cluster.kubeconfig))
        api = custom_objects(cluster.kubeconfig)
        results = {mode: run_mode(cluster, admin, api, mode, args) for mode in modes}
    print(f"\nsettled after a {args.stall:.0f} s API server stall ({args.stalls} stalls per mode)")
    for mode, figures in results.items():
        label = "one operator" if mode == "single" else "two replicas + Lease"
        print(
            f"  {label:22s} median {statistics.median(figures):5.2f} s"
            f"  range {min(figures):.2f}-{max(figures):.2f} s"
        )


if __name__ == "__main__":
    main()
