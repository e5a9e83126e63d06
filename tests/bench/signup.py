"""statuspage-signup's sign-up POST under load, against a real local control plane and real SMTP.

    PYTHONPATH=operator:tests .venv/bin/python tests/bench/signup.py [--requests 300]

One page offering the form (maxPending 1000); `--requests` sign-ups at concurrency 4, then as
many at concurrency 20, each with its own address and client (X-Forwarded-For through the trusted
loopback proxy, so no per-client limit is met): the POST's latency p50 / p90 / p99 as a client
sees it, the answers by status, the confirmation mails that arrived (aiosmtpd), the ledger's
conflicts seen as retries (the page's one Secret is written by every sign-up), and the process's
CPU seconds. statuspage-signup runs under its own ServiceAccount, with the real ledger. The
machine's cores are shared by etcd, the API server, the SMTP server, the process and this client.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import yaml  # noqa: E402

from bench.run import cpu_seconds, prepare  # noqa: E402
from controlplane.cluster import LocalCluster, build_binaries  # noqa: E402
from e2e.kube import Kube, wait_for  # noqa: E402
from e2e.objects import make_component, make_page, make_policy  # noqa: E402
from e2e.signup_process import SignupProcess, install_signup, request  # noqa: E402
from smtp_server import SmtpServer  # noqa: E402

NAMESPACE = "bench-signup"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def report(name: str, value: str, target: str = "") -> None:
    """One figure a line."""
    print(f"{name:<58} {value:>14}  {target}", flush=True)


def load(process: SignupProcess, count: int, concurrency: int, tag: str) -> int:
    """`count` sign-ups at `concurrency`; prints the figures; returns how many were taken."""

    def one(i: int) -> tuple[float, int]:
        started = time.perf_counter()
        client = f"10.{concurrency}.{i // 250}.{i % 250 + 1}"
        status = process.subscribe(NAMESPACE, "example", f"{tag}-{i}@example.org", client)[0]
        return time.perf_counter() - started, status

    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        results = list(pool.map(one, range(count)))
        elapsed = time.perf_counter() - started
    latencies = [latency * 1000 for latency, _ in results]
    statuses = Counter(status for _, status in results)
    label = f"sign-up POST, concurrency {concurrency}"
    report(
        f"{label}: p50 / p90 / p99 (ms)",
        " / ".join(f"{percentile(latencies, q):.0f}" for q in (50, 90, 99)),
    )
    report(f"{label}: sign-ups a second", f"{count / elapsed:.1f}")
    report(f"{label}: answers", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    return statuses[200]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="sign-ups per concurrency")
    args = parser.parse_args()
    with (
        LocalCluster(build_binaries()) as cluster,
        tempfile.TemporaryDirectory() as tmp,
        SmtpServer() as smtp,
    ):
        work = Path(tmp)
        kube: Kube = prepare(cluster)
        installed = install_signup(kube, smtp.url, work)
        kube.run("create", "namespace", NAMESPACE)
        policy = make_policy("bench-signup", [NAMESPACE])
        kube.run("apply", "-f", "-", stdin=yaml.safe_dump(policy))
        subscriptions = {"byEmail": True, "maxPending": 1000}
        kube.apply(
            NAMESPACE,
            make_page(visibility="Public", subscriptions=subscriptions),
            *(make_component(f"svc-{i}") for i in range(10)),
        )
        process = SignupProcess(installed.kubeconfig, work / "signup.log")
        form = f"{process.base}/subscribe/{NAMESPACE}/example"
        wait_for(lambda: request(form)[0] == 200, 30, what="the form offered")
        pid = process.process.pid
        cpu = cpu_seconds(pid)
        try:
            taken = sum(load(process, args.requests, c, f"c{c}") for c in (4, 20))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                arrived = len(smtp.received)
                time.sleep(1)
                if len(smtp.received) == arrived:
                    break
            report("confirmation mails arrived", f"{len(smtp.received):,}", f"of {taken} taken")
            report("statuspage-signup CPU (s)", f"{cpu_seconds(pid) - cpu:.1f}")
        finally:
            process.stop()


if __name__ == "__main__":
    main()
