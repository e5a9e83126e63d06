"""The container image, built and run: the operator and the page server from it, on the cluster.

tests/image/build.sh builds the image with buildah on the offline Debian base (cached outside the
repository by the hash of everything it is made of, so an unchanged tree builds nothing; it
installs buildah, podman and runc when missing). podman runs it as a pod would: the image's own
user and entry point, a read-only root with only /tmp writable, no capabilities, no new privileges,
the kubeconfig mounted read-only, on the host's network to reach the local kube-apiserver.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.cluster import free_port
from e2e.conftest import OperatorProcess
from e2e.kube import Kube, component, wait_for
from e2e.objects import in_seconds, make_component, make_page, make_window

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tests" / "image" / "build.sh"
UID = 65532
KUBE_DIR = "/var/run/statuspage"
# The podman here cannot use crun (cgroups v1 and v2 both mounted) nor raise rlimits: runc, and
# limits no higher than the machine's.
PODMAN = ["podman", "--runtime", "runc"]
RUN = [
    "run",
    "--rm",
    "--pull=never",
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs=/tmp",
    "--cap-drop=all",
    "--security-opt=no-new-privileges",
    "--network=host",
    "--ulimit=nofile=4096:4096",
    "--ulimit=nproc=4096:4096",
]
# Building the image the first time on a fresh machine: the tools, the Debian base, the wheels.
COLD_BUILD_TIMEOUT = 900

pytestmark = pytest.mark.timeout(COLD_BUILD_TIMEOUT)


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """podman with runc; its output, whatever its exit code."""
    return subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def image() -> str:
    """The image's content-addressed tag, built only if anything it is made of changed."""
    result = subprocess.run(
        ["bash", str(BUILD)],
        # The offline base; no other tag: `make image` may have tagged its own build.
        env={**os.environ, "PYTHON_IMAGE": "debian", "IMAGE": "", "HOST_PYTHON": sys.executable},
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        timeout=COLD_BUILD_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{BUILD} failed (its output is above)"
    for tool in ("buildah", "podman", "runc"):
        assert shutil.which(tool), f"{tool} is missing after {BUILD}: apt-get install {tool}"
    return result.stdout.strip().splitlines()[-1]


def config(image: str) -> dict[str, Any]:
    """The image's OCI configuration."""
    result = subprocess.run(
        ["buildah", "inspect", "--type", "image", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, Any] = json.loads(result.stdout)["OCIv1"]["config"]
    return found


def test_image_runs_the_operator_as_65532(image: str) -> None:
    """User 65532:65532 as in the Deployments; the operator is the entry point, with no command."""
    settings = config(image)
    assert settings["User"] == f"{UID}:{UID}"
    assert settings["Entrypoint"] == ["statuspage-operator"]
    assert not settings.get("Cmd")
    [path] = [e.removeprefix("PATH=") for e in settings["Env"] if e.startswith("PATH=")]
    assert path.split(":")[0] == "/opt/venv/bin"


@pytest.mark.parametrize(
    ("entrypoint", "usage"),
    [
        pytest.param([], "usage: statuspage-operator", id="operator"),
        pytest.param(["--entrypoint=statuspage-server"], "usage: statuspage-server", id="server"),
        pytest.param(["--entrypoint=kubectl-statuspage"], "usage: kubectl statuspage", id="cli"),
        pytest.param(["--entrypoint=statuspage-alerts"], "usage: statuspage-alerts", id="alerts"),
        pytest.param(["--entrypoint=statuspage-signup"], "usage: statuspage-signup", id="signup"),
    ],
)
def test_entry_points_answer_help(image: str, entrypoint: list[str], usage: str) -> None:
    """Each console script starts in the image, read-only, as the image's user."""
    result = podman(*RUN, *entrypoint, image, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(usage), result.stdout


def test_root_is_read_only_and_only_tmp_is_writable(image: str) -> None:
    """What the operator runs under: uid/gid 65532, a read-only root, a writable /tmp."""
    probe = (
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "for path in ('/opt/venv/probe', '/probe', '/tmp/probe'):\n"
        "    try:\n"
        "        open(path, 'w').close()\n"
        "        print(path, 'written')\n"
        "    except OSError as error:\n"
        "        print(path, error.strerror)\n"
    )
    result = podman(*RUN, "--entrypoint=python3", image, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{UID} {UID}",
        "/opt/venv/probe Read-only file system",
        "/probe Read-only file system",
        "/tmp/probe written",
    ]


def kube_dir(kube: Kube, directory: Path) -> Path:
    """The operator user's kubeconfig and its certificates, for mounting at KUBE_DIR."""
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    [cluster] = admin["clusters"]
    [user] = [u["user"] for u in admin["users"] if u["name"] == "operator"]
    directory.mkdir()
    files = {
        "ca.crt": cluster["cluster"]["certificate-authority"],
        "operator.crt": user["client-certificate"],
        "operator.key": user["client-key"],
    }
    for name, source in files.items():
        shutil.copyfile(source, directory / name)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": cluster["cluster"]["server"],
                    "certificate-authority": f"{KUBE_DIR}/ca.crt",
                },
            }
        ],
        "users": [
            {
                "name": "operator",
                "user": {
                    "client-certificate": f"{KUBE_DIR}/operator.crt",
                    "client-key": f"{KUBE_DIR}/operator.key",
                },
            }
        ],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
        "current-context": "operator",
    }
    (directory / "kubeconfig").write_text(yaml.safe_dump(config))
    # The container's user reads them, as a Secret mounted into the pod; nobody else can.
    for path in [directory, *directory.iterdir()]:
        shutil.chown(path, UID, UID)
        path.chmod(0o500 if path.is_dir() else 0o400)
    return directory


