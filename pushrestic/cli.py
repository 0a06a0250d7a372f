"""The command line: arguments to library calls, errors to exit codes, in one place.

Exit codes (documented in README.md):

* 0  the report was made (whatever the backup's own outcome)
* 2  usage or configuration error: nothing was reported (``delete``: no such
     group on the gateway or in the spool, nothing was deleted)
* 65 the input is not restic/autorestic output (empty, binary, another
     program's log, values that do not parse): the run was reported as failed
* 66 the input could not be read: the run was reported as failed
* 70 internal error (a bug): please report it
* 74 the textfile could not be written
* 75 the Pushgateway (or the remote-write endpoint) could not be reached or
     refused the report: it is kept in the spool and sent by the next
     invocation or by ``pushrestic flush``

``pushrestic run`` exits with the wrapped command's own code instead, and
``pushrestic hook`` with 0 unless its usage is wrong: a reporting problem must
not change the backup's outcome. Both still print what went wrong.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pushrestic import __version__, say
from pushrestic.constants import FORMATS
from pushrestic.errors import (
    DeliveryError,
    InputError,
    InputUnreadable,
    NothingToReport,
    PushresticError,
    UsageError,
)

if TYPE_CHECKING:
    from pushrestic.config import Config
    from pushrestic.model import Run
    from pushrestic.sinks.pushgateway.deliver import Deliverer

log = logging.getLogger("pushrestic")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_BAD_INPUT = 65
EXIT_UNREADABLE = 66
EXIT_INTERNAL = 70
EXIT_TEXTFILE = 74
EXIT_SPOOLED = 75


def build_parser() -> argparse.ArgumentParser:
    from pushrestic.config import add_arguments, add_config_argument, add_label_argument
    from pushrestic.model import OPERATIONS

    parser = argparse.ArgumentParser(
        prog="pushrestic",
        description="Report restic and autorestic backup runs to Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"pushrestic {__version__}")
    _verbose_argument(parser)
    add_config_argument(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def reporting(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--location", help="location label (default: from the input)")
        command.add_argument("--backend", help="backend label (default: from the input)")
        add_label_argument(command)
        command.add_argument(
            "--dry-run",
            action="store_true",
            help="print the metrics, as a node_exporter textfile would hold them; send nothing",
        )
        add_arguments(command)
        return command

    push = reporting("push", "report the run(s) in a restic or autorestic log")
    push.add_argument("log", nargs="?", default="-", metavar="LOG", help="log file, or - for stdin")
    _format_argument(push)
    _exit_code_argument(push, "restic's exit code, when known (it beats what the output says)")

    run = reporting("run", "run restic or autorestic, pass its output through, report the run")
    _format_argument(run)
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")

    hook = reporting("hook", "report a location from an autorestic hook's environment")
    _exit_code_argument(hook, "the exit code when autorestic (< 1.6) does not give it")

    journal = reporting("journal", "report the latest run of a systemd unit from its journal")
    journal.add_argument("--unit", required=True, help="the backup's systemd unit")
    journal.add_argument("--journal-directory", metavar="DIR", help="read journal files there")
    journal.add_argument(
        "--journal-file", action="append", default=[], metavar="FILE", help="read this file"
    )
    _exit_code_argument(journal, "the unit's exit code (default: $EXIT_STATUS, or the journal)")

    flush = commands.add_parser(
        "flush",
        help="deliver the reports waiting in the spool",
        description="Deliver the reports waiting in the spool for this gateway and job, and "
        "list those that wait for another gateway URL or job or that the gateway refused.",
    )
    flush.add_argument(
        "--adopt",
        action="store_true",
        help="also deliver reports spooled for another gateway URL or job, to this one",
    )
    flush.add_argument(
        "--drop-others",
        action="store_true",
        help="delete the reports spooled for another gateway URL or job",
    )
    flush.add_argument(
        "--retry-rejected",
        action="store_true",
        help="try again the reports the gateway refused (after fixing the cause)",
    )
    flush.add_argument(
        "--drop-rejected", action="store_true", help="delete the reports the gateway refused"
    )
    add_arguments(flush, textfile=False)
    spool = commands.add_parser(
        "spool",
        help="list the reports kept in the spool",
        description="List the reports waiting in the spool (for any gateway) and those "
        "the gateway refused, with its answer. Needs no gateway.",
    )
    add_arguments(spool, textfile=False)
    groups = commands.add_parser(
        "groups",
        help="list this job's groups on the Pushgateway",
        description="List this job's groups on the Pushgateway (its /api/v1/metrics), "
        "one a line: the time of their last push, their grouping labels, and whether "
        "their last push failed.",
    )
    add_arguments(groups, textfile=False)
    delete = commands.add_parser(
        "delete",
        help="remove one group from the Pushgateway",
        description="Remove one group (this job and instance, the location and backend "
        "given) from the Pushgateway, and its report from the spool, so that a renamed "
        "or dropped location stops alerting. A group that is in neither is an error "
        "(exit 2); `pushrestic groups` lists them.",
    )
    delete.add_argument("--location", required=True, help="the group's location label")
    delete.add_argument("--backend", required=True, help="the group's backend label")
    delete.add_argument(
        "--operation",
        choices=OPERATIONS,
        help="the group of a forget, prune, check, stats or snapshots run reported on its own",
    )
    add_arguments(delete, textfile=False)
    config = commands.add_parser(
        "config",
        help="print the effective settings and their sources",
        description="Print every setting as it is resolved (flag, environment, "
        "configuration file, default) and where each came from; secrets redacted.",
    )
    add_arguments(config)
    _assets_parser(commands)
    for command in commands.choices.values():  # accepted after the subcommand too
        _verbose_argument(command, given_only=True)
    return parser


def _verbose_argument(parser: argparse.ArgumentParser, *, given_only: bool = False) -> None:
    """``-v``; ``given_only``: a subcommand's, set only when given (not undoing a ``-v``
    before the subcommand)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if given_only else False,
        help="say what is done (to stderr): each group, each retry",
    )


