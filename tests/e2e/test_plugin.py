"""`kubectl statuspage` against the real control plane, with the operator running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from e2e.kube import KUBECTL, Kube, component, wait_for
from e2e.objects import in_seconds, make_component, make_incident, make_page, make_window, stamp

BIN = Path(sys.executable).parent
PLUGIN = str(BIN / "kubectl-statuspage")

pytestmark = pytest.mark.usefixtures("operator")


def env(kubeconfig: Path) -> dict[str, str]:
    """The plugin's environment: the kubeconfig, and the venv first on PATH for kubectl."""
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def plugin(
    kube: Kube, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the console script `kubectl-statuspage`."""
    return subprocess.run(
        [PLUGIN, *args],
        env=env(kubeconfig or kube.kubeconfig),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def kubectl_plugin(kube: Kube, *args: str) -> subprocess.CompletedProcess[str]:
    """Run it as users do, `kubectl statuspage ...` (kubectl finds it on PATH)."""
    return subprocess.run(
        [KUBECTL, "statuspage", *args],
        env=env(kube.kubeconfig),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a run that must succeed."""
    assert result.returncode == 0, result.stderr
    return result.stdout


def incident(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """An incident's status."""
    return kube.status("si", name, namespace)


def investigating(name: str, **spec: Any) -> dict[str, Any]:
    """An incident on api, Major, with one Investigating update."""
    return make_incident(
        name,
        [{"name": "api"}],
        updates=[{"status": "Investigating", "message": "We are looking into it."}],
        impact="Major",
        **spec,
    )


@pytest.fixture
def page(kube: Kube, namespace: str) -> str:
    """A page in Europe/Berlin with two components, api and db."""
    kube.apply(
        namespace,
        make_page(timeZone="Europe/Berlin"),
        make_component("api", displayName="Public API", group="Core", position=1),
        make_component("db", displayName="Database", group="Core", position=2),
    )
    wait_for(lambda: component(kube, namespace, "db") == "Operational", what="components ready")
    return "example"


@pytest.fixture
def outage(kube: Kube, namespace: str, page: str) -> str:
    """An open incident that puts api in PartialOutage."""
    kube.apply(namespace, investigating("outage"))
    wait_for(lambda: component(kube, namespace, "api") == "PartialOutage", 10, what="api down")
    return "outage"


def test_incident_degrades_its_component(kube: Kube, namespace: str, outage: str) -> None:
    """An open Major incident puts its component in PartialOutage; the other stays up."""
    assert component(kube, namespace, "db") == "Operational"
    assert kube.status("comp", "api", namespace)["unresolvedIncidents"] == [outage]


def test_update_changes_phase_and_adds_to_the_timeline(
    kube: Kube, namespace: str, outage: str
) -> None:
    """`incident update` appends an update; the operator moves the phase and stamps it."""
    args = ("incident", "update", outage, "--status", "monitoring", "--message", "Fix deployed.")
    assert (
        ok(plugin(kube, *args, "-n", namespace)) == f"statusincident/{outage} updated: Monitoring\n"
    )
    status = wait_for(
        lambda: (s := incident(kube, namespace, outage)).get("phase") == "Monitoring" and s, 10
    )
    assert [e["status"] for e in status["timeline"]] == ["Investigating", "Monitoring"]
    assert status["timeline"][-1]["message"] == "Fix deployed."
    assert component(kube, namespace, "api") == "PartialOutage"


def test_resolve_restores_the_component(kube: Kube, namespace: str, outage: str) -> None:
    """`kubectl statuspage incident resolve` makes the component Operational, sets resolvedAt."""
    result = kubectl_plugin(kube, "incident", "resolve", outage, "-n", namespace)
    assert ok(result) == f"statusincident/{outage} resolved\n"
    wait_for(lambda: component(kube, namespace, "api") == "Operational", 10, what="api back")
    status = incident(kube, namespace, outage)
    assert status["phase"] == "Resolved"
    assert status["resolvedAt"]
    assert status["timeline"][-1]["message"] == "This incident has been resolved."


def test_a_later_update_reopens(kube: Kube, namespace: str, outage: str) -> None:
    """An update after Resolved reopens the incident and clears resolvedAt."""
    ok(plugin(kube, "-n", namespace, "incident", "resolve", outage, "--message", "Fixed."))
    wait_for(lambda: incident(kube, namespace, outage).get("resolvedAt"), 10, what="resolved")
    args = ("incident", "update", outage, "--status", "Investigating", "--message", "It is back.")
    ok(plugin(kube, "-n", namespace, *args))
    wait_for(lambda: component(kube, namespace, "api") == "PartialOutage", 10, what="api down")
    status = incident(kube, namespace, outage)
    assert (status["phase"], status.get("resolvedAt")) == ("Investigating", None)


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param('[{"op":"replace","path":"/spec/updates/0/message","value":"x"}]', id="edit"),
        pytest.param('[{"op":"remove","path":"/spec/updates/0"}]', id="remove"),
    ],
)
def test_updates_are_append_only(kube: Kube, namespace: str, outage: str, patch: str) -> None:
    """The API server rejects editing or removing an existing update."""
    result = kube.run(
        "patch", "si", outage, "-n", namespace, "--type=json", "-p", patch, check=False
    )
    assert result.returncode != 0
    assert "append-only" in result.stderr


