"""Settings: one schema, resolved in one place from flags, environment and a TOML file.

Precedence: a command-line flag beats a ``PUSHRESTIC_*`` environment variable,
which beats the configuration file, which beats the default. Label tables are
merged key by key in the same order. :func:`load` records where each value
came from, so ``pushrestic config`` can say it.

The file is ``--config PATH``, else ``$PUSHRESTIC_CONFIG``, else the first of
``$XDG_CONFIG_HOME/pushrestic/config.toml`` (``~/.config/…``) and
``/etc/pushrestic/config.toml`` that exists. Unknown keys and values of the
wrong type are errors naming the key, all reported at once. Secrets (the
basic-auth password, the bearer token) come from the environment, a file they
name, or the configuration file, never from a flag (``ps`` shows flags); a
secret file, or a configuration file holding a secret, that group or others may
read gets a warning. The listing of ``pushrestic config`` shows no secret: not
the secret settings, nor the user info of a URL in any setting. A command that
``pushrestic run`` wraps does not get the variables holding pushrestic's secrets
(:func:`without_secrets`).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pushrestic.errors import UsageError

if TYPE_CHECKING:
    from pushrestic.sinks.pushgateway.deliver import PushSettings
    from pushrestic.sinks.pushgateway.grouping import Gateway
    from pushrestic.sinks.remote_write import RemoteWrite

log = logging.getLogger(__name__)

DEFAULT_PATHS = ("~/.config/pushrestic/config.toml", "/etc/pushrestic/config.toml")
_WARNED: set[str] = set()  # the files others may read that were warned about


Kind = Literal["str", "path", "bool", "int", "float", "labels", "headers"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One setting.

    ``key``: its name in the file (``section.name``). ``kind``: how a value is read
    (see :data:`_CONVERTERS`; ``labels`` and ``headers`` are tables merged from the
    file and the repeatable flag). ``option``: its command-line flag (``--spool-dir``),
    None when it has none (a secret: ``ps`` shows flags). ``env``: its environment
    variable. ``default``: its value when nothing sets it, or ``default_factory``
    computes it when it is needed (the host name); ``default_help``: the default as
    ``--help`` says it, when not a value.
    """

    key: str
    kind: Kind
    help: str
    option: str | None = None
    env: str | None = None
    secret: bool = False
    default: Any = None
    default_factory: Callable[[], Any] | None = None
    default_help: str | None = None

    @property
    def dest(self) -> str | None:
        """The attribute argparse keeps the flag's value in (``--spool-dir``: ``spool_dir``)."""
        return self.option.removeprefix("--").replace("-", "_") if self.option else None

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _spool() -> str:
    """/var/spool/pushrestic for root, else $XDG_STATE_HOME/pushrestic/spool."""
    if os.geteuid() == 0:
        return "/var/spool/pushrestic"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(state) / "pushrestic" / "spool")