def _format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=FORMATS,
        default="auto",
        help="input format (default: detected)",
    )


def _exit_code_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--exit-code", type=_exit_code, default=None, metavar="N", help=help_text)


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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    handlers = {
        "push": _push,
        "run": _run,
        "hook": _hook,
        "journal": _journal,
        "flush": _flush,
        "spool": _spool,
        "groups": _groups,
        "delete": _delete,
        "config": _config,
        "assets": _assets,
    }
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handlers[args.command](args)
    except UsageError as error:
        say.error(str(error))
        return EXIT_USAGE
    except DeliveryError as error:
        say.error(str(error))
        return EXIT_SPOOLED
    except PushresticError as error:
        say.error(str(error))
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        say.error("interrupted")
        return 130
    except Exception as error:  # a bug: one line for the user, the traceback with -v
        log.info("internal error", exc_info=True)
        say.error(f"internal error: {type(error).__name__}: {error} (run with -v for details)")
        return EXIT_INTERNAL


# -- commands that report runs ----------------------------------------------


def _push(args: argparse.Namespace) -> int:
    from pushrestic.collect import InputSpec, collect_runs

    config = _load(args)
    spec = InputSpec(args.log, args.fmt, args.exit_code, args.location, args.backend)
    if args.log == "-" and say.is_terminal(sys.stdin):  # not a pipe: someone may wait for it
        say.note("reading restic's output from stdin (Ctrl-D to end)")
    collected = collect_runs(spec)
    if not collected.runs and collected.problem is not None:  # restic init, unlock, version
        _say_problem(collected.problem, reported=False)
        return EXIT_OK
    code = _report(args, config, collected.runs)
    return _with_problem(code, collected.problem)


def _run(args: argparse.Namespace) -> int:
    from pushrestic.collect import runs_of_command
    from pushrestic.config import without_secrets
    from pushrestic.sources.command import run_command

    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("no command to run: pushrestic run [options] -- COMMAND [ARGS...]")
    wrapped = run_command(argv, fmt=args.fmt, env=without_secrets(os.environ))
    code: int = wrapped.exit_code  # the command's, whatever happens to the report
    if wrapped.start_error:
        say.error(wrapped.start_error)
    try:
        runs, problem = runs_of_command(wrapped, location=args.location, backend=args.backend)
    except UsageError as error:  # --location/--backend select nothing
        say.error(f"{error} (nothing was reported)")
        return code
    if runs:
        _report_keeping_the_code(args, runs)
    if problem is not None:
        _say_problem(problem, reported=bool(runs))
    return code


