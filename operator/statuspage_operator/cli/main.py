"""`kubectl statuspage`: the command line, its options, and one line on stderr for any failure.

kubectl finds the `kubectl-statuspage` executable on PATH and runs it with the arguments after
`statuspage`. The global options work as in kubectl, before or after the subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import NoReturn

from statuspage_operator.api.times import parse_time
from statuspage_operator.cli import commands, subscribers
from statuspage_operator.cli.client import Api, connect, context_namespace, kubeconfig_path
from statuspage_operator.cli.errors import CliError, ExitCode
from statuspage_operator.cli.listing import Listing
from statuspage_operator.domain.incidents import IncidentPhase

PROG = "kubectl statuspage"
PHASES = ", ".join(IncidentPhase)
FEED_KEY_SECRET = "statuspage-system/statuspage-feed-key"

EPILOG = """\
exit codes:
  0  success
  1  the object was not found, or the API server refused or failed the request
  2  usage error (bad arguments)
  3  the cluster cannot be reached (no kubeconfig, connection refused, timeout)
"""

HISTORY_HELP = """\
Open incidents (however old), then the incidents resolved and the maintenance completed or
cancelled in the last N days, newest first. "The last N days" are N calendar days in the page's
spec.timeZone, today included: from local midnight N-1 days ago until now (--days 1 is today).
"""

STATUS_HELP = """\
The page as text: its indicator, its components (groups and ungrouped components in order of
spec.position, then the name shown, then the name), open incidents, maintenance in progress
and upcoming. Times are in the page's spec.timeZone.

With --at TIME, the page as it will be at TIME: maintenance windows in progress then (a window's
phase follows from its spec and the time, so this is exact unless the windows change), and the
incidents open now, as they are now.
"""


class Parser(argparse.ArgumentParser):
    """argparse with kubectl's error style: one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error on one line."""
        self.exit(ExitCode.USAGE, f"error: {message} (see '{self.prog} --help')\n")


def phase(text: str) -> IncidentPhase:
    """An update status, case-insensitive, normalised to PascalCase."""
    for value in IncidentPhase:
        if value.casefold() == text.strip().casefold():
            return value
    raise argparse.ArgumentTypeError(f"invalid status {text!r}; valid values: {PHASES}")


def instant(text: str) -> datetime:
    """An RFC 3339 time with an offset, e.g. 2026-05-10T14:00:00Z."""
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}; expected RFC 3339 with an offset, e.g. 2026-05-10T14:00:00Z"
        ) from None


def message(text: str) -> str:
    """A non-empty update message."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the message must not be empty")
    return text


def days(text: str) -> int:
    """A whole number of days, at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid number of days {text!r}; expected 1 or more")
    return value


