"""The plugin's exit codes and the one error type that carries a message and a code to main()."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a script can rely on (listed in `kubectl statuspage --help`)."""

    OK = 0
    FAILED = 1  # the object is missing, or the API server refused or failed the request
    USAGE = 2  # bad arguments (argparse's own code)
    UNREACHABLE = 3  # no kubeconfig, or the cluster cannot be reached


class CliError(Exception):
    """A failure to report as one line on stderr, then exit with `code`."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
