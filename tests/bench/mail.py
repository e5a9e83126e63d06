"""Mail to the public's subscriptions against a real local control plane and a real SMTP relay.

    PYTHONPATH=operator:tests .venv/bin/python tests/bench/mail.py [--subscribers 1000]

1,000 subscriptions by the public (Subscribers of origin Public with their address Secrets) on one
page; one incident is created, and each of them is mailed its notice through the relay
(tests/smtp_server.py, aiosmtpd, in a process of its own: no GIL shared with this one). Figures:
the time from the incident's creation to the first and the last message, messages per second,
the CPU seconds of the operator, the SMTP server and the API server (and etcd) over the burst,
and checks: every subscriber got exactly one message, each with its List-Unsubscribe headers.

The machine's cores are shared by the API server, etcd, the operator, the SMTP server and this
process: the figures are of one run, printed as measured.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kubernetes import client  # noqa: E402

from bench.run import cpu_seconds, create_all, prepare, report, rss_mb  # noqa: E402
from controlplane.cluster import LocalCluster, build_binaries  # noqa: E402
from e2e.conftest import OperatorProcess  # noqa: E402
from e2e.kube import Kube, wait_for  # noqa: E402
from e2e.objects import API_VERSION, make_component, make_incident, make_page  # noqa: E402
from statuspage_operator.api.subscription_tokens import (  # noqa: E402
    subscription_keys,
    subscription_name,
)

SIGNUPS = "statuspage-signups"
RELAY = "statuspage-mail-relay"
KEYS = "statuspage-subscription-key"
NAMESPACE = "bench-mail"
BASE = "https://status.example.com/subscriptions"


def relay_process(out: Path, port_file: Path) -> None:
    """The SMTP server (in its own process): one JSON line per message received into `out`."""
    from smtp_server import SmtpServer

    with SmtpServer() as smtp, out.open("a", buffering=1) as sink:
        port_file.write_text(str(smtp.port))
        written = 0
        while True:
            received = smtp.received
            for mail in received[written:]:
                line = {
                    "at": mail.at,
                    "to": mail.to,
                    "unsubscribe": bool(mail.message["List-Unsubscribe"]),
                    "post": mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click",
                }
                sink.write(json.dumps(line) + "\n")
            written = len(received)
            time.sleep(0.05)


def encoded(**data: str | bytes) -> dict[str, str]:
    return {
        k: base64.b64encode(v.encode() if isinstance(v, str) else v).decode()
        for k, v in data.items()
    }


def create_secrets(namespace: str, bodies: list[dict[str, Any]], threads: int = 16) -> float:
    """Create Secrets concurrently; the seconds it took."""
    api = client.CoreV1Api()
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda body: api.create_namespaced_secret(namespace, body), bodies))
    return time.monotonic() - started


def subscription(naming: bytes, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A subscription by the public, as statuspage-signup makes it: Secret and Subscriber."""
    address = f"person{index}@example.com"
    name = subscription_name(naming, NAMESPACE, "example", address)
    labels = {"statuspage.dev/subscriber": "true", "statuspage.dev/origin": "public"}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": labels},
        "data": encoded(address=address),
    }
    subscriber = {
        "apiVersion": API_VERSION,
        "kind": "Subscriber",
        "metadata": {
            "name": name,
            "labels": {"statuspage.dev/origin": "public", "statuspage.dev/page": "example"},
        },
        "spec": {
            "page": "example",
            "origin": "Public",
            "mailboxSecretRef": {"name": name, "key": "address"},
        },
    }
    return secret, subscriber


def ready_count(kube: Kube) -> int:
    """How many Subscribers of the namespace say Ready=True."""
    items = json.loads(kube.run("get", "subscribers", "-n", NAMESPACE, "-o", "json").stdout)
    count = 0
    for item in items["items"]:
        for cond in (item.get("status") or {}).get("conditions") or ():
            if cond.get("type") == "Ready" and cond.get("status") == "True":
                count += 1
    return count


