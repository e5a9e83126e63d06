"""`statuspage-signup`: the public's "Get updates" form, its confirmation, manage and unsubscribe.

It lists and watches pages, components and PublicationPolicies (server/watch.py into
server/cache.py, as the page server does) to know which pages offer the form; reads its two
Secrets by name (signup/settings.py); keeps pending sign-ups and limits in Secrets of its own
namespace (signup/ledger_store.py); creates public Subscribers and their address Secrets
(signup/kube.py). manifests/signup/ holds exactly those rights. Connections are bounded like the
page server's (server/connections.py). On SIGTERM it reports not ready, answers for
`--shutdown-delay` seconds, finishes the requests and mails in flight, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from kubernetes import client

from statuspage_operator.api.subscription_tokens import Links
from statuspage_operator.server.cache import Cache
from statuspage_operator.server.connections import Connections, Limits, serve_until_stopped
from statuspage_operator.server.identity import Trust
from statuspage_operator.server.process import (
    add_serving_flags,
    api_client,
    positive_seconds,
    run,
)
from statuspage_operator.server.watch import KindWatcher
from statuspage_operator.signup.app import make_app, make_metrics_app
from statuspage_operator.signup.forms import MAX_BODY
from statuspage_operator.signup.kube import SubscriberApi
from statuspage_operator.signup.ledger_store import Ledger
from statuspage_operator.signup.offers import WATCHED
from statuspage_operator.signup.service import Signup
from statuspage_operator.signup.settings import Settings, keep_fresh, read_settings, secret_ref

logger = logging.getLogger("statuspage_operator.signup")
PORT = 9097
NAMESPACE = "statuspage-signups"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="statuspage-signup",
        description="The public's sign-up form, confirmation, manage and unsubscribe links.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=PORT, help=f"HTTP port (default {PORT})")
    parser.add_argument(
        "--metrics-port", type=int, default=9098, help="Prometheus metrics port (0: off)"
    )
    parser.add_argument(
        "--public-url",
        required=True,
        help="this process's base URL as the public reaches it, for the links it mails "
        "(e.g. https://status.example.com/subscriptions)",
    )
    parser.add_argument(
        "--subscription-key-secret",
        default=f"{NAMESPACE}/statuspage-subscription-key",
        metavar="NAMESPACE/NAME",
        help="the Secret of the token and naming keys (data key, previous, naming)",
    )
    parser.add_argument(
        "--mail-secret",
        default=f"{NAMESPACE}/statuspage-mail-relay",
        metavar="NAMESPACE/NAME",
        help="the Secret of the mail relay (data url, from)",
    )
    parser.add_argument(
        "--ledger-namespace",
        default=NAMESPACE,
        help=f"where pending sign-ups and limits are kept (default {NAMESPACE})",
    )
    parser.add_argument(
        "--trusted-proxy",
        "--trusted-proxies",
        action="append",
        default=[],
        metavar="CIDR",
        help="a proxy network whose X-Forwarded-For is believed (repeatable; default none: the "
        "TCP peer is the client)",
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument(
        "--upkeep-interval",
        type=positive_seconds,
        default=60.0,
        help="seconds between resuming unmailed confirmations and sweeping expired sign-ups",
    )
    add_serving_flags(parser, max_connections=512)
    args = parser.parse_args(argv)
    if args.max_connections < 1:
        parser.error("--max-connections must be at least 1")
    if not args.public_url.startswith(("https://", "http://")):
        parser.error("--public-url must be an http(s) URL")
    try:
        args.trust = Trust.of(args.trusted_proxy)
        args.keys_ref = secret_ref(args.subscription_key_secret)
        args.mail_ref = secret_ref(args.mail_secret)
    except ValueError as error:
        parser.error(str(error))
    return args


async def upkeep(signup: Signup, interval: float) -> None:
    """As soon as the process is ready, then every `interval` seconds: resume confirmations a
    crash or a failed send left, and sweep expired sign-ups."""
    while True:
        if not signup.ready or signup.ledger is None:
            await asyncio.sleep(1.0)
            continue
        try:
            now = signup.clock()
            resumed = await signup.resume(now)
            swept = await signup.ledger.sweep(now)
            if resumed or swept:
                logger.info("upkeep: %d confirmations resumed, %d sign-ups expired", resumed, swept)
        except Exception as error:  # the next round tries again
            logger.warning("upkeep failed (%s)", type(error).__name__)
        await asyncio.sleep(interval)


async def serve(args: argparse.Namespace) -> None:
    """Watch, serve, and stop gracefully on SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    cache = Cache()
    # Writes, Secrets and the ledger on their own client: the watches hold theirs for minutes.
    writes = api_client(args.context)
    signup = Signup(
        cache=cache,
        subscribers=SubscriberApi(writes),
        links=Links(args.public_url),
        trust=args.trust,
    )
    core = client.CoreV1Api(writes)

    def read() -> Settings:
        return read_settings(core, args.keys_ref, args.mail_ref)

    def store(settings: Settings) -> None:
        naming = settings.keys.naming
        if naming is not None and (signup.ledger is None or naming != held_naming[0]):
            signup.ledger = Ledger(writes, naming, namespace=args.ledger_namespace)
            held_naming[0] = naming
        signup.settings = settings

    held_naming: list[bytes | None] = [None]
    watch_client = api_client(args.context)
    watchers = [KindWatcher(watch_client, kind, cache, loop) for kind in WATCHED]
    for watcher in watchers:
        watcher.start()
    refresher = asyncio.create_task(keep_fresh(read, store))
    keeper = asyncio.create_task(upkeep(signup, args.upkeep_interval))
    limits = Limits(
        header_timeout=args.request_timeout,
        max_connections=args.max_connections,
        max_body=MAX_BODY,
    )
    connections = Connections(limits, signup.metrics.registry)
    logger.info("sign-ups on http://%s:%d/subscribe/<namespace>/<page>", args.host, args.port)

    def stopping() -> None:
        signup.shutting_down = True
        logger.info("stopping: not ready; answering %.1f s more", args.shutdown_delay)

    await serve_until_stopped(
        make_app(signup),
        make_metrics_app(signup) if args.metrics_port else None,
        (args.host, args.port, args.metrics_port),
        connections,
        args.shutdown_delay,
        stopping,
    )
    refresher.cancel()
    keeper.cancel()
    await signup.drain(10.0)
    for watcher in watchers:
        watcher.stop()
    logger.info("stopped")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `statuspage-signup`."""
    args = parse_args(argv)
    run(serve, args)
