"""The public's whole path in a real browser: the page server's form, statuspage-signup, mail.

Chromium fills the "Get updates" form on the real page server (`--signup-url` names the real
statuspage-signup), which answers "Check your inbox"; aiosmtpd receives the confirmation; the
browser opens its link and presses Confirm (the POST goes back to the same URL, as
`form-action 'self'` allows), follows the manage link, narrows the choice and saves, then
unsubscribes. Both processes run under their own ServiceAccounts.

Then the news: the operator, run with the mail flags, mails a subscription made through the form
a maintenance window's notices with both unsubscribe headers and the manage link; the manage
page narrows the choice and the next incidents honour it; the one-click POST to the
List-Unsubscribe URL ends the subscription, and nothing more is mailed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from e2e.conftest import OperatorProcess, publish
from e2e.kube import Kube, wait_for
from e2e.objects import make_component, make_incident, make_page, make_window
from e2e.signup_process import (
    KEY_SECRET,
    MAIL_SECRET,
    NAMESPACE,
    Installed,
    SignupProcess,
    form_body,
    install_signup,
)
from e2e.test_server import ServerProcess, _browser, get, make_server_kubeconfig
from smtp_server import Received, SmtpServer
from statuspage_operator.api.subscription_tokens import subscription_name

pytestmark = pytest.mark.e2e
ADDRESS = "jane.doe@example.com"
LOOKING = [{"status": "Investigating", "message": "Looking into it."}]
# After the news that should arrive did: how long to wait for news that should not.
SETTLE = 3.0
CONFIRM = re.compile(r"http://127\.0\.0\.1:\d+/confirm/[A-Za-z0-9_.=-]+")


@pytest.fixture(scope="module")
def chain(
    kube: Kube, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, SignupProcess, SmtpServer, Installed]]:
    """SMTP, statuspage-signup, and the page server whose form posts to it."""
    work = tmp_path_factory.mktemp("chain")
    with SmtpServer() as smtp:
        installed = install_signup(kube, smtp.url, work)
        signup = SignupProcess(installed.kubeconfig, work / "signup.log")
        server = ServerProcess(
            make_server_kubeconfig(kube, work), work / "server.log", f"--signup-url={signup.base}"
        )
        try:
            yield server, signup, smtp, installed
        finally:
            server.stop()
            signup.stop()


def test_a_person_subscribes_manages_and_leaves_in_a_browser(
    kube: Kube,
    namespace: str,
    chain: tuple[ServerProcess, SignupProcess, SmtpServer, Installed],
    tmp_path: Path,
) -> None:
    """Form on the page -> mail -> Confirm -> Subscriber; manage narrows; Unsubscribe deletes."""
    server, signup, smtp, installed = chain
    policy = publish(kube, namespace)
    kube.apply(
        namespace,
        make_page("open", visibility="Public", subscriptions={"byEmail": True}),
        make_component("api", page="open", position=1),
        make_component("db", page="open", position=2),
    )
    url = server.url(f"/{namespace}/open/")
    wait_for(lambda: b"c:db" in get(url)[2], timeout=20, what="the form on the page")
    wait_for(
        lambda: get(f"{signup.base}/subscribe/{namespace}/open")[0] == 200,
        timeout=20,
        what="statuspage-signup to offer the form",
    )
    name = subscription_name(installed.naming, namespace, "open", ADDRESS)
    driver = _browser(tmp_path / "chromium-profile")
    try:
        driver.get(url)
        driver.find_element("name", "email").send_keys(ADDRESS)
        driver.find_element("css selector", "form.signup button[type=submit]").click()
        wait_for(lambda: "Check your inbox" in driver.page_source, 10, what="the answer")
        [mail] = smtp.wait_for(lambda m: m.to == [ADDRESS], timeout=20)
        link = CONFIRM.search(mail.body)
        assert link is not None, mail.body
        driver.get(link.group(0))
        assert kube.get("subscriber", name, namespace) is None, "opening the link confirmed"
        driver.find_element("css selector", "form button[type=submit]").click()
        wait_for(lambda: "You are subscribed" in driver.page_source, 10, what="confirmed")
        found = kube.get("subscriber", name, namespace)
        assert found is not None
        assert "components" not in found["spec"]
        driver.find_element("link text", "Manage your subscription").click()
        wait_for(lambda: "Save" in driver.page_source, 10, what="the manage page")
        driver.find_element("css selector", "input[value='c:db']").click()
        driver.find_element("css selector", "button[value=save]").click()
        wait_for(lambda: "Your choice is saved" in driver.page_source, 10, what="saved")
        found = kube.get("subscriber", name, namespace)
        assert found is not None
        assert found["spec"]["components"] == ["api"]
        driver.find_element("css selector", "button[value=unsubscribe]").click()
        wait_for(lambda: "You are unsubscribed" in driver.page_source, 10, what="unsubscribed")
        assert kube.get("subscriber", name, namespace) is None
    finally:
        driver.quit()
        kube.run("delete", "publicationpolicy", policy, "--wait=false", check=False)


@pytest.fixture
def mailing(
    operator: OperatorProcess, chain: tuple[ServerProcess, SignupProcess, SmtpServer, Installed]
) -> Iterator[OperatorProcess]:
    """The suite's operator with the relay and key statuspage-signup uses, and its links."""
    _, signup, _, _ = chain
    operator.stop()
    operator.extra_args = [
        f"--mail-secret={NAMESPACE}/{MAIL_SECRET}",
        f"--subscription-key-secret={NAMESPACE}/{KEY_SECRET}",
        f"--signup-url={signup.base}",
    ]
    operator.start()
    yield operator
    operator.stop()
    operator.extra_args = []
    operator.start()


