"""Delivering reports to the Pushgateway or a remote-write endpoint: spooled groups
first, then this run's groups.

Per group: its spool lock, its last success carried forward, a PUT (or a remote-write
request) under the retry policy; a transient failure is spooled, a permanent refusal set
aside in ``rejected/``. The spool never blocks a push, and one deadline covers the whole
invocation. Why, and how a remote-write endpoint shares the spool and the deadline:
docs/design/sinks-pushgateway-deliver.md.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pushrestic.errors import DeliveryError, UsageError
from pushrestic.model import Run, latest_success
from pushrestic.sinks.pushgateway.grouping import (
    Gateway,
    GroupState,
    delete_group,
    find_group,
    list_groups,
    push_group,
)
from pushrestic.sinks.pushgateway.http import (
    PushError,
    RetryPolicy,
    SessionTransport,
    Transport,
    TransportSettings,
)
from pushrestic.sinks.pushgateway.spool import (
    PUSHGATEWAY,
    REMOTE_WRITE,
    Rejected,
    Spool,
    SpoolEntry,
    group_id,
)
from pushrestic.sinks.textfile import render, with_last_success

if TYPE_CHECKING:
    from pushrestic.sinks.remote_write import RemoteWrite

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Everything needed to reach the Pushgateway (or, ``gateway`` being a RemoteWrite,
    a remote-write endpoint) and to keep what could not be sent."""

    gateway: Gateway | RemoteWrite
    spool_dir: Path
    transport: TransportSettings = field(default_factory=TransportSettings)
    policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(slots=True)
class Delivery:
    """What happened to this invocation's own reports and to those found in the spool.

    ``delivered``/``spooled``/``rejected``/``lost`` are this run's own groups:
    pushed; kept in the spool for later; refused by the gateway for good (kept
    aside); neither delivered nor kept. ``replayed``/``waiting``/``set_aside``
    are spooled reports of earlier runs: delivered now; still waiting (for this
    gateway or, in ``elsewhere``, for another URL or job); refused now.
    """

    delivered: list[str] = field(default_factory=list)
    spooled: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)
    elsewhere: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    spool_problems: list[str] = field(default_factory=list)
    untrusted_spool: str | None = None

    @property
    def complete(self) -> bool:
        """Every report of this invocation was delivered."""
        return not (self.spooled or self.rejected or self.lost)