def _hook(args: argparse.Namespace) -> int:
    from pushrestic.collect import runs_of_hook
    from pushrestic.sources.environment import hook_variables

    runs, problem = runs_of_hook(
        hook_variables(os.environ),
        exit_code=args.exit_code,
        location=args.location,
        backend=args.backend,
    )
    _report_keeping_the_code(args, runs)
    if problem is not None:
        say.error(f"{problem} (reported as a failed run)")
    return EXIT_OK


def _journal(args: argparse.Namespace) -> int:
    from pushrestic.collect import runs_of_journal
    from pushrestic.sources.environment import service_variables

    config = _load(args)
    runs, problem = runs_of_journal(
        args.unit,
        service_variables(os.environ),
        directory=args.journal_directory,
        files=args.journal_file,
        exit_code=args.exit_code,
        location=args.location,
        backend=args.backend,
    )
    if not runs and problem is not None:  # restic init, unlock, version
        _say_problem(problem, reported=False)
        return EXIT_OK
    code = _report(args, config, runs)
    return _with_problem(code, problem)


def _report(args: argparse.Namespace, config: Config, runs: Sequence[Run]) -> int:
    """Print (dry run) or deliver ``runs``; the exit code of what came of it."""
    from pushrestic.report import Verdict, report

    codes = {
        Verdict.DELIVERED: EXIT_OK,
        Verdict.TEXTFILE_FAILED: EXIT_TEXTFILE,
        Verdict.NOT_DELIVERED: EXIT_SPOOLED,
        Verdict.UNTRUSTED_SPOOL: EXIT_USAGE,
    }
    return codes[report(runs, config, dry_run=args.dry_run, telling=_telling(args))]


def _telling(args: argparse.Namespace) -> bool:
    """Whether to say what was delivered: asked (-v), or someone reads stderr on a
    terminal. Cron and systemd get nothing unless something went wrong."""
    return bool(getattr(args, "verbose", False)) or say.is_terminal(sys.stderr)


def _say_problem(problem: InputError, *, reported: bool) -> None:
    """One line on what was wrong with the input and what was reported instead.

    Output of a restic command without a report (NothingToReport) is no bad input:
    nothing is reported, or a failed run when the exit code says the command failed.
    """
    if not isinstance(problem, NothingToReport):
        say.error(f"{problem} (reported as a failed run)")
    elif reported:
        say.warning(f"{problem}, but the exit code says it failed: reported as a failed run")
    else:
        say.warning(f"{problem} (nothing was reported)")


def _with_problem(code: int, problem: InputError | None) -> int:
    if problem is None:
        return code
    _say_problem(problem, reported=True)
    if code != EXIT_OK or isinstance(problem, NothingToReport):
        return code
    return EXIT_UNREADABLE if isinstance(problem, InputUnreadable) else EXIT_BAD_INPUT


# -- commands that talk to the Pushgateway ----------------------------------


def _flush(args: argparse.Namespace) -> int:
    code = EXIT_OK
    for deliverer in _deliverers(_load(args)):  # the gateway's reports, then remote-write's
        done = _flush_one(args, deliverer)
        code = done if code == EXIT_OK else code
    return code


def _flush_one(args: argparse.Namespace, deliverer: Deliverer) -> int:
    if deliverer.result.untrusted_spool:
        raise UsageError(deliverer.result.untrusted_spool)
    _tidy_spool(args, deliverer)
    deliverer.replay(adopt=args.adopt)
    return _flushed(deliverer)


def _tidy_spool(args: argparse.Namespace, deliverer: Deliverer) -> None:
    """What ``flush`` was asked to do before delivering: retry or drop kept reports."""
    from pushrestic.sinks.pushgateway.http import redact_url

    if args.retry_rejected:
        for rejected in deliverer.retry_rejected():
            print(f"retrying {rejected.entry.name}, refused {_when(rejected.rejected_at)}")
    if args.drop_rejected:
        for rejected in deliverer.rejected():
            deliverer.spool.drop_rejected(rejected)
            print(f"dropped {rejected.entry.name}, refused {_when(rejected.rejected_at)}")
    if args.drop_others:
        for entry in deliverer.drop_elsewhere():
            print(
                f"dropped {entry.name} (spooled for {redact_url(entry.gateway)}, job {entry.job})"
            )


