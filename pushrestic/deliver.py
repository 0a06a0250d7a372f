"""Delivering reports to the Pushgateway: spooled groups first, then this run's groups.

For each group: take its lock in the spool, carry its last success time
forward (from the spool's record, else from what the Pushgateway holds), push
the whole group with PUT under the retry policy, and on failure keep the
report in the spool for a later invocation or ``pushrestic flush``. One
deadline covers the whole invocation: once it is spent, or once the gateway
has failed a push after all retries, the remaining reports go straight to the
spool, so a hook never holds up a backup unit for long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pushrestic.model import Run
from pushrestic.sinks.pushgateway import (
    Gateway,
    GroupState,
    delete_group,
    find_group,
    list_groups,
    push_group,
)
from pushrestic.sinks.spool import Spool, SpoolEntry, group_id
from pushrestic.sinks.textfile import render, with_last_success
from pushrestic.transport import (
    Handler,
    PushError,
    RetryPolicy,
    TransportSettings,
    make_handler,
    make_session,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Everything needed to reach the Pushgateway and to keep what could not be sent."""

    gateway: Gateway
    spool_dir: Path
    transport: TransportSettings = field(default_factory=TransportSettings)
    policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(slots=True)
class Delivery:
    """What happened: groups delivered now, replayed from the spool, and left spooled."""

    delivered: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    spooled: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.spooled


class _Budget:
    """The invocation's deadline, shared by every request it makes."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._end = time.monotonic() + policy.deadline
        self.gateway_down = False

    def policy(self) -> RetryPolicy | None:
        """The policy for the next group, with the time left; None when none is left."""
        left = self._end - time.monotonic()
        if self.gateway_down or left < 0.1:
            return None
        return replace(self._policy, deadline=left)


class Deliverer:
    """Pushes groups for one invocation; holds the session, the spool and the budget."""

    def __init__(self, settings: PushSettings, handler: Handler | None = None) -> None:
        self.settings = settings
        self.spool = Spool(settings.spool_dir)
        self._session = make_session(settings.transport)
        self._handler = handler or make_handler(self._session)
        self._budget = _Budget(settings.policy)
        self._remote: list[GroupState] | None = None
        self.result = Delivery()

    # -- the spool -------------------------------------------------------

    def replay(self, skip: Collection[str] = ()) -> None:
        """Deliver spooled groups of this gateway and job (oldest first), except ``skip``."""
        gateway = self.settings.gateway
        for group in self.spool.groups():
            if group in skip:
                continue
            with self.spool.locked(group):
                entry = self.spool.get(group)
                if entry is None:  # delivered meanwhile by another process
                    continue
                if (entry.gateway.rstrip("/"), entry.job) != (gateway.base, gateway.job):
                    log.info("spooled %s is for %s, job %s: left", group, entry.gateway, entry.job)
                    continue
                name = _name(entry.key)
                policy = self._budget.policy()
                if policy is None:
                    self.result.spooled.append(name)
                    continue
                body = entry.body
                last_success = entry.last_success
                if last_success is None:  # spooled before it could be learned: ask again
                    last_success = self._remote_last_success(entry.key)
                    if last_success is not None:
                        body = with_last_success(body, last_success)
                try:
                    push_group(self._handler, gateway, entry.key, body, policy)
                except PushError as error:
                    self._failed(name, error)
                    continue
                self.spool.remove(group)
                self.spool.record_success(group, last_success)
                self.result.replayed.append(name)
                log.info("delivered spooled report of %s", name)

    # -- this run --------------------------------------------------------

    def push(self, runs: Sequence[Run], labels: Mapping[str, str]) -> None:
        """Push each run's group (PUT), spooling those that cannot be delivered."""
        gateway = self.settings.gateway
        for run in runs:
            key = gateway.key(run.location, run.backend, run.operation)
            group = group_id(gateway.url, gateway.job, key)
            name = _name(key)
            with self.spool.locked(group):
                spooled = self.spool.get(group)
                previous = _latest(
                    run.previous_success_at,
                    self.spool.last_success(group),
                    spooled.last_success if spooled is not None else None,
                )
                if previous is None and not run.protected_data:
                    previous = self._remote_last_success(key)
                carried = replace(run, previous_success_at=previous)
                body = render([carried], labels)
                policy = self._budget.policy()
                try:
                    if policy is None:
                        raise PushError(
                            "not tried: the gateway failed or the deadline passed", transient=True
                        )
                    push_group(self._handler, gateway, key, body, policy)
                except Exception as error:  # whatever went wrong, the report is kept
                    if not isinstance(error, PushError):
                        log.info("unexpected error while pushing", exc_info=True)
                        error = PushError(f"{type(error).__name__}: {error}", transient=False)
                    self.spool.put(
                        SpoolEntry(
                            gateway.url,
                            gateway.job,
                            key,
                            body,
                            carried.last_success_at,
                            time.time(),
                        )
                    )
                    self.spool.record_success(group, carried.last_success_at)
                    self._failed(name, error)
                    continue
                self.spool.remove(group)
                self.spool.record_success(group, carried.last_success_at)
                self.result.delivered.append(name)
                log.info("pushed %s", name)

    def group_ids(self, runs: Sequence[Run]) -> set[str]:
        """The spool ids of the groups ``runs`` will be pushed as."""
        gateway = self.settings.gateway
        return {
            group_id(
                gateway.url, gateway.job, gateway.key(run.location, run.backend, run.operation)
            )
            for run in runs
        }

    def delete(self, key: Mapping[str, str]) -> None:
        """Remove one group from the gateway, and from the spool."""
        gateway = self.settings.gateway
        group = group_id(gateway.url, gateway.job, key)
        with self.spool.locked(group):
            delete_group(self._handler, gateway, key, self.settings.policy)
            self.spool.remove(group)

    def groups(self) -> list[GroupState]:
        return list_groups(self._session, self.settings.gateway, self.settings.policy)

    # -- helpers ---------------------------------------------------------

    def _remote_last_success(self, key: Mapping[str, str]) -> float | None:
        """The group's last success time as the gateway holds it (one quick try), or None."""
        if self._remote is None:
            policy = self._budget.policy()
            if policy is None:
                return None
            quick = replace(policy, attempts=1, timeout=min(policy.timeout, 5.0))
            try:
                self._remote = list_groups(self._session, self.settings.gateway, quick)
            except PushError as error:
                log.warning("could not read the last success time from the gateway: %s", error)
                self._remote = []
        found = find_group(self._remote, self.settings.gateway, key)
        return found.last_success if found is not None else None

    def _failed(self, name: str, error: PushError) -> None:
        if error.transient:
            self._budget.gateway_down = True
        self.result.spooled.append(name)
        self.result.errors.append(str(error))
        log.warning("%s kept in the spool: %s", name, error)


def _latest(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _name(key: Mapping[str, str]) -> str:
    return f"{key.get('location', '')}/{key.get('backend', '')}"