class Budget:
    """The invocation's deadline, shared by every request and lock wait it makes (and by
    the deliverers of every sink it delivers to)."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._end = clock() + policy.deadline

    def left(self) -> float:
        return max(0.0, self._end - self._clock())

    def policy(self) -> RetryPolicy | None:
        """The policy for the next group, with the time left; None when none is left."""
        left = self.left()
        if left < 0.1:
            return None
        return replace(self._policy, deadline=left)


class Deliverer:
    """Pushes groups for one invocation; holds the session, the spool and the budget.

    ``budget``: the deadline of an invocation that delivers to more than one sink
    (the first deliverer's ``budget``); by default one of its own.
    """

    def __init__(
        self,
        settings: PushSettings,
        transport: Transport | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.settings = settings
        self.sink = PUSHGATEWAY if isinstance(settings.gateway, Gateway) else REMOTE_WRITE
        self.spool = Spool(settings.spool_dir)
        self._transport = transport or SessionTransport(settings.transport)
        self.budget = budget if budget is not None else Budget(settings.policy)
        self._down = False  # this sink failed a delivery after all retries
        self._last_stamp = 0.0
        self._remote: list[GroupState] | None = None
        self.result = Delivery()
        self._spool_usable = True
        try:
            self.spool.check()
        except UsageError as error:  # untrusted: never read from it, never write to it
            self._spool_usable = False
            self.result.untrusted_spool = str(error)
        except DeliveryError as error:  # cannot be created: push anyway
            self._spool_problem(str(error))

    # -- the spool -------------------------------------------------------

    def replay(self, skip: Collection[str] = (), *, adopt: bool = False) -> None:
        """Deliver spooled reports of this gateway and job (oldest first), except ``skip``.

        Reports spooled for another gateway URL or job are listed in
        ``result.elsewhere`` and left, unless ``adopt``: then they are delivered
        to this gateway and job. Each entry is replayed on its own: an entry that
        cannot be read, locked or delivered never stops the others.
        """
        if not self._spool_usable:
            return
        try:
            groups = self.spool.groups()
        except DeliveryError as error:
            self._spool_problem(str(error))
            return
        for group in groups:
            if group in skip:
                continue
            try:
                self._replay_one(group, adopt=adopt)
            except DeliveryError as error:
                self._spool_problem(str(error))
            except Exception as error:  # one bad entry never stops the rest
                log.info("unexpected error while replaying %s", group, exc_info=True)
                self._spool_problem(f"spooled report {group}: {type(error).__name__}: {error}")

    def _replay_one(self, group: str, *, adopt: bool) -> None:
        gateway = self.settings.gateway
        with self._locked(group):
            entry = self.spool.get(group)
            if entry is None:  # delivered meanwhile by another process
                return
            if entry.sink != self.sink:  # the other sink's deliverer delivers it
                return
            target = (entry.gateway.rstrip("/"), entry.job)
            if target != (gateway.base, gateway.job) and not adopt:
                self.result.elsewhere.setdefault(target, []).append(entry.name)
                return
            policy = self._policy()
            if policy is None:
                self.result.waiting.append(entry.name)
                return
            body = entry.body
            last_success = entry.last_success
            if last_success is None and isinstance(gateway, Gateway):
                last_success = self._remote_last_success(entry.key)  # spooled before it was known
                if last_success is not None:
                    body = with_last_success(body, last_success)
            try:
                self._send(entry.key, body, policy)
            except PushError as error:
                if _refused(error):
                    kept = self.spool.reject(entry, str(error))
                    self.result.set_aside.append(entry.name)
                    log.warning(
                        "spooled %s was refused by the gateway; kept in %s", entry.name, kept
                    )
                else:
                    self._gateway_failed(error)
                    self.result.waiting.append(entry.name)
                return
            self.spool.remove(group)
            new_group = group_id(gateway.url, gateway.job, entry.key, self.sink)
            self._keep_quietly(lambda: self.spool.ledger.record_success(new_group, last_success))
            self.result.replayed.append(entry.name)
            log.info("delivered spooled report of %s", entry.name)

    def retry_rejected(self) -> list[Rejected]:
        """Move every rejected report back to the pending spool (the user fixed the cause)."""
        if not self._spool_usable:
            return []
        moved = []
        for rejected in self.rejected():
            group = rejected.entry.group_id
            with self._locked(group):
                self.spool.put(rejected.entry)
                self.spool.drop_rejected(rejected)
            moved.append(rejected)
        return moved

    def rejected(self) -> list[Rejected]:
        """The reports this sink refused for good, kept aside in the spool."""
        if not self._spool_usable:
            return []
        return [r for r in self.spool.rejected() if r.entry.sink == self.sink]

    def drop_elsewhere(self) -> list[SpoolEntry]:
        """Delete the spooled reports meant for another gateway URL or job."""
        if not self._spool_usable:
            return []
        gateway = self.settings.gateway
        dropped = []
        for group in self.spool.groups():
            with self._locked(group):
                entry = self.spool.get(group)
                if entry is None or entry.sink != self.sink:
                    continue
                if (entry.gateway.rstrip("/"), entry.job) == (gateway.base, gateway.job):
                    continue
                self.spool.remove(group)
                dropped.append(entry)
        return dropped

    def pending(self) -> list[SpoolEntry]:
        """Every pending report in the spool, oldest first (unreadable ones skipped)."""
        if not self._spool_usable:
            return []
        found = []
        for group in self.spool.groups():
            try:
                entry = self.spool.get(group)
            except DeliveryError as error:
                self._spool_problem(str(error))
                continue
            if entry is not None:
                found.append(entry)
        return found

    # -- this run --------------------------------------------------------

    def push(self, runs: Sequence[Run], labels: Mapping[str, str]) -> None:
        """Push each run's group (PUT), spooling those that cannot be delivered."""
        for run in runs:
            self._push_one(run, labels)

    def _push_one(self, run: Run, labels: Mapping[str, str]) -> None:
        gateway = self.settings.gateway
        key = gateway.key(run.location, run.backend, run.operation)
        group = group_id(gateway.url, gateway.job, key, self.sink)
        name = _name(key)
        now = time.time()
        with self._locked(group):
            spooled = self._quietly(lambda: self.spool.get(group))
            previous = latest_success(
                run.previous_success_at,
                self._quietly(lambda: self.spool.ledger.last_success(group)),
                spooled.last_success if spooled is not None else None,
                now=now,
            )
            if previous is None and not run.protected_data and isinstance(gateway, Gateway):
                previous = self._remote_last_success(key)
            carried = replace(run, previous_success_at=previous)
            body = self._render(carried, labels)
            entry = SpoolEntry(
                gateway.url, gateway.job, key, body, carried.last_success_at, time.time(), self.sink
            )
            policy = self._policy()
            try:
                if policy is None:
                    raise PushError(
                        f"not tried: the {self.what} failed or the deadline passed",
                        transient=True,
                    )
                self._send(key, body, policy)
            except Exception as error:  # whatever went wrong, the report is kept
                if not isinstance(error, PushError):
                    log.info("unexpected error while pushing", exc_info=True)
                    error = PushError(f"{type(error).__name__}: {error}", transient=False)
                self._not_delivered(entry, error)
                return
            self._keep_quietly(lambda: self.spool.remove(group))
            self._keep_quietly(
                lambda: self.spool.ledger.record_success(group, carried.last_success_at)
            )
            self.result.delivered.append(name)
            log.info("pushed %s", name)

    def _not_delivered(self, entry: SpoolEntry, error: PushError) -> None:
        self.result.errors.append(str(error))
        if _refused(error):
            self.result.rejected.append(entry.name)
            try:
                if not self._spool_usable:
                    raise DeliveryError("the spool is not used")
                kept = self.spool.reject(entry, str(error))
            except DeliveryError as problem:
                self._spool_problem(f"{entry.name}: refused and not kept: {problem}")
                self.result.lost.append(entry.name)
                return
            log.info("%s refused (%s); kept in %s", entry.name, error, kept)
            return
        self._gateway_failed(error)
        if not self._spool_usable:  # result.untrusted_spool says why, once
            self.result.lost.append(entry.name)
            return
        try:
            self.spool.put(entry)
            self._keep_quietly(
                lambda: self.spool.ledger.record_success(entry.group_id, entry.last_success)
            )
        except DeliveryError as problem:
            self._spool_problem(f"{entry.name}: not delivered and not kept: {problem}")
            self.result.lost.append(entry.name)
            return
        self.result.spooled.append(entry.name)
        log.info("%s kept in the spool: %s", entry.name, error)

    def set_aside(self, runs: Sequence[Run], labels: Mapping[str, str], reason: str) -> None:
        """Keep ``runs`` aside, unsent, as reports refused for ``reason`` (a bug found
        before sending): nothing is lost, and ``pushrestic spool`` shows them."""
        gateway = self.settings.gateway
        for run in runs:
            key = gateway.key(run.location, run.backend, run.operation)
            body = self._render(run, labels)
            entry = SpoolEntry(gateway.url, gateway.job, key, body, None, time.time(), self.sink)
            self._not_delivered(entry, PushError(reason, transient=False, status=0))

    def group_ids(self, runs: Sequence[Run]) -> set[str]:
        """The spool ids of the groups ``runs`` will be pushed as."""
        gateway = self.settings.gateway
        return {
            group_id(
                gateway.url,
                gateway.job,
                gateway.key(run.location, run.backend, run.operation),
                self.sink,
            )
            for run in runs
        }

    def delete(self, key: Mapping[str, str]) -> None:
        """Remove one group from the gateway, and from the spool."""
        gateway = self._gateway()
        group = group_id(gateway.url, gateway.job, key)
        with self._locked(group):
            delete_group(self._transport, gateway, key, self.settings.policy)
            self._keep_quietly(lambda: self.spool.remove(group))

    def groups(self) -> list[GroupState]:
        return list_groups(self._transport, self._gateway(), self.settings.policy)

    # -- the sink --------------------------------------------------------

    @property
    def what(self) -> str:
        """What the sink is called in messages."""
        return "gateway" if self.sink == PUSHGATEWAY else "remote-write endpoint"

    def _gateway(self) -> Gateway:
        gateway = self.settings.gateway
        if not isinstance(gateway, Gateway):
            raise UsageError("a remote-write endpoint has no groups to list or delete")
        return gateway

    def _render(self, run: Run, labels: Mapping[str, str]) -> bytes:
        """One group's report as it is pushed (Pushgateway) or spooled (remote-write)."""
        if self.sink == PUSHGATEWAY:
            return render([run], labels)
        from pushrestic.sinks import remote_write

        return remote_write.render(run, labels)

    def _send(self, key: Mapping[str, str], body: bytes, policy: RetryPolicy) -> None:
        target = self.settings.gateway
        if isinstance(target, Gateway):
            push_group(self._transport, target, key, body, policy)
            return
        from pushrestic.sinks import remote_write

        # Stamped now, each write later than the one before (two reports of one group
        # in one invocation are two samples, never two values at one time).
        stamp = max(time.time(), self._last_stamp + 0.001)
        self._last_stamp = stamp
        remote_write.write_group(self._transport, target, key, body, policy, at=stamp)

    def _policy(self) -> RetryPolicy | None:
        """The policy for the next group; None once this sink failed or the time is up."""
        return None if self._down else self.budget.policy()

    # -- helpers ---------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, group: str) -> Iterator[None]:
        """The group's spool lock, waited for at most half the time left; without it
        (spool unusable, lock not taken in time) the body runs anyway."""
        with contextlib.ExitStack() as stack:
            if self._spool_usable:
                timeout = max(0.1, self.budget.left() / 2)
                try:
                    stack.enter_context(self.spool.locked(group, timeout=timeout))
                except DeliveryError as error:
                    self._spool_problem(str(error))
            yield

    def _quietly(self, read: Callable[[], _T]) -> _T | None:
        """A spool read that may fail: None (and a note) instead of an error."""
        if not self._spool_usable:
            return None
        try:
            return read()
        except DeliveryError as error:
            self._spool_problem(str(error))
            return None

    def _keep_quietly(self, write: Callable[[], None]) -> None:
        """A spool write after a delivery: failing it loses nothing that was sent."""
        if not self._spool_usable:
            return
        try:
            write()
        except DeliveryError as error:
            self._spool_problem(str(error))

    def _spool_problem(self, message: str) -> None:
        if message not in self.result.spool_problems:
            self.result.spool_problems.append(message)
            log.info("spool: %s", message)

    def _remote_last_success(self, key: Mapping[str, str]) -> float | None:
        """The group's last success time as the gateway holds it (one quick try), or None."""
        if self._remote is None:
            policy = self._policy()
            if policy is None:
                return None
            quick = replace(policy, attempts=1, timeout=min(policy.timeout, 5.0))
            try:
                self._remote = list_groups(self._transport, self._gateway(), quick)
            except PushError as error:
                # Unreachable (transient): the push fails too and says so, once; the
                # report is spooled and asks again when it is replayed.
                say = log.info if error.transient else log.warning
                say("could not read the last success time from the gateway: %s", error)
                self._remote = []
        found = find_group(self._remote, self._gateway(), key)
        if found is None:
            return None
        return latest_success(found.last_success, now=time.time())

    def _gateway_failed(self, error: PushError) -> None:
        if error.transient:
            self._down = True


def _refused(error: PushError) -> bool:
    """The gateway answered and refused the report for good (retrying it cannot help).

    401 and 403 are not: they refuse the credentials, not the report, which the
    next run delivers once the credentials are fixed.
    """
    return error.status is not None and not error.transient and error.status not in (401, 403)


def _name(key: Mapping[str, str]) -> str:
    operation = key.get("operation")
    name = f"{key.get('location', '')}/{key.get('backend', '')}"
    return f"{name} ({operation})" if operation else name