def test_cancel_ends_a_window_in_progress(kube: Kube, namespace: str, page: str) -> None:
    """`maintenance cancel` makes a window in progress Cancelled and restores its component."""
    kube.apply(namespace, make_window("upgrade", in_seconds(-60), in_seconds(3600), ["db"]))
    wait_for(lambda: component(kube, namespace, "db") == "UnderMaintenance", 10, what="db down")
    result = plugin(kube, "maintenance", "cancel", "upgrade", "-n", namespace)
    assert ok(result) == "maintenancewindow/upgrade cancelled\n"
    wait_for(lambda: kube.status("mw", "upgrade", namespace).get("phase") == "Cancelled", 10)
    wait_for(lambda: component(kube, namespace, "db") == "Operational", 10, what="db back")


def test_status_shows_the_page(kube: Kube, namespace: str, outage: str) -> None:
    """`status` shows the operator's rollup, the components by group and the open incident."""
    kube.apply(namespace, make_window("later", in_seconds(86400), in_seconds(90000), ["db"]))
    wait_for(lambda: kube.status("mw", "later", namespace).get("phase") == "Scheduled", 10)
    description = wait_for(
        lambda: kube.status("sp", "example", namespace).get("description") == "Minor Service Outage"
    )
    assert description
    text = ok(kubectl_plugin(kube, "status", "example", "-n", namespace))
    lines = text.splitlines()
    assert lines[:2] == ["Example", "Status: Minor Service Outage (indicator: Minor)"]
    assert "  Core" in lines
    # Each component with its 90-day uptime (the component is seconds old: all of it counts).
    assert re.search(r"^    Public API  Partial Outage +\d+\.\d\d% uptime \(90 days\)$", text, re.M)
    assert re.search(r"^    Database    Operational +100\.00% uptime \(90 days\)$", text, re.M)
    assert f"  Incident {outage} (statusincident/{outage})" in lines
    assert "    Investigating, impact Major, since" in text
    assert "Latest update: Investigating at" in text
    upcoming = lines[lines.index("Upcoming maintenance:") + 1 :]
    assert upcoming[0] == "  Maintenance later (maintenancewindow/later)"
    assert "CET" in upcoming[1] or "CEST" in upcoming[1]


def test_status_at_a_time_to_come(kube: Kube, namespace: str, page: str) -> None:
    """`status --at`: the window planned for then is in progress and its component with it."""
    start = in_seconds(2 * 86400).replace(microsecond=0)
    kube.apply(
        namespace,
        make_window("upgrade", start, start + timedelta(hours=2), ["db"], title="DB upgrade"),
    )
    wait_for(lambda: kube.status("mw", "upgrade", namespace).get("phase") == "Scheduled", 10)
    at = stamp(start + timedelta(hours=1))
    text = ok(kubectl_plugin(kube, "status", "example", "--at", at, "-n", namespace))
    lines = text.splitlines()
    assert lines[1] == "Status: Service Under Maintenance (indicator: Maintenance)"
    assert lines[2].startswith("At ")
    assert lines[3].startswith("Planned: maintenance as scheduled")
    assert re.search(r"^    Database +Under Maintenance$", text, re.M), text
    running = text.split("Maintenance in progress:")[1].split("Upcoming maintenance:")[0]
    assert "DB upgrade (maintenancewindow/upgrade)" in running
    # Now, the same page is operational and the window is to come.
    now = ok(kubectl_plugin(kube, "status", "example", "-n", namespace))
    assert "All Systems Operational" in now.splitlines()[1]


def test_the_plugin_lists_a_page_with_a_field_selector(
    kube: Kube, namespace: str, page: str
) -> None:
    """The server sends only the page's objects: spec.page is a selectable field."""
    from statuspage_operator.api.names import Kind
    from statuspage_operator.cli.client import Api, connect

    kube.apply(
        namespace,
        make_page("other"),
        make_component("elsewhere", page="other"),
        make_window("there", in_seconds(3600), in_seconds(7200), ["elsewhere"], page="other"),
    )
    api = Api(connect(str(kube.kubeconfig), "admin"), namespace)
    assert sorted(c["metadata"]["name"] for c in api.list(Kind.COMPONENT, page="example")) == [
        "api",
        "db",
    ]
    assert [w["metadata"]["name"] for w in api.list(Kind.WINDOW, page="other")] == ["there"]
    assert len(api.list(Kind.COMPONENT)) == 3