def received(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines() if line]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--relay", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        relay_process(Path(args.relay[0]), Path(args.relay[1]))
        return

    workdir = Path(tempfile.mkdtemp(prefix="statuspage-mail-bench-"))
    out, port_file = workdir / "mail.jsonl", workdir / "smtp.port"
    out.touch()
    smtp = subprocess.Popen(
        [sys.executable, __file__, "--relay", str(out), str(port_file)],
        env={**os.environ, "PYTHONPATH": f"{HERE.parent}:{HERE.parent.parent / 'operator'}"},
    )
    try:
        wait_for(port_file.exists, 20, interval=0.1, what="the SMTP server")
        port = int(port_file.read_text())
        with LocalCluster(build_binaries()) as cluster:
            kube = prepare(cluster)
            print(f"# {os.cpu_count()} cores; operator log {workdir / 'operator.log'}", flush=True)
            key_data = {"key": secrets.token_bytes(32), "naming": secrets.token_bytes(32)}
            for namespace in (SIGNUPS, NAMESPACE):
                kube.run("create", "namespace", namespace)
            relay = {"url": f"smtp://127.0.0.1:{port}?tls=none", "from": "status@example.com"}
            create_secrets(
                SIGNUPS,
                [
                    {"metadata": {"name": RELAY}, "data": encoded(**relay)},
                    {"metadata": {"name": KEYS}, "data": encoded(**key_data)},
                ],
            )
            naming = subscription_keys(encoded(**key_data)).naming
            assert naming is not None
            kube.apply(NAMESPACE, make_page(), make_component("api"))
            pairs = [subscription(naming, i) for i in range(args.subscribers)]
            # The address first: each Subscriber is Ready at its first check.
            took = create_secrets(NAMESPACE, [s for s, _ in pairs])
            took += create_all(NAMESPACE, "subscribers", [s for _, s in pairs])
            report(
                f"{args.subscribers} subscriptions (Secret + Subscriber) created", f"{took:.1f} s"
            )
            operator = OperatorProcess(kube, workdir / "operator.log")
            operator.extra_args = [
                f"--mail-secret={SIGNUPS}/{RELAY}",
                f"--subscription-key-secret={SIGNUPS}/{KEYS}",
                f"--signup-url={BASE}",
            ]
            started = time.monotonic()
            operator.start()
            try:
                wait_for(
                    lambda: ready_count(kube) == args.subscribers,
                    300,
                    interval=1.0,
                    what="every subscriber Ready",
                )
                report("operator up, every subscriber Ready", f"{time.monotonic() - started:.1f} s")
                assert operator.process is not None
                pids = {"operator": operator.process.pid, "smtp": smtp.pid, **cluster.pids}
                cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                t0 = time.time()
                kube.apply(
                    NAMESPACE,
                    make_incident(
                        "outage",
                        [{"name": "api"}],
                        updates=[{"status": "Investigating", "message": "Looking into it."}],
                        impact="Major",
                    ),
                )
                wait_for(
                    lambda: len(received(out)) >= args.subscribers,
                    600,
                    interval=0.2,
                    what=f"{args.subscribers} messages",
                )
                cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
                time.sleep(3.0)  # anything sent twice would arrive meanwhile
                mails = received(out)
                rss, peak = rss_mb(operator.process.pid)
            finally:
                operator.stop()
    finally:
        smtp.terminate()
        smtp.wait(10)
    first = min(m["at"] for m in mails) - t0
    last = max(m["at"] for m in mails) - t0
    per_rcpt = Counter(tuple(m["to"]) for m in mails)
    report("first message after the incident's creation", f"{first * 1000:.0f} ms")
    report(f"last of {args.subscribers} messages after the incident's creation", f"{last:.1f} s")
    report("messages per second (first to last)", f"{len(mails) / max(last - first, 1e-3):.0f}")
    report("messages per second (creation to last)", f"{len(mails) / last:.0f}")
    for name in sorted(cpu_before):
        report(
            f"CPU of {name}, creation to last message",
            f"{cpu_after[name] - cpu_before[name]:.1f} s",
        )
    report("operator RSS / peak", f"{rss:.0f} / {peak:.0f} MB")
    report("messages received / recipients", f"{len(mails)} / {len(per_rcpt)}")
    report("recipients mailed more than once", str(sum(1 for c in per_rcpt.values() if c > 1)))
    report(
        "messages without List-Unsubscribe (+Post)",
        str(sum(1 for m in mails if not (m["unsubscribe"] and m["post"]))),
    )


if __name__ == "__main__":
    main()
