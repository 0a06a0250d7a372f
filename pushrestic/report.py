"""One report to its deliveries: which sinks, in which order, and what came of it.

The runs are checked once (:func:`pushrestic.metrics.check_exposition`) before
any sink sees them; then the textfile is written, then each push sink (the
Pushgateway, the remote-write endpoint) replays what earlier runs left in the
spool and pushes this run's groups, all within one deadline. What happened is
said on stderr as it happens and summed up in a :class:`Verdict`, which the CLI
maps to an exit code (the one place that does).
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO

from pushrestic import say
from pushrestic.errors import DeliveryError, PushresticError, UsageError

if TYPE_CHECKING:
    from pushrestic.config import Config
    from pushrestic.model import Run
    from pushrestic.sinks.pushgateway.deliver import Deliverer, PushSettings


class Verdict(enum.Enum):
    """What came of a report, worst first as the CLI ranks them."""

    DELIVERED = "every sink has this run's report"
    TEXTFILE_FAILED = "the textfile could not be written"
    NOT_DELIVERED = "a push sink does not have this run's report (it waits in the spool)"
    UNTRUSTED_SPOOL = "pushed, but the spool directory is unsafe and was not used"


def report(
    runs: Sequence[Run],
    config: Config,
    *,
    dry_run: bool = False,
    telling: bool = False,
    out: BinaryIO | None = None,
) -> Verdict:
    """Print (``dry_run``, to ``out``) or deliver ``runs`` to the sinks ``config`` sets.

    ``telling``: say on stderr what was delivered (not only what went wrong).
    Raises UsageError when no sink is set, ExpositionError (a bug) when the runs
    do not make a valid exposition; the report is then kept aside in the spool.
    """
    from pushrestic import config as settings
    from pushrestic.metrics import build_registry, check_exposition
    from pushrestic.sinks import textfile

    labels = settings.labels(config)
    if dry_run:
        check_exposition(build_registry(runs, labels).collect())
        stream = out if out is not None else sys.stdout.buffer
        stream.write(textfile.render(runs, labels))
        stream.flush()
        return Verdict.DELIVERED
    push = settings.push_settings(config)
    remote = settings.remote_write_settings(config)
    path = settings.textfile_path(config)
    if push is None and remote is None and path is None:
        raise UsageError(
            "no destination: give --gateway URL, --remote-write URL, --textfile PATH or --dry-run"
        )
    pushers = deliverers(push, remote)
    try:  # before any sink: a bug must never reach the gateway's own consistency check
        check_exposition(build_registry(runs, labels).collect())
    except PushresticError as error:
        for deliverer in pushers:
            deliverer.set_aside(runs, labels, str(error))
        raise
    verdict = Verdict.DELIVERED
    if path is not None:
        try:
            textfile.write(path, runs, labels, timeout=config.get("pushgateway.deadline"))
        except DeliveryError as error:
            say.error(str(error))
            verdict = Verdict.TEXTFILE_FAILED
        else:
            if telling:
                say.note(f"wrote {groups_phrase(len({run.group for run in runs}))} to {path}")
    for deliverer in pushers:
        deliverer.replay(skip=deliverer.group_ids(runs))
        deliverer.push(runs, labels)
    for deliverer in pushers:
        delivered = _verdict(deliverer)
        verdict = delivered if verdict is Verdict.DELIVERED else verdict
        if telling:
            _say_delivered(deliverer)
    return verdict


def deliverers(*settings: PushSettings | None) -> list[Deliverer]:
    """A deliverer for each push sink set (the Pushgateway, remote-write), sharing one
    deadline, in the order given."""
    from pushrestic.sinks.pushgateway.deliver import Deliverer

    made: list[Deliverer] = []
    for each in settings:
        if each is not None:
            budget = made[0].budget if made else None
            made.append(Deliverer(each, budget=budget))
    return made


def groups_phrase(count: int) -> str:
    return f"{count} group{'s' if count != 1 else ''}"


def _say_delivered(deliverer: Deliverer) -> None:
    """``pushed 4 groups to URL`` (and the spooled reports of earlier runs delivered)."""
    from pushrestic.sinks.pushgateway.http import redact_url

    result = deliverer.result
    if not result.delivered and not result.replayed:
        return
    where = redact_url(deliverer.settings.gateway.url.rstrip("/"))
    replayed = len(result.replayed)
    older = f" (and {replayed} spooled report{'s' if replayed != 1 else ''})" if replayed else ""
    say.note(f"pushed {groups_phrase(len(result.delivered))} to {where}{older}")


def _verdict(deliverer: Deliverer) -> Verdict:
    """Say what happened to this run's report and what waits."""
    result = deliverer.result
    directory = deliverer.spool.directory
    # The first failure is the cause: the groups after it may not have been tried.
    reason = result.errors[0] if result.errors else "not tried"
    if result.spooled:
        say.error(f"push failed, kept in {directory}: {', '.join(result.spooled)}: {reason}")
    set_aside = [name for name in result.rejected if name not in result.lost]
    if set_aside:
        say.error(
            f"the {deliverer.what} refused {', '.join(set_aside)}: {reason}; the report "
            f"is kept in {directory / 'rejected'} (see `pushrestic spool`)"
        )
    unkept = [name for name in result.lost if name not in result.rejected]
    if unkept:  # their spool problems say why they were not kept
        say.error(f"push failed: {', '.join(unkept)}: {reason}")
    if result.untrusted_spool:
        done = "pushed without the spool" if result.complete else "not kept anywhere"
        say.error(f"{result.untrusted_spool} (the report was {done})")
    lost = set(result.lost)
    for problem in result.spool_problems:
        if any(problem.startswith(f"{name}:") for name in lost):
            say.error(problem)
        else:
            say.warning(problem)
    if not result.complete:
        return Verdict.NOT_DELIVERED
    waiting = _waiting(deliverer)
    if waiting:
        say.warning(
            f"{waiting} in {directory}: see `pushrestic spool`, deliver with `pushrestic flush`"
        )
    if result.untrusted_spool:
        return Verdict.UNTRUSTED_SPOOL
    return Verdict.DELIVERED


def _waiting(deliverer: Deliverer) -> str:
    """One phrase for the spooled reports of earlier runs that are still not delivered."""
    result = deliverer.result
    parts = []
    if result.waiting:
        parts.append(f"{len(result.waiting)} waiting for this gateway")
    elsewhere = sum(len(names) for names in result.elsewhere.values())
    if elsewhere:
        parts.append(f"{elsewhere} for another gateway URL or job")
    refused = len(result.set_aside) + len(deliverer.rejected())
    if refused:
        parts.append(f"{refused} refused by the gateway")
    if not parts:
        return ""
    total = len(result.waiting) + elsewhere + refused
    return f"{total} older report{'s' if total != 1 else ''} not delivered ({', '.join(parts)})"