def _flushed(deliverer: Deliverer) -> int:
    """Say what ``flush`` delivered and what still waits; 75 when a report it tried was not."""
    from pushrestic.sinks.pushgateway.http import redact_url

    result = deliverer.result
    for name in result.replayed:
        print(f"delivered {name}")
    for (url, job), names in sorted(result.elsewhere.items()):
        print(
            f"waiting for {redact_url(url)} (job {job}): {', '.join(names)}: deliver them to "
            f"{deliverer.settings.gateway.base} (job {deliverer.settings.gateway.job}) with "
            "`pushrestic flush --adopt`, or drop them with `pushrestic flush --drop-others`"
        )
    for rejected in deliverer.rejected():
        print(
            f"refused {rejected.entry.name} {_when(rejected.rejected_at)}: {rejected.reason} "
            f"(kept in {rejected.path}; `pushrestic flush --retry-rejected` or --drop-rejected)"
        )
    for problem in result.spool_problems:
        say.warning(problem)
    if result.set_aside:
        say.error(f"refused by the gateway, kept aside: {', '.join(result.set_aside)}")
    if result.waiting:
        say.error(f"still spooled: {', '.join(result.waiting)}")
    if result.waiting or result.set_aside:
        return EXIT_SPOOLED
    return EXIT_OK