class Container:
    """One entry point of the image, running in the background under podman."""

    def __init__(self, kube_dir: Path, log: Path, args: list[str]) -> None:
        """`args`: podman's options for this container, the image, the program's arguments."""
        self.name = f"statuspage-e2e-{uuid.uuid4().hex[:8]}"
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    *PODMAN,
                    *RUN,
                    f"--name={self.name}",
                    f"--volume={kube_dir}:{KUBE_DIR}:ro",
                    f"--env=KUBECONFIG={KUBE_DIR}/kubeconfig",
                    *args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        """Its output so far."""
        return self.log.read_text(errors="replace")

    def ids(self) -> list[str]:
        """Its main process's real, effective, saved and file system uids and gids, from /proc."""
        pid = podman("inspect", "--format={{.State.Pid}}", self.name).stdout.strip()
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        lines = [line.split()[1:] for line in status if line.startswith(("Uid:", "Gid:"))]
        return [number for line in lines for number in line]

    def stop(self) -> int:
        """SIGTERM, as the kubelet stops a container, and its exit code."""
        if self.process.poll() is None:
            podman("stop", "--time=30", self.name, timeout=60)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait()
        podman("rm", "--force", "--ignore", self.name)
        return self.process.returncode


def get(url: str) -> tuple[int, str]:
    """GET: status and body; refused or failing connections are (0, reason)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    """The containers a test starts, stopped (and their logs printed) after it."""
    started: list[Container] = []
    yield started
    for container in started:
        container.stop()
        tail = "\n".join(container.text().splitlines()[-30:])
        print(f"\n--- {container.name} log (tail) ---\n{tail}")


def test_operator_and_server_from_the_image_run_a_window(
    image: str,
    kube: Kube,
    published: str,
    operator: OperatorProcess,
    containers: list[Container],
    tmp_path: Path,
) -> None:
    """The image's operator reconciles a page and a window; its server serves the page."""
    namespace = published
    # Only the operator from the image acts meanwhile: the session's own one is stopped.
    operator.stop()
    try:
        mounted = kube_dir(kube, tmp_path / "kube")
        liveness, metrics, http = free_port(), free_port(), free_port()
        main = Container(
            mounted,
            tmp_path / "operator.log",
            [
                image,
                f"--liveness=http://127.0.0.1:{liveness}/healthz",
                f"--metrics-port={metrics}",
            ],
        )
        containers.append(main)
        wait_for(lambda: "listed " in main.text(), 60, what="the operator in the image to list")
        assert main.ids() == [str(UID)] * 8
        healthz = f"http://127.0.0.1:{liveness}/healthz"
        wait_for(lambda: get(healthz)[0] == 200, 10, what="the operator's liveness endpoint")
        server = Container(
            mounted,
            tmp_path / "server.log",
            [
                "--entrypoint=statuspage-server",
                image,
                "--host=127.0.0.1",
                f"--port={http}",
                "--metrics-port=0",
            ],
        )
        containers.append(server)

        kube.apply(
            namespace, make_page(visibility="Public"), make_component("api"), make_component("db")
        )
        wait_for(lambda: component(kube, namespace, "api") == "Operational", 20, what="api")
        wait_for(lambda: get(f"http://127.0.0.1:{http}/readyz")[0] == 200, 60, what="server")
        start, end = in_seconds(4), in_seconds(9)
        kube.apply(namespace, make_window("soon", start, end, ["api"]))

        def phase() -> str | None:
            return kube.status("mw", "soon", namespace).get("phase")

        wait_for(lambda: phase() == "InProgress", 15, what="the window InProgress")
        assert component(kube, namespace, "api") == "UnderMaintenance"
        page = f"http://127.0.0.1:{http}/{namespace}/example/"
        wait_for(lambda: "Maintenance soon" in get(page)[1], 10, what="the window on the page")
        wait_for(lambda: phase() == "Completed", 15, what="the window Completed")
        wait_for(lambda: component(kube, namespace, "api") == "Operational", 5, what="api back")
        status, body = get(f"http://127.0.0.1:{metrics}/metrics")
        assert status == 200
        assert "statuspage" in body

        assert main.stop() == 0, main.text()
        assert server.stop() == 0, server.text()
    finally:
        operator.start()