SCHEMA: tuple[Field, ...] = (
    Field(
        key="pushgateway.url",
        kind="str",
        help="Pushgateway URL",
        option="--gateway",
        env="PUSHRESTIC_GATEWAY",
    ),
    Field(
        key="pushgateway.job",
        kind="str",
        help="job label of the grouping key",
        option="--job",
        env="PUSHRESTIC_JOB",
        default="restic",
    ),
    Field(
        key="pushgateway.instance",
        kind="str",
        help="instance label of the grouping key (may be empty)",
        option="--instance",
        env="PUSHRESTIC_INSTANCE",
        default_factory=_hostname,
        default_help="the host name",
    ),
    Field(
        key="pushgateway.grouping_labels",
        kind="labels",
        help="extra labels in every group's key",
        option="--grouping-label",
    ),
    Field(
        key="pushgateway.username",
        kind="str",
        help="basic-auth user",
        option="--basic-auth-user",
        env="PUSHRESTIC_USERNAME",
    ),
    Field(
        key="pushgateway.password",
        kind="str",
        help="basic-auth password",
        env="PUSHRESTIC_PASSWORD",
        secret=True,
    ),
    Field(
        key="pushgateway.password_file",
        kind="path",
        help="file holding the basic-auth password",
        option="--password-file",
        env="PUSHRESTIC_PASSWORD_FILE",
    ),
    Field(
        key="pushgateway.bearer_token",
        kind="str",
        help="bearer token",
        env="PUSHRESTIC_BEARER_TOKEN",
        secret=True,
    ),
    Field(
        key="pushgateway.bearer_token_file",
        kind="path",
        help="file holding the bearer token",
        option="--bearer-token-file",
        env="PUSHRESTIC_BEARER_TOKEN_FILE",
    ),
    Field(
        key="pushgateway.ca_file",
        kind="path",
        help="CA bundle to verify the gateway",
        option="--ca-file",
        env="PUSHRESTIC_CA_FILE",
    ),
    Field(
        key="pushgateway.client_cert",
        kind="path",
        help="client certificate (mTLS)",
        option="--client-cert",
        env="PUSHRESTIC_CLIENT_CERT",
    ),
    Field(
        key="pushgateway.client_key",
        kind="path",
        help="client certificate's key (mTLS)",
        option="--client-key",
        env="PUSHRESTIC_CLIENT_KEY",
    ),
    Field(
        key="pushgateway.insecure",
        kind="bool",
        help="do not verify the gateway's certificate",
        option="--insecure",
        default=False,
    ),
    Field(
        key="pushgateway.attempts",
        kind="int",
        help="attempts per push",
        option="--attempts",
        default=5,
    ),
    Field(
        key="pushgateway.deadline",
        kind="float",
        help="seconds for all pushes of one invocation",
        option="--deadline",
        default=60.0,
    ),
    Field(
        key="pushgateway.timeout",
        kind="float",
        help="seconds per request",
        option="--timeout",
        default=10.0,
    ),
    Field(
        key="spool.directory",
        kind="path",
        help="where undelivered reports wait",
        option="--spool-dir",
        env="PUSHRESTIC_SPOOL_DIR",
        default_factory=_spool,
        default_help="/var/spool/pushrestic as root, else $XDG_STATE_HOME/pushrestic/spool "
        "(~/.local/state/pushrestic/spool)",
    ),
    Field(
        key="textfile.path",
        kind="path",
        help="node_exporter textfile to write (*.prom)",
        option="--textfile",
        env="PUSHRESTIC_TEXTFILE",
    ),
    Field(
        key="labels",
        kind="labels",
        help="extra labels on every series",
        option="--label",
    ),
    Field(
        key="remote_write.url",
        kind="str",
        help="Prometheus remote-write URL (Prometheus, VictoriaMetrics, Mimir, Thanos, Alloy); "
        "uses the pushgateway.* job, instance, auth, TLS and retry settings",
        option="--remote-write",
        env="PUSHRESTIC_REMOTE_WRITE",
    ),
    Field(
        key="remote_write.headers",
        kind="headers",
        help="header sent with every remote write, such as 'X-Scope-OrgID: tenant'",
        option="--remote-write-header",
    ),
)
FIELDS = {field.key: field for field in SCHEMA}
URL_KEY = "pushgateway.url"
SECRET_VARIABLES = frozenset(field.env for field in SCHEMA if field.secret and field.env)
_SECTIONS = {key.split(".", 1)[0] for key in FIELDS if "." in key}


