"""`statuspage-operator`: run the operator (kopf) with our handlers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

# kopf imports the official Kubernetes client, when installed, only to recognise its model
# objects, which this operator never hands it; the client is 33 MB of memory the operator does
# not use (it talks to the API through kopf and k8s/client.py). handlers/lifecycle.py lets it in
# again for the one login that needs it (kubeconfig exec plugins).
sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]

import kopf  # noqa: E402
import prometheus_client  # noqa: E402
import uvloop  # noqa: E402

import statuspage_operator.handlers  # noqa: E402, F401  (registers the handlers)
from statuspage_operator.control import metrics  # noqa: E402
from statuspage_operator.control.notifications import CLUSTER_DOMAIN, EgressPolicy  # noqa: E402
from statuspage_operator.control.retry import ACTING  # noqa: E402
from statuspage_operator.control.sweep import INTERVAL as SWEEP_INTERVAL  # noqa: E402
from statuspage_operator.handlers.kopf_workarounds import short_body_repr  # noqa: E402
from statuspage_operator.handlers.lifecycle import make_client  # noqa: E402
from statuspage_operator.k8s.lease import LeaderElector, LeaseConfig  # noqa: E402

logger = logging.getLogger("statuspage_operator")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="statuspage-operator", description="Run the statuspage operator."
    )
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="run several replicas: only the holder of a Lease acts (default: standalone)",
    )
    parser.add_argument(
        "--leader-election-namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="namespace of the Lease (default: $POD_NAMESPACE, else default)",
    )
    parser.add_argument(
        "--leader-election-id", default="statuspage-operator", help="name of the Lease"
    )
    parser.add_argument(
        "--lease-duration",
        type=float,
        default=15.0,
        help="seconds a standby waits for a silent leader before taking over (default 15)",
    )
    parser.add_argument(
        "--liveness",
        metavar="URL",
        default=None,
        help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=9090,
        help="serve Prometheus metrics on this port (0: off); default 9090",
    )
    parser.add_argument(
        "--notify-retry-base",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="first delay before retrying a failed subscriber delivery; it doubles, 3 attempts "
        "in all (default 30)",
    )
    parser.add_argument(
        "--sweep-interval",
        type=float,
        default=SWEEP_INTERVAL,
        metavar="SECONDS",
        help="list the metadata of every object this often, to drop what was deleted unseen "
        f"(besides after each of kopf's listings; 0: only then); default {SWEEP_INTERVAL:.0f}",
    )
    parser.add_argument(
        "--egress-allow",
        action="append",
        default=[],
        metavar="CIDR|HOST",
        help="send notifications to this range or host even though it is internal (repeatable); "
        "e.g. 10.20.0.0/16 or hooks.monitoring.svc",
    )
    parser.add_argument(
        "--egress-deny",
        action="append",
        default=[],
        metavar="CIDR",
        help="never send notifications to this range (repeatable): the cluster's service and pod "
        "ranges, when they are not private addresses",
    )
    parser.add_argument(
        "--cluster-domain",
        default=CLUSTER_DOMAIN,
        help=f"the cluster's DNS domain; names under it are refused (default {CLUSTER_DOMAIN})",
    )
    parser.add_argument(
        "--alertmanager-url",
        default=None,
        metavar="URL",
        help="Alertmanager's API, for maintenance silences, e.g. "
        "http://alertmanager-operated.monitoring:9093 (unset: no silences)",
    )
    parser.add_argument(
        "--alertmanager-secret",
        default=None,
        metavar="NAMESPACE/NAME",
        help="a Secret with Alertmanager's credentials: key token (bearer), or username and "
        "password (basic auth); read at first use and again after a 401",
    )
    parser.add_argument(
        "--mail-secret",
        default=None,
        metavar="NAMESPACE/NAME",
        help="the mail relay Secret (keys url, from) for mailbox Subscribers, e.g. "
        "statuspage-signups/statuspage-mail-relay (unset: they are MailNotConfigured)",
    )
    parser.add_argument(
        "--subscription-key-secret",
        default=None,
        metavar="NAMESPACE/NAME",
        help="the subscription key Secret (keys key, previous, naming) that signs the manage "
        "links of mail, e.g. statuspage-signups/statuspage-subscription-key",
    )
    parser.add_argument(
        "--signup-url",
        default=None,
        metavar="URL",
        help="the public base URL of statuspage-signup, for the manage and unsubscribe links of "
        "mail, e.g. https://status.example.com/subscriptions",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def egress_policy(args: argparse.Namespace) -> EgressPolicy:
    """The egress policy of the command line (its flags were checked by `main`)."""
    return EgressPolicy.parse(args.egress_allow, args.egress_deny, args.cluster_domain)


def alertmanager_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the Alertmanager flags (None: nothing)."""
    if args.alertmanager_url is not None:
        parts = urlsplit(args.alertmanager_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "--alertmanager-url: an http:// or https:// URL with a host"
        if parts.username or parts.password:
            return "--alertmanager-url: credentials go in --alertmanager-secret, not in the URL"
    if args.alertmanager_secret is not None:
        namespace, _, name = args.alertmanager_secret.partition("/")
        if not namespace or not name or "/" in name:
            return "--alertmanager-secret: NAMESPACE/NAME"
        if args.alertmanager_url is None:
            return "--alertmanager-secret needs --alertmanager-url"
    return None


def mail_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the mail flags (None: nothing)."""
    for flag, value in (
        ("--mail-secret", args.mail_secret),
        ("--subscription-key-secret", args.subscription_key_secret),
    ):
        if value is not None:
            namespace, _, name = value.partition("/")
            if not namespace or not name or "/" in name:
                return f"{flag}: NAMESPACE/NAME"
    if args.signup_url is not None:
        parts = urlsplit(args.signup_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "--signup-url: an http:// or https:// URL with a host"
        if parts.query or parts.fragment or parts.username:
            return "--signup-url: a base URL, without query, fragment or credentials"
    return None


async def _serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    """kopf's operator until it stops (a signal, or `stop`); says when it is watching."""
    ready = asyncio.Event()

    async def announce_ready() -> None:
        await ready.wait()
        logger.info(
            "watching StatusPage, Component, MaintenanceWindow, StatusIncident, Subscriber, "
            "PublicationPolicy"
        )

    announcer = asyncio.create_task(announce_ready())
    lag = asyncio.create_task(metrics.watch_loop_lag(), name="loop lag")
    try:
        await kopf.operator(
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            # One active replica: standalone, or the Lease holder (see _elected).
            standalone=True,
            liveness_endpoint=args.liveness,
            stop_flag=stop,
            ready_flag=ready,
            memo=kopf.Memo(
                namespaces=list(args.namespace),
                notify_retry_base=args.notify_retry_base,
                egress=egress_policy(args),
                sweep_interval=args.sweep_interval,
                alertmanager_url=args.alertmanager_url,
                alertmanager_secret=args.alertmanager_secret,
                mail_secret=args.mail_secret,
                subscription_key_secret=args.subscription_key_secret,
                signup_url=args.signup_url,
            ),
        )
    finally:
        announcer.cancel()
        lag.cancel()


async def _elected(args: argparse.Namespace) -> int:
    """Run the operator only while holding the Lease; exit when it is lost.

    kopf has no Lease support; its peering would need its own CRD and a 60 s lifetime before a
    standby notices. A Lease gating `kopf.operator(stop_flag=...)` is what kube-controller-manager
    does: the standby waits cold, and a leader that loses the Lease stops and exits, so Kubernetes
    restarts it as a fresh standby.

    A leader that only could not renew (the API server did not answer) is not known to have lost:
    it pauses instead, every write and delivery waiting at retry.ACTING while kopf keeps watching,
    and acts again once it renews its own, untaken Lease; its view stays warm, so a stall of the
    API server does not cost a cold start. It pauses at the renew deadline, where it used to exit,
    before a standby can take the Lease over (k8s/lease.py): never two actors.
    """
    identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    lease = LeaseConfig(
        namespace=args.leader_election_namespace,
        name=args.leader_election_id,
        identity=identity,
        lease_duration=args.lease_duration,
        renew_deadline=args.lease_duration * 2 / 3,
        retry_period=max(0.5, args.lease_duration / 7.5),
    )
    client = make_client(kopf.OperatorSettings(), logger)
    elector = LeaderElector(client, lease)
    stop = asyncio.Event()
    lost = asyncio.Event()
    operator: asyncio.Task[None] | None = None

    async def lead() -> None:
        nonlocal operator
        metrics.LEADER.set(1)
        operator = asyncio.create_task(_serve(args, stop), name="kopf")

    async def step_down() -> None:
        metrics.LEADER.set(0)
        ACTING.close()  # what waits never goes: the new leader acts now; kopf cancels it
        lost.set()
        stop.set()

    async def pause() -> None:
        metrics.LEADER.set(0)
        ACTING.close()

    async def resume() -> None:
        metrics.LEADER.set(1)
        ACTING.open()

    logger.info("standing by for the lease %s/%s", lease.namespace, lease.name)
    election = asyncio.create_task(elector.run(lead, step_down, pause, resume), name="election")
    signalled = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, signalled.cancel)
    while operator is None and not signalled.done():
        await asyncio.wait({election, signalled}, timeout=0.2, return_when="FIRST_COMPLETED")
    if operator is not None:
        # kopf handles SIGTERM itself from here on; it returns when stopped.
        await asyncio.wait({operator, election}, return_when="FIRST_COMPLETED")
        stop.set()
        await asyncio.gather(operator, return_exceptions=True)
    election.cancel()
    await asyncio.gather(election, return_exceptions=True)
    await client.close()
    return 1 if lost.is_set() else 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        egress_policy(args)
    except ValueError as error:
        parser.error(f"--egress-allow/--egress-deny: {error}")
    problem = alertmanager_problem(args) or mail_problem(args)
    if problem:
        parser.error(problem)
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kubernetes.client.rest").setLevel(logging.WARNING)
    if not args.verbose:
        # One line per watch event drowns the transitions at 10,000 windows.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        short_body_repr()
    if args.metrics_port:
        prometheus_client.start_http_server(args.metrics_port, registry=metrics.REGISTRY)
    # uvloop: kopf runs on any asyncio loop, and this one takes less of the loop's time per
    # watch event and API call (docs/operations.md, Performance).
    if args.leader_elect:
        sys.exit(uvloop.run(_elected(args)))
    metrics.LEADER.set(1)
    uvloop.run(_serve(args, asyncio.Event()))


if __name__ == "__main__":
    main()
