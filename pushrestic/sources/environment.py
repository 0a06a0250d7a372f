"""The process environment as an input: what autorestic and systemd tell a hook.

autorestic runs a location's hooks with ``AUTORESTIC_*`` variables (the
location, and per backend the statistics of its run); systemd runs
``ExecStopPost=`` with ``$SERVICE_RESULT``, ``$EXIT_CODE`` and ``$EXIT_STATUS``.
Only those variables are taken: nothing else of the environment (secrets,
paths) reaches the parsers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pushrestic.parsers.hookenv import PREFIX

SERVICE_VARIABLES = ("SERVICE_RESULT", "EXIT_CODE", "EXIT_STATUS")


def hook_variables(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """autorestic's ``AUTORESTIC_*`` variables."""
    return {name: value for name, value in environ.items() if name.startswith(PREFIX)}


def service_variables(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """systemd's variables for ``ExecStopPost=`` (empty outside of it)."""
    return {name: environ[name] for name in SERVICE_VARIABLES if name in environ}