@dataclass(frozen=True, slots=True)
class Value:
    """A resolved setting and where it came from."""

    value: Any
    source: str


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting, resolved, with its source; ``file`` is the file read, if any."""

    values: Mapping[str, Value]
    file: Path | None

    def get(self, key: str) -> Any:
        return self.values[key].value

    def describe(self) -> list[str]:
        """``key = value  (source)`` lines, secrets redacted: the secret settings, and the
        user info of the gateway URL and of any other value that is a URL."""
        lines = []
        for field in SCHEMA:
            resolved = self.values[field.key]
            if field.secret and resolved.value:
                shown = "<redacted>"
            else:
                shown = _show(resolved.value, url=field.key == URL_KEY)
            lines.append(f"{field.key} = {shown}  ({resolved.source})")
        return lines


CONFIG_HELP = (
    "configuration file, TOML (default: $PUSHRESTIC_CONFIG, else the first of "
    f"{' and '.join(DEFAULT_PATHS)} that exists)"
)


def add_config_argument(parser: argparse.ArgumentParser, *, given_only: bool = False) -> None:
    """``--config PATH``. ``given_only``: the attribute is set only when the flag is given
    (a subcommand's, which must not undo a ``--config`` given before the subcommand)."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS if given_only else None,
        help=CONFIG_HELP,
    )


def add_arguments(parser: argparse.ArgumentParser, *, textfile: bool = True) -> None:
    """The flags of every setting that has one (all default to 'not given'); their help
    says the default and the environment variable."""
    add_config_argument(parser, given_only=True)
    group = parser.add_argument_group(
        "delivery",
        "Each setting: the flag, else its environment variable, else the "
        "configuration file, else the default.",
    )
    for field in SCHEMA:
        if field.option is None or (field.key == "textfile.path" and not textfile):
            continue
        if field.key == "labels":
            continue  # --label belongs to the commands that report runs
        if field.kind == "bool":
            group.add_argument(field.option, action="store_true", default=None, help=_help(field))
        elif field.kind in ("labels", "headers"):
            group.add_argument(
                field.option,
                action="append",
                default=None,
                metavar="NAME=VALUE" if field.kind == "labels" else "'NAME: VALUE'",
                help=_help(field),
            )
        else:
            group.add_argument(
                field.option,
                default=None,
                metavar="URL" if field.key.endswith(".url") else field.kind.upper(),
                help=_help(field),
            )


def _help(field: Field) -> str:
    """``HELP (default: X; env NAME)``, and where the secret a ``*_file`` names may come
    from instead; ``%`` escaped for argparse."""
    parts = ["repeatable"] if field.kind in ("labels", "headers") else []
    parts.append(f"default: {_default_text(field)}")
    if field.env:
        parts.append(f"env {field.env}")
    secret = FIELDS.get(field.key.removesuffix("_file")) if field.key.endswith("_file") else None
    if secret is not None and secret.secret and secret.env:
        parts.append(f"or the secret itself in {secret.env}")
    return f"{field.help} ({'; '.join(parts)})".replace("%", "%%")


def _default_text(field: Field) -> str:
    if field.default_help is not None:
        return field.default_help
    value = field.default_value()
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value is None or value == {} else str(value)


def add_label_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help="extra label on every series (repeatable; default: none; also the [labels] "
        "table of the configuration file)",
    )


def load(args: argparse.Namespace | None, environ: Mapping[str, str]) -> Config:
    """Resolve every setting. Raises UsageError listing every problem at once."""
    path = _config_path(getattr(args, "config", None) if args else None, environ)
    document: dict[str, Any] = {}
    problems: list[str] = []
    if path is not None:
        document = _read(path)
        problems.extend(_unknown_keys(document))
    values: dict[str, Value] = {}
    for field in SCHEMA:
        try:
            values[field.key] = _resolve(field, args, environ, document, path)
        except ValueError as error:
            problems.append(f"at '{field.key}': {error}")
    if problems:
        where = f"{path}: " if path is not None else ""
        raise UsageError(f"{where}{len(problems)} problem(s): " + "; ".join(problems))
    if path is not None:
        _warn_if_exposed(path, document)
    return Config(values, path)


