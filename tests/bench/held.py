"""`make bench`: 10,000 windows all to come (a daemon each), and a restart after they all ended.

Reported figures, no targets: the operator's RSS when every window of 10,000 is to come (kopf
runs a daemon for each), and, after they all completed while the operator was down, the time
until all are Completed without our finalizer, and the RSS after that.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.run import (  # noqa: E402
    count_phase,
    create_all,
    make_namespace,
    prepare,
    report,
    rss_mb,
    wait_until,
    window,
    windows_holding,
)
from controlplane.cluster import LocalCluster, build_binaries  # noqa: E402
from e2e.conftest import OperatorProcess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument(
        "--lead", type=float, default=600.0, help="seconds from creation to the shared start"
    )
    args = parser.parse_args()
    workdir = Path(os.environ.get("BENCH_DIR", "/tmp")) / f"statuspage-held-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)

    with LocalCluster(build_binaries()) as cluster:
        kube = prepare(cluster)
        future = make_namespace(kube, "future", 1, 100)[0]
        # Far enough ahead for a slow machine to schedule all of them first (146 s to list 10,000
        # windows measured on one; 70 s on another).
        begin = datetime.now(UTC) + timedelta(seconds=args.lead)
        create_all(
            "future",
            "maintenancewindows",
            [
                window(f"f{i}", "p0", [future[i % 100]], begin, begin + timedelta(seconds=10))
                for i in range(args.windows)
            ],
        )
        scoped = OperatorProcess(kube, workdir / "future.log")
        scoped.extra_args = ["--namespace=future"]
        scoped.start()
        try:
            assert scoped.process is not None
            took = wait_until(
                lambda: count_phase("future", "Scheduled") >= args.windows, args.lead - 40
            )
            report(f"{args.windows} windows to come: all Scheduled after start", f"{took:.1f} s")
            time.sleep(5)
            rss, peak = rss_mb(scoped.process.pid)
            report(
                f"operator RSS, {args.windows} windows all to come (a daemon each)",
                f"{rss:.0f} MB",
            )
            report("  peak RSS (VmHWM)", f"{peak:.0f} MB")
        finally:
            scoped.stop()
        time.sleep(max(0.0, (begin - datetime.now(UTC)).total_seconds() + 12))
        scoped.start()
        try:
            assert scoped.process is not None
            took = wait_until(
                lambda: (
                    count_phase("future", "Completed") >= args.windows
                    and windows_holding("future")[0] == 0
                ),
                600,
                interval=2,
            )
            report(
                f"restart: {args.windows} completed while down, all Completed, no finalizer",
                f"{took:.1f} s",
            )
            time.sleep(3)
            rss, peak = rss_mb(scoped.process.pid)
            report("operator RSS after that restart", f"{rss:.0f} MB")
            report("  peak RSS (VmHWM) since that restart", f"{peak:.0f} MB")
        finally:
            scoped.stop()


if __name__ == "__main__":
    main()
