"""`statuspage-server`: the public status page, served from memory.

It needs list/watch on our four kinds and on PublicationPolicies, and nothing else
(manifests/server/). Every replica
serves; there is no leader. On SIGTERM it reports not ready, keeps serving for `--shutdown-delay`
seconds (so load balancers stop sending), then stops accepting, finishes the requests in flight,
and exits. Its connections are bounded (server/connections.py; docs/server.md, "Facing the
internet").
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
from collections.abc import Sequence

from statuspage_operator.api.names import CLUSTER_SCOPED, Kind
from statuspage_operator.domain.publication import hostname_key
from statuspage_operator.server.app import Server, make_app, make_metrics_app
from statuspage_operator.server.cache import Cache
from statuspage_operator.server.connections import Connections, Limits, serve_until_stopped
from statuspage_operator.server.feed_keys import keep_fresh, read_keys, secret_name
from statuspage_operator.server.html import form_origin
from statuspage_operator.server.identity import DEFAULT_GROUPS_HEADER, DEFAULT_USER_HEADER, Trust
from statuspage_operator.server.process import api_client, positive_seconds, run
from statuspage_operator.server.watch import KindWatcher

logger = logging.getLogger("statuspage_operator.server")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="statuspage-server", description="Serve the public status pages from memory."
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument(
        "--metrics-port", type=int, default=9091, help="Prometheus metrics port (0: off)"
    )
    parser.add_argument(
        "--namespace", help="serve only this namespace (default: all; then a Role is enough)"
    )
    parser.add_argument(
        "--public-url",
        default="",
        help="base URL of the server as the public sees it, for pages without spec.url",
    )
    parser.add_argument(
        "--path-routing",
        choices=("on", "off"),
        default="on",
        help="serve published pages at /<namespace>/<page>/ (default on; never on a page's host)",
    )
    parser.add_argument(
        "--path-routing-host",
        action="append",
        default=[],
        metavar="HOST",
        help="route paths only for this Host (repeatable; default: any Host no page holds)",
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument(
        "--shutdown-delay",
        type=float,
        default=0.0,
        help="seconds to keep serving after SIGTERM while reporting not ready",
    )
    defaults = Limits()
    parser.add_argument(
        "--header-timeout",
        type=positive_seconds,
        default=defaults.header_timeout,
        help="seconds a client has to send a request's headers (default %(default)s)",
    )
    parser.add_argument(
        "--keepalive-timeout",
        type=positive_seconds,
        default=defaults.keepalive_timeout,
        help="seconds an idle connection is kept open (default %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help="open connections at most; the stalest goes first (default %(default)s)",
    )
    parser.add_argument(
        "--max-connections-per-client",
        type=int,
        default=defaults.max_per_client,
        help="connections at most from one peer address (default 0: no limit; off behind a proxy)",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="CIDR",
        help="a proxy network whose identity headers are believed "
        "(repeatable; default none: Private pages are shown to nobody)",
    )
    parser.add_argument(
        "--user-header",
        default=DEFAULT_USER_HEADER,
        help=f"header a trusted proxy names the user in (default {DEFAULT_USER_HEADER})",
    )
    parser.add_argument(
        "--groups-header",
        default=DEFAULT_GROUPS_HEADER,
        help=f"header a trusted proxy lists groups in, comma-separated "
        f"(default {DEFAULT_GROUPS_HEADER})",
    )
    parser.add_argument(
        "--feed-key-secret",
        metavar="NAMESPACE/NAME",
        help="the Secret holding the private feed key (data key, previous); default: none, "
        "private feeds are served to nobody",
    )
    parser.add_argument(
        "--signup-url",
        default="",
        metavar="URL",
        help="public base URL of statuspage-signup (e.g. https://status.example.com/subscriptions):"
        " pages with spec.subscriptions.byEmail show a 'Get updates' form posting there "
        "(default: none, no form)",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if args.max_connections < 1 or args.max_connections_per_client < 0:
        parser.error("--max-connections must be at least 1, --max-connections-per-client >= 0")
    try:
        args.trust = Trust.of(args.trusted_proxy, args.user_header, args.groups_header)
        args.feed_key = None if args.feed_key_secret is None else secret_name(args.feed_key_secret)
        if args.signup_url:
            form_origin(args.signup_url)
    except ValueError as error:
        parser.error(str(error))
    return args


def limits_of(args: argparse.Namespace) -> Limits:
    """The connection limits of the flags, the cap within what the process may open."""
    wanted = args.max_connections
    # Room for the watches, the metrics port, and the listening sockets.
    needed = wanted + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = max(1, soft - 64)
        logger.warning("open file limit %d: at most %d connections", soft, wanted)
    return Limits(
        header_timeout=args.header_timeout,
        keepalive_timeout=args.keepalive_timeout,
        max_connections=wanted,
        max_per_client=args.max_connections_per_client,
    )


async def serve(args: argparse.Namespace) -> None:
    """Watch, serve, and stop gracefully on SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    cache = Cache()
    server = Server(
        cache,
        base_url=args.public_url.rstrip("/"),
        trust=args.trust,
        path_routing_on=args.path_routing == "on",
        path_hosts=frozenset(hostname_key(host) for host in args.path_routing_host),
        signup_url=args.signup_url,
    )
    watch_client = api_client(args.context)
    refresher: asyncio.Task[None] | None = None
    if args.feed_key is not None:
        namespace, name = args.feed_key
        # Its own client: the watches hold the shared one's connections for minutes at a time.
        secrets_client = api_client(args.context)

        def read() -> tuple[bytes, ...]:
            return read_keys(secrets_client, namespace, name)

        def store(keys: tuple[bytes, ...]) -> None:
            server.feed_keys = keys

        store(await asyncio.to_thread(read))
        refresher = asyncio.create_task(keep_fresh(read, store))
    watchers = [
        KindWatcher(
            watch_client, kind, cache, loop, None if kind in CLUSTER_SCOPED else args.namespace
        )
        for kind in Kind
    ]
    for watcher in watchers:
        watcher.start()

    limits = limits_of(args)
    connections = Connections(limits, server.metrics.registry)
    logger.info("serving on http://%s:%d/<namespace>/<page>/", args.host, args.port)

    def stopping() -> None:
        server.shutting_down = True
        logger.info("stopping: not ready; serving %.1f s more", args.shutdown_delay)

    await serve_until_stopped(
        make_app(server),
        make_metrics_app(server) if args.metrics_port else None,
        (args.host, args.port, args.metrics_port),
        connections,
        args.shutdown_delay,
        stopping,
    )
    for watcher in watchers:
        watcher.stop()
    if refresher is not None:
        refresher.cancel()
    server.close()
    logger.info("stopped")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `statuspage-server`."""
    args = parse_args(argv)
    run(serve, args)