def _config_path(flag: str | None, environ: Mapping[str, str]) -> Path | None:
    given = flag if flag is not None else environ.get("PUSHRESTIC_CONFIG") or None
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise UsageError(f"configuration file {given}: no such file")
        return path
    for default in DEFAULT_PATHS:
        candidate = default
        if default.startswith("~/.config") and environ.get("XDG_CONFIG_HOME"):
            candidate = default.replace("~/.config", environ["XDG_CONFIG_HOME"], 1)
        path = Path(candidate).expanduser()
        if path.is_file():
            return path
    return None


def _read(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise UsageError(f"configuration file {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"configuration file {path}: not valid TOML: {error}") from None


def _unknown_keys(document: Mapping[str, Any]) -> list[str]:
    problems = []
    for section, content in document.items():
        if section == "labels":
            continue  # its shape and values are checked where it is resolved
        if section not in _SECTIONS:
            problems.append(f"at '{section}': unknown key")
            continue
        if not isinstance(content, dict):
            problems.append(f"at '{section}': expected a table")
            continue
        for key in content:
            if f"{section}.{key}" not in FIELDS:
                problems.append(f"at '{section}.{key}': unknown key")
    return problems


def _from_file(document: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = document
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _resolve(
    field: Field,
    args: argparse.Namespace | None,
    environ: Mapping[str, str],
    document: Mapping[str, Any],
    path: Path | None,
) -> Value:
    merge = _TABLES.get(field.kind)
    if merge is not None:
        return merge(field, args, document, path)
    flag_value = _flag_value(field, args)
    if flag_value is not None:
        return Value(_convert(field, flag_value, text=True), f"flag {field.option}")
    if field.env is not None and field.env in environ:
        return Value(_convert(field, environ[field.env], text=True), f"environment {field.env}")
    found, value = _from_file(document, field.key)
    if found:
        return Value(_convert(field, value, text=False), f"file {path}")
    return Value(field.default_value(), "default")


def _flag_value(field: Field, args: argparse.Namespace | None) -> Any:
    """The value the flag gave, None when it was not given (or the field has no flag)."""
    if args is None or field.dest is None:
        return None
    return getattr(args, field.dest, None)


def _resolve_labels(
    field: Field, args: argparse.Namespace | None, document: Mapping[str, Any], path: Path | None
) -> Value:
    """Labels from the file's table (``env = "prod"``), then the flags (``env=prod``);
    every name checked by :func:`pushrestic.metrics.check_label_name`."""
    merged: dict[str, str] = {}
    sources = []
    found, table = _from_file(document, field.key)
    if found:
        if not isinstance(table, dict):
            raise ValueError('expected a table of NAME = "value"')
        for name, value in table.items():
            if not isinstance(value, str):
                raise ValueError(f"label {name!r}: expected a string, got {type(value).__name__}")
            merged[name] = value
        sources.append(f"file {path}")
    flag_value = _flag_value(field, args)
    if flag_value:
        for pair in flag_value:
            name, separator, value = pair.partition("=")
            if not separator:
                raise ValueError(f"{field.option} {pair!r}: expected NAME=VALUE")
            merged[name.strip()] = value
        sources.append(f"flag {field.option}")
    if merged:
        from pushrestic.metrics import check_label_name  # prometheus_client: only when needed

        for name in merged:
            try:
                check_label_name(name)
            except UsageError as error:
                raise ValueError(str(error)) from None
    return Value(merged, " + ".join(sources) or "default")


def _resolve_headers(
    field: Field, args: argparse.Namespace | None, document: Mapping[str, Any], path: Path | None
) -> Value:
    """Headers from the file's table (``"X-Scope-OrgID" = "tenant"``), then the flags."""
    found, table = _from_file(document, field.key)
    flag_value = _flag_value(field, args)
    if not found and not flag_value:
        return Value({}, "default")
    from pushrestic.sinks.remote_write import check_header, parse_header

    merged: dict[str, str] = {}
    sources = []
    try:
        if found:
            if not isinstance(table, dict):
                raise ValueError('expected a table of "Header-Name" = "value"')
            for name, value in table.items():
                if not isinstance(value, str):
                    raise ValueError(f"header {name!r}: expected a string, got {_type(value)}")
                check_header(name, value)
                merged[name] = value
            sources.append(f"file {path}")
        if flag_value:
            for text in flag_value:
                name, value = parse_header(text)
                merged[name] = value
            sources.append(f"flag {field.option}")
    except UsageError as error:
        raise ValueError(str(error)) from None
    return Value(merged, " + ".join(sources) or "default")


# The kinds whose value is a table merged from the file and a repeatable flag.
_TABLES: dict[str, Callable[[Field, Any, Mapping[str, Any], Path | None], Value]] = {
    "labels": _resolve_labels,
    "headers": _resolve_headers,
}


def _convert(field: Field, value: Any, *, text: bool) -> Any:
    """``value`` as the field's kind holds it. ``text``: it comes from a flag or the
    environment, so it is a string to read (``"5"``, ``"yes"``); from the file it has
    a TOML type already. A secret is stripped and may hold no control character; the
    gateway URL gets its scheme. Raises ValueError saying what was expected."""
    converted = _CONVERTERS[field.kind](value, text)
    if field.secret:
        converted = converted.strip()
        if any(ord(c) < 32 or ord(c) == 127 for c in converted):
            raise ValueError("holds a control character (a line break?)")
    if field.key == URL_KEY:
        converted = gateway_url(converted)
    return converted


def _string(value: Any, text: bool) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_type(value)}")
    return value


def _path(value: Any, text: bool) -> str:
    path = _string(value, text)
    return str(Path(path).expanduser()) if path else path


def _bool(value: Any, text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
        return True
    if text and isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _whole(value: Any, text: bool) -> int:
    """A whole number of at least 1."""
    if text and isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return value


def _positive(value: Any, text: bool) -> float:
    """A finite number above 0."""
    if text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_type(value)}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"expected a positive number, got {value!r}")
    return float(value)


# How a value of each kind is read (the kinds "labels" and "headers" are _TABLES).
_CONVERTERS: dict[str, Callable[[Any, bool], Any]] = {
    "str": _string,
    "path": _path,
    "bool": _bool,
    "int": _whole,
    "float": _positive,
}


def gateway_url(value: str) -> str:
    """The Pushgateway URL with ``http://`` before it when it has no scheme
    (``host:9091``), as prometheus_client takes it. What comes before the host is
    kept, so a user or password in it is still refused (see pushgateway.Gateway)."""
    text = value.strip()
    if not text or "://" in text:
        return value
    return f"http://{text}"


def _type(value: Any) -> str:
    return {
        dict: "a table",
        list: "a list",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
    }.get(type(value), type(value).__name__)


def _show(value: Any, *, url: bool = False) -> str:
    """How ``value`` is shown in the listing; ``url``: it is the gateway URL."""
    if value is None:
        return "(not set)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return _show_text(value, url=url)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _show_text(text: str, *, url: bool) -> str:
    """``text`` quoted, the user info taken out of it if it is a URL (the gateway URL
    even without a scheme: ``user:password@host``)."""
    from pushrestic.sinks.pushgateway.http import has_user_info, redact_url

    if (url or "://" in text) and has_user_info(text):
        return f"{redact_url(text)!r} (user info redacted)"
    return repr(text)


def _warn_if_exposed(path: Path, document: Mapping[str, Any]) -> None:
    secrets = [f.key for f in SCHEMA if f.secret and _from_file(document, f.key)[0]]
    if not secrets:
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    _warn_if_readable(path, mode, " and ".join(secrets))


def _warn_if_readable(path: Path | str, mode: int, holds: str) -> None:
    """One warning when group or others may read ``path``, a file holding ``holds``
    (once per process: the settings may be read more than once)."""
    if mode & (stat.S_IRGRP | stat.S_IROTH) and str(path) not in _WARNED:
        _WARNED.add(str(path))
        log.warning(
            "%s holds %s and has mode %04o (group or others may read it): chmod 600 %s",
            path,
            holds,
            stat.S_IMODE(mode),
            path,
        )


# -- typed views ------------------------------------------------------------


def labels(config: Config) -> dict[str, str]:
    value: dict[str, str] = config.get("labels")
    return dict(value)


def textfile_path(config: Config) -> Path | None:
    value = config.get("textfile.path")
    return Path(value) if value else None


def push_settings(config: Config) -> PushSettings | None:
    """The Pushgateway settings, or None when no gateway URL is set."""
    from pushrestic.sinks.pushgateway.grouping import Gateway

    url = config.get("pushgateway.url")
    if not url:
        return None
    return _delivery(
        config,
        Gateway(
            url=url,
            job=config.get("pushgateway.job") or "restic",
            instance=config.get("pushgateway.instance"),
            grouping=config.get("pushgateway.grouping_labels"),
        ),
    )


def remote_write_settings(config: Config) -> PushSettings | None:
    """The remote-write settings (job, instance, auth, TLS and retries as for the
    gateway), or None when no remote-write URL is set. Raises UsageError when the
    snappy library (the ``remote-write`` extra) is not installed."""
    from pushrestic.sinks.remote_write import RemoteWrite, require_snappy

    url = config.get("remote_write.url")
    if not url:
        return None
    target = RemoteWrite(
        url=url,
        job=config.get("pushgateway.job") or "restic",
        instance=config.get("pushgateway.instance"),
        grouping=config.get("pushgateway.grouping_labels"),
        headers=tuple(config.get("remote_write.headers").items()),
    )
    require_snappy()
    return _delivery(config, target)


def _delivery(config: Config, target: Gateway | RemoteWrite) -> PushSettings:
    from pushrestic.sinks.pushgateway.deliver import PushSettings
    from pushrestic.sinks.pushgateway.http import RetryPolicy, TransportSettings

    password = config.get("pushgateway.password")
    if config.get("pushgateway.password_file"):
        password = _secret_file(config.get("pushgateway.password_file"))
    token = config.get("pushgateway.bearer_token")
    if config.get("pushgateway.bearer_token_file"):
        token = _secret_file(config.get("pushgateway.bearer_token_file"))
    username = config.get("pushgateway.username")
    if password and username is None:
        raise UsageError("a password is set but no user (--basic-auth-user)")
    for key in ("pushgateway.ca_file", "pushgateway.client_cert", "pushgateway.client_key"):
        value = config.get(key)
        if value and not Path(value).is_file():
            raise UsageError(f"{key} {value}: no such file")
    return PushSettings(
        gateway=target,
        spool_dir=Path(config.get("spool.directory")),
        transport=TransportSettings(
            username=username,
            password=password or None,
            bearer_token=token or None,
            ca_file=config.get("pushgateway.ca_file"),
            client_cert=config.get("pushgateway.client_cert"),
            client_key=config.get("pushgateway.client_key"),
            insecure=config.get("pushgateway.insecure"),
        ),
        policy=RetryPolicy(
            attempts=config.get("pushgateway.attempts"),
            deadline=config.get("pushgateway.deadline"),
            timeout=config.get("pushgateway.timeout"),
        ),
    )


def _secret_file(path: str) -> str:
    """A secret from a file: its first line, stripped. A file that group or others may
    read is still used, with a warning naming it and its mode (as ssh does for keys)."""
    try:
        with open(path, encoding="utf-8") as handle:
            _warn_if_readable(path, os.fstat(handle.fileno()).st_mode, "a secret")
            text = handle.read()
    except OSError as error:
        raise UsageError(f"cannot read secret file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"secret file {path} is not UTF-8 text") from None
    lines = text.splitlines()
    value = lines[0].strip() if lines else ""
    if not value:
        raise UsageError(f"secret file {path} is empty")
    return value


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables that hold pushrestic's own secrets, for a
    command pushrestic runs (restic's own variables are passed through)."""
    return {name: value for name, value in environ.items() if name not in SECRET_VARIABLES}
