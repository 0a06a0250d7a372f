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
from collections.abc import Sequence

from pushrestic import __version__
from pushrestic.errors import InputUnreadable, PushresticError, UsageError

log = logging.getLogger("pushrestic")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_BAD_INPUT = 65
EXIT_UNREADABLE = 66
EXIT_INTERNAL = 70


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
            return _push(args)
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


def _push(args: argparse.Namespace) -> int:
    from pushrestic.collect import InputSpec, collect_runs
    from pushrestic.metrics import parse_labels
    from pushrestic.sinks.textfile import render

    labels = parse_labels(args.label)
    if not args.dry_run:
        raise UsageError("no destination: use --dry-run (Pushgateway and textfile sinks come next)")
    spec = InputSpec(args.log, args.fmt, args.exit_code, args.location, args.backend, labels)
    collected = collect_runs(spec)
    sys.stdout.buffer.write(render(collected.runs, labels))
    sys.stdout.flush()
    if collected.problem is not None:
        _error(f"{collected.problem} (reported as a failed run)")
        if isinstance(collected.problem, InputUnreadable):
            return EXIT_UNREADABLE
        return EXIT_BAD_INPUT
    return EXIT_OK


def _error(message: str) -> None:
    print(f"pushrestic: error: {message}", file=sys.stderr)
