"""The one exception hierarchy of pushrestic.

Library code raises these with a message meant for the user; ``cli.main`` maps
each class to the exit code documented in the README, in one place.
"""

from __future__ import annotations


class PushresticError(Exception):
    """Base class: a message meant for the user, no traceback needed."""


class UsageError(PushresticError):
    """The command line or the configuration is wrong; nothing was reported."""


class InputError(PushresticError):
    """The input could not be read, or is not output of restic or autorestic.

    ``source`` names the input (a path, ``<stdin>``) and ``line`` the 1-based line
    number where the problem was found, when there is one.
    """

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.reason = message
        where = source
        if line is not None:
            where = f"{source}:{line}" if source else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class InputUnreadable(InputError):
    """The input could not be opened or read at all."""


class NothingToReport(InputError):
    """The input is restic's output, but only of commands pushrestic does not report
    (``init``, ``unlock``, ``version``, the ``snapshots`` table), named in ``commands``.

    Not a bad input: with no exit code, or 0, there is nothing to report; a non-zero
    exit code is reported as that command's failure.
    """

    def __init__(self, commands: tuple[str, ...], *, source: str = "") -> None:
        self.commands = commands
        named = " and ".join(commands)
        super().__init__(f"restic {named} output: nothing to report", source=source)


class DeliveryError(PushresticError):
    """A report could not be delivered (push or textfile write failed)."""


class ExpositionError(PushresticError):
    """pushrestic's own metrics are not a valid exposition: a bug.

    Raised by :func:`pushrestic.metrics.check_exposition` before any sink (two
    series with the same name and labels, a metric declared twice, a sample that
    does not fit its metric's type), so that the Pushgateway's or node_exporter's
    own checks are never what catches it.
    """
