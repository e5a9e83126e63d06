"""`make bench`: `kubectl statuspage status` on one page of a namespace holding many (issue #12).

The plugin lists a page's objects with a field selector (`spec.page=NAME`, the CRDs'
selectableFields), so the API server sends only that page's objects. This prints, for one page of
ten in a namespace of 10,000 windows, 1,000 components and 1,000 incidents (no operator running:
the API server's work is what is measured):
- the objects the plugin receives, with the selector and without it (what it did before);
- the time of `status` (its three lists and the rendering), median of 5 runs each way.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


from bench.run import create_all, make_namespace, prepare, report, window  # noqa: E402
from controlplane.cluster import LocalCluster, build_binaries  # noqa: E402
from statuspage_operator.api.names import Kind  # noqa: E402
from statuspage_operator.cli import commands  # noqa: E402
from statuspage_operator.cli.client import Api, connect  # noqa: E402

PAGES, WINDOWS, COMPONENTS, INCIDENTS, RUNS = 10, 10_000, 1_000, 1_000, 5


class Unselective(Api):
    """The plugin as it was: every object of the namespace, filtered here."""

    def list(self, kind: Kind, page: str | None = None) -> list[dict[str, Any]]:
        """Ignore the page: list the whole namespace."""
        return super().list(kind)


def incident(name: str, page: str, component: str) -> dict[str, Any]:
    """An open incident on one component."""
    return {
        "apiVersion": "statuspage.dev/v1alpha1",
        "kind": "StatusIncident",
        "metadata": {"name": name},
        "spec": {
            "page": page,
            "title": name,
            "components": [{"name": component}],
            "updates": [{"status": "Investigating", "message": "Looking."}],
        },
    }


def timed(api: Api) -> float:
    """Median seconds of `status p0` over RUNS runs."""
    took = []
    for _ in range(RUNS):
        started = time.monotonic()
        commands.status(api, "p0")
        took.append(time.monotonic() - started)
    return statistics.median(took)


def main() -> None:
    with LocalCluster(build_binaries()) as cluster:
        kube = prepare(cluster)
        components = make_namespace(kube, "many", PAGES, COMPONENTS // PAGES)
        start = datetime.now(UTC) + timedelta(days=1)
        create_all(
            "many",
            "maintenancewindows",
            [
                window(
                    f"w{i}",
                    f"p{i % PAGES}",
                    [components[i % PAGES][i % len(components[0])]],
                    start + timedelta(hours=i),
                    start + timedelta(hours=i, minutes=30),
                )
                for i in range(WINDOWS)
            ],
        )
        create_all(
            "many",
            "statusincidents",
            [
                incident(f"i{i}", f"p{i % PAGES}", components[i % PAGES][0])
                for i in range(INCIDENTS)
            ],
        )
        selective = Api(connect(str(cluster.kubeconfig), "admin"), "many")
        unselective = Unselective(connect(str(cluster.kubeconfig), "admin"), "many")
        kinds = (Kind.COMPONENT, Kind.INCIDENT, Kind.WINDOW)
        received = sum(len(selective.list(kind, page="p0")) for kind in kinds)
        everything = sum(len(unselective.list(kind, page="p0")) for kind in kinds)
        report("plugin status: objects received, field selector", f"{received:,}")
        report("plugin status: objects received, whole namespace (before)", f"{everything:,}")
        report("plugin status p0: median time, field selector", f"{timed(selective):.2f} s")
        report(
            "plugin status p0: median time, whole namespace (before)", f"{timed(unselective):.2f} s"
        )


if __name__ == "__main__":
    main()
