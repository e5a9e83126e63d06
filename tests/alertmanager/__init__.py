"""A real Prometheus Alertmanager for the e2e tests and benches: built once, run per test.

`Alertmanager.start(config, workdir)` runs the binary that `build.sh` caches (`make alertmanager`)
on a free loopback port, without gossip, with its storage in `workdir`; the methods speak its API
v2 as Prometheus and amtool do: post alerts, list, create and expire silences. With `basic_auth`
(user, password) its API asks for them (`--web.config.file`), and the methods send them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controlplane.cluster import free_port

BUILD = Path(__file__).with_name("build.sh")


def binary() -> Path:
    """The Alertmanager binary, built on first use (about a minute) and cached."""
    out = subprocess.run(["bash", str(BUILD)], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def bcrypt(password: str) -> str:
    """A bcrypt hash, as Alertmanager's web configuration takes it (glibc's libxcrypt makes it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        salt = base64.b64encode(os.urandom(16), b"./").decode()[:22]
        return str(crypt.crypt(password, f"$2b$10${salt}"))


def stamp(at: datetime) -> str:
    """RFC 3339 as Alertmanager's API takes it."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Alertmanager:
    """One Alertmanager process and its API."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        log: Path,
        basic_auth: tuple[str, str] | None = None,
    ) -> None:
        self.process = process
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        self.basic_auth = basic_auth

    @classmethod
    def start(
        cls,
        config: str,
        workdir: Path,
        port: int | None = None,
        basic_auth: tuple[str, str] | None = None,
    ) -> Alertmanager:
        """Run Alertmanager with this configuration (YAML text) until `stop`."""
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.yml").write_text(config)
        port = port or free_port()
        log = workdir / "alertmanager.log"
        web: list[str] = []
        if basic_auth is not None:
            user, password = basic_auth
            (workdir / "web.yml").write_text(f"basic_auth_users:\n  {user}: '{bcrypt(password)}'\n")
            web = [f"--web.config.file={workdir / 'web.yml'}"]
        process = subprocess.Popen(
            [
                str(binary()),
                *web,
                f"--config.file={workdir / 'alertmanager.yml'}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url=http://127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "GOMAXPROCS": "1"},
        )
        manager = cls(process, port, log, basic_auth)
        manager.wait_ready()
        return manager

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until its API answers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.request("GET", "/api/v2/status")
                return
            except (OSError, urllib.error.URLError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Alertmanager did not start:\n{self.log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call to its HTTP API; the decoded JSON answer (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.basic_auth is not None:
            pair = ":".join(self.basic_auth).encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text.strip() else None

    def post_alerts(self, alerts: Sequence[dict[str, Any]]) -> None:
        """Send alerts as Prometheus does (`labels`, `annotations`, `startsAt`, `endsAt`, ...)."""
        self.request("POST", "/api/v2/alerts", list(alerts))

    def fire(
        self,
        labels: dict[str, str],
        annotations: dict[str, str] | None = None,
        starts: datetime | None = None,
        lasts: timedelta = timedelta(hours=1),
    ) -> None:
        """One firing alert (Prometheus repeats it; here it lasts `lasts` unless resolved)."""
        begin = starts or datetime.now(UTC)
        self.post_alerts(
            [
                {
                    "labels": labels,
                    "annotations": annotations or {},
                    "startsAt": stamp(begin),
                    "endsAt": stamp(begin + lasts),
                    "generatorURL": "http://prometheus.invalid/graph?g0.expr=up",
                }
            ]
        )

    def resolve(self, labels: dict[str, str], starts: datetime) -> None:
        """Resolve an alert sent by `fire` (same labels and start)."""
        self.post_alerts(
            [
                {
                    "labels": labels,
                    "startsAt": stamp(starts),
                    "endsAt": stamp(datetime.now(UTC)),
                    "generatorURL": "http://prometheus.invalid/graph?g0.expr=up",
                }
            ]
        )

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts it holds."""
        found: list[dict[str, Any]] = self.request("GET", "/api/v2/alerts")
        return found

    def silences(self) -> list[dict[str, Any]]:
        """Every silence it knows (active, pending and expired)."""
        found: list[dict[str, Any]] = self.request("GET", "/api/v2/silences")
        return found


def webhook_config(url: str, token: str | None = None, **route: str) -> str:
    """A configuration routing every alert, at once, to one webhook receiver.

    `route` overrides the route's timings (group_wait, group_interval, repeat_interval) and may
    set group_by as a comma-separated list.
    """
    timing = {"group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"}
    group_by = route.pop("group_by", "alertname")
    timing.update(route)
    auth = ""
    if token is not None:
        auth = f"\n        http_config:\n          authorization:\n            credentials: {token}"
    labels = ", ".join(f"'{label}'" for label in group_by.split(","))
    return f"""route:
  receiver: statuspage
  group_by: [{labels}]
  group_wait: {timing["group_wait"]}
  group_interval: {timing["group_interval"]}
  repeat_interval: {timing["repeat_interval"]}
receivers:
  - name: statuspage
    webhook_configs:
      - url: '{url}'
        send_resolved: true
        max_alerts: 0{auth}
"""