def _global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-n",
        "--namespace",
        default=default,
        help="the namespace (default: the kubeconfig context's namespace, else 'default')",
    )
    parser.add_argument("--context", default=default, help="the kubeconfig context to use")
    parser.add_argument(
        "--kubeconfig", default=default, help="the kubeconfig file (default: $KUBECONFIG)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = Parser(
        prog=PROG,
        description="Run a status page from the command line, in the middle of an incident.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, None)
    # The same options after the subcommand; SUPPRESS keeps a value given before it.
    common = Parser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        group: argparse._SubParsersAction[Parser], name: str, summary: str, text: str = ""
    ) -> Parser:
        return group.add_parser(
            name,
            help=summary,
            description=text or summary,
            epilog=EPILOG,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    incident = sub.add_parser("incident", help="update or resolve an incident", parents=[common])
    incidents = incident.add_subparsers(dest="action", required=True, metavar="ACTION")
    update = command(
        incidents,
        "update",
        "append an update to an incident",
        "Append an update to an incident's spec.updates (atomically: concurrent updates all land).",
    )
    update.add_argument("name", metavar="NAME")
    update.add_argument("--status", required=True, type=phase, help=f"one of {PHASES}")
    update.add_argument("--message", required=True, type=message, help="the text shown")
    update.add_argument("--at", type=instant, help="when it happened (RFC 3339), to backfill")
    resolve = command(
        incidents,
        "resolve",
        "resolve an incident",
        "Append a Resolved update to an incident, unless its latest update already is one.",
    )
    resolve.add_argument("name", metavar="NAME")
    resolve.add_argument(
        "--message", type=message, help=f'the text shown (default: "{commands.RESOLVED_MESSAGE}")'
    )

    publish = command(
        sub,
        "publish",
        "publish a draft incident",
        "Publish a draft incident (sets spec.draft to false): from then on it is shown, sets its\n"
        "components and subscribers hear of it as created, with its updates so far.",
    )
    publish.add_argument("name", metavar="NAME")

    maintenance = sub.add_parser(
        "maintenance", help="cancel a maintenance window", parents=[common]
    )
    windows = maintenance.add_subparsers(dest="action", required=True, metavar="ACTION")
    cancel = command(
        windows,
        "cancel",
        "cancel a maintenance window",
        "Cancel a maintenance window (sets spec.cancelled); one in progress ends at once.",
    )
    cancel.add_argument("name", metavar="NAME")

    status = command(sub, "status", "show a page: components, incidents, maintenance", STATUS_HELP)
    status.add_argument("page", metavar="PAGE")
    status.add_argument(
        "--at",
        type=instant,
        help="show the page as it will be at this time (RFC 3339), from the maintenance planned",
    )
    feed = command(
        sub,
        "feed-url",
        "print the private feed URL of an audience of a Private page",
        "The Atom feed URL with the token of one audience (docs/server.md, Private pages), made\n"
        "with the key in the feed key Secret, read with your own rights.",
    )
    feed.add_argument("page", metavar="PAGE")
    feed.add_argument("--audience", required=True, help="the audience (spec.audiences[].name)")
    feed.add_argument(
        "--secret",
        default=FEED_KEY_SECRET,
        help=f"the feed key Secret, NAMESPACE/NAME (default: {FEED_KEY_SECRET})",
    )
    feed.add_argument("--public-url", help="the server's public URL, for a page without spec.url")
    history = command(sub, "history", "list what happened in the last N days", HISTORY_HELP)
    history.add_argument("page", metavar="PAGE")
    history.add_argument("--days", type=days, default=30, help="how many days (default: 30)")
    subscribers.add_parsers(sub, command, common)
    return parser


def run(args: argparse.Namespace) -> str:
    """Connect as kubectl would and run the chosen command."""
    path = kubeconfig_path(args.kubeconfig)
    namespace = args.namespace or context_namespace(path, args.context)
    api_client = connect(path, args.context)
    api = Api(api_client, namespace)
    match args.command, getattr(args, "action", None):
        case "incident", "update":
            return commands.incident_update(api, args.name, args.status, args.message, args.at)
        case "incident", "resolve":
            return commands.incident_resolve(api, args.name, args.message)
        case "publish", _:
            return commands.publish(api, args.name)
        case "maintenance", "cancel":
            return commands.maintenance_cancel(api, args.name)
        case "status", _:
            return commands.status(api, args.page, args.at)
        case "feed-url", _:
            return commands.feed_url(api, args.page, args.audience, args.secret, args.public_url)
        case "history", _:
            return commands.history(api, args.page, args.days)
        case "subscribers", _:
            return subscribers.run(api, Listing(api_client, namespace), args)
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: print the result, or one error line and an exit code."""
    args = build_parser().parse_args(subscribers.shorthand(sys.argv[1:] if argv is None else argv))
    try:
        output = run(args)
    except CliError as error:
        sys.stderr.write(f"error: {error.message}\n")
        return error.code
    except KeyboardInterrupt:
        return 130
    sys.stdout.write(output if output.endswith("\n") else output + "\n")
    return ExitCode.OK
