"""`statuspage-alerts`: run the Alertmanager webhook receiver.

It lists and watches pages and components (server/watch.py), reads receiver Secrets when asked,
and patches components' status (manifests/alerts/ holds exactly those rights). Its connections
are bounded like the page server's (server/connections.py), with room for a request body. On
SIGTERM it reports not ready, keeps answering for `--shutdown-delay` seconds, finishes the
requests in flight, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from statuspage_operator.api.names import Kind
from statuspage_operator.server.connections import Connections, Limits, serve_until_stopped
from statuspage_operator.server.process import (
    add_serving_flags,
    api_client,
    positive_seconds,
    run,
)
from statuspage_operator.server.watch import KindWatcher

from .app import MAX_BODY, Receiver, make_app, make_metrics_app
from .auth import SecretCache
from .kube import KubeStatusApi
from .payload import MAX_ALERTS
from .ratelimit import RateLimiter
from .store import Store
from .view import View

logger = logging.getLogger("statuspage_operator.alerts")
PORT = 9095


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="statuspage-alerts",
        description="Take Alertmanager's webhook and keep components' status.alerts.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=PORT, help=f"HTTP port (default {PORT})")
    parser.add_argument(
        "--metrics-port", type=int, default=9096, help="Prometheus metrics port (0: off)"
    )
    parser.add_argument("--namespace", help="take alerts for this namespace only (default: all)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument(
        "--rate",
        type=positive_seconds,
        default=5.0,
        help="notifications a second per page (default 5)",
    )
    parser.add_argument(
        "--burst", type=int, default=50, help="notifications at once per page (default 50)"
    )
    parser.add_argument(
        "--max-body",
        type=int,
        default=MAX_BODY,
        help=f"largest notification in bytes (default {MAX_BODY})",
    )
    parser.add_argument(
        "--max-alerts",
        type=int,
        default=MAX_ALERTS,
        help=f"alerts read per notification, the rest counted as truncated (default {MAX_ALERTS})",
    )
    parser.add_argument(
        "--secret-ttl",
        type=positive_seconds,
        default=5.0,
        help="seconds a receiver Secret is cached (default 5)",
    )
    add_serving_flags(parser, max_connections=256)
    args = parser.parse_args(argv)
    if args.burst < 1 or args.max_connections < 1:
        parser.error("--burst and --max-connections must be at least 1")
    if not 1024 <= args.max_body <= 64 * 1024 * 1024 or args.max_alerts < 1:
        parser.error("--max-body must be between 1 KiB and 64 MiB, --max-alerts at least 1")
    return args


async def serve(args: argparse.Namespace) -> None:
    """Watch, take webhooks, and stop gracefully on SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    view = View()
    watchers = [
        KindWatcher(api_client(args.context), kind, view, loop, args.namespace)
        for kind in (Kind.PAGE, Kind.COMPONENT)
    ]
    # Writes and Secret reads on their own client: the watches hold theirs for minutes.
    kube = KubeStatusApi(api_client(args.context))
    receiver = Receiver(
        view=view,
        secrets=SecretCache(kube.read_secret, ttl=args.secret_ttl),
        store=Store(kube, view),
        limiter=RateLimiter(args.rate, args.burst),
        max_body=args.max_body,
        max_alerts=args.max_alerts,
    )
    for watcher in watchers:
        watcher.start()
    limits = Limits(
        header_timeout=args.request_timeout,
        max_connections=args.max_connections,
        max_body=args.max_body,
    )
    connections = Connections(limits, receiver.metrics.registry)
    logger.info("taking webhooks on http://%s:%d/alerts/<namespace>/<page>", args.host, args.port)

    def stopping() -> None:
        receiver.shutting_down = True
        logger.info("stopping: not ready; answering %.1f s more", args.shutdown_delay)

    await serve_until_stopped(
        make_app(receiver),
        make_metrics_app(receiver) if args.metrics_port else None,
        (args.host, args.port, args.metrics_port),
        connections,
        args.shutdown_delay,
        stopping,
    )
    for watcher in watchers:
        watcher.stop()
    logger.info("stopped")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `statuspage-alerts`."""
    args = parse_args(argv)
    run(serve, args)
