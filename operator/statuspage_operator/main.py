"""`statuspage-operator`: run the operator (kopf) with our handlers."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import kopf
import prometheus_client

import statuspage_operator.handlers  # noqa: F401  (registers the handlers)
from statuspage_operator.control import metrics


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
        "--peering",
        metavar="NAME",
        help="join this KopfPeering (high availability); default: standalone",
    )
    parser.add_argument(
        "--priority", type=int, default=0, help="peering priority (distinct per replica)"
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
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kubernetes.client.rest").setLevel(logging.WARNING)
    if not args.verbose:
        # One line per watch event drowns the transitions at 10,000 windows.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    namespaces = args.namespace
    if args.metrics_port:
        prometheus_client.start_http_server(args.metrics_port, registry=metrics.REGISTRY)
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=args.peering is None,
        peering_name=args.peering,
        priority=args.priority,
        liveness_endpoint=args.liveness,
    )


if __name__ == "__main__":
    main()
