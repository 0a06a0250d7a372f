"""Delivery settings from command-line flags and ``PUSHRESTIC_*`` environment variables.

A flag beats the environment, which beats the default. Secrets (the basic-auth
password, the bearer token) come only from the environment or from files,
never from a flag, which ``ps`` would show.

| setting | flag | environment | default |
|---|---|---|---|
| Pushgateway URL | ``--gateway`` | ``PUSHRESTIC_GATEWAY`` | none (no push) |
| job | ``--job`` | ``PUSHRESTIC_JOB`` | ``restic`` |
| instance | ``--instance`` | ``PUSHRESTIC_INSTANCE`` | the host name |
| grouping labels | ``--grouping-label`` | | none |
| textfile | ``--textfile`` | ``PUSHRESTIC_TEXTFILE`` | none |
| spool directory | ``--spool-dir`` | ``PUSHRESTIC_SPOOL_DIR`` | see ``spool.default_spool_dir`` |
| basic-auth user | ``--basic-auth-user`` | ``PUSHRESTIC_USERNAME`` | none |
| password | ``--password-file`` | ``PUSHRESTIC_PASSWORD`` | none |
| bearer token | ``--bearer-token-file`` | ``PUSHRESTIC_BEARER_TOKEN`` | none |
| CA bundle | ``--ca-file`` | ``PUSHRESTIC_CA_FILE`` | system |
| client cert/key | ``--client-cert``/``--client-key`` | ``PUSHRESTIC_CLIENT_CERT``/``_KEY`` | - |
| no TLS verification | ``--insecure`` | | off |
| attempts / deadline / timeout | ``--attempts`` ``--deadline`` ``--timeout`` | | 5 / 60 s / 10 s |
"""

from __future__ import annotations

import argparse
import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pushrestic.errors import UsageError
from pushrestic.metrics import check_label_name, parse_labels

if TYPE_CHECKING:
    from pushrestic.deliver import PushSettings


@dataclass(frozen=True, slots=True)
class Destinations:
    """Where reports go: a Pushgateway (with its settings), a textfile, or both."""

    push: PushSettings | None
    textfile: Path | None


def add_delivery_arguments(parser: argparse.ArgumentParser, *, textfile: bool = True) -> None:
    """The flags shared by the commands that talk to a Pushgateway."""
    group = parser.add_argument_group("Pushgateway")
    group.add_argument("--gateway", metavar="URL", help="Pushgateway URL (PUSHRESTIC_GATEWAY)")
    group.add_argument("--job", help="job label of the grouping key (default: restic)")
    group.add_argument(
        "--instance", help="instance label of the grouping key (default: host name; may be '')"
    )
    group.add_argument(
        "--grouping-label",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra label in every group's key (repeatable)",
    )
    group.add_argument("--basic-auth-user", metavar="USER", help="password: PUSHRESTIC_PASSWORD")
    group.add_argument("--password-file", metavar="FILE", help="file holding the password")
    group.add_argument("--bearer-token-file", metavar="FILE", help="or PUSHRESTIC_BEARER_TOKEN")
    group.add_argument("--ca-file", metavar="FILE", help="CA bundle to verify the gateway")
    group.add_argument("--client-cert", metavar="FILE", help="client certificate (mTLS)")
    group.add_argument("--client-key", metavar="FILE", help="client certificate's key (mTLS)")
    group.add_argument(
        "--insecure", action="store_true", help="do not verify the gateway's certificate"
    )
    group.add_argument("--attempts", type=_positive_int, help="attempts per push (default 5)")
    group.add_argument(
        "--deadline", type=_positive_float, metavar="SECONDS", help="for all pushes (default 60)"
    )
    group.add_argument(
        "--timeout", type=_positive_float, metavar="SECONDS", help="per request (default 10)"
    )
    group.add_argument("--spool-dir", metavar="DIR", help="where undelivered reports wait")
    if textfile:
        parser.add_argument(
            "--textfile", metavar="PATH", help="write a node_exporter textfile (*.prom)"
        )


def resolve(args: argparse.Namespace, environ: Mapping[str, str]) -> Destinations:
    """Delivery settings from flags, then the environment, then defaults."""
    from pushrestic.deliver import PushSettings
    from pushrestic.sinks.pushgateway import Gateway
    from pushrestic.sinks.spool import default_spool_dir
    from pushrestic.transport import RetryPolicy, TransportSettings

    def pick(flag: str | None, variable: str) -> str | None:
        return flag if flag is not None else environ.get(variable) or None

    textfile_value = pick(getattr(args, "textfile", None), "PUSHRESTIC_TEXTFILE")
    url = pick(args.gateway, "PUSHRESTIC_GATEWAY")
    push = None
    if url is not None:
        grouping = parse_labels(args.grouping_label)
        for name in grouping:
            check_label_name(name)
        instance = args.instance
        if instance is None:
            instance = environ.get("PUSHRESTIC_INSTANCE", socket.gethostname())
        gateway = Gateway(
            url=url,
            job=pick(args.job, "PUSHRESTIC_JOB") or "restic",
            instance=instance,
            grouping=grouping,
        )
        defaults = RetryPolicy()
        try:
            policy = RetryPolicy(
                attempts=args.attempts or defaults.attempts,
                deadline=args.deadline or defaults.deadline,
                timeout=args.timeout or defaults.timeout,
            )
        except ValueError as error:
            raise UsageError(str(error)) from None
        push = PushSettings(
            gateway=gateway,
            spool_dir=Path(args.spool_dir) if args.spool_dir else default_spool_dir(),
            transport=TransportSettings(
                username=pick(args.basic_auth_user, "PUSHRESTIC_USERNAME"),
                password=_secret(args.password_file, "PUSHRESTIC_PASSWORD", environ),
                bearer_token=_secret(args.bearer_token_file, "PUSHRESTIC_BEARER_TOKEN", environ),
                ca_file=_existing(pick(args.ca_file, "PUSHRESTIC_CA_FILE"), "--ca-file"),
                client_cert=_existing(
                    pick(args.client_cert, "PUSHRESTIC_CLIENT_CERT"), "--client-cert"
                ),
                client_key=_existing(
                    pick(args.client_key, "PUSHRESTIC_CLIENT_KEY"), "--client-key"
                ),
                insecure=bool(args.insecure),
            ),
            policy=policy,
        )
        if push.transport.password and push.transport.username is None:
            raise UsageError("a password is set but no --basic-auth-user")
    return Destinations(push, Path(textfile_value) if textfile_value else None)


def _secret(path: str | None, variable: str, environ: Mapping[str, str]) -> str | None:
    """A secret from a file (first line) or the environment."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot read secret file {path}: {error.strerror or error}") from None
        lines = text.splitlines()
        value = lines[0].strip() if lines else ""
        if not value:
            raise UsageError(f"secret file {path} is empty")
        return value
    value = environ.get(variable, "").strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise UsageError(f"{variable} holds a control character (a line break?)")
    return value or None


def _existing(path: str | None, flag: str) -> str | None:
    if path is not None and not Path(path).is_file():
        raise UsageError(f"{flag} {path}: no such file")
    return path


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value
