"""statuspage-signup against the real control plane, with a real SMTP server.

The process runs under its own ServiceAccount's token, with manifests/signup's roles and
admission policy applied, so every test here also proves those rights are enough (and the
guard's denials, at the end). Its ledger is the real one (signup/ledger_store.py). The operator
does not run: what is asserted is what statuspage-signup writes and answers. Each test names its
own client (X-Forwarded-For through the trusted loopback proxy) and its own addresses, so the
ledger's per-client and per-address limits of one test do not reach another.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes.config import new_client_from_config

from e2e.conftest import publish
from e2e.kube import Kube, wait_for
from e2e.objects import make_component, make_page
from e2e.signup_process import Installed, SignupProcess, form_body, install_signup, request
from smtp_server import Received, SmtpServer
from statuspage_operator.api.subscription_tokens import (
    TokenKind,
    mint,
    subscription_name,
)
from statuspage_operator.signup.kube import SubscriberApi, subscriber_body
from statuspage_operator.signup.ledger import page_secret_name

pytestmark = pytest.mark.e2e
SUBSCRIPTIONS = {"byEmail": True}
CONFIRM = re.compile(r"http://127\.0\.0\.1:\d+/confirm/[A-Za-z0-9_.=-]+")
MANAGE = re.compile(r'href="(http://127\.0\.0\.1:\d+/manage/[A-Za-z0-9_.=-]+)"')
INVALID = b"This link is not valid"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback: the relay."""
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def installed(kube: Kube, smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """manifests/signup applied, its Secrets made, a kubeconfig of its ServiceAccount."""
    return install_signup(kube, smtp.url, tmp_path_factory.mktemp("signup"))


@pytest.fixture(scope="module")
def signup(
    installed: Installed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SignupProcess]:
    """statuspage-signup, ready (pages listed, Secrets read)."""
    process = SignupProcess(installed.kubeconfig, tmp_path_factory.mktemp("logs") / "signup.log")
    yield process
    assert process.stop() == 0
    print("\n--- signup log (tail) ---\n" + process.tail())


@pytest.fixture
def offering(kube: Kube, namespace: str, signup: SignupProcess) -> Iterator[str]:
    """A published Public page `example` offering the form (components api, db): its namespace."""
    policy = publish(kube, namespace)
    kube.apply(
        namespace,
        make_page(visibility="Public", subscriptions=SUBSCRIPTIONS),
        make_component("api", displayName="API"),
        make_component("db", displayName="Database"),
    )
    form = f"{signup.base}/subscribe/{namespace}/example"
    wait_for(lambda: request(form)[0] == 200, 30, what="the form offered")
    yield namespace
    kube.run("delete", "publicationpolicy", policy, "--wait=false", check=False)


CLIENTS = itertools.count(1)


def client() -> str:
    """A client address of its own (a client the proxy saw, after one the client wrote)."""
    n = next(CLIENTS)
    return f"198.51.100.7, 203.0.{n // 250}.{n % 250 + 1}"


def address() -> str:
    """An address of one test."""
    return f"{uuid.uuid4().hex[:12]}@example.org"


def mails_to(smtp: SmtpServer, to: str) -> list[Received]:
    """What arrived for one address."""
    return [m for m in smtp.received if m.to == [to]]


def confirm_link(smtp: SmtpServer, to: str) -> str:
    """The confirmation link of the (first) mail to `to`."""
    [mail] = smtp.wait_for(lambda m: m.to == [to], timeout=20)
    found = CONFIRM.search(mail.body)
    assert found, mail.body
    return found.group(0)


def subscribed(signup: SignupProcess, smtp: SmtpServer, namespace: str, to: str) -> str:
    """Sign up and confirm `to` (no narrowing): the manage link of the answer."""
    assert signup.subscribe(namespace, "example", to, client())[0] == 200
    status, _, body = signup.post(confirm_link(smtp, to))
    assert status == 200, body
    found = MANAGE.search(body.decode())
    assert found, body
    return found.group(1).replace("&amp;", "&")


def test_sign_up_and_confirm_make_a_public_subscriber_with_no_address_in_sight(
    kube: Kube, offering: str, signup: SignupProcess, smtp: SmtpServer, installed: Installed
) -> None:
    """The form, the mail, a GET that changes nothing, the POST: Subscriber + Secret, keyed name."""
    namespace, to = offering, address()
    status, headers, body = request(f"{signup.base}/subscribe/{namespace}/example")
    assert status == 200
    assert b'value="c:api"' in body
    assert b'value="c:db"' in body
    assert "form-action 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    status, _, body = signup.subscribe(namespace, "example", to, client(), "c:api")
    assert status == 200
    assert b"Check your inbox" in body
    link = confirm_link(smtp, to)
    [mail] = mails_to(smtp, to)
    assert mail.message["List-Unsubscribe"] is None
    name = subscription_name(installed.naming, namespace, "example", to)
    assert request(link)[0] == 200
    assert kube.get("subscriber", name, namespace) is None, "a GET confirmed"
    status, _, body = signup.post(link)
    assert status == 200
    assert b"You are subscribed" in body
    found = kube.get("subscriber", name, namespace)
    assert found is not None
    assert name.startswith("public-")
    assert found["spec"]["origin"] == "Public"
    assert found["spec"]["components"] == ["api"]
    assert found["spec"]["mailboxSecretRef"] == {"name": name, "key": "address"}
    assert found["metadata"]["labels"] == {
        "statuspage.dev/origin": "public",
        "statuspage.dev/page": "example",
    }
    secret = kube.get("secret", name, namespace)
    assert secret is not None
    assert base64.b64decode(secret["data"]["address"]).decode() == to
    assert secret["metadata"]["labels"]["statuspage.dev/subscriber"] == "true"
    [owner] = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("Subscriber", found["metadata"]["uid"])
    for shown in (found, kube.run("get", "events", "-n", namespace, "-o", "json").stdout):
        assert to not in json.dumps(shown), "the address is in sight"
    assert to not in signup.log.read_text()


def test_replayed_tampered_and_expired_links_get_one_answer(
    offering: str, signup: SignupProcess, smtp: SmtpServer, installed: Installed
) -> None:
    """A used link, a link with a changed character, an expired one and garbage: the same 400."""
    namespace, to = offering, address()
    assert signup.subscribe(namespace, "example", to, client())[0] == 200
    link = confirm_link(smtp, to)
    assert signup.post(link)[0] == 200
    token = link.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    tampered = f"{payload}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = mint(installed.keys, TokenKind.CONFIRM, namespace, "example", "x" * 22, past)
    answers = {
        "replayed": signup.post(link),
        "tampered": signup.post(f"{signup.base}/confirm/{tampered}"),
        "expired": signup.post(f"{signup.base}/confirm/{expired}"),
        "garbage": signup.post(f"{signup.base}/confirm/not-a-token"),
    }
    assert {kind: status for kind, (status, _, _) in answers.items()} == dict.fromkeys(answers, 400)
    assert len({body for _, _, body in answers.values()}) == 1
    assert INVALID in answers["replayed"][2]


def test_a_flood_from_one_client_is_capped_and_nothing_beyond_is_stored(
    kube: Kube, offering: str, signup: SignupProcess, smtp: SmtpServer
) -> None:
    """Five sign-ups from one client, then 429 with Retry-After; the page stores five."""
    namespace, one = offering, client()
    addresses = [address() for _ in range(8)]
    answers = [signup.subscribe(namespace, "example", a, one) for a in addresses]
    assert [status for status, _, _ in answers] == [200] * 5 + [429] * 3
    assert int(answers[-1][1]["Retry-After"]) > 0
    smtp.wait_for(lambda m: m.to[0] in addresses, count=5)
    secret = kube.get("secret", page_secret_name(namespace, "example"), "statuspage-signups")
    assert secret is not None
    pending = json.loads(base64.b64decode(secret["data"]["pending"]))
    assert len(pending) == 5
    time.sleep(0.5)
    assert sum(len(mails_to(smtp, a)) for a in addresses) == 5


def test_the_same_address_twice_in_the_hour_is_mailed_once(
    offering: str, signup: SignupProcess, smtp: SmtpServer
) -> None:
    """Two sign-ups of one address: the same answer, one mail."""
    namespace, to = offering, address()
    first = signup.subscribe(namespace, "example", to, client())
    second = signup.subscribe(namespace, "example", to, client(), "c:db")
    assert (first[0], first[2]) == (second[0], second[2]) == (first[0], first[2])
    assert first[0] == 200
    smtp.wait_for(lambda m: m.to == [to])
    time.sleep(0.5)
    assert len(mails_to(smtp, to)) == 1


def test_an_invalid_address_gets_the_form_again(offering: str, signup: SignupProcess) -> None:
    """Not an address: 400, the form with a message and what was typed."""
    status, _, body = signup.subscribe(offering, "example", "not-an-address", client())
    assert status == 400
    assert b"not an email address" in body
    assert b'value="not-an-address"' in body


def test_pages_without_the_form_answer_as_an_unknown_page(
    kube: Kube, offering: str, signup: SignupProcess
) -> None:
    """Unpublished, Private, byEmail false, unknown: one 404 for GET and POST alike."""
    namespace = offering
    kube.apply(
        namespace,
        make_page("hidden", subscriptions=SUBSCRIPTIONS),
        make_page("private", visibility="Private", subscriptions=SUBSCRIPTIONS),
        make_page("quiet", visibility="Public"),
        make_page("later", visibility="Public", subscriptions=SUBSCRIPTIONS),
    )
    wait_for(
        lambda: request(f"{signup.base}/subscribe/{namespace}/later")[0] == 200,
        30,
        what="the pages listed",
    )
    answers = []
    for page in ("hidden", "private", "quiet", "nowhere"):
        answers.append(request(f"{signup.base}/subscribe/{namespace}/{page}"))
        answers.append(signup.subscribe(namespace, page, address(), client()))
    assert {status for status, _, _ in answers} == {404}
    assert len({body for _, _, body in answers}) == 1


def test_manage_narrows_and_one_click_unsubscribes(
    kube: Kube, offering: str, signup: SignupProcess, smtp: SmtpServer, installed: Installed
) -> None:
    """The manage link narrows to one component; RFC 8058's POST deletes; again: the same."""
    namespace, to = offering, address()
    manage = subscribed(signup, smtp, namespace, to)
    name = subscription_name(installed.naming, namespace, "example", to)
    found = kube.get("subscriber", name, namespace)
    assert found is not None
    assert "components" not in found["spec"]
    status, _, body = request(manage)
    assert status == 200
    assert b'value="c:api" checked' in body
    saved = signup.post(manage, form_body(("components", "c:db"), ("action", "save")))
    assert saved[0] == 200
    found = kube.get("subscriber", name, namespace)
    assert found is not None
    assert found["spec"]["components"] == ["db"]
    unsubscribe = manage.replace("/manage/", "/unsubscribe/")
    assert request(unsubscribe)[0] == 200
    assert kube.get("subscriber", name, namespace) is not None, "a GET unsubscribed"
    one_click = signup.post(unsubscribe, b"List-Unsubscribe=One-Click")
    assert one_click[0] == 200
    assert kube.get("subscriber", name, namespace) is None
    assert signup.post(unsubscribe, b"List-Unsubscribe=One-Click")[:3:2] == one_click[:3:2]
    assert INVALID in request(manage)[2]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {"origin": "Cluster", "mailboxSecretRef": {"name": "public-x", "key": "address"}},
            "may write only public Subscribers",
            id="cluster-origin",
        ),
        pytest.param(
            {"origin": "Public", "mailboxSecretRef": {"name": "someone-else", "key": "address"}},
            "may write only public Subscribers",
            id="another-secret",
        ),
    ],
)
def test_the_guard_holds_the_signup_identity_to_public_subscribers(
    namespace: str, installed: Installed, spec: dict[str, object], message: str
) -> None:
    """As statuspage-signup's ServiceAccount, a Subscriber that is not its kind is refused."""
    body = {
        "apiVersion": "statuspage.dev/v1alpha1",
        "kind": "Subscriber",
        "metadata": {"name": "public-x"},
        "spec": {"page": "example", **spec},
    }
    result = installed.as_signup.run(
        "create", "-n", namespace, "-f", "-", stdin=json.dumps(body), check=False
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_the_signup_identity_reads_no_secret_and_writes_only_public_ones(
    namespace: str, installed: Installed
) -> None:
    """No get of a page's Secret (RBAC); no unlabelled Secret created (the guard)."""
    as_signup = installed.as_signup
    read = as_signup.run("get", "secret", "anything", "-n", namespace, check=False)
    assert read.returncode != 0
    assert "forbidden" in read.stderr.lower()
    made = as_signup.run(
        "create", "secret", "generic", "plain", "-n", namespace, "--from-literal=a=b", check=False
    )
    assert made.returncode != 0
    assert "labelled" in made.stderr


def test_its_own_rights_suffice(signup: SignupProcess) -> None:
    """The process under its ServiceAccount logged no failure (a refusal would be one)."""
    text = signup.log.read_text()
    assert "failed (" not in text, signup.tail()
    assert "HTTP 403" not in text, signup.tail()


def test_a_confirmation_cut_short_is_completed_by_the_same_link(
    kube: Kube, offering: str, signup: SignupProcess, smtp: SmtpServer, installed: Installed
) -> None:
    """The Subscriber exists without its Secret (a crash between the two): the POST finishes."""
    namespace, to = offering, address()
    assert signup.subscribe(namespace, "example", to, client(), "c:db")[0] == 200
    link = confirm_link(smtp, to)
    name = subscription_name(installed.naming, namespace, "example", to)
    body = subscriber_body(name, "example", None)
    kube.apply(namespace, body)
    made = kube.get("subscriber", name, namespace)
    assert made is not None
    assert signup.post(link)[0] == 200
    found = kube.get("subscriber", name, namespace)
    assert found is not None
    assert found["metadata"]["uid"] == made["metadata"]["uid"]
    assert found["spec"]["components"] == ["db"]
    secret = kube.get("secret", name, namespace)
    assert secret is not None
    assert secret["metadata"]["ownerReferences"][0]["uid"] == made["metadata"]["uid"]


def test_the_guard_keeps_the_signup_identity_off_cluster_users_subscribers(
    kube: Kube, namespace: str, installed: Installed
) -> None:
    """A Subscriber made by a cluster user: the signup identity may neither patch nor delete it."""
    theirs = {
        "apiVersion": "statuspage.dev/v1alpha1",
        "kind": "Subscriber",
        "metadata": {"name": "public-theirs"},
        "spec": {"page": "example", "urlSecretRef": {"name": "hook", "key": "url"}},
    }
    kube.apply(namespace, theirs)
    takeover = {
        "spec": {
            "origin": "Public",
            "urlSecretRef": None,
            "mailboxSecretRef": {"name": "public-theirs", "key": "address"},
        }
    }
    as_signup = installed.as_signup
    patched = as_signup.run(
        "patch",
        "sub",
        "public-theirs",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps(takeover),
        check=False,
    )
    assert patched.returncode != 0
    assert "may change or delete only public Subscribers" in patched.stderr
    deleted = as_signup.run("delete", "sub", "public-theirs", "-n", namespace, check=False)
    assert deleted.returncode != 0
    assert "may change or delete only public Subscribers" in deleted.stderr
    assert kube.get("subscriber", "public-theirs", namespace) is not None


def test_without_its_relay_it_is_not_ready_and_says_what_to_fix(
    installed: Installed, tmp_path: Path
) -> None:
    """A relay Secret that is not there: /readyz 503, and the log names it (no value)."""
    log = tmp_path / "signup.log"
    process = SignupProcess(
        installed.kubeconfig, log, "--mail-secret=statuspage-signups/missing", ready=False
    )
    try:
        wait_for(lambda: "not ready:" in log.read_text(), 30, what="the log's complaint")
        assert "statuspage-signups/missing could not be read (HTTP 404)" in log.read_text()
        assert not process.ready()
        status, _, _ = request(f"{process.base}/subscribe/any/page")
        assert status == 503
    finally:
        assert process.stop() == 0


def test_writes_carry_the_uid_they_were_meant_for(kube: Kube, namespace: str) -> None:
    """Another uid under the same name (deleted and made again): no patch, no delete."""
    name = "public-someone"
    kube.apply(namespace, subscriber_body(name, "example", ("api",)))
    found = kube.get("subscriber", name, namespace)
    assert found is not None
    # The kubernetes client's config loaders carry no annotations.
    api_client = new_client_from_config(str(kube.kubeconfig), context=kube.context)  # type: ignore[no-untyped-call]
    store = SubscriberApi(api_client)
    stale = "00000000-0000-0000-0000-000000000000"
    assert not asyncio.run(store.set_components(namespace, name, stale, ("db",)))
    asyncio.run(store.delete(namespace, name, stale))
    kept = kube.get("subscriber", name, namespace)
    assert kept is not None
    assert kept["spec"]["components"] == ["api"]
    uid = found["metadata"]["uid"]
    assert asyncio.run(store.set_components(namespace, name, uid, None))
    changed = kube.get("subscriber", name, namespace)
    assert changed is not None
    assert "components" not in changed["spec"]
    asyncio.run(store.delete(namespace, name, uid))
    assert kube.get("subscriber", name, namespace) is None
