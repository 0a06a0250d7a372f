"""redact_url and has_user_info: user info is found wherever the URL puts it, and never shown."""

from __future__ import annotations

import pytest

from pushrestic.sinks.pushgateway.http import has_user_info, redact_url

WITH_USER_INFO = [
    ("http://bob:zq1@gw:9091/metrics", "http://gw:9091/metrics"),
    ("http://bob:zq1/zq2@gw:9091/metrics", "http://gw:9091/metrics"),
    ("http://bob:zq1#zq2@gw:9091/", "http://gw:9091/"),
    ("http://bob:zq1?zq2@gw/", "http://gw/"),
    ("http://bob:12/34@gw/", "http://gw/"),
    ("http://bob:zq1@zq2@gw/", "http://gw/"),
    ("http://[bob:zq1@gw/", "http://gw/"),
    ("http://bob@gw/", "http://gw/"),
    ("bob:zq1@gw:9091", "gw:9091"),
    ("http://bob:zq1@base64/", "http://base64/"),
    (
        "http://bob:zq1/zq2@gw/metrics/job/restic/instance@base64/=/location/srv",
        "http://gw/metrics/job/restic/instance@base64/=/location/srv",
    ),
]


@pytest.mark.parametrize(("url", "shown"), WITH_USER_INFO)
def test_user_info_is_found_and_redacted_even_with_slash_hash_or_question_mark(
    url: str, shown: str
) -> None:
    assert has_user_info(url)
    assert redact_url(url) == shown
    assert "zq" not in redact_url(url)
    assert "bob" not in redact_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://gw:9091",
        "https://[::1]:9091/prefix",
        "http://gw:9091/metrics/job/restic/instance@base64/=/location@base64/c3Jj",
        "http://[gw/",
        "gw:9091",
        "",
    ],
)
def test_a_url_without_user_info_is_shown_as_it_is(url: str) -> None:
    assert not has_user_info(url)
    assert redact_url(url) == url