def test_history_shows_the_last_days(kube: Kube, namespace: str, page: str) -> None:
    """`history --days 7` lists a recent resolution and a completed window, not an old one."""
    long_ago = in_seconds(-31 * 86400)
    old_updates = [
        {"status": "Investigating", "message": "Down.", "at": stamp(long_ago)},
        {"status": "Resolved", "message": "Up.", "at": stamp(long_ago + timedelta(days=1))},
    ]
    kube.apply(
        namespace,
        investigating("recent"),
        make_incident("old", [{"name": "db"}], updates=old_updates),
        make_incident("open", [{"name": "db"}], updates=[old_updates[0]]),
        make_window("done", in_seconds(-7200), in_seconds(-3600), ["db"]),
    )
    wait_for(lambda: incident(kube, namespace, "old").get("resolvedAt"), 10, what="old resolved")
    ok(plugin(kube, "incident", "resolve", "recent", "-n", namespace))
    wait_for(lambda: incident(kube, namespace, "recent").get("resolvedAt"), 10, what="resolved")
    wait_for(lambda: kube.status("mw", "done", namespace).get("phase") == "Completed", 10)
    text = ok(plugin(kube, "history", "example", "--days", "7", "-n", namespace))
    assert "History of the last 7 days: since" in text
    unresolved, past = text.split("Resolved incidents and completed or cancelled maintenance")
    assert "statusincident/open" in unresolved
    assert "Resolved   statusincident/recent" in past
    assert "Completed  maintenancewindow/done" in past
    assert "statusincident/old" not in text
    assert past.index("statusincident/recent") < past.index("maintenancewindow/done")


def test_missing_incident_exits_1(kube: Kube, namespace: str) -> None:
    """A missing object is one line on stderr and exit code 1."""
    result = plugin(kube, "incident", "resolve", "nope", "-n", namespace)
    assert result.returncode == 1
    assert result.stderr == f'error: statusincident "nope" not found in namespace "{namespace}"\n'


def test_bad_status_exits_2(kube: Kube, namespace: str) -> None:
    """An unknown --status is a usage error naming the valid values, exit code 2."""
    result = plugin(kube, "incident", "update", "x", "--status", "Fixed", "--message", "m")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "Investigating, Identified, Monitoring, Resolved" in result.stderr


def test_unreachable_cluster_exits_3(kube: Kube, tmp_path: Path) -> None:
    """A cluster that refuses connections is one line and exit code 3."""
    lines = kube.kubeconfig.read_text().splitlines()
    dead = tmp_path / "kubeconfig"
    dead.write_text(
        "\n".join(
            f"{line.split('server:')[0]}server: https://127.0.0.1:1" if "server:" in line else line
            for line in lines
        )
    )
    result = plugin(kube, "status", "example", kubeconfig=dead)
    assert result.returncode == 3
    assert len(result.stderr.splitlines()) == 1
    assert "cannot reach the cluster at https://127.0.0.1:1" in result.stderr


def test_namespace_option_and_context_namespace(
    kube: Kube, namespace: str, outage: str, tmp_path: Path
) -> None:
    """-n picks the namespace; without it, the kubeconfig context's namespace is used."""
    missing = plugin(kube, "incident", "resolve", outage, "-n", "default")
    assert missing.returncode == 1
    assert 'not found in namespace "default"' in missing.stderr
    scoped = tmp_path / "kubeconfig"
    scoped.write_text(kube.kubeconfig.read_text())
    kube.run("config", f"--kubeconfig={scoped}", "set-context", "admin", f"--namespace={namespace}")
    assert ok(plugin(kube, "incident", "resolve", outage, kubeconfig=scoped)).endswith("resolved\n")


def test_concurrent_updates_both_land(kube: Kube, namespace: str, outage: str) -> None:
    """Two `incident update` runs at the same time both append (atomic append)."""
    update = [PLUGIN, "-n", namespace, "incident", "update", outage, "--status", "Identified"]
    runs = [
        subprocess.Popen(
            [*update, "--message", f"Update {n}."],
            env=env(kube.kubeconfig),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == 0, stderr
    found = kube.get("si", outage, namespace)
    assert found is not None
    messages = [u["message"] for u in found["spec"]["updates"]]
    assert sorted(messages[1:]) == ["Update 1.", "Update 2."]
    wait_for(lambda: len(incident(kube, namespace, outage).get("timeline") or ()) == 3, 10)
