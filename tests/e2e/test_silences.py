"""Maintenance silences its alerts, against a real Alertmanager (v0.35): created, moved, expired,
made late when Alertmanager was down, and never two per occurrence, SIGKILL included.

The operator of the session steps aside; this module runs its own with `--alertmanager-url`. The
SIGKILL test uses the failpoint `STATUSPAGE_OPERATOR_FAILPOINT=silence-created`, read once by
control/silence_calls.py: the operator kills itself right after Alertmanager created a silence,
before the window's status records it.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alertmanager import Alertmanager, webhook_config
from e2e.conftest import OperatorProcess
from e2e.kube import Kube, wait_for
from e2e.objects import in_seconds, make_component, make_page, make_window

MATCHERS = ['team="db"', 'alertname=~"Disk.*"']
FAILPOINT = "STATUSPAGE_OPERATOR_FAILPOINT"


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    """A real Alertmanager (its receiver is never reached: these tests only silence)."""
    manager = Alertmanager.start(
        webhook_config("http://127.0.0.1:9/unused"), tmp_path_factory.mktemp("alertmanager")
    )
    yield manager
    manager.stop()


@pytest.fixture(scope="module")
def silencing(
    kube: Kube,
    operator: OperatorProcess,
    alertmanager: Alertmanager,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """An operator that silences in `alertmanager`; the session's steps aside meanwhile."""
    operator.stop()
    ours = OperatorProcess(kube, tmp_path_factory.mktemp("silencing") / "operator.log")
    ours.extra_args = [f"--alertmanager-url={alertmanager.url}"]
    ours.start()
    try:
        yield ours
    finally:
        ours.stop()
        print("\n--- silencing operator log (tail) ---\n" + ours.tail())
        operator.start()


def uid_of(kube: Kube, namespace: str, name: str) -> str:
    found = kube.get("mw", name, namespace)
    assert found is not None
    return str(found["metadata"]["uid"])


def of_window(alertmanager: Alertmanager, uid: str) -> list[dict[str, Any]]:
    """Every silence (any state) of the window with this uid."""
    return [s for s in alertmanager.silences() if f"window uid {uid}" in s["comment"]]


def live(silences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in silences if s["status"]["state"] != "expired"]


