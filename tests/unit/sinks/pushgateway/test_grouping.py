"""Grouping paths and the Pushgateway API's answer, without a network."""

from __future__ import annotations

import base64

import pytest

from pushrestic.errors import UsageError
from pushrestic.sinks.pushgateway.grouping import Gateway, GroupState, find_group


def decode(segment: str) -> str:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()


def test_plain_values_are_sent_as_they_are() -> None:
    gateway = Gateway("http://gw:9091/", job="restic", instance="host1")
    url = gateway.group_url(gateway.key("docs", "local"))
    assert url == "http://gw:9091/metrics/job/restic/instance/host1/location/docs/backend/local"


@pytest.mark.parametrize(
    "value", ["a/b", "with space", "user@host", "é ü 日本", "a+b", "x%2Fy", "-"]
)
def test_unsafe_values_use_the_base64_form_and_decode_to_the_exact_value(value: str) -> None:
    gateway = Gateway("http://gw:9091", instance=value)
    url = gateway.group_url(gateway.key(value, "b"))
    segments = url.split("/metrics/", 1)[1].split("/")
    pairs = dict(zip(segments[0::2], segments[1::2], strict=True))
    if value == "-":
        assert pairs["location"] == "-"
    else:
        assert decode(pairs["location@base64"]) == value
        assert decode(pairs["instance@base64"]) == value
        assert "=" not in pairs["location@base64"], "no padding: no escaping needed in the path"


def test_an_empty_value_is_sent_as_base64_equals_sign() -> None:
    gateway = Gateway("http://gw:9091", instance="")
    url = gateway.group_url(gateway.key("docs", "local"))
    assert "/instance@base64/=/" in url


def test_an_unsafe_job_name_is_encoded_too() -> None:
    gateway = Gateway("http://gw:9091", job="backups/nightly")
    assert gateway.group_url({}).endswith(
        "/metrics/job@base64/" + base64.urlsafe_b64encode(b"backups/nightly").decode().rstrip("=")
    )


def test_grouping_labels_come_between_instance_and_location() -> None:
    gateway = Gateway("http://gw:9091", instance="h", grouping={"site": "paris"})
    assert list(gateway.key("docs", "local")) == ["instance", "site", "location", "backend"]


@pytest.mark.parametrize("url", ["gw:9091", "ftp://gw", "http://", "http://user:secret@gw:9091"])
def test_a_bad_gateway_url_is_a_usage_error_that_shows_no_password(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        Gateway(url)
    assert "secret" not in str(caught.value)


def test_find_group_treats_empty_labels_as_absent() -> None:
    gateway = Gateway("http://gw:9091", instance="")
    groups = [
        GroupState({"job": "restic", "location": "docs", "backend": "local"}, 1.0, None, 5.0),
        GroupState({"job": "restic", "location": "docs", "backend": "usb"}, 1.0, None, 6.0),
    ]
    found = find_group(groups, gateway, gateway.key("docs", "usb"))
    assert found is not None
    assert found.last_success == 6.0
    assert find_group(groups, gateway, gateway.key("mail", "usb")) is None


def test_a_maintenance_run_has_its_own_grouping_key() -> None:
    gateway = Gateway("http://gw:9091", instance="h")
    assert gateway.key("docs", "local", "check") == {
        "instance": "h",
        "location": "docs",
        "backend": "local",
        "operation": "check",
    }
    assert "operation" not in gateway.key("docs", "local")


@pytest.mark.parametrize("value", [".", "..", "...", "...."])
def test_dot_segments_are_sent_in_the_base64_form_so_no_client_collapses_them(
    value: str,
) -> None:
    gateway = Gateway("http://gw:9091", job=value, instance=value, grouping={"site": value})
    url = gateway.group_url(gateway.key(value, value))
    segments = url.split("/metrics/", 1)[1].split("/")
    assert "." not in segments
    assert ".." not in segments
    pairs = dict(zip(segments[0::2], segments[1::2], strict=True))
    assert set(pairs) == {f"{n}@base64" for n in ("job", "instance", "site", "location", "backend")}
    assert {decode(encoded) for encoded in pairs.values()} == {value}


@pytest.mark.parametrize("value", [".", "..", "a/../b", "./x", "%2e%2e", "docs", ".hidden", "a.b"])
def test_the_url_requests_sends_keeps_every_grouping_segment(value: str) -> None:
    requests = pytest.importorskip("requests")
    gateway = Gateway("http://gw:9091", instance=value)
    url = gateway.group_url(gateway.key(value, "b"))
    prepared = requests.Request("PUT", url).prepare()
    assert prepared.url == url, "requests/urllib3 changed the path"
