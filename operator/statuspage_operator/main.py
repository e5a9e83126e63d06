"""`statuspage-operator`: run the operator (kopf) with our handlers."""

from __future__ import annotations

import argparse
import logging
import os
import socket
from collections.abc import Sequence

import kopf
import prometheus_client

import statuspage_operator.handlers  # noqa: F401  (registers the handlers)
from statuspage_operator.control import metrics
from statuspage_operator.k8s.lease import LeaseConfig


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
    memo = kopf.Memo()
    if args.leader_elect:
        identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
        memo.lease = LeaseConfig(
            namespace=args.leader_election_namespace,
            name=args.leader_election_id,
            identity=identity,
            lease_duration=args.lease_duration,
            renew_deadline=args.lease_duration * 2 / 3,
            retry_period=max(0.5, args.lease_duration / 7.5),
        )
    # kopf's peering pauses only kopf's own handlers; replicas are coordinated by our Lease.
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=True,
        liveness_endpoint=args.liveness,
        memo=memo,
    )


if __name__ == "__main__":
    main()
