"""The command line: arguments to library calls, errors to exit codes, in one place.

Exit codes (documented in README.md):

* 0  the report was made (whatever the backup's own outcome)
* 2  usage or configuration error: nothing was reported
* 65 the input is not restic/autorestic output (empty, binary, another
     program's log, values that do not parse): the run was reported as failed
* 66 the input could not be read: the run was reported as failed
* 70 internal error (a bug): please report it
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pushrestic import __version__
from pushrestic.errors import InputError, InputUnreadable, PushresticError, UsageError

log = logging.getLogger("pushrestic")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_BAD_INPUT = 65
EXIT_UNREADABLE = 66
EXIT_INTERNAL = 70


@dataclass(frozen=True, slots=True)
class PushRequest:
    """What ``pushrestic push`` was asked to do."""

    log: str
    fmt: str
    exit_code: int | None
    location: str | None
    backend: str | None
    labels: dict[str, str]
    dry_run: bool


def build_parser() -> argparse.ArgumentParser:
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
        "(location, backend) run.",
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
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="pushrestic: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "push":
            from pushrestic.metrics import parse_labels

            request = PushRequest(
                log=args.log,
                fmt=args.fmt,
                exit_code=args.exit_code,
                location=args.location,
                backend=args.backend,
                labels=parse_labels(args.label),
                dry_run=args.dry_run,
            )
            return push(request)
    except UsageError as error:
        _error(str(error))
        return EXIT_USAGE
    except PushresticError as error:
        _error(str(error))
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as error:  # a bug: one line for the user, the traceback at debug level
        log.debug("internal error", exc_info=True)
        _error(f"internal error: {type(error).__name__}: {error} (run with -v for details)")
        return EXIT_INTERNAL
    return EXIT_USAGE


def push(request: PushRequest) -> int:
    """Read, parse and report; a bad input is still reported, as a failed run."""
    from pushrestic.inputs import LineReader, input_mtime, open_input
    from pushrestic.outcome import build_run, failed_run
    from pushrestic.parsers import parse_groups

    if not request.dry_run:
        raise UsageError("nothing to send to yet: use --dry-run (the Pushgateway and textfile sinks come next)")
    now = time.time()
    problem: InputError | None = None
    runs = []
    try:
        stream, source = open_input(request.log)
        with stream:
            reader = LineReader(stream, source)
            try:
                groups = parse_groups(reader, fmt=request.fmt, source=source)
            except InputError as error:
                if not (reader.empty and request.exit_code == 0):
                    raise
                groups = []  # restic --quiet prints nothing on success
        ended_at = input_mtime(request.log) or now
        for group in groups:
            if request.location is not None and group.location not in (None, request.location):
                continue
            if request.backend is not None and group.backend not in (None, request.backend):
                continue
            runs.append(
                build_run(
                    group,
                    given_exit_code=request.exit_code if group.location is None else None,
                    location=request.location,
                    backend=request.backend,
                    ended_at=ended_at,
                )
            )
        if not groups:
            from pushrestic.model import GroupOutput, ResticOutput

            runs.append(
                build_run(
                    GroupOutput(None, None, ResticOutput()),
                    given_exit_code=request.exit_code,
                    location=request.location,
                    backend=request.backend,
                    ended_at=ended_at,
                )
            )
        elif not runs:
            raise UsageError(
                f"{source}: no run for location {request.location!r} and backend {request.backend!r}"
            )
    except InputError as error:
        problem = error
        runs = [
            failed_run(
                request.location,
                request.backend,
                f"unreadable input: {error.reason}",
                exit_code=request.exit_code,
                ended_at=now,
            )
        ]
    _report(runs, request)
    for run in runs:
        log.info(
            "%s/%s: exit code %s (%s)%s",
            run.location,
            run.backend,
            run.outcome.exit_code,
            run.outcome.source.value,
            f": {run.outcome.reason}" if run.outcome.reason else "",
        )
    if problem is not None:
        _error(f"{problem} (reported as a failed run)")
        return EXIT_UNREADABLE if isinstance(problem, InputUnreadable) else EXIT_BAD_INPUT
    return EXIT_OK


def _report(runs: Sequence[object], request: PushRequest) -> None:
    from prometheus_client.exposition import generate_latest

    from pushrestic.metrics import build_registry
    from pushrestic.model import Run

    typed = [run for run in runs if isinstance(run, Run)]
    sys.stdout.buffer.write(generate_latest(build_registry(typed, request.labels)))
    sys.stdout.flush()


def _error(message: str) -> None:
    print(f"pushrestic: error: {message}", file=sys.stderr)
