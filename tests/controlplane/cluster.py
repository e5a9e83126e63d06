"""Start and stop a real local control plane: etcd, kube-apiserver, kube-controller-manager.

What Go operators call envtest, plus the controller manager for namespace deletion and garbage
collection. Everything listens on free loopback ports and lives in one temporary directory, which
`stop()` removes. Child processes die with their parent (PR_SET_PDEATHSIG), so a killed test run
leaves no orphans.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from controlplane.pki import CertificateAuthority, KeyPair, service_account_keys

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build.sh"
ADMIN_USER = "admin"
OPERATOR_USER = "statuspage-operator"
READY_TIMEOUT = 90.0
_PR_SET_PDEATHSIG = 1


def build_binaries() -> Path:
    """Build (only when missing) and return the directory holding the three binaries."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class LocalCluster:
    """A running control plane; use as a context manager or call start()/stop()."""

    binaries: Path
    workdir: Path | None = None
    keep_workdir: bool = False
    # More kube-apiserver flags, after ours (a later flag wins), e.g. ["--watch-cache=false"].
    apiserver_flags: list[str] = field(default_factory=list)
    server: str = ""
    kubeconfig: Path = field(default_factory=Path)
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _owns_workdir: bool = False

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start etcd, then kube-apiserver, wait for /readyz, then kube-controller-manager."""
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="statuspage-cluster-"))
            self._owns_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        pki = self.workdir / "pki"
        pki.mkdir(exist_ok=True)
        ca = CertificateAuthority(pki)
        serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            server_names=(
                "127.0.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "10.0.0.1",
            ),
        )
        admin = ca.issue("admin", ADMIN_USER, groups=("system:masters",))
        operator = ca.issue("operator", OPERATOR_USER)
        service_accounts = service_account_keys(pki)
        try:
            etcd_url = self._start_etcd()
            port = free_port()
            self.server = f"https://127.0.0.1:{port}"
            self._start_apiserver(port, etcd_url, ca, serving, service_accounts)
            self.kubeconfig = self.workdir / "kubeconfig"
            self._write_kubeconfig(ca, admin, operator)
            self._wait_ready(ca, admin)
            self._start_controller_manager()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process (TERM, then KILL) in reverse order and remove the work dir."""
        for name in reversed(list(self._processes)):
            process = self._processes.pop(name)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=15)
        if self.workdir is not None and self._owns_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def check_alive(self) -> None:
        """Raise if a control plane process has exited."""
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; see {self._log_path(name)}"
                )

    @property
    def pids(self) -> dict[str, int]:
        """Process ids by component name."""
        return {name: process.pid for name, process in self._processes.items()}

    # -- processes -------------------------------------------------------------------------

    def _log_path(self, name: str) -> Path:
        assert self.workdir is not None
        return self.workdir / f"{name}.log"

    def _spawn(self, name: str, args: list[str]) -> None:
        log = self._log_path(name).open("wb")
        self._processes[name] = subprocess.Popen(
            [str(self.binaries / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.close()

    def _start_etcd(self) -> str:
        assert self.workdir is not None
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            [
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--listen-metrics-urls=",
                "--unsafe-no-fsync=true",
                "--watch-progress-notify-interval=5s",
                "--log-level=warn",
            ],
        )
        return url

    def _start_apiserver(
        self,
        port: int,
        etcd_url: str,
        ca: CertificateAuthority,
        serving: KeyPair,
        service_accounts: KeyPair,
    ) -> None:
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--secure-port={port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.cert_path}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={service_accounts.cert}",
                f"--service-account-signing-key-file={service_accounts.key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                "--v=0",
                *self.apiserver_flags,
            ],
        )

    def _start_controller_manager(self) -> None:
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                "--controllers=namespace-controller,garbage-collector-controller,cronjob-controller",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                "--secure-port=0",
                "--concurrent-cron-job-syncs=5",
            ],
        )

    def _wait_ready(self, ca: CertificateAuthority, admin: KeyPair) -> None:
        context = ssl.create_default_context(cafile=str(ca.cert_path))
        context.load_cert_chain(str(admin.cert), str(admin.key))
        deadline = time.monotonic() + READY_TIMEOUT
        last_error = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(
                    f"{self.server}/readyz", context=context, timeout=5
                ) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(0.25)
        raise TimeoutError(f"kube-apiserver not ready after {READY_TIMEOUT}s: {last_error}")

    def _write_kubeconfig(
        self, ca: CertificateAuthority, admin: KeyPair, operator: KeyPair
    ) -> None:
        users = {"admin": admin, "operator": operator}
        lines = [
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- name: local",
            "  cluster:",
            f"    server: {self.server}",
            f"    certificate-authority: {ca.cert_path}",
            "users:",
        ]
        for name, pair in users.items():
            lines += [
                f"- name: {name}",
                "  user:",
                f"    client-certificate: {pair.cert}",
                f"    client-key: {pair.key}",
            ]
        lines.append("contexts:")
        for name in users:
            lines += [
                f"- name: {name}",
                "  context:",
                "    cluster: local",
                f"    user: {name}",
                "    namespace: default",
            ]
        lines.append("current-context: admin")
        self.kubeconfig.write_text("\n".join(lines) + "\n")
        self.kubeconfig.chmod(0o600)


def terminate_quietly(pid: int) -> None:
    """Send SIGTERM to a process that may already be gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