def condition(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    for found in kube.status("mw", name, namespace).get("conditions") or ():
        if found.get("type") == "Silenced":
            return dict(found)
    return {}


def recorded(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return dict(kube.status("mw", name, namespace).get("silence") or {})


@pytest.mark.usefixtures("silencing")
def test_silence_covers_the_occurrence_follows_a_reschedule_and_expires_on_cancel(
    kube: Kube, namespace: str, alertmanager: Alertmanager
) -> None:
    """A window's silence: exactly its occurrence; moved when rescheduled; expired on cancel."""
    kube.apply(namespace, make_page(), make_component("db"))
    start = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0)
    end = start + timedelta(hours=1)
    kube.apply(
        namespace,
        make_window("upgrade", start, end, ["db"], silenceMatchers=MATCHERS),
    )
    uid = uid_of(kube, namespace, "upgrade")
    record = wait_for(lambda: recorded(kube, namespace, "upgrade"), what="status.silence")
    [silence] = of_window(alertmanager, uid)
    assert record == {"id": silence["id"], "start": stamp(start), "end": stamp(end)} | {
        "matchers": MATCHERS
    }
    assert silence["status"]["state"] == "pending"
    assert (api_time(silence["startsAt"]), api_time(silence["endsAt"])) == (start, end)
    assert {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in silence["matchers"]} == {
        ("team", "db", False, True),
        ("alertname", "Disk.*", True, True),
    }
    assert silence["createdBy"] == "statuspage-operator"
    assert f"{namespace}/upgrade" in silence["comment"]
    assert f"occurrence {stamp(start)}" in silence["comment"]
    said = condition(kube, namespace, "upgrade")
    assert (said["status"], said["reason"]) == ("True", "Silenced")
    assert silence["id"] in said["message"]

    later = start + timedelta(hours=2)
    kube.apply(
        namespace,
        make_window("upgrade", later, later + timedelta(hours=1), ["db"], silenceMatchers=MATCHERS),
    )
    wait_for(
        lambda: recorded(kube, namespace, "upgrade").get("start") == stamp(later),
        what="the silence moved",
    )
    [moved] = live(of_window(alertmanager, uid))
    assert (api_time(moved["startsAt"]), api_time(moved["endsAt"])) == (
        later,
        later + timedelta(hours=1),
    )
    assert recorded(kube, namespace, "upgrade")["id"] == moved["id"]

    kube.run("patch", "mw", "upgrade", "-n", namespace, "--type=merge", "-p",
             '{"spec": {"cancelled": true}}')  # fmt: skip
    wait_for(lambda: not live(of_window(alertmanager, uid)), what="the silence expired")
    wait_for(
        lambda: condition(kube, namespace, "upgrade").get("reason") == "SilenceExpired",
        what="SilenceExpired",
    )
    assert kube.status("mw", "upgrade", namespace).get("silence") is None


@pytest.mark.usefixtures("silencing")
def test_deleted_window_s_silence_is_expired_and_the_page_s_matchers_are_the_default(
    kube: Kube, namespace: str, alertmanager: Alertmanager
) -> None:
    """No matchers of its own: the page's; deleting the window expires its silence."""
    kube.apply(
        namespace,
        make_page(alerts={"silenceMatchers": ['service="checkout"']}),
        make_component("db"),
    )
    kube.apply(namespace, make_window("gone", in_seconds(600), in_seconds(1200), ["db"]))
    uid = uid_of(kube, namespace, "gone")
    wait_for(lambda: recorded(kube, namespace, "gone"), what="status.silence")
    [silence] = of_window(alertmanager, uid)
    assert [(m["name"], m["value"]) for m in silence["matchers"]] == [("service", "checkout")]
    kube.run("delete", "mw", "gone", "-n", namespace, "--wait=true", "--timeout=20s")
    wait_for(lambda: not live(of_window(alertmanager, uid)), what="the silence expired")


def test_alertmanager_down_at_the_start_delays_the_silence_not_the_window(
    kube: Kube, namespace: str, alertmanager: Alertmanager, silencing: OperatorProcess
) -> None:
    """Alertmanager is down as the window starts: InProgress on time, the condition says why,
    the silence appears once Alertmanager is back."""
    kube.apply(namespace, make_page(), make_component("db"))
    alertmanager.stop()
    workdir = alertmanager.log.parent
    try:
        start, end = in_seconds(4), in_seconds(60)
        kube.apply(namespace, make_window("late", start, end, ["db"], silenceMatchers=MATCHERS))
        wait_for(
            lambda: condition(kube, namespace, "late").get("reason") == "AlertmanagerUnreachable",
            what="AlertmanagerUnreachable",
        )
        wait_for(
            lambda: kube.status("mw", "late", namespace).get("phase") == "InProgress",
            timeout=10,
            what="InProgress",
        )
        started = datetime.now(UTC)
        assert (started - start).total_seconds() < 2.0
    finally:
        restarted = Alertmanager.start(
            (workdir / "alertmanager.yml").read_text(), workdir, port=alertmanager.port
        )
        alertmanager.process, alertmanager.log = restarted.process, restarted.log
    uid = uid_of(kube, namespace, "late")
    record = wait_for(lambda: recorded(kube, namespace, "late"), timeout=40, what="the silence")
    [silence] = of_window(alertmanager, uid)
    assert silence["id"] == record["id"]
    assert silence["status"]["state"] == "active"
    assert api_time(silence["endsAt"]) == end.replace(microsecond=end.microsecond // 1000 * 1000)
    assert condition(kube, namespace, "late")["reason"] == "Silenced"


def test_sigkill_between_creation_and_record_leaves_one_silence(
    kube: Kube,
    namespace: str,
    alertmanager: Alertmanager,
    silencing: OperatorProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed after Alertmanager made the silence, before the status said so: adopted, not
    made twice."""
    kube.apply(namespace, make_page(), make_component("db"))
    silencing.stop()
    monkeypatch.setenv(FAILPOINT, "silence-created")
    silencing.start()
    monkeypatch.delenv(FAILPOINT)
    kube.apply(
        namespace,
        make_window("crash", in_seconds(600), in_seconds(1200), ["db"], silenceMatchers=MATCHERS),
    )
    process = silencing.process
    assert process is not None
    wait_for(lambda: process.poll() is not None, what="the operator to kill itself")
    assert process.returncode == -signal.SIGKILL
    uid = uid_of(kube, namespace, "crash")
    [made] = of_window(alertmanager, uid)
    assert recorded(kube, namespace, "crash") == {}
    silencing.process = None
    silencing.start()
    record = wait_for(lambda: recorded(kube, namespace, "crash"), what="the silence recorded")
    assert record["id"] == made["id"]
    time.sleep(1)
    assert [s["id"] for s in of_window(alertmanager, uid)] == [made["id"]]


@pytest.mark.usefixtures("silencing")
def test_recurring_window_has_one_silence_per_occurrence(
    kube: Kube, namespace: str, alertmanager: Alertmanager, tmp_path: Path
) -> None:
    """A series whose occurrence ends in a few seconds: its silence, then the next one's when it
    ends; one silence per occurrence, never two."""
    kube.apply(namespace, make_page(), make_component("db"))
    first = (datetime.now(UTC) - timedelta(seconds=52)).replace(microsecond=0)
    second = first + timedelta(minutes=5)
    kube.apply(
        namespace,
        make_window(
            "series",
            first,
            first + timedelta(minutes=1),
            ["db"],
            silenceMatchers=MATCHERS,
            recurrence={"rrule": "FREQ=MINUTELY;INTERVAL=5", "timeZone": "UTC"},
        ),
    )
    uid = uid_of(kube, namespace, "series")
    wait_for(
        lambda: recorded(kube, namespace, "series").get("start") == stamp(first),
        what="the current occurrence's silence",
    )
    wait_for(
        lambda: recorded(kube, namespace, "series").get("start") == stamp(second),
        timeout=20,
        what="the next occurrence's silence",
    )
    time.sleep(1)
    per_occurrence = Counter(
        s["comment"].rsplit("occurrence ", 1)[1] for s in of_window(alertmanager, uid)
    )
    assert per_occurrence == {stamp(first): 1, stamp(second): 1}
    [pending] = live(of_window(alertmanager, uid))
    assert api_time(pending["startsAt"]) == second
    assert recorded(kube, namespace, "series")["id"] == pending["id"]


@pytest.mark.usefixtures("silencing")
def test_matchers_that_do_not_parse_are_a_condition_and_nothing_else(
    kube: Kube, namespace: str, alertmanager: Alertmanager
) -> None:
    """An RE2 error: Silenced=False InvalidMatchers naming the field; the window is scheduled
    as ever, and Alertmanager gets nothing."""
    kube.apply(namespace, make_page(), make_component("db"))
    kube.apply(
        namespace,
        make_window(
            "typo", in_seconds(600), in_seconds(1200), ["db"], silenceMatchers=['team=~"(db"']
        ),
    )
    said = wait_for(lambda: condition(kube, namespace, "typo"), what="the Silenced condition")
    assert (said["status"], said["reason"]) == ("False", "InvalidMatchers")
    assert "spec.silenceMatchers[0]" in said["message"]
    status = kube.status("mw", "typo", namespace)
    assert status["phase"] == "Scheduled"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert of_window(alertmanager, uid_of(kube, namespace, "typo")) == []


def test_credentials_from_the_secret_and_their_rotation(
    kube: Kube,
    namespace: str,
    alertmanager: Alertmanager,
    silencing: OperatorProcess,
    tmp_path: Path,
) -> None:
    """An Alertmanager behind basic auth: a wrong password is AlertmanagerRefused; the Secret
    fixed, the silence is made, with no restart (the Secret is read again after a 401)."""
    secured = Alertmanager.start(
        webhook_config("http://127.0.0.1:9/unused"), tmp_path / "secured", basic_auth=("op", "pw")
    )
    silencing.stop()
    secret = [
        "create",
        "secret",
        "generic",
        "am-creds",
        "-n",
        namespace,
        "--from-literal=username=op",
    ]
    kube.run(*secret, "--from-literal=password=wrong")
    silencing.extra_args = [
        f"--alertmanager-url={secured.url}",
        f"--alertmanager-secret={namespace}/am-creds",
    ]
    try:
        silencing.start()
        kube.apply(namespace, make_page(), make_component("db"))
        kube.apply(
            namespace,
            make_window(
                "auth", in_seconds(600), in_seconds(1200), ["db"], silenceMatchers=MATCHERS
            ),
        )
        said = wait_for(
            lambda: (
                condition(kube, namespace, "auth").get("reason") == "AlertmanagerRefused"
                and condition(kube, namespace, "auth")
            ),
            what="AlertmanagerRefused",
        )
        assert "credentials" in said["message"]
        assert "wrong" not in silencing.log.read_text()
        kube.run("delete", "secret", "am-creds", "-n", namespace)
        kube.run(*secret, "--from-literal=password=pw")
        record = wait_for(lambda: recorded(kube, namespace, "auth"), 30, what="the silence")
        [made] = of_window(secured, uid_of(kube, namespace, "auth"))
        assert made["id"] == record["id"]
    finally:
        silencing.stop()
        secured.stop()
        silencing.extra_args = [f"--alertmanager-url={alertmanager.url}"]
        silencing.start()
