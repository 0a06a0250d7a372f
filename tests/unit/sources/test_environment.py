"""sources.environment: only autorestic's and systemd's variables reach the parsers."""

from __future__ import annotations

from pushrestic.sources.environment import hook_variables, service_variables

ENVIRON = {
    "AUTORESTIC_LOCATION": "documents",
    "AUTORESTIC_EXIT_CODE_0": "0",
    "RESTIC_PASSWORD": "hunter2",
    "PUSHRESTIC_PASSWORD": "s3cret",
    "SERVICE_RESULT": "success",
    "EXIT_CODE": "exited",
    "EXIT_STATUS": "0",
    "PATH": "/usr/bin",
}


def test_the_hook_gets_autorestic_s_variables_and_nothing_else() -> None:
    assert hook_variables(ENVIRON) == {
        "AUTORESTIC_LOCATION": "documents",
        "AUTORESTIC_EXIT_CODE_0": "0",
    }


def test_the_journal_gets_systemd_s_exec_stop_post_variables_and_nothing_else() -> None:
    assert service_variables(ENVIRON) == {
        "SERVICE_RESULT": "success",
        "EXIT_CODE": "exited",
        "EXIT_STATUS": "0",
    }


def test_outside_exec_stop_post_there_are_no_service_variables() -> None:
    assert service_variables({"PATH": "/usr/bin"}) == {}
