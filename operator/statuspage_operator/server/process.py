"""What the three HTTP processes (page server, alerts receiver, sign-up process) share around
their `serve`: the API client, a seconds flag, and the entry point's logging and exit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

from kubernetes import client, config


def positive_seconds(text: str) -> float:
    """A flag's positive value (seconds, a rate): above 0 and at most 3600."""
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be above 0 and at most 3600")
    return value


def add_serving_flags(parser: argparse.ArgumentParser, max_connections: int) -> None:
    """The flags of a process that serves requests bounded by server/connections.py and stops
    gracefully: --request-timeout, --max-connections, --shutdown-delay, --verbose."""
    parser.add_argument(
        "--request-timeout",
        type=positive_seconds,
        default=10.0,
        help="seconds a client has to send a request's headers, then its body (default 10)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=max_connections,
        help=f"open connections at most (default {max_connections})",
    )
    parser.add_argument(
        "--shutdown-delay",
        type=float,
        default=0.0,
        help="seconds to keep answering after SIGTERM while reporting not ready",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")


def api_client(context: str | None) -> client.ApiClient:
    """A client of the in-cluster configuration, else of the kubeconfig (and its context)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config(context=context)
    return client.ApiClient()


def run(serve: Callable[[argparse.Namespace], Coroutine[Any, Any, None]], args: Any) -> None:
    """Log as the processes do, serve until stopped, and leave at once.

    The watch threads (server/watch.py) are daemons and may be in the middle of a blocking read
    from the API server: finalizing the interpreter around them can abort the process (SIGABRT,
    seen once in ~100 graceful stops). They hold nothing to save, so flush the logs and exit.
    """
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    asyncio.run(serve(args))
    logging.shutdown()
    os._exit(0)
