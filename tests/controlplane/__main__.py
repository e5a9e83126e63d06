"""`python -m controlplane up|down|status|build`: a local control plane that outlives the command.

`up` starts a supervisor process in its own session that holds the cluster and writes
`<state>/kubeconfig` once kube-apiserver is ready; `down` asks it to stop, which removes every
process and the state directory. Used by `make cluster-up`, `make cluster-down` and `make run`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from controlplane.cluster import LocalCluster, build_binaries

UP_TIMEOUT = 180.0


def _pid(state: Path) -> int | None:
    try:
        pid = int((state / "supervisor.pid").read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def serve(state: Path) -> None:
    """Hold a cluster until SIGTERM or SIGINT (the supervisor)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cluster = LocalCluster(build_binaries(), workdir=state / "cluster")
    cluster.start()
    try:
        (state / "kubeconfig").write_text(cluster.kubeconfig.read_text())
        while not stop.wait(2):
            cluster.check_alive()
    finally:
        cluster.stop()
        shutil.rmtree(state / "cluster", ignore_errors=True)
        (state / "kubeconfig").unlink(missing_ok=True)
        (state / "supervisor.pid").unlink(missing_ok=True)


def up(state: Path) -> int:
    """Start the supervisor unless one runs; wait until the kubeconfig is written."""
    kubeconfig = state / "kubeconfig"
    if _pid(state) and kubeconfig.exists():
        print(f"local control plane already running; KUBECONFIG={kubeconfig}")
        return 0
    build_binaries()
    state.mkdir(parents=True, exist_ok=True)
    kubeconfig.unlink(missing_ok=True)
    log = (state / "supervisor.log").open("ab")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "serve", "--state", str(state)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    (state / "supervisor.pid").write_text(str(process.pid))
    while not kubeconfig.exists():
        if process.poll() is not None or time.monotonic() - started > UP_TIMEOUT:
            print(f"local control plane failed to start; see {state / 'supervisor.log'}")
            return 1
        time.sleep(0.2)
    print(
        f"local control plane ready in {time.monotonic() - started:.1f}s; KUBECONFIG={kubeconfig}"
    )
    return 0


def down(state: Path) -> int:
    """Stop the supervisor, which stops the cluster and removes its files."""
    pid = _pid(state)
    if pid is None:
        print("local control plane not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _pid(state) == pid and time.monotonic() < deadline:
        time.sleep(0.2)
    print("local control plane stopped")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="controlplane")
    parser.add_argument("command", choices=["up", "down", "serve", "build"])
    parser.add_argument("--state", type=Path, default=Path(".cluster"))
    args = parser.parse_args()
    state = args.state.resolve()
    if args.command == "serve":
        serve(state)
        return 0
    if args.command == "build":
        print(build_binaries())
        return 0
    return up(state) if args.command == "up" else down(state)


if __name__ == "__main__":
    sys.exit(main())
