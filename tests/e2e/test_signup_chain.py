"""The public's whole path in a real browser: the page server's form, statuspage-signup, mail.

Chromium fills the "Get updates" form on the real page server (`--signup-url` names the real
statuspage-signup), which answers "Check your inbox"; aiosmtpd receives the confirmation; the
browser opens its link and presses Confirm (the POST goes back to the same URL, as
`form-action 'self'` allows), follows the manage link, narrows the choice and saves, then
unsubscribes. Both processes run under their own ServiceAccounts; the operator does not run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import publish
from e2e.kube import Kube, wait_for
from e2e.objects import make_component, make_page
from e2e.signup_process import Installed, SignupProcess, install_signup
from e2e.test_server import ServerProcess, _browser, get, make_server_kubeconfig
from smtp_server import SmtpServer
from statuspage_operator.api.subscription_tokens import subscription_name

pytestmark = pytest.mark.e2e
ADDRESS = "jane.doe@example.com"
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
