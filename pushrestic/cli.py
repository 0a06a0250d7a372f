"""The command line: arguments to library calls, errors to exit codes, in one place.

Exit codes (documented in README.md):

* 0  the report was made (whatever the backup's own outcome)
* 2  usage or configuration error: nothing was reported
* 65 the input is not restic/autorestic output (empty, binary, another
     program's log, values that do not parse): the run was reported as failed
* 66 the input could not be read: the run was reported as failed
* 70 internal error (a bug): please report it
* 74 the textfile could not be written
* 75 a push failed after its retries: the report is kept in the spool and
     sent by the next invocation or by ``pushrestic flush``
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pushrestic import __version__
from pushrestic.errors import DeliveryError, InputUnreadable, PushresticError, UsageError

if TYPE_CHECKING:
    from pushrestic.collect import Collected
    from pushrestic.deliver import Deliverer
    from pushrestic.settings import Destinations

log = logging.getLogger("pushrestic")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_BAD_INPUT = 65
EXIT_UNREADABLE = 66
EXIT_INTERNAL = 70
EXIT_TEXTFILE = 74
EXIT_SPOOLED = 75


def build_parser() -> argparse.ArgumentParser:
    from pushrestic.settings import add_delivery_arguments

    parser = argparse.ArgumentParser(
        prog="pushrestic",
        description="Report restic and autorestic backup runs to Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"pushrestic {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is done, to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    push = commands.add_parser(
        "push",
        help="report the run(s) in a restic or autorestic log",
        description="Read what restic or autorestic printed and report each "
        "(location, backend) run to a Pushgateway and/or a textfile.",
    )
    push.add_argument("log", nargs="?", default="-", metavar="LOG", help="log file, or - for stdin")
    push.add_argument(
        "--format",
        dest="fmt",
        choices=("auto", "text", "json", "autorestic"),
        default="auto",
        help="input format (default: detected)",
    )
    push.add_argument(
        "--exit-code",
        type=_exit_code,
        default=None,
        metavar="N",
        help="restic's exit code, when the caller knows it (it beats what the output suggests)",
    )
    push.add_argument("--location", help="location label (default: from the log, else 'default')")
    push.add_argument("--backend", help="backend label (default: from the log, else 'default')")
    push.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra label on every series (repeatable)",
    )
    push.add_argument(
        "--dry-run",
        action="store_true",
        help="print the metrics, as a node_exporter textfile would hold them, and send nothing",
    )
    add_delivery_arguments(push)

    flush = commands.add_parser("flush", help="deliver the reports waiting in the spool")
    add_delivery_arguments(flush, textfile=False)

    groups = commands.add_parser("groups", help="list this job's groups on the Pushgateway")
    add_delivery_arguments(groups, textfile=False)

    delete = commands.add_parser("delete", help="remove one group from the Pushgateway")
    delete.add_argument("--location", required=True)
    delete.add_argument("--backend", required=True)
    add_delivery_arguments(delete, textfile=False)
    return parser


def _exit_code(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an exit code: {text!r}") from None
    if not -1 <= value <= 255:
        raise argparse.ArgumentTypeError(f"not an exit code: {text!r} (expected 0-255)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pushrestic`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="pushrestic: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "push":
            return _push(args)
        if args.command == "flush":
            return _flush(args)
        if args.command == "groups":
            return _groups(args)
        if args.command == "delete":
            return _delete(args)
    except UsageError as error:
        _error(str(error))
        return EXIT_USAGE
    except DeliveryError as error:
        _error(str(error))
        return EXIT_SPOOLED
    except PushresticError as error:
        _error(str(error))
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as error:  # a bug: one line for the user, the traceback with -v
        log.info("internal error", exc_info=True)
        _error(f"internal error: {type(error).__name__}: {error} (run with -v for details)")
        return EXIT_INTERNAL
    return EXIT_USAGE


def _push(args: argparse.Namespace) -> int:
    from pushrestic.collect import InputSpec, collect_runs
    from pushrestic.metrics import parse_labels
    from pushrestic.settings import resolve
    from pushrestic.sinks import textfile

    labels = parse_labels(args.label)
    destinations = resolve(args, os.environ)
    if not args.dry_run and destinations.push is None and destinations.textfile is None:
        raise UsageError("no destination: give --gateway URL, --textfile PATH or --dry-run")
    spec = InputSpec(args.log, args.fmt, args.exit_code, args.location, args.backend, labels)
    collected = collect_runs(spec)
    code = EXIT_OK
    if args.dry_run:
        sys.stdout.buffer.write(textfile.render(collected.runs, labels))
        sys.stdout.flush()
    else:
        code = _deliver(collected, labels, destinations)
    if collected.problem is not None:
        _error(f"{collected.problem} (reported as a failed run)")
        if code == EXIT_OK:
            unreadable = isinstance(collected.problem, InputUnreadable)
            code = EXIT_UNREADABLE if unreadable else EXIT_BAD_INPUT
    return code


def _deliver(collected: Collected, labels: dict[str, str], destinations: Destinations) -> int:
    """Send the runs to every destination; a failure of one does not stop the other."""
    from pushrestic.sinks import textfile

    code = EXIT_OK
    if destinations.textfile is not None:
        try:
            textfile.write(destinations.textfile, collected.runs, labels)
        except DeliveryError as error:
            _error(str(error))
            code = EXIT_TEXTFILE
    if destinations.push is not None:
        deliverer = _deliverer(destinations)
        deliverer.replay(skip=_group_ids(deliverer, collected))
        deliverer.push(collected.runs, labels)
        if not deliverer.result.complete:
            spooled = ", ".join(deliverer.result.spooled)
            _error(
                f"push failed, kept in {deliverer.spool.directory}: {spooled}; "
                f"{deliverer.result.errors[-1] if deliverer.result.errors else ''}"
            )
            code = EXIT_SPOOLED
    return code


def _flush(args: argparse.Namespace) -> int:
    deliverer = _deliverer(_destinations(args))
    deliverer.replay()
    for name in deliverer.result.replayed:
        print(f"delivered {name}")
    if not deliverer.result.complete:
        _error(f"still spooled: {', '.join(deliverer.result.spooled)}")
        return EXIT_SPOOLED
    return EXIT_OK


def _groups(args: argparse.Namespace) -> int:
    import datetime

    deliverer = _deliverer(_destinations(args))
    rows = []
    for group in deliverer.groups():
        labels = {k: v for k, v in group.labels.items() if k != "job"}
        pushed = (
            datetime.datetime.fromtimestamp(group.push_time, datetime.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            if group.push_time
            else "never"
        )
        failed = (
            " (last push failed)" if (group.push_failure_time or 0) > (group.push_time or 0) else ""
        )
        shown = " ".join(f"{k}={v!r}" for k, v in sorted(labels.items()))
        rows.append(f"{pushed}  {shown}{failed}")
    for row in sorted(rows):
        print(row)
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    deliverer = _deliverer(_destinations(args))
    key = deliverer.settings.gateway.key(args.location, args.backend)
    deliverer.delete(key)
    print(f"deleted {args.location}/{args.backend}")
    return EXIT_OK


def _destinations(args: argparse.Namespace) -> Destinations:
    from pushrestic.settings import resolve

    destinations = resolve(args, os.environ)
    if destinations.push is None:
        raise UsageError("no Pushgateway: give --gateway URL or set PUSHRESTIC_GATEWAY")
    return destinations


def _deliverer(destinations: Destinations) -> Deliverer:
    from pushrestic.deliver import Deliverer

    assert destinations.push is not None
    return Deliverer(destinations.push)


def _group_ids(deliverer: Deliverer, collected: Collected) -> set[str]:
    from pushrestic.sinks.spool import group_id

    gateway = deliverer.settings.gateway
    return {
        group_id(gateway.url, gateway.job, gateway.key(run.location, run.backend))
        for run in collected.runs
    }


def _error(message: str) -> None:
    print(f"pushrestic: error: {message}", file=sys.stderr)