def test_news_reach_a_subscription_made_on_the_page_until_one_click(
    kube: Kube,
    namespace: str,
    chain: tuple[ServerProcess, SignupProcess, SmtpServer, Installed],
    mailing: OperatorProcess,
) -> None:
    """Window notices with both headers; manage narrows; incidents honour it; one click ends it."""
    _, signup, smtp, installed = chain
    address = "sam.news@example.com"
    policy = publish(kube, namespace)
    kube.apply(
        namespace,
        make_page("news", visibility="Public", subscriptions={"byEmail": True}),
        make_component("api", page="news", position=1),
        make_component("db", page="news", position=2),
    )
    wait_for(
        lambda: signup.subscribe(namespace, "news", "probe@example.com", "192.0.2.80")[0] == 200,
        timeout=20,
        what="statuspage-signup to offer the form",
    )
    assert signup.subscribe(namespace, "news", address, "192.0.2.81")[0] == 200
    [confirmation] = smtp.wait_for(lambda m: m.to == [address], timeout=20)
    link = CONFIRM.search(confirmation.body)
    assert link is not None, confirmation.body
    assert signup.post(link.group(0))[0] == 200
    name = subscription_name(installed.naming, namespace, "news", address)
    wait_for(lambda: kube.get("subscriber", name, namespace) is not None, what="the Subscriber")

    def news(subject: str) -> Received:
        [found] = smtp.wait_for(
            lambda m: m.to == [address] and subject in str(m.message["Subject"]), timeout=30
        )
        return found

    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    window = make_window(
        "upgrade",
        start,
        start + timedelta(seconds=3),
        ["api", "db"],
        page="news",
        notifySubscribers=True,
    )
    kube.apply(namespace, window)
    started = news("started")
    unsubscribe = str(started.message["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith(f"{signup.base}/unsubscribe/")
    assert started.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    manage = re.search(r"Manage your subscription: (\S+)", started.body)
    assert manage is not None, started.body
    assert manage.group(1).startswith(f"{signup.base}/manage/")
    news("completed")

    saved = signup.post(manage.group(1), form_body(("components", "c:db"), ("action", "save")))
    assert saved[0] == 200
    found = kube.get("subscriber", name, namespace)
    assert found is not None
    assert found["spec"]["components"] == ["db"]
    # The api incident first: by the time the db one is mailed, the api one was decided too.
    for incident, component in (("api-down", "api"), ("db-down", "db")):
        kube.apply(
            namespace,
            make_incident(
                incident,
                [{"name": component}],
                page="news",
                title=f"{component} is down",
                impact="Major",
                updates=LOOKING,
            ),
        )
    news("db is down")
    wait_for(
        lambda: all(
            (kube.get("statusincident", i, namespace) or {}).get("status", {}).get("phase")
            for i in ("api-down", "db-down")
        ),
        what="both incidents handled",
    )
    time.sleep(SETTLE)
    subjects = [str(m.message["Subject"]) for m in smtp.received if m.to == [address]]
    assert not [s for s in subjects if "api is down" in s], subjects

    status, _, _ = signup.post(unsubscribe, b"List-Unsubscribe=One-Click")
    assert status == 200
    wait_for(lambda: kube.get("subscriber", name, namespace) is None, what="unsubscribed")
    before = len(smtp.received)
    kube.apply(
        namespace,
        make_incident(
            "db-again",
            [{"name": "db"}],
            page="news",
            title="db again",
            impact="Minor",
            updates=LOOKING,
        ),
    )
    wait_for(
        lambda: (
            (kube.get("statusincident", "db-again", namespace) or {}).get("status", {}).get("phase")
        ),
        what="the last incident handled",
    )
    time.sleep(SETTLE)
    assert [m.to for m in smtp.received[before:] if m.to == [address]] == []
    kube.run("delete", "publicationpolicy", policy, "--wait=false", check=False)