def _spool(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pushrestic.sinks.pushgateway.http import redact_url
    from pushrestic.sinks.pushgateway.spool import Spool

    spool = Spool(Path(_load(args).get("spool.directory")))
    spool.check()
    print(f"# spool: {spool.directory}")
    for group in spool.groups():
        try:
            entry = spool.get(group)
        except DeliveryError as error:
            say.warning(str(error))
            continue
        if entry is not None:
            print(
                f"waiting  {entry.name}  for {redact_url(entry.gateway)} (job {entry.job}), "
                f"spooled {_when(entry.spooled_at)}"
            )
    for rejected in spool.rejected():
        print(
            f"refused  {rejected.entry.name}  by {redact_url(rejected.entry.gateway)} (job "
            f"{rejected.entry.job}) {_when(rejected.rejected_at)}: {rejected.reason}"
        )
    return EXIT_OK


def _when(moment: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _groups(args: argparse.Namespace) -> int:
    import datetime

    deliverer = _deliverer(_load(args))
    rows = []
    for group in deliverer.groups():
        labels = {k: v for k, v in group.labels.items() if k != "job"}
        pushed = "never"
        if group.push_time:
            moment = datetime.datetime.fromtimestamp(group.push_time, datetime.UTC)
            pushed = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        failing = (group.push_failure_time or 0) > (group.push_time or 0)
        shown = " ".join(f"{k}={v!r}" for k, v in sorted(labels.items()))
        rows.append(f"{pushed}  {shown}{' (last push failed)' if failing else ''}")
    for row in sorted(rows):
        print(row)
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    """Delete one group, looked up first: on the gateway (its API) or waiting in the spool
    (which the next run would deliver). A group in neither is a usage error."""
    from pushrestic.sinks.pushgateway.grouping import Gateway, find_group
    from pushrestic.sinks.pushgateway.http import redact_url
    from pushrestic.sinks.pushgateway.spool import group_id

    deliverer = _deliverer(_load(args))
    gateway = deliverer.settings.gateway
    assert isinstance(gateway, Gateway)  # _deliverer gives the Pushgateway's
    key = gateway.key(args.location, args.backend, args.operation)
    name = f"{args.location}/{args.backend}" + (f" ({args.operation})" if args.operation else "")
    on_gateway = find_group(deliverer.groups(), gateway, key) is not None
    wanted = group_id(gateway.url, gateway.job, key)
    spooled = any(entry.group_id == wanted for entry in deliverer.pending())
    if not on_gateway and not spooled:
        raise UsageError(
            f"no group {name} (job {gateway.job!r}, instance {gateway.instance!r}) on "
            f"{redact_url(gateway.base)} or in the spool: nothing deleted "
            "(`pushrestic groups` lists them)"
        )
    deliverer.delete(key)
    print(f"deleted {name}{'' if on_gateway else ' (it was waiting in the spool only)'}")
    return EXIT_OK


def _config(args: argparse.Namespace) -> int:
    config = _load(args)
    print(f"# configuration file: {config.file or '(none)'}")
    for line in config.describe():
        print(line)
    return EXIT_OK


def _load(args: argparse.Namespace) -> Config:
    from pushrestic.config import load

    return load(args, os.environ)


def _deliverer(config: Config) -> Deliverer:
    from pushrestic.config import push_settings
    from pushrestic.sinks.pushgateway.deliver import Deliverer

    settings = push_settings(config)
    if settings is None:
        raise UsageError("no Pushgateway: give --gateway URL or set PUSHRESTIC_GATEWAY")
    return Deliverer(settings)


def _deliverers(config: Config) -> list[Deliverer]:
    """The deliverers of the Pushgateway and of the remote-write endpoint that are set."""
    from pushrestic.config import push_settings, remote_write_settings
    from pushrestic.report import deliverers as made

    deliverers = made(push_settings(config), remote_write_settings(config))
    if not deliverers:
        raise UsageError(
            "no Pushgateway or remote-write endpoint: give --gateway URL or --remote-write URL"
        )
    return deliverers


class _Formatter(logging.Formatter):
    """Log records in the style of the CLI's own lines: ``pushrestic: warning: ...``,
    ``pushrestic: error: ...``; what -v says (info) without a level."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"pushrestic: {level}{message}"


# -- reporting that leaves the exit code alone (run, hook) ---------------------


def _report_keeping_the_code(args: argparse.Namespace, runs: Sequence[Run]) -> None:
    """Load the settings and report ``runs`` for ``run`` and ``hook``, whose exit code
    is the backup's, not the report's: whatever goes wrong (settings, delivery, a
    closed stdout, a bug) is said on one line, and nothing is raised. What
    :func:`_report` says itself (a push kept in the spool) it says as usual."""
    try:
        _report(args, _load(args), runs)
    except UsageError as error:
        say.error(f"{error} (nothing was reported)")
    except PushresticError as error:
        say.error(str(error))
    except BrokenPipeError:
        _stdout_gone()
        say.error("stdout is closed (broken pipe): the report was not printed")
    except KeyboardInterrupt:
        say.error("interrupted: the report may be incomplete")
    except Exception as error:  # a bug: one line for the user, the traceback with -v
        log.info("internal error", exc_info=True)
        say.error(
            f"internal error while reporting: {type(error).__name__}: {error} "
            "(run with -v for details)"
        )


def _stdout_gone() -> None:
    """Point stdout at /dev/null, so that flushing it at exit fails no more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no stdout at all: nothing to flush
        pass


# -- the files that go with the command (alert rules, dashboard, examples) -----


def _assets_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    assets = commands.add_parser(
        "assets",
        help="list, print or copy the alert rules, dashboard and examples",
        description="The alert rules and their tests (alerting/), the Grafana dashboard and "
        "its provisioning files (grafana/) and the examples (examples/) ship with "
        "pushrestic; each is named by its path in the repository. Without an action, "
        "list them.",
    )
    actions = assets.add_subparsers(dest="assets_action", metavar="ACTION")
    actions.add_parser("list", help="print the name of every file, one a line")
    show = actions.add_parser(
        "show",
        help="print files as they are",
        description="Print the files named, byte for byte "
        "(pushrestic assets show alerting/rules.yml > /etc/prometheus/rules/restic.yml).",
    )
    show.add_argument("names", nargs="+", metavar="NAME", help="a file's name (see list)")
    copy = actions.add_parser(
        "copy",
        help="copy files into a directory",
        description="Copy the files named (all of them by default) into DIRECTORY, under "
        "their names (DIRECTORY/alerting/rules.yml ...), and print each path written. A "
        "file already there with other content stops the copy, unless --force.",
    )
    copy.add_argument("directory", metavar="DIRECTORY")
    copy.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="a file's name or a directory of them, such as grafana (default: all)",
    )
    copy.add_argument("--force", action="store_true", help="replace files that differ")


def _assets(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pushrestic.assets import assets, copy_assets, select

    action = args.assets_action or "list"
    try:
        if action == "list":
            for asset in assets():
                print(asset.name)
        elif action == "show":
            for asset in select(assets(), args.names):
                sys.stdout.flush()
                sys.stdout.buffer.write(asset.path.read_bytes())
        else:
            chosen = select(assets(), args.names)
            for path in copy_assets(chosen, Path(args.directory), force=args.force):
                print(path)
        sys.stdout.flush()
    except BrokenPipeError:  # `pushrestic assets show ... | head`: the reader has had enough
        _stdout_gone()
    return EXIT_OK
